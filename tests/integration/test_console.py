"""The staff console: home, the queue with filters, search and exports, access."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

from app.tickets.services import classification, filing, reading, thread, workflow
from app.tickets.tables import Ticket
from tests.factories import caller, make_request_type, make_support_world, sign_in


@pytest.fixture
async def world():
    return await make_support_world()


async def file(world, who=None, subject="プリンターに接続できません", body="昨日から印刷できません。", **extra):
    return await filing.create_ticket(
        caller(who or world.customer_a), subject=subject, body=body, request_type_code="general", **extra
    )


def numbers_in(html: str, table: str = "queue-table") -> list[str]:
    """The request numbers listed in one table of a page, top to bottom."""
    match = re.search(rf'<table[^>]*id="{table}".*?</table>', html, re.S)
    assert match, f"no table {table}"
    return re.findall(r'data-number="([^"]+)"', match.group(0))


# ------------------------------------------------------------------------------------ access


async def test_a_customer_cannot_open_any_console_page(client, world):
    ticket = await file(world)
    await sign_in(client, world.customer_a)
    for path in ("/console", "/console/tickets", f"/console/tickets/{ticket.id}", "/console/tickets/export.csv",
                 "/console/tickets/export.xlsx"):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert ticket.subject not in response.text


async def test_a_customer_cannot_change_a_request_through_the_console_forms(client, world):
    ticket = await file(world)
    await sign_in(client, world.customer_a)
    response = await client.post(
        f"/console/tickets/{ticket.id}/status",
        data={"status": "cancelled", "version": "1", "_csrf_token": client.cookies.get("kippu_csrf")},
    )
    assert response.status_code == 403
    assert (await Ticket.select(Ticket.status).where(Ticket.id == ticket.id).first())["status"] == "new"


async def test_signed_out_visitors_are_sent_to_sign_in(client, world):
    response = await client.get("/console/tickets")
    assert response.status_code in (302, 303) and response.headers["location"].startswith("/login")


# ------------------------------------------------------------------------------------ home


async def test_the_home_screen_counts_by_status_and_puts_urgent_and_overdue_first(client, world):
    agent = caller(world.agent)
    urgent = await file(world, subject="サーバーが停止しています", priority="urgent")
    late = await file(world, subject="請求書の再発行")
    await Ticket.update({Ticket.resolution_due_at: datetime.now(UTC) - timedelta(hours=1)}).where(Ticket.id == late.id)
    mine = await file(world, subject="パスワード再設定", who=world.customer_b)
    await workflow.take(agent, mine.id, version=1)
    done = await file(world, subject="完了済みの件")
    await thread.add_message(agent, done.id, "対応しました。", then_status="resolved")

    await sign_in(client, world.agent)
    page = await client.get("/console")
    assert page.status_code == 200
    assert "コンソール" in page.text
    assert re.search(r'data-status="new"><span class="badge new">3<', page.text)
    assert re.search(r'data-status="resolved"><span class="badge resolved">1<', page.text)
    assert 'href="/console/tickets?status=new"' in page.text
    assert numbers_in(page.text, "urgent-table") == [urgent.number]
    assert numbers_in(page.text, "overdue-table") == [late.number]
    assert numbers_in(page.text, "mine-table") == [mine.number]
    assert page.text.index('id="urgent"') < page.text.index('id="mine"')


async def test_status_counts_stop_at_a_cap_so_the_home_screen_stays_cheap(world):
    for i in range(3):
        await file(world, subject=f"件名{i}")
    await file(world, who=world.customer_b)
    counts = await reading.status_counts_capped(caller(world.agent), cap=2)
    assert counts["new"] == 3 and counts["closed"] == 0  # 3 means "more than 2"
    assert (await reading.status_counts_capped(caller(world.agent)))["new"] == 4
    assert (await reading.status_counts_capped(caller(world.customer_b)))["new"] == 1


async def test_the_console_speaks_english_to_an_agent_who_chose_it(client, world):
    world.agent.locale = "en"
    await world.agent.save()
    await file(world)
    await sign_in(client, world.agent)
    page = await client.get("/console")
    assert "Open requests I hold" in page.text and "Queue" in page.text


# ------------------------------------------------------------------------------------ queue


@pytest.fixture
async def queue(world):
    """Requests of two companies in different states, priorities, types and hands."""
    agent, agent2 = caller(world.agent), caller(world.agent2)
    await make_request_type("network", "ネットワーク設定", "Network settings")
    a_new = await file(world, subject="プリンターに接続できません")
    a_urgent = await file(world, subject="ルーターのハブが故障", priority="urgent")
    await workflow.take(agent, a_urgent.id, version=1)
    a_open = await filing.create_ticket(
        caller(world.customer_a2), subject="VPN が遅い", body="インターネット接続が遅いです。",
        request_type_code="network", category="incident",
    )
    await workflow.assign(agent, a_open.id, world.agent2.id, version=1)
    await thread.add_message(agent2, a_open.id, "調査します。")
    b_new = await file(world, who=world.customer_b, subject="請求書の宛名変更", priority="low")
    await classification.update_fields(agent, b_new.id, version=1, department_id=world.department.id)
    b_waiting = await file(world, who=world.customer_b, subject="Mail server settings",
                           body="Please check the mail server.")
    await thread.add_message(agent, b_waiting.id, "設定画面のスクリーンショットをお送りください。", then_status="waiting")
    await thread.add_message(agent, b_waiting.id, "社内メモ: 請求部門に確認中", internal=True)
    return {"a_new": a_new, "a_urgent": a_urgent, "a_open": a_open, "b_new": b_new, "b_waiting": b_waiting}


async def queue_numbers(client, params=None) -> list[str]:
    response = await client.get("/console/tickets", params=params or {})
    assert response.status_code == 200, response.text
    return numbers_in(response.text)


def numbers(queue, *names) -> list[str]:
    """Newest first, as the queue lists them."""
    chosen = [queue[n] for n in names]
    return [t.number for t in sorted(chosen, key=lambda t: t.id, reverse=True)]


async def test_the_queue_lists_everything_newest_first_with_who_holds_it(client, world, queue):
    await sign_in(client, world.agent)
    response = await client.get("/console/tickets")
    assert numbers_in(response.text) == numbers(queue, "a_new", "a_urgent", "a_open", "b_new", "b_waiting")
    row = re.search(rf'<tr data-ticket-id="{queue["a_urgent"].id}".*?</tr>', response.text, re.S).group(0)
    assert "urgent" in row.split(">")[0] and "佐藤 担当" in row and "株式会社アルファ" in row and "至急" in row
    row = re.search(rf'<tr data-ticket-id="{queue["a_new"].id}".*?</tr>', response.text, re.S).group(0)
    assert "未割当" in row


async def test_the_queue_filters_return_exactly_the_matching_requests(client, world, queue):
    await sign_in(client, world.agent)
    cases = [
        ({"status": "new"}, ("a_new", "a_urgent", "b_new")),
        ([("status", "open"), ("status", "waiting")], ("a_open", "b_waiting")),
        ({"priority": "urgent"}, ("a_urgent",)),
        ({"organization": str(world.org_b.id)}, ("b_new", "b_waiting")),
        ({"department": str(world.department.id)}, ("b_new",)),
        ({"assignee": "me"}, ("a_urgent",)),
        ({"assignee": str(world.agent2.id)}, ("a_open",)),
        ({"assignee": "none"}, ("a_new", "b_new", "b_waiting")),
        ({"request_type": "network"}, ("a_open",)),
        ({"organization": str(world.org_a.id), "status": "new", "priority": "normal"}, ("a_new",)),
    ]
    for params, expected in cases:
        assert await queue_numbers(client, params) == numbers(queue, *expected), params


async def test_the_queue_filters_by_filing_and_update_dates(client, world, queue, settings):
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=40)
    await Ticket.update({Ticket.created_at: long_ago, Ticket.updated_at: long_ago}).where(
        Ticket.id == queue["b_new"].id
    )
    await Ticket.update({Ticket.updated_at: now - timedelta(days=10)}).where(Ticket.id == queue["a_new"].id)
    today = now.astimezone(settings.zone).date()
    await sign_in(client, world.agent)
    old_day = long_ago.astimezone(settings.zone).date()
    assert await queue_numbers(client, {"created_to": old_day.isoformat()}) == numbers(queue, "b_new")
    assert await queue_numbers(client, {"created_from": (old_day + timedelta(days=1)).isoformat()}) == numbers(
        queue, "a_new", "a_urgent", "a_open", "b_waiting"
    )
    assert await queue_numbers(
        client, {"updated_from": (today - timedelta(days=20)).isoformat(), "updated_to": (today - timedelta(days=5)).isoformat()}
    ) == numbers(queue, "a_new")
    assert await queue_numbers(client, {"updated_from": today.strftime("%Y/%m/%d")}) == numbers(
        queue, "a_urgent", "a_open", "b_waiting"
    )


async def test_keyword_search_finds_subjects_bodies_replies_and_notes(client, world, queue):
    await sign_in(client, world.agent)
    assert await queue_numbers(client, {"q": "ハブ"}) == numbers(queue, "a_urgent")
    assert await queue_numbers(client, {"q": "インターネット"}) == numbers(queue, "a_open")
    assert await queue_numbers(client, {"q": "スクリーンショット"}) == numbers(queue, "b_waiting")
    assert await queue_numbers(client, {"q": "mail"}) == numbers(queue, "b_waiting")
    # Staff search their internal notes too, and "請求" is in a subject and in a note.
    assert await queue_numbers(client, {"q": "請求"}) == numbers(queue, "b_new", "b_waiting")
    assert await queue_numbers(client, {"q": "請求", "status": "waiting"}) == numbers(queue, "b_waiting")
    assert await queue_numbers(client, {"q": "存在しない言葉"}) == []


async def test_an_htmx_request_gets_only_the_results(client, world, queue):
    await sign_in(client, world.agent)
    response = await client.get("/console/tickets", params={"priority": "urgent"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text and 'id="queue-filters"' not in response.text
    assert numbers_in(response.text) == numbers(queue, "a_urgent")
    assert 'id="export-csv"' in response.text and "priority=urgent" in response.text
    whole = await client.get("/console/tickets", params={"priority": "urgent"})
    assert "<html" in whole.text and 'id="queue-filters"' in whole.text and 'id="queue-results"' in whole.text


async def test_the_queue_pages_on_with_the_same_filters(client, world):
    made = [await file(world, subject=f"定期点検 {i}") for i in range(55)]
    await file(world, who=world.customer_b, subject="別会社の件")
    await sign_in(client, world.agent)
    first = await client.get("/console/tickets", params={"organization": str(world.org_a.id)})
    assert numbers_in(first.text) == [t.number for t in reversed(made)][:50]
    next_url = re.search(r'<a href="([^"]+)" id="next-page"', first.text).group(1).replace("&amp;", "&")
    assert f"organization={world.org_a.id}" in next_url and "cursor=" in next_url
    second = await client.get(next_url)
    assert numbers_in(second.text) == [t.number for t in reversed(made)][50:]
    assert 'id="next-page"' not in second.text


async def test_a_bad_filter_value_is_explained_not_a_crash(client, world, queue):
    await sign_in(client, world.agent)
    response = await client.get("/console/tickets", params={"created_from": "yesterday"})
    assert response.status_code == 422 and "YYYY/MM/DD" in response.text
    response = await client.get("/console/tickets", params={"status": "lost"})
    assert response.status_code == 422 and "lost" in response.text
    response = await client.get("/console/tickets", params={"cursor": "garbage!"})
    assert response.status_code == 422 and "最初のページ" in response.text


# ------------------------------------------------------------------------------------ exports


async def test_the_csv_export_has_exactly_the_filtered_requests(client, world, queue):
    await sign_in(client, world.agent)
    page = await client.get("/console/tickets", params=[("status", "new"), ("organization", str(world.org_a.id))])
    href = re.search(r'<a href="([^"]+)" id="export-csv"', page.text).group(1).replace("&amp;", "&")
    response = await client.get(href)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "受付番号"
    assert [r[0] for r in rows[1:]] == numbers(queue, "a_new", "a_urgent")
    assert {r[1] for r in rows[1:]} == {"プリンターに接続できません", "ルーターのハブが故障"}


async def test_the_excel_export_has_exactly_the_filtered_requests(client, world, queue):
    await sign_in(client, world.agent)
    response = await client.get("/console/tickets/export.xlsx", params={"q": "請求"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][0] == "受付番号"
    assert [r[0] for r in rows[1:]] == numbers(queue, "b_new", "b_waiting")


async def test_an_unfiltered_export_has_every_request(client, world, queue):
    await sign_in(client, world.agent)
    response = await client.get("/console/tickets/export.csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == numbers(queue, "a_new", "a_urgent", "a_open", "b_new", "b_waiting")
