"""Buying by card: the real Stripe SDK against a local fake of the Stripe API, webhooks signed as
Stripe signs them. Points arrive from the webhook only, exactly once however often and in
whatever order the events come; refunds take back only the unspent points."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

import pytest

from billing import invoicing, ledger
from billing.tables import Purchase, StripeEvent
from billing.verify import verify
from tests.factories import bearer, make_bundle, make_issuer, make_organization, make_user, sign_in
from tests.fake_stripe import FakeStripe, fake_stripe  # noqa: F401


@pytest.fixture
async def shop(fake_stripe, settings, monkeypatch):  # noqa: F811
    """Stripe keys pointing at the fake (its events held, delivered by the tests through the app),
    an issuer, a 10-point bundle at ¥50,000 + 10 %, and a company with its admin."""
    monkeypatch.setattr(settings, "stripe_secret_key", fake_stripe.api_key)
    monkeypatch.setattr(settings, "stripe_webhook_secret", fake_stripe.webhook_secret)
    monkeypatch.setattr(settings, "stripe_api_base", fake_stripe.api_base)
    fake_stripe.hold = True
    fake_stripe.webhook_url = "/webhooks/stripe"
    await make_issuer()
    await make_bundle("P10", points=10, price_jpy=50_000)
    organization = await make_organization("株式会社さくら商事")
    admin = await make_user("customer_admin", organization=organization, email="tanaka@sakura.example")
    return organization, admin


async def buy(client, admin, organization, quantity=1, **headers):
    response = await client.post(
        f"/api/v1/organizations/{organization.id}/purchases",
        json={"bundle": "P10", "quantity": quantity, "method": "card"}, headers={**await bearer(admin), **headers},
    )
    assert response.status_code == 201, response.text
    return response.json()


def session_of(fake: FakeStripe, created: dict) -> dict:
    (session,) = [s for s in fake.sessions.values() if s["url"] == created["checkout_url"]]
    return session


async def deliver_all(fake: FakeStripe, client, times: int = 1, order=None):
    held = list(fake.held) if order is None else order
    fake.held = [event for event in fake.held if event not in held]
    deliveries = []
    for event in held:
        deliveries += await fake.deliver_async(event, client, times)
    return deliveries


async def balance(organization) -> int:
    return (await ledger.balance(organization.id)).available


async def test_a_card_purchase_opens_a_checkout_in_yen_that_names_the_purchase(client, shop, fake_stripe):  # noqa: F811
    organization, admin = shop
    created = await buy(client, admin, organization, 2)
    assert created["status"] == "pending" and created["total_jpy"] == 110_000
    session = session_of(fake_stripe, created)
    assert (session["currency"], session["amount_total"], session["mode"]) == ("jpy", 110_000, "payment")
    assert session["metadata"]["purchase_id"] == str(created["purchase_id"])
    assert session["client_reference_id"] == str(created["purchase_id"])
    assert session["customer_email"] == "tanaka@sakura.example"
    (call,) = [r for r in fake_stripe.requests if r.path == "/v1/checkout/sessions"]
    assert call.idempotency_key == f"kippu-purchase-{created['purchase_id']}"
    # Coming back from the checkout grants nothing: only Stripe's notice does.
    fake_stripe.pay(session["id"])
    success = urlsplit(session["success_url"])
    assert (success.path, success.query) == (f"/portal/purchases/{created['purchase_id']}", "checkout=done")
    await sign_in(client, admin)
    back = await client.get(f"{success.path}?{success.query}")
    assert back.status_code == 200 and "お支払いを確認しています" in back.text
    assert 'id="points-arrived"' not in back.text
    assert await balance(organization) == 0
    await deliver_all(fake_stripe, client)
    assert await balance(organization) == 20
    arrived = await client.get(f"{success.path}?{success.query}")
    assert 'id="points-arrived"' in arrived.text and "お支払いを確認しています" not in arrived.text


async def test_points_arrive_once_when_the_payment_notice_is_delivered_three_times(client, shop, fake_stripe):  # noqa: F811
    organization, admin = shop
    created = await buy(client, admin, organization)
    fake_stripe.pay(session_of(fake_stripe, created)["id"])
    deliveries = await deliver_all(fake_stripe, client, times=3)
    assert [d.status for d in deliveries] == [200, 200, 200]
    assert await balance(organization) == 10
    purchase = await Purchase.select().where(Purchase.id == created["purchase_id"]).first()
    assert purchase["status"] == "paid" and purchase["stripe_payment_intent"].startswith("pi_")
    documents = await invoicing.documents_of_purchase(created["purchase_id"])
    assert [(d.kind, d.document.total_jpy, d.document.payment_method) for d in documents] == [("receipt", 55_000, "card")]
    assert await StripeEvent.count() == 1
    (lot,) = (await ledger.balance(organization.id)).lots
    assert (lot.yen_per_point, lot.paid) == (5_000, True)
    assert (await verify()).clean


async def test_a_delayed_payment_waits_and_its_success_grants_even_when_it_comes_first(client, shop, fake_stripe):  # noqa: F811
    organization, admin = shop
    created = await buy(client, admin, organization)
    session = session_of(fake_stripe, created)
    fake_stripe.pay(session["id"], method="konbini")
    fake_stripe.async_succeed(session["id"])
    completed, succeeded = fake_stripe.held
    assert (completed["type"], succeeded["type"]) == (
        "checkout.session.completed", "checkout.session.async_payment_succeeded")
    await deliver_all(fake_stripe, client, order=[succeeded, completed])
    assert await balance(organization) == 10
    assert (await Purchase.select(Purchase.status).where(Purchase.id == created["purchase_id"]).first())["status"] == "paid"


async def test_a_delayed_payment_that_fails_or_a_checkout_that_expires_grants_nothing(client, shop, fake_stripe):  # noqa: F811
    organization, admin = shop
    failing = await buy(client, admin, organization)
    fake_stripe.pay(session_of(fake_stripe, failing)["id"], method="konbini")
    await deliver_all(fake_stripe, client)
    status = await client.get(f"/api/v1/purchases/{failing['purchase_id']}", headers=await bearer(admin))
    assert status.json()["status"] == "processing"
    fake_stripe.async_fail(session_of(fake_stripe, failing)["id"])
    expiring = await buy(client, admin, organization)
    fake_stripe.expire(session_of(fake_stripe, expiring)["id"])
    await deliver_all(fake_stripe, client)
    statuses = {r["id"]: r["status"] for r in await Purchase.select(Purchase.id, Purchase.status)}
    assert statuses == {failing["purchase_id"]: "failed", expiring["purchase_id"]: "expired"}
    assert await balance(organization) == 0


async def test_a_refund_in_stripe_takes_back_only_the_unspent_half_and_issues_a_credit_note(client, shop, fake_stripe):  # noqa: F811
    organization, admin = shop
    created = await buy(client, admin, organization, 2)
    paid = fake_stripe.pay(session_of(fake_stripe, created)["id"])
    await deliver_all(fake_stripe, client)
    hold = await ledger.hold(organization.id, 10, ticket_id=1, key="spend")
    await ledger.capture(hold, "spent")
    fake_stripe.refund(paid["payment_intent"], amount=55_000)
    deliveries = await deliver_all(fake_stripe, client, times=2)
    assert [d.type for d in deliveries] == ["charge.refunded", "charge.refunded"]
    assert await balance(organization) == 0
    purchase = await Purchase.select().where(Purchase.id == created["purchase_id"]).first()
    assert purchase["refunded_points"] == 10
    notes = [d for d in await invoicing.documents_of_purchase(created["purchase_id"]) if d.kind == "credit_note"]
    assert [(n.document.subtotal_jpy, n.document.tax_jpy, n.document.total_jpy) for n in notes] == [(50_000, 5_000, 55_000)]
    assert notes[0].document.original_number.startswith("RCT-")
    assert (await verify()).clean


async def test_a_refund_notice_before_the_payment_notice_settles_the_payment_first(client, shop, fake_stripe):  # noqa: F811
    organization, admin = shop
    created = await buy(client, admin, organization)
    paid = fake_stripe.pay(session_of(fake_stripe, created)["id"])
    fake_stripe.refund(paid["payment_intent"])
    completed, refunded = fake_stripe.held
    await deliver_all(fake_stripe, client, order=[refunded, completed])
    purchase = await Purchase.select().where(Purchase.id == created["purchase_id"]).first()
    assert (purchase["status"], purchase["refunded_points"]) == ("paid", 10)
    assert await balance(organization) == 0
    kinds = sorted(d.kind for d in await invoicing.documents_of_purchase(created["purchase_id"]))
    assert kinds == ["credit_note", "receipt"]


async def test_finance_refunds_a_card_purchase_through_stripe_for_the_credit_notes_total(client, shop, fake_stripe):  # noqa: F811
    from app.invoices import services
    from tests.factories import caller

    organization, admin = shop
    created = await buy(client, admin, organization, 2)
    fake_stripe.pay(session_of(fake_stripe, created)["id"])
    await deliver_all(fake_stripe, client)
    hold = await ledger.hold(organization.id, 4, ticket_id=1, key="spend")
    await ledger.capture(hold, "spent")
    finance = caller(await make_user("finance"))
    refund = await services.refund_purchase(finance, created["purchase_id"], reason="ご解約")
    assert (refund.points, refund.credit_note.document.total_jpy) == (16, 88_000)
    (stripe_refund,) = fake_stripe.refunds.values()
    assert stripe_refund["amount"] == 88_000
    # Stripe's own notice of that refund changes nothing more.
    fake_stripe.settle()
    await deliver_all(fake_stripe, client)
    assert await balance(organization) == 0
    assert len([d for d in await invoicing.documents_of_purchase(created["purchase_id"]) if d.kind == "credit_note"]) == 1


async def test_a_notice_with_a_bad_signature_is_refused_and_changes_nothing(client, shop, fake_stripe):  # noqa: F811
    organization, admin = shop
    created = await buy(client, admin, organization)
    fake_stripe.pay(session_of(fake_stripe, created)["id"])
    (event,) = fake_stripe.held
    forged = await fake_stripe.deliver_async(event, client, secret="whsec_not_ours")
    stale = await fake_stripe.deliver_async(event, client, timestamp=1_000_000_000)
    assert [d.status for d in forged + stale] == [400, 400]
    not_json = await client.post("/webhooks/stripe", content=b"\xff\xfe", headers={"Stripe-Signature": "t=1,v1=00"})
    assert not_json.status_code == 400 and not_json.json()["code"] == "bad_request"
    assert await balance(organization) == 0 and await StripeEvent.count() == 0


async def test_a_session_whose_amount_is_not_the_purchases_grants_nothing(client, shop, fake_stripe):  # noqa: F811
    organization, admin = shop
    created = await buy(client, admin, organization)
    fake_stripe.pay(session_of(fake_stripe, created)["id"])
    (event,) = fake_stripe.held
    event["data"]["object"]["amount_total"] = 1
    (delivery,) = await fake_stripe.deliver_async(event, client)
    assert delivery.status == 200 and "refused" in delivery.answer
    assert await balance(organization) == 0


async def test_when_stripe_cannot_be_reached_nothing_is_bought(client, shop, settings, monkeypatch):
    organization, admin = shop
    monkeypatch.setattr(settings, "stripe_api_base", "http://127.0.0.1:9")
    response = await client.post(
        f"/api/v1/organizations/{organization.id}/purchases",
        json={"bundle": "P10", "quantity": 1, "method": "card"}, headers=await bearer(admin),
    )
    assert response.status_code == 503 and response.json()["code"] == "service_unavailable"
    assert "請求書払い" in response.json()["message"]
    assert await Purchase.count() == 0


async def test_without_stripe_keys_the_test_payment_page_completes_through_the_signed_webhook(client, settings, monkeypatch):
    from tests.factories import csrf, sign_in

    monkeypatch.setattr(settings, "stripe_secret_key", None)
    await make_issuer()
    await make_bundle("P10")
    organization = await make_organization()
    admin = await make_user("customer_admin", organization=organization)
    created = await buy(client, admin, organization)
    assert created["checkout_url"].endswith(f"/test-payments/{created['purchase_id']}")
    await sign_in(client, admin)
    page = await client.get(f"/test-payments/{created['purchase_id']}")
    assert page.status_code == 200 and "¥55,000" in page.text
    paid = await client.post(f"/test-payments/{created['purchase_id']}", data={"outcome": "paid", **csrf(client)})
    assert paid.status_code in (302, 303)
    assert await balance(organization) == 10
    (event,) = await StripeEvent.select()
    assert event["type"] == "checkout.session.completed" and "paid" in event["outcome"]

    monkeypatch.setattr(settings, "environment", "production")
    assert (await client.get(f"/test-payments/{created['purchase_id']}")).status_code == 404
    refused = await client.post(f"/test-payments/{created['purchase_id']}", data={"outcome": "paid", **csrf(client)})
    assert refused.status_code == 404


async def test_only_the_companys_admin_or_finance_buys_and_never_for_another_company(client, shop):
    organization, admin = shop
    member = await make_user("customer_member", organization=organization)
    other = await make_organization()
    body = {"bundle": "P10", "quantity": 1, "method": "invoice"}
    as_member = await client.post(f"/api/v1/organizations/{organization.id}/purchases", json=body,
                                  headers=await bearer(member))
    assert as_member.status_code == 403
    elsewhere = await client.post(f"/api/v1/organizations/{other.id}/purchases", json=body, headers=await bearer(admin))
    assert elsewhere.status_code == 404
    finance = await client.post(f"/api/v1/organizations/{other.id}/purchases", json=body,
                                headers=await bearer(await make_user("finance")))
    assert finance.status_code == 201 and finance.json()["invoice_id"]
    assert await Purchase.count() == 1


async def test_below_the_minimum_the_api_answers_422_naming_the_quantity(client, shop):
    organization, admin = shop
    await make_bundle("P50", points=50, price_jpy=200_000, min_quantity=3)
    response = await client.post(
        f"/api/v1/organizations/{organization.id}/purchases",
        json={"bundle": "P50", "quantity": 2, "method": "invoice"}, headers=await bearer(admin),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "quantity" and "3" in response.json()["message"]


async def test_the_same_idempotency_key_buys_once(client, shop):
    organization, admin = shop
    headers = {**await bearer(admin), "Idempotency-Key": "buy-1"}
    body = {"bundle": "P10", "quantity": 1, "method": "invoice"}
    first = await client.post(f"/api/v1/organizations/{organization.id}/purchases", json=body, headers=headers)
    again = await client.post(f"/api/v1/organizations/{organization.id}/purchases", json=body, headers=headers)
    assert first.json() == again.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert await Purchase.count() == 1


def test_paid_lots_expire_a_year_after_the_day_of_payment():
    from pricing.rules import lot_expiry

    assert lot_expiry(date(2026, 12, 1), 12) == date(2027, 11, 30)


async def test_a_partial_refund_in_stripe_takes_back_only_the_points_its_money_covers(client, shop, fake_stripe):  # noqa: F811
    organization, admin = shop
    created = await buy(client, admin, organization)  # 10 points, ¥55,000 with tax
    paid = fake_stripe.pay(session_of(fake_stripe, created)["id"])
    await deliver_all(fake_stripe, client)
    fake_stripe.refund(paid["payment_intent"], amount=24_000)  # 4 points are ¥22,000, 5 would be ¥27,500
    await deliver_all(fake_stripe, client)
    assert await balance(organization) == 6
    purchase = await Purchase.select().where(Purchase.id == created["purchase_id"]).first()
    assert purchase["refunded_points"] == 4
    (note,) = [d for d in await invoicing.documents_of_purchase(created["purchase_id"]) if d.kind == "credit_note"]
    assert (note.document.subtotal_jpy, note.document.tax_jpy, note.document.total_jpy) == (20_000, 2_000, 22_000)
    (event,) = await StripeEvent.select(StripeEvent.outcome).where(StripeEvent.type == "charge.refunded")
    assert "¥24,000 returned, credit note ¥22,000" in event["outcome"]
    assert (await verify()).clean


async def test_a_refund_in_stripe_after_every_point_was_used_takes_nothing_back(client, shop, fake_stripe):  # noqa: F811
    organization, admin = shop
    created = await buy(client, admin, organization)
    paid = fake_stripe.pay(session_of(fake_stripe, created)["id"])
    await deliver_all(fake_stripe, client)
    await ledger.capture(await ledger.hold(organization.id, 10, ticket_id=1, key="all"), "used-all")
    fake_stripe.refund(paid["payment_intent"])
    deliveries = await deliver_all(fake_stripe, client)
    assert [d.status for d in deliveries] == [200]
    purchase = await Purchase.select().where(Purchase.id == created["purchase_id"]).first()
    assert purchase["refunded_points"] == 0 and purchase["refunded_at"] is not None
    assert "credit_note" not in {d.kind for d in await invoicing.documents_of_purchase(created["purchase_id"])}
    assert (await ledger.balance(organization.id)).available == 0
    assert (await verify()).clean


async def test_production_believes_no_webhook_signed_with_the_public_development_secret(client, settings, monkeypatch):
    import json
    import time

    from app.settings import DEVELOPMENT_WEBHOOK_SECRET
    from billing.card_payments import sign_payload

    monkeypatch.setattr(settings, "stripe_secret_key", None)
    await make_issuer()
    await make_bundle("P10")
    organization = await make_organization()
    admin = await make_user("customer_admin", organization=organization)
    created = await buy(client, admin, organization)
    purchase = await Purchase.select().where(Purchase.id == created["purchase_id"]).first()
    monkeypatch.setattr(settings, "environment", "production")
    # An attacker who read the development secret in the source forges Stripe's "paid" event.
    event = {
        "id": "evt_forged", "object": "event", "type": "checkout.session.completed", "created": int(time.time()),
        "livemode": False,
        "data": {"object": {
            "id": purchase["stripe_session_id"], "object": "checkout.session", "mode": "payment",
            "payment_status": "paid", "status": "complete", "amount_total": purchase["total_jpy"], "currency": "jpy",
            "client_reference_id": str(purchase["id"]), "payment_intent": "pi_forged",
            "metadata": {"purchase_id": str(purchase["id"]), "organization_id": str(organization.id)},
        }},
    }
    payload = json.dumps(event).encode()

    answer = await client.post("/webhooks/stripe", content=payload,
                               headers={"Stripe-Signature": sign_payload(payload, DEVELOPMENT_WEBHOOK_SECRET)})

    assert answer.status_code == 404
    assert await balance(organization) == 0 and await StripeEvent.count() == 0
