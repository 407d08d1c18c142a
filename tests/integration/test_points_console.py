"""What vendor staff see of points in the console, and finance's adjustments and grants."""

from __future__ import annotations

import re
from datetime import timedelta

from app.points import services
from billing import clock, ledger
from billing.verify import verify
from tests.factories import caller, csrf, make_organization, make_user, sign_in


def rows_of(html: str, table_class: str) -> list[list[str]]:
    table = re.search(rf'<table class="compact {table_class}">.*?</table>', html, re.S).group(0)
    return [
        [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)[1:]
    ]


async def test_staff_see_every_organisations_available_and_held_points(client):
    alpha = await make_organization("株式会社アルファ", code="ALPHA")
    beta = await make_organization("株式会社ベータ", code="BETA")
    await make_organization("株式会社ガンマ", code="GAMMA")
    await ledger.grant(alpha.id, 30, "初回", None, key="ga")
    await ledger.hold(alpha.id, 5, 1, "ha")
    await ledger.grant(beta.id, 8, "初回", None, key="gb")
    await sign_in(client, await make_user("agent"))

    page = await client.get("/console/organizations")
    assert page.status_code == 200
    assert rows_of(page.text, "organization-balances") == [
        ["GAMMA", "株式会社ガンマ", "0", "0"],
        ["BETA", "株式会社ベータ", "8", "0"],
        ["ALPHA", "株式会社アルファ", "25", "5"],
    ]
    found = await client.get("/console/organizations", params={"q": "ベータ"})
    assert [r[0] for r in rows_of(found.text, "organization-balances")] == ["BETA"]


async def test_the_organisation_list_leaves_out_points_past_their_expiry_and_pages(client):
    organizations = [await make_organization(code=f"ORG{n:02d}") for n in range(3)]
    lapsing = organizations[0]
    await ledger.grant(lapsing.id, 4, "期限付き", clock.today(), key="g1")
    await ledger.grant(lapsing.id, 6, "無期限", None, key="g2")
    agent = caller(await make_user("agent"))

    # Tomorrow the 4 points are past their last day, though the expiry job has not run yet.
    tomorrow = clock.today() + timedelta(days=1)
    first = await services.organizations_with_balances(agent, limit=2, today=tomorrow)
    second = await services.organizations_with_balances(agent, cursor=first.next_cursor, limit=2, today=tomorrow)
    assert [o.code for o in first.items] == ["ORG02", "ORG01"]
    assert [(o.code, o.available) for o in second.items] == [("ORG00", 6)]
    assert second.next_cursor is None


async def test_finance_grants_points_with_an_expiry_and_the_reason_shows_in_both_histories(client):
    organization = await make_organization("株式会社アルファ")
    finance = await make_user("finance", name="経理 花子")
    customer = await make_user("customer_member", organization=organization)
    expires = clock.today() + timedelta(days=40)
    await sign_in(client, finance)

    page = await client.get(f"/console/organizations/{organization.id}/points")
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    response = await client.post(
        f"/console/organizations/{organization.id}/points/adjustments",
        data={"kind": "grant", "points": "10", "reason": "障害のお詫び", "expires_on": expires.isoformat(),
              "token": token, **csrf(client)},
    )
    assert response.status_code in (302, 303), response.text
    page = (await client.get(f"/console/organizations/{organization.id}/points")).text
    assert "10 ポイントを付与しました。" in page
    assert rows_of(page, "lots") == [["無償付与", "10", "", "10", expires.strftime("%Y/%m/%d")]]
    history = rows_of(page, "ledger-history")
    assert [row[1:3] + row[6:] for row in history] == [["付与", "+10", "障害のお詫び", "経理 花子"]]

    await client.post("/logout", data=csrf(client))
    await sign_in(client, customer)
    portal = (await client.get("/portal/points")).text
    assert "障害のお詫び" in portal and "経理 花子" not in portal


async def test_a_negative_adjustment_takes_points_away_but_never_below_zero(client):
    organization = await make_organization()
    await ledger.grant(organization.id, 5, "初回", None, key="g1")
    await sign_in(client, await make_user("admin"))
    url = f"/console/organizations/{organization.id}/points/adjustments"

    ok = await client.post(url, data={"kind": "adjustment", "points": "-2", "reason": "二重付与の訂正", **csrf(client)})
    assert ok.status_code in (302, 303)
    assert (await ledger.balance(organization.id)).available == 3
    refused = await client.post(url, data={"kind": "adjustment", "points": "-4", "reason": "訂正", **csrf(client)})
    assert refused.status_code == 402
    assert "ポイントが不足しています" in refused.text
    assert 'value="-4"' in refused.text and "訂正" in refused.text
    assert (await ledger.balance(organization.id)).available == 3
    assert (await verify()).clean


async def test_an_adjustment_without_a_reason_is_refused_next_to_the_reason(client):
    organization = await make_organization()
    await sign_in(client, await make_user("finance"))
    response = await client.post(
        f"/console/organizations/{organization.id}/points/adjustments",
        data={"kind": "adjustment", "points": "3", "reason": "", **csrf(client)},
    )
    assert response.status_code == 422
    assert re.search(r'id="reason-error"[^>]*>この項目は必須です。', response.text)
    assert 'value="3"' in response.text
    assert (await ledger.balance(organization.id)).available == 0


async def test_a_grant_cannot_take_points_away(client):
    organization = await make_organization()
    await sign_in(client, await make_user("finance"))
    response = await client.post(
        f"/console/organizations/{organization.id}/points/adjustments",
        data={"kind": "grant", "points": "-3", "reason": "x", **csrf(client)},
    )
    assert response.status_code == 422 and 'id="points-error"' in response.text


async def test_sending_the_form_twice_records_the_adjustment_once(client):
    organization = await make_organization()
    await sign_in(client, await make_user("finance"))
    form = {"kind": "adjustment", "points": "4", "reason": "キャンペーン", "token": "form-token-1", **csrf(client)}
    url = f"/console/organizations/{organization.id}/points/adjustments"
    await client.post(url, data=form)
    await client.post(url, data=form)
    assert (await ledger.balance(organization.id)).available == 4
    assert len((await ledger.entries(organization.id)).items) == 1


async def test_agents_see_balances_but_cannot_adjust(client):
    organization = await make_organization()
    await sign_in(client, await make_user("agent"))
    page = await client.get(f"/console/organizations/{organization.id}/points")
    assert page.status_code == 200 and "/points/adjustments" not in page.text
    response = await client.post(
        f"/console/organizations/{organization.id}/points/adjustments",
        data={"kind": "grant", "points": "100", "reason": "自分で", **csrf(client)},
    )
    assert response.status_code == 403
    assert (await ledger.balance(organization.id)).available == 0


async def test_customers_cannot_open_the_console_points_pages(client):
    organization = await make_organization()
    await sign_in(client, await make_user("customer_admin", organization=organization))
    assert (await client.get("/console/organizations")).status_code == 403
    assert (await client.get(f"/console/organizations/{organization.id}/points")).status_code == 403


async def test_an_unknown_organisation_is_not_found(client):
    await sign_in(client, await make_user("finance"))
    assert (await client.get("/console/organizations/999999/points")).status_code == 404
