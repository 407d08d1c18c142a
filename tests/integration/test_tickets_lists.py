"""Queues, filters, keyword search, the console's counts and highlights, and CSV/Excel exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from app.errors import InvalidInput
from app.settings import get_settings
from app.tickets.services import classification, exports, filing, reading, thread, workflow
from app.tickets.services.results import TicketFilters
from app.tickets.tables import Ticket
from tests.factories import caller, make_request_type, make_support_world


@pytest.fixture
async def world():
    return await make_support_world()


async def file(who, subject="件名", body="本文", **extra):
    return await filing.create_ticket(
        caller(who), subject=subject, body=body, request_type_code=extra.pop("request_type_code", "general"), **extra
    )


async def all_pages(who, filters=None, limit=25) -> list[int]:
    ids, cursor, pages = [], None, 0
    while True:
        page = await reading.list_tickets(caller(who), filters, cursor, limit)
        ids.extend(t.id for t in page.items)
        pages += 1
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor
        assert pages < 100


async def test_cursor_pages_return_every_request_exactly_once_newest_first(world):
    created = [(await file(world.customer_a, subject=f"件名{i}")).id for i in range(23)]
    ids = await all_pages(world.agent, limit=5)
    assert ids == sorted(created, reverse=True)
    first = await reading.list_tickets(caller(world.agent), limit=23)
    assert len(first.items) == 23 and first.next_cursor is None


async def test_a_customer_lists_only_its_own_companys_requests(world):
    mine = [(await file(world.customer_a)).id, (await file(world.customer_a2)).id]
    await file(world.customer_b)
    assert await all_pages(world.customer_a) == sorted(mine, reverse=True)
    # Asking for another company's requests gives nothing rather than them.
    assert await all_pages(world.customer_a, TicketFilters(organization_id=world.org_b.id)) == []
    assert len(await all_pages(world.agent)) == 3


async def test_filters_combine(world):
    onsite = await make_request_type("onsite", "訪問対応", "On-site")
    urgent = await file(world.customer_a, subject="サーバー停止", priority="urgent")
    normal = await file(world.customer_a, subject="パスワード再設定")
    visit = await file(world.customer_b, subject="訪問依頼", request_type_code="onsite")
    agent = caller(world.agent)
    await workflow.take(agent, urgent.id, version=1)
    await classification.update_fields(agent, normal.id, version=1, department_id=world.department.id)
    await thread.add_message(agent, normal.id, "対応します。")

    async def ids(**filters):
        return sorted(await all_pages(world.agent, TicketFilters(**filters)))

    assert await ids(priority="urgent") == [urgent.id]
    assert await ids(status="open") == [normal.id]
    assert await ids(status="new,open") == sorted([urgent.id, normal.id, visit.id])
    assert await ids(status=["new"], organization_id=world.org_a.id) == [urgent.id]
    assert await ids(assignee="me") == [urgent.id]
    assert await ids(assignee=str(world.agent.id)) == [urgent.id]
    assert await ids(assignee="none") == sorted([normal.id, visit.id])
    assert await ids(department_id=world.department.id) == [normal.id]
    assert await ids(request_type=onsite.code) == [visit.id]
    assert await ids(requester=world.customer_b.id) == [visit.id]
    assert await ids(request_type="unknown") == []
    assert await ids(q="パスワード") == [normal.id]
    assert await ids(q="対応します") == [normal.id]
    assert await ids(q="停止", priority="normal") == []

    today = datetime.now(UTC).astimezone(get_settings().zone).date()
    await Ticket.update({Ticket.created_at: datetime.now(UTC) - timedelta(days=10),
                         Ticket.updated_at: datetime.now(UTC) - timedelta(days=10)}).where(Ticket.id == visit.id)
    assert await ids(created_from=today) == sorted([urgent.id, normal.id])
    assert await ids(created_to=today - timedelta(days=1)) == [visit.id]
    assert await ids(updated_from=today - timedelta(days=10), updated_to=today - timedelta(days=10)) == [visit.id]


async def test_customers_keyword_search_never_matches_internal_notes(world):
    ticket = await file(world.customer_a, subject="メールが届かない")
    await thread.add_message(caller(world.agent), ticket.id, "社内メモ: 迷惑メール設定を疑う", internal=True)
    assert await all_pages(world.customer_a, TicketFilters(q="迷惑")) == []
    assert await all_pages(world.agent, TicketFilters(q="迷惑")) == [ticket.id]


@pytest.mark.parametrize(("filters", "field"), [
    (TicketFilters(status="sleeping"), "status"),
    (TicketFilters(priority="asap"), "priority"),
    (TicketFilters(assignee="somebody"), "assignee"),
])
async def test_bad_filters_are_refused_naming_the_field(world, filters, field):
    with pytest.raises(InvalidInput) as refused:
        await reading.list_tickets(caller(world.agent), filters)
    assert refused.value.extra["field"] == field


async def test_a_broken_cursor_is_refused(world):
    with pytest.raises(InvalidInput) as refused:
        await reading.list_tickets(caller(world.agent), cursor="garbage")
    assert refused.value.extra["field"] == "cursor"


async def test_the_console_home_counts_by_status_and_lists_urgent_and_overdue_requests(world):
    agent = caller(world.agent)
    urgent = await file(world.customer_a, priority="urgent")
    late = await file(world.customer_b)
    answered = await file(world.customer_b)
    await thread.add_message(agent, answered.id, "回答します。")
    cancelled = await file(world.customer_a, priority="urgent")
    await workflow.change_status(caller(world.customer_a), cancelled.id, "cancelled")
    long_ago = datetime.now(UTC) - timedelta(days=30)
    await Ticket.update({Ticket.first_response_due_at: long_ago, Ticket.resolution_due_at: long_ago}).where(
        Ticket.id.is_in([late.id, cancelled.id])
    )
    counts = await reading.counts_by_status(agent)
    assert counts == {"new": 2, "open": 1, "waiting": 0, "resolved": 0, "closed": 0, "cancelled": 1}
    assert (await reading.counts_by_status(caller(world.customer_b)))["new"] == 1
    assert [t.id for t in await reading.urgent_tickets(agent)] == [urgent.id]
    assert [t.id for t in await reading.overdue_tickets(agent)] == [late.id]
    assert (await reading.ticket_summary(agent, late.id)).is_overdue()
    assert await reading.overdue_tickets(caller(world.customer_a)) == []


async def test_exports_contain_exactly_the_filtered_rows(world):
    urgent = [(await file(world.customer_a, subject=f"=HYPERLINK(\"x\") 至急{i}", priority="urgent")).id for i in range(7)]
    for i in range(4):
        await file(world.customer_a, subject=f"通常{i}")
    await file(world.customer_b, subject="別会社", priority="urgent")
    filters = TicketFilters(priority="urgent", organization_id=world.org_a.id)
    agent = caller(world.agent)

    rows = [t async for t in exports.export_rows(agent, filters, batch_size=3)]  # several batches
    assert [t.id for t in rows] == sorted(urgent, reverse=True)

    raw = await exports.export_csv(agent, filters)
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][0] == "受付番号" and len(table) == 1 + len(urgent)
    assert [line[0] for line in table[1:]] == [t.number for t in rows]
    assert all(line[1].startswith("'=") for line in table[1:])  # never a live formula

    sheet = load_workbook(io.BytesIO(await exports.export_xlsx(agent, filters))).active
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 1 + len(urgent)
    assert [line[0] for line in values[1:]] == [t.number for t in rows]
    assert values[1][1].startswith("=HYPERLINK") and sheet.cell(row=2, column=2).data_type == "s"
    assert values[1][2] == "株式会社アルファ"

    customer_rows = [t async for t in exports.export_rows(caller(world.customer_b))]
    assert [t.organization_id for t in customer_rows] == [world.org_b.id]


async def test_dates_in_exports_are_in_the_vendors_time_zone(world):
    ticket = await file(world.customer_a)
    await Ticket.update({Ticket.created_at: datetime(2026, 3, 31, 15, 30, tzinfo=UTC)}).where(Ticket.id == ticket.id)
    raw = await exports.export_csv(caller(world.agent), TicketFilters(created_from=date(2026, 4, 1)))
    line = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))[1]
    assert line[10] == "2026/04/01 00:30"
