"""What a customer sees of its points in the portal: the balance on every page, the lots and what
expires soon, the history, and the point table shared in advance."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from app.tickets.tables import RequestType
from billing import clock, ledger
from pricing import Bundle, PrioritySurcharge, RequestTypePrice
from pricing import services as pricing
from tests.factories import make_organization, make_ticket, make_user, sign_in

QUESTION = RequestTypePrice(
    code="question", name_ja="操作方法のご質問", name_en="How-to question", points=1,
    scope_ja="操作方法についてのご質問1件", scope_en="One question about how to use it",
)
INVESTIGATION = RequestTypePrice(
    code="investigation", name_ja="障害調査", name_en="Fault investigation", points=3,
    scope_ja="障害の原因調査", scope_en="Finding the cause of a fault",
    included_minutes=60, block_minutes=30, points_per_block=1,
)
STARTER = Bundle(code="P10", name_ja="10ポイントパック", name_en="10-point bundle", points=10, price_jpy=50000,
                 tax_rate=10, validity_months=12, min_quantity=2, max_quantity=20)


async def publish(*prices: RequestTypePrice, urgent: int = 1, at: datetime | None = None, note: str = "") -> int:
    version = await pricing.create_draft(note)
    for n, price in enumerate(prices):
        await pricing.set_request_type(version, price, sort_order=n)
    await pricing.set_surcharge(version, PrioritySurcharge("urgent", urgent))
    await pricing.publish(version, at)
    return version


async def company_with_customer(name: str = "株式会社アルファ"):
    organization = await make_organization(name)
    customer = await make_user("customer_member", organization=organization, name="青木 一郎")
    return organization, customer


def header_balance(html: str) -> str:
    match = re.search(r'id="points-balance".*?</li>', html, re.S)
    assert match, "the portal header shows no points balance"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0)))


async def test_the_balance_is_in_the_header_of_every_portal_page(client):
    organization, customer = await company_with_customer()
    request_type = RequestType(code="question", name_ja="質問", name_en="Question")
    await request_type.save()
    ticket = await make_ticket(organization, customer, request_type)
    await ledger.grant(organization.id, 12, "ご契約特典", None, key="g1")
    await ledger.hold(organization.id, 3, ticket.id, "h1")
    await publish(QUESTION)
    await sign_in(client, customer)

    for path in ("/portal", "/portal/tickets", "/portal/tickets/new", f"/portal/tickets/{ticket.id}",
                 "/portal/points", "/portal/price-table"):
        response = await client.get(path)
        assert response.status_code == 200, path
        text = header_balance(response.text)
        assert "9" in text and "3" in text and "確保中" in text, (path, text)


async def test_the_header_shows_no_held_points_when_none_are_held(client):
    organization, customer = await company_with_customer()
    await ledger.grant(organization.id, 5, "ご契約特典", None, key="g1")
    await sign_in(client, customer)
    text = header_balance((await client.get("/portal")).text)
    assert "5" in text and "確保中" not in text


async def test_each_company_sees_its_own_balance_only(client):
    alpha, _alpha_customer = await company_with_customer("株式会社アルファ")
    beta, beta_customer = await company_with_customer("株式会社ベータ")
    await ledger.grant(alpha.id, 70, "アルファ様向け", None, key="ga")
    await ledger.grant(beta.id, 4, "ベータ様向け", None, key="gb")
    await sign_in(client, beta_customer)

    page = (await client.get("/portal/points")).text
    assert 'data-available="4"' in page
    assert "70" not in header_balance(page)
    assert "アルファ様向け" not in page


async def test_the_points_page_lists_lots_with_expiry_source_and_what_expires_soon(client):
    organization, customer = await company_with_customer()
    today = clock.today()
    soon, later = today + timedelta(days=20), today + timedelta(days=75)
    await ledger.purchase(organization.id, 10, 500, soon, "10ポイントパック", key="p1")
    await ledger.grant(organization.id, 4, "お詫び", later, key="g1")
    await ledger.grant(organization.id, 2, "永年", None, key="g2")
    await sign_in(client, customer)

    page = (await client.get("/portal/points")).text
    lots = re.search(r'<table class="compact lots">.*?</table>', page, re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", lots, re.S)[1:]
    cells = [[re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
             for row in rows]
    assert cells == [
        ["有償購入", "10", "", "10", soon.strftime("%Y/%m/%d")],
        ["無償付与", "4", "", "4", later.strftime("%Y/%m/%d")],
        ["無償付与", "2", "", "2", "期限なし"],
    ]
    expiring = {int(d): int(v) for d, v in re.findall(r'data-days="(\d+)">([\d,]+)<', page)}
    assert expiring == {30: 10, 60: 10, 90: 14}
    assert 'id="available">16<' in page


async def test_the_history_is_newest_first_in_japanese_with_request_links_and_reasons(client):
    organization, customer = await company_with_customer()
    request_type = RequestType(code="question", name_ja="質問", name_en="Question")
    await request_type.save()
    ticket = await make_ticket(organization, customer, request_type)
    await ledger.grant(organization.id, 10, "ご契約特典", None, key="g1")
    hold = await ledger.hold(organization.id, 2, ticket.id, "h1")
    await ledger.capture(hold, "c1")
    await ledger.adjust(organization.id, -1, "二重計上の訂正", "a1")
    await sign_in(client, customer)

    page = (await client.get("/portal/points")).text
    history = re.search(r'<table class="compact ledger-history">.*?</table>', page, re.S).group(0)
    kinds = re.findall(r'<tr class="entry-(\w+)">', history)
    assert kinds == ["adjustment", "capture", "hold", "grant"]
    assert "調整" in history and "利用" in history and "確保" in history and "付与" in history
    assert f'<a href="/portal/tickets/{ticket.id}">{ticket.number}</a>' in history
    assert "二重計上の訂正" in history and "ご契約特典" in history
    assert "−1" in history and "−2" in history and "+10" in history


async def test_the_history_pages_with_a_cursor(client):
    organization, customer = await company_with_customer()
    for n in range(55):
        await ledger.grant(organization.id, 1, f"付与{n:02d}", None, key=f"g{n}")
    await sign_in(client, customer)

    first = (await client.get("/portal/points")).text
    assert "付与54" in first and "付与05" in first and "付与04" not in first
    next_link = re.search(r'href="(/portal/points\?cursor=[^"]+)"[^>]*rel="next"', first).group(1)
    second = await client.get(next_link.replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert second.status_code == 200
    assert "<html" not in second.text  # an HTMX swap gets only the rows
    assert "付与04" in second.text and "付与00" in second.text and "付与05" not in second.text
    assert 'rel="next"' not in second.text

    bad = await client.get("/portal/points?cursor=nonsense")
    assert bad.status_code in (400, 422)


async def test_the_price_page_shows_the_version_in_force_and_the_bundles(client):
    _organization, customer = await company_with_customer()
    await publish(QUESTION, INVESTIGATION, urgent=2)
    await pricing.save_bundle(STARTER)
    await pricing.save_bundle(Bundle(code="OLD", name_ja="旧パック", name_en="Old", points=5, price_jpy=5,
                                     tax_rate=10, validity_months=6, active=False))
    future = await pricing.create_draft()
    await pricing.set_request_type(future, RequestTypePrice("question", "値上げ後の質問", "Dearer", points=9))
    await pricing.publish(future, datetime.now(UTC) + timedelta(days=10))
    await sign_in(client, customer)

    page = (await client.get("/portal/price-table")).text
    assert "操作方法のご質問" in page and "操作方法についてのご質問1件" in page
    assert "障害調査" in page and "60分まで対応" in page and "30分ごとに 1 ポイント" in page
    assert "値上げ後の質問" not in page
    assert "至急: +2" in page
    assert "10ポイントパック" in page and "¥50,000" in page and "10%" in page and "12か月" in page
    assert "2〜20" in page
    assert "旧パック" not in page
    assert 'href="/portal/price-table.pdf"' in page


async def test_the_price_page_says_when_no_table_is_published(client):
    _organization, customer = await company_with_customer()
    await sign_in(client, customer)
    response = await client.get("/portal/price-table")
    assert response.status_code == 200
    assert "ポイント表はまだ公開されていません" in response.text


async def test_staff_do_not_get_the_customer_points_pages(client):
    agent = await make_user("agent")
    await sign_in(client, agent)
    assert (await client.get("/portal/points")).status_code == 403
