"""The company's request history in the portal: keyword search, filters, paging, HTMX updates."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from urllib.parse import urlsplit

import pytest

from app.tickets.services import filing, thread
from app.tickets.tables import Ticket
from tests.factories import caller, make_request_type, make_support_world, sign_in

ROW_NUMBER = re.compile(r'<td><a href="/portal/tickets/\d+">(\d{4}-\d{6})</a></td>')


def numbers(html: str) -> set[str]:
    return set(ROW_NUMBER.findall(html))


async def file(who, subject, *, request_type="general", priority="normal", created_at=None):
    ticket = await filing.create_ticket(
        caller(who), subject=subject, body="詳細はお電話でお伝えした通りです。", request_type_code=request_type,
        priority=priority,
    )
    if created_at is not None:
        await Ticket.update({Ticket.created_at: created_at}).where(Ticket.id == ticket.id)
    return ticket


@pytest.fixture
async def history():
    """Requests of two companies that differ in every filter the history page offers."""
    world = await make_support_world()
    await make_request_type("billing", "請求関連", "Billing")
    agent = caller(world.agent)
    # 2025-01-10 15:30 UTC is 2025-01-11 00:30 in Tokyo: the day the customer sees.
    hub = await file(world.customer_a, "社内ハブの交換", priority="urgent",
                     created_at=datetime(2025, 1, 10, 15, 30, tzinfo=UTC))
    invoice = await file(world.customer_a2, "請求書の再発行", request_type="billing",
                         created_at=datetime(2025, 2, 1, 3, 0, tzinfo=UTC))
    internet = await file(world.customer_a, "インターネットに接続できない", priority="low",
                          created_at=datetime(2025, 3, 5, 3, 0, tzinfo=UTC))
    await thread.add_message(agent, internet.id, "ハブを再起動してください。", then_status="resolved")
    printer = await file(world.customer_a2, "Printer offline")
    await thread.add_message(agent, printer.id, "ハブ交換が必要かもしれない", internal=True)
    elsewhere = await file(world.customer_b, "ハブの故障 請求 Printer インターネット", priority="urgent")
    return world, {"hub": hub, "invoice": invoice, "internet": internet, "printer": printer, "elsewhere": elsewhere}


async def expect(client, tickets, params, *names):
    response = await client.get("/portal/tickets", params=params)
    assert response.status_code == 200, response.text
    assert numbers(response.text) == {tickets[n].number for n in names}, params


async def test_keyword_search_finds_exactly_the_companys_matching_requests(client, history):
    world, tickets = history
    await sign_in(client, world.customer_a)
    await expect(client, tickets, {}, "hub", "invoice", "internet", "printer")
    await expect(client, tickets, {"q": "ハブ"}, "hub", "internet")  # a reply matches; an internal note does not
    await expect(client, tickets, {"q": "請求"}, "invoice")
    await expect(client, tickets, {"q": "インターネット"}, "internet")
    await expect(client, tickets, {"q": "printer"}, "printer")
    await expect(client, tickets, {"q": "ｐｒｉｎｔｅｒ"}, "printer")  # full-width letters fold
    await expect(client, tickets, {"q": "ハブ 交換"}, "hub")
    await expect(client, tickets, {"q": "見つからない言葉"})


async def test_filters_narrow_the_history_and_combine_with_the_keyword(client, history):
    world, tickets = history
    await sign_in(client, world.customer_a)
    await expect(client, tickets, {"status": "new,open,waiting"}, "hub", "invoice", "printer")
    await expect(client, tickets, {"status": "resolved"}, "internet")
    await expect(client, tickets, {"status": "resolved", "q": "ハブ"}, "internet")
    await expect(client, tickets, {"priority": "urgent"}, "hub")
    await expect(client, tickets, {"priority": "low"}, "internet")
    await expect(client, tickets, {"request_type": "billing"}, "invoice")
    await expect(client, tickets, {"requester": "me"}, "hub", "internet")
    await expect(client, tickets, {"requester": str(world.customer_a2.id)}, "invoice", "printer")
    await expect(client, tickets, {"requester": str(world.customer_b.id)})
    await expect(client, tickets, {"created_from": "2025-01-11", "created_to": "2025-02-01"}, "hub", "invoice")
    await expect(client, tickets, {"created_to": "2025-01-10"})  # Tokyo dates, both ends included
    await expect(client, tickets, {"created_from": "2025/03/05", "created_to": "2025/03/05"}, "internet")


async def test_the_filter_form_offers_the_companys_people_and_the_request_types(client, history):
    world, _tickets = history
    await sign_in(client, world.customer_a)
    page = (await client.get("/portal/tickets")).text
    assert "請求関連" in page and "青木 二郎" in page and "別府 花子" not in page


async def test_bad_filter_values_are_explained_not_failed(client, history):
    world, _tickets = history
    await sign_in(client, world.customer_a)
    response = await client.get("/portal/tickets", params={"created_from": "2025-13-45"})
    assert response.status_code == 422 and "YYYY/MM/DD" in response.text and 'value="2025-13-45"' in response.text
    response = await client.get("/portal/tickets", params={"status": "lost"})
    assert response.status_code == 422 and 'role="alert"' in response.text
    response = await client.get("/portal/tickets", params={"cursor": "not-a-cursor"})
    assert response.status_code == 422 and "最初のページ" in response.text
    response = await client.get("/portal/tickets", params={"requester": "someone"})
    assert response.status_code == 422


async def test_a_filter_change_from_htmx_gets_only_the_results_table(client, history):
    world, tickets = history
    await sign_in(client, world.customer_a)
    fragment = await client.get("/portal/tickets", params={"priority": "urgent"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'id="filters"' not in fragment.text
    assert numbers(fragment.text) == {tickets["hub"].number}
    bad = await client.get("/portal/tickets", params={"status": "lost"}, headers={"HX-Request": "true"})
    assert bad.status_code == 200 and 'role="alert"' in bad.text  # HTMX swaps only 2xx answers
    restored = await client.get("/portal/tickets", params={"priority": "urgent"},
                                headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restored.text and 'id="filters"' in restored.text
    page = await client.get("/portal/tickets", params={"priority": "urgent"})
    assert 'hx-get="/portal/tickets"' in page.text and 'id="results"' in page.text


async def test_the_history_pages_through_every_request_with_next_page_links(client):
    world = await make_support_world()
    filed = {(await file(world.customer_a, f"定例作業 {n}")).number for n in range(27)}
    await file(world.customer_b, "定例作業 他社")
    await sign_in(client, world.customer_a)

    first = await client.get("/portal/tickets", params={"q": "定例"})
    assert len(numbers(first.text)) == 25
    link = re.search(r'<a href="(/portal/tickets\?[^"]+)"[^>]*rel="next"', first.text)
    assert link, "a next page link"
    target = unescape(link.group(1))
    assert "q=" in urlsplit(target).query and "cursor=" in urlsplit(target).query
    second = await client.get(target)
    assert len(numbers(second.text)) == 2 and 'rel="next"' not in second.text
    assert numbers(first.text) | numbers(second.text) == filed
