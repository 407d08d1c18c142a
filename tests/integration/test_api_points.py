"""The points API other programs rely on (DESIGN.md): price table, balance, ledger, adjustments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.tickets.tables import RequestType
from billing import clock, ledger
from billing.verify import verify
from pricing import Bundle, PrioritySurcharge, RequestTypePrice
from pricing import services as pricing
from tests.factories import bearer, make_organization, make_ticket, make_user

INVESTIGATION = RequestTypePrice(
    code="investigation", name_ja="障害調査", name_en="Fault investigation", points=3,
    scope_ja="障害の原因調査", scope_en="Finding the cause of a fault",
    included_minutes=60, block_minutes=30, points_per_block=1,
)
QUESTION = RequestTypePrice(code="question", name_ja="質問", name_en="Question", points=1)


async def publish(*prices, urgent=1, at=None):
    version = await pricing.create_draft()
    for n, price in enumerate(prices):
        await pricing.set_request_type(version, price, sort_order=n)
    await pricing.set_surcharge(version, PrioritySurcharge("urgent", urgent))
    await pricing.publish(version, at)
    return version


async def test_the_price_table_lists_the_version_in_force_and_the_bundles_on_sale(client):
    customer = await make_user("customer_member", organization=await make_organization())
    await publish(QUESTION, INVESTIGATION, urgent=2)
    later = await pricing.create_draft()
    await pricing.set_request_type(later, RequestTypePrice("question", "質問", "Question", points=7))
    await pricing.publish(later, datetime.now(UTC) + timedelta(days=3))
    await pricing.save_bundle(Bundle("P10", "10ポイント", "10 points", points=10, price_jpy=50000, tax_rate=10,
                                     validity_months=12, min_quantity=5, max_quantity=None))
    await pricing.save_bundle(Bundle("OLD", "旧", "Old", points=1, price_jpy=1, tax_rate=10, validity_months=1,
                                     active=False))

    response = await client.get("/api/v1/price-table", headers=await bearer(customer))
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == 1
    assert body["request_types"] == [
        {"code": "question", "name": {"ja": "質問", "en": "Question"}, "points": 1,
         "scope": {"ja": "", "en": ""}, "overage": None},
        {"code": "investigation", "name": {"ja": "障害調査", "en": "Fault investigation"}, "points": 3,
         "scope": {"ja": "障害の原因調査", "en": "Finding the cause of a fault"},
         "overage": {"included_minutes": 60, "block_minutes": 30, "points_per_block": 1}},
    ]
    assert body["priority_surcharges"] == [{"priority": "urgent", "points": 2}]
    assert body["bundles"] == [
        {"code": "P10", "name": {"ja": "10ポイント", "en": "10 points"}, "points": 10, "price_jpy": 50000,
         "tax_rate": 10, "validity_months": 12, "min_quantity": 5, "max_quantity": None},
    ]


async def test_the_price_table_before_any_is_published_is_empty_not_an_error(client):
    customer = await make_user("customer_member", organization=await make_organization())
    body = (await client.get("/api/v1/price-table", headers=await bearer(customer))).json()
    assert body["version"] is None and body["request_types"] == [] and body["bundles"] == []


async def test_the_price_table_needs_a_token(client):
    assert (await client.get("/api/v1/price-table")).status_code == 401


async def test_a_member_reads_its_own_balance_with_lots_and_what_expires_soon(client):
    organization = await make_organization()
    member = await make_user("customer_member", organization=organization)
    today = clock.today()
    await ledger.purchase(organization.id, 10, 500, today + timedelta(days=45), "10ポイントパック", key="p1")
    await ledger.grant(organization.id, 3, "お詫び", None, key="g1")
    request_type = RequestType(code="question", name_ja="質問", name_en="Question")
    await request_type.save()
    ticket = await make_ticket(organization, member, request_type)
    await ledger.hold(organization.id, 4, ticket.id, "h1")

    response = await client.get(f"/api/v1/organizations/{organization.id}/balance", headers=await bearer(member))
    assert response.status_code == 200
    assert response.json() == {
        "available": 9,
        "held": 4,
        "lots": [
            {"points_remaining": 6, "points_held": 4, "expires_on": (today + timedelta(days=45)).isoformat(),
             "paid": True},
            {"points_remaining": 3, "points_held": 0, "expires_on": None, "paid": False},
        ],
        "expiring": {"30": 0, "60": 6, "90": 6},
    }


async def test_an_organisation_without_points_has_a_zero_balance(client):
    organization = await make_organization()
    member = await make_user("customer_member", organization=organization)
    body = (await client.get(f"/api/v1/organizations/{organization.id}/balance", headers=await bearer(member))).json()
    assert body == {"available": 0, "held": 0, "lots": [], "expiring": {"30": 0, "60": 0, "90": 0}}


async def test_another_companys_balance_and_ledger_do_not_exist_for_a_customer(client):
    mine = await make_organization()
    theirs = await make_organization()
    await ledger.grant(theirs.id, 50, "他社", None, key="g1")
    customer = await make_user("customer_admin", organization=mine)
    headers = await bearer(customer)
    for path in (f"/api/v1/organizations/{theirs.id}/balance", f"/api/v1/organizations/{theirs.id}/ledger",
                 "/api/v1/organizations/999999/balance"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
        assert "50" not in response.text


async def test_the_ledger_pages_newest_first_with_a_cursor(client):
    organization = await make_organization()
    member = await make_user("customer_member", organization=organization)
    request_type = RequestType(code="question", name_ja="質問", name_en="Question")
    await request_type.save()
    ticket = await make_ticket(organization, member, request_type)
    await ledger.grant(organization.id, 10, "初回", None, key="g1")
    hold = await ledger.hold(organization.id, 2, ticket.id, "h1")
    await ledger.capture(hold, "c1")
    headers = await bearer(member)

    first = await client.get(f"/api/v1/organizations/{organization.id}/ledger?limit=2", headers=headers)
    assert first.status_code == 200
    page = first.json()
    assert [e["kind"] for e in page["items"]] == ["capture", "hold"]
    capture, held = page["items"]
    assert capture["points"] == 0 and capture["held"] == -2 and capture["ticket_number"] == ticket.number
    assert held["points"] == -2 and held["held"] == 2 and held["available_after"] == 8
    assert page["next_cursor"]

    second = (await client.get(
        f"/api/v1/organizations/{organization.id}/ledger", params={"cursor": page["next_cursor"], "limit": 2},
        headers=headers,
    )).json()
    assert [(e["kind"], e["points"], e["reason"]) for e in second["items"]] == [("grant", 10, "初回")]
    assert second["next_cursor"] is None

    for cursor in ("abc", "²", "1" * 40):
        bad = await client.get(f"/api/v1/organizations/{organization.id}/ledger", params={"cursor": cursor},
                               headers=headers)
        assert bad.status_code == 422 and bad.json()["field"] == "cursor", cursor


async def test_finance_adjusts_with_a_reason_and_the_history_shows_it(client):
    organization = await make_organization()
    finance = await make_user("finance")
    expires = clock.today() + timedelta(days=30)
    headers = await bearer(finance)

    response = await client.post(
        f"/api/v1/organizations/{organization.id}/adjustments",
        json={"points": 5, "reason": "障害のお詫び", "expires_on": expires.isoformat()}, headers=headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["available"] == 5 and response.json()["points"] == 5
    taken = await client.post(
        f"/api/v1/organizations/{organization.id}/adjustments",
        json={"points": -2, "reason": "付与数の訂正"}, headers=headers,
    )
    assert taken.status_code == 201 and taken.json()["available"] == 3

    balance = (await client.get(f"/api/v1/organizations/{organization.id}/balance", headers=headers)).json()
    assert balance["lots"] == [{"points_remaining": 3, "points_held": 0, "expires_on": expires.isoformat(), "paid": False}]
    entries = (await client.get(f"/api/v1/organizations/{organization.id}/ledger", headers=headers)).json()["items"]
    assert [(e["kind"], e["points"], e["reason"]) for e in entries] == [
        ("adjustment", -2, "付与数の訂正"), ("adjustment", 5, "障害のお詫び"),
    ]
    assert (await verify()).clean


async def test_an_adjustment_replayed_with_the_same_idempotency_key_is_applied_once(client):
    organization = await make_organization()
    admin = await make_user("admin")
    headers = {**await bearer(admin), "Idempotency-Key": "adj-2026-001"}
    url = f"/api/v1/organizations/{organization.id}/adjustments"
    body = {"points": 7, "reason": "キャンペーン"}

    first = await client.post(url, json=body, headers=headers)
    again = await client.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (await ledger.balance(organization.id)).available == 7
    other = await client.post(url, json={**body, "points": 8}, headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"


async def test_an_adjustment_needs_a_reason(client):
    organization = await make_organization()
    finance = await make_user("finance")
    url = f"/api/v1/organizations/{organization.id}/adjustments"
    for body in ({"points": 3}, {"points": 3, "reason": "   "}):
        response = await client.post(url, json=body, headers=await bearer(finance))
        assert response.status_code == 422
        assert response.json()["field"] == "reason"
    assert (await ledger.balance(organization.id)).available == 0


async def test_an_adjustment_refuses_bad_figures_naming_the_field(client):
    organization = await make_organization()
    await ledger.grant(organization.id, 2, "初回", None, key="g1")
    headers = await bearer(await make_user("finance"))
    url = f"/api/v1/organizations/{organization.id}/adjustments"
    zero = await client.post(url, json={"points": 0, "reason": "x"}, headers=headers)
    assert zero.status_code == 422 and zero.json()["field"] == "points"
    past = await client.post(url, json={"points": 1, "reason": "x", "expires_on": "2000-01-01"}, headers=headers)
    assert past.status_code == 422 and past.json()["field"] == "expires_on"
    dated_minus = await client.post(
        url, json={"points": -1, "reason": "x", "expires_on": (clock.today() + timedelta(days=9)).isoformat()},
        headers=headers,
    )
    assert dated_minus.status_code == 422 and dated_minus.json()["field"] == "expires_on"
    too_many = await client.post(url, json={"points": -3, "reason": "訂正"}, headers=headers)
    assert too_many.status_code == 402
    assert too_many.json()["code"] == "insufficient_points" and too_many.json()["available"] == 2
    not_a_number = await client.post(url, json={"points": "many", "reason": "x"}, headers=headers)
    assert not_a_number.status_code in (400, 422) and "points" in not_a_number.text
    assert (await ledger.balance(organization.id)).available == 2


async def test_agents_and_customers_cannot_adjust(client):
    organization = await make_organization()
    other = await make_organization()
    url = f"/api/v1/organizations/{organization.id}/adjustments"
    body = {"points": 100, "reason": "自分で追加"}

    agent = await client.post(url, json=body, headers=await bearer(await make_user("agent")))
    assert agent.status_code == 403
    own_admin = await client.post(
        url, json=body, headers=await bearer(await make_user("customer_admin", organization=organization))
    )
    assert own_admin.status_code == 403
    stranger = await client.post(
        url, json=body, headers=await bearer(await make_user("customer_admin", organization=other))
    )
    assert stranger.status_code == 404
    assert (await ledger.balance(organization.id)).available == 0
