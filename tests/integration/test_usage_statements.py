"""The monthly usage statement (利用明細書) reads the month from the ledger: the opening balance,
every purchase, grant, adjustment, consumption, expiry and refund, the closing balance, and the
lots expiring in the 90 days after the month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from billing import ledger, statements
from billing.documents import Issuer
from billing.errors import InvalidValue
from billing.statements import TicketDetail
from billing.tables import LedgerEntry
from tests.factories import behind_the_ledgers_back, make_organization

ISSUER = Issuer(name="株式会社キップ・サポート", registration_number="T7123456789012")
OCTOBER = "2026-10"


async def no_tickets(ids):
    return {i: TicketDetail(number=f"2026-{i:06d}", subject=f"件名{i}", request_type="一般的な質問") for i in ids}


async def at(moment: datetime, first_entry_id: int) -> None:
    """Date the entries from `first_entry_id` on at a moment of the month (the ledger writes them
    at the present), the append-only triggers set aside for this one statement."""
    await behind_the_ledgers_back("UPDATE ledger_entries SET created_at = {} WHERE id >= {}", moment, first_entry_id)


def tokyo(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=9)


async def october_history(organization_id: int) -> None:
    """September: 20 points granted. October: 30 bought, 2 requests (3 + 5 points), 4 expired,
    1 adjusted away, then a request still open at the end of the month (2 held)."""
    first = await ledger.grant(organization_id, 20, "ご契約時の付与", date(2026, 10, 15), key="g", today=date(2026, 9, 1))
    await at(tokyo(date(2026, 9, 1)), first.entry_id)
    bought = await ledger.purchase(organization_id, 30, 5_000, date(2027, 10, 2), "10ポイントパック × 3", key="p",
                                   today=date(2026, 10, 3))
    await at(tokyo(date(2026, 10, 3)), bought.entry_id)
    for ticket, points, day in ((101, 3, 5), (102, 5, 9)):
        hold = await ledger.hold(organization_id, points, ticket_id=ticket, key=f"h{ticket}", today=date(2026, 10, day))
        captured = await ledger.capture(hold, f"c{ticket}", today=date(2026, 10, day))
        await at(tokyo(date(2026, 10, day)), captured.entry_id - 1)
    expired_now = await ledger.expire_due(today=date(2026, 10, 16))
    assert expired_now == 12  # 20 granted, 8 spent from the lot that expires first
    rows = await LedgerEntry.raw("SELECT MAX(id) AS id FROM ledger_entries")
    await at(tokyo(date(2026, 10, 16), 0) + timedelta(minutes=5), rows[0]["id"])
    taken = await ledger.adjust(organization_id, -1, "二重計上の訂正", key="a", today=date(2026, 10, 20))
    await at(tokyo(date(2026, 10, 20)), taken.entry_id)
    await ledger.hold(organization_id, 2, ticket_id=103, key="h103", today=date(2026, 10, 30))
    rows = await LedgerEntry.raw("SELECT MAX(id) AS id FROM ledger_entries")
    await at(tokyo(date(2026, 10, 30)), rows[0]["id"])


async def test_a_statement_adds_up_from_the_opening_to_the_closing_balance():
    organization = await make_organization("株式会社さくら商事")
    await october_history(organization.id)
    statement = await statements.build_statement(
        organization.id, "株式会社さくら商事", OCTOBER, issuer=ISSUER, ticket_details=no_tickets,
        issued_on=date(2026, 11, 1),
    )
    assert (statement.period_start, statement.period_end) == (date(2026, 10, 1), date(2026, 10, 31))
    assert statement.opening_points == 20
    assert (statement.purchased_points, statement.granted_points, statement.adjusted_points) == (30, 0, -1)
    assert (statement.consumed_points, statement.expired_points, statement.refunded_points) == (8, 12, 0)
    assert statement.closing_points == 20 + 30 - 1 - 8 - 12 == 29
    assert statement.held_points == 2
    assert [(line.on, line.kind, line.points) for line in statement.lines] == [
        (date(2026, 10, 3), "purchase", 30),
        (date(2026, 10, 5), "capture", -3),
        (date(2026, 10, 9), "capture", -5),
        (date(2026, 10, 16), "expire", -12),
        (date(2026, 10, 20), "adjustment", -1),
    ]
    consumption = statement.lines[1]
    assert (consumption.ticket_number, consumption.subject, consumption.request_type) == (
        "2026-000101", "件名101", "一般的な質問")
    assert statement.lines[4].description == "二重計上の訂正"


async def test_the_month_boundaries_are_the_vendors_days_not_utc():
    organization = await make_organization()
    granted = await ledger.grant(organization.id, 5, "付与", None, key="g1", today=date(2026, 10, 1))
    # 00:30 on 1 November in Tokyo is still 31 October in UTC: it belongs to November.
    await at(datetime(2026, 10, 31, 15, 30, tzinfo=UTC), granted.entry_id)
    october = await statements.build_statement(organization.id, "x", OCTOBER, issuer=ISSUER,
                                               ticket_details=no_tickets, issued_on=date(2026, 11, 2))
    november = await statements.build_statement(organization.id, "x", "2026-11", issuer=ISSUER,
                                                ticket_details=no_tickets, issued_on=date(2026, 12, 2))
    assert (october.closing_points, len(october.lines)) == (0, 0)
    assert (november.opening_points, november.granted_points, november.closing_points) == (0, 5, 5)


async def test_the_lots_expiring_in_the_next_90_days_are_those_of_the_month_end():
    organization = await make_organization()
    soon = await ledger.grant(organization.id, 7, "付与", date(2026, 12, 20), key="s", today=date(2026, 10, 1))
    later = await ledger.grant(organization.id, 9, "付与", date(2027, 6, 30), key="l", today=date(2026, 10, 1))
    await at(tokyo(date(2026, 10, 1)), soon.entry_id)
    # Spent in November: the October statement still shows the 7 points as expiring.
    await ledger.hold(organization.id, 3, ticket_id=1, key="h", today=date(2026, 11, 5))
    statement = await statements.build_statement(organization.id, "x", OCTOBER, issuer=ISSUER,
                                                 ticket_details=no_tickets, issued_on=date(2026, 11, 10))
    assert [(lot.expires_on, lot.points) for lot in statement.expiring_soon] == [(date(2026, 12, 20), 7)]
    assert later.lot_id is not None


async def test_an_organisation_without_points_gets_an_empty_statement():
    organization = await make_organization()
    statement = await statements.build_statement(organization.id, "x", OCTOBER, issuer=ISSUER,
                                                 ticket_details=no_tickets, issued_on=date(2026, 11, 1))
    assert (statement.opening_points, statement.closing_points, statement.lines) == (0, 0, ())


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-10", "", "2026/10", "１２３４-10"])
def test_a_month_must_be_written_yyyy_mm(month):
    with pytest.raises(InvalidValue):
        statements.month_period(month)


def test_a_statement_is_issued_only_once_its_month_has_ended():
    assert statements.has_ended(OCTOBER, date(2026, 11, 1))
    assert not statements.has_ended(OCTOBER, date(2026, 10, 31))


# --- issuing a month -------------------------------------------------------------------------------


async def kippu(*args: str) -> tuple[int, str, str]:
    import asyncio
    import os
    import sys
    from pathlib import Path

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", *args, env={**os.environ, "RUN_SCHEDULER": "false"},
        cwd=Path(__file__).resolve().parents[2], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def test_kippu_statements_issues_each_statement_of_a_month_once_in_parallel():
    import hashlib
    import io

    from pypdf import PdfReader

    from billing.tables import UsageStatement
    from tests.factories import make_issuer

    await make_issuer("株式会社キップ・サポート")
    with_points = [await make_organization(f"株式会社明細{n}") for n in range(3)]
    for n, organization in enumerate(with_points):
        posted = await ledger.grant(organization.id, 10 + n, "ご契約時の付与", None, key=f"m{n}", today=date(2026, 10, 1))
        await at(tokyo(date(2026, 10, 2)), posted.entry_id)
    await make_organization("株式会社ポイントなし")

    code, out, err = await kippu("statements", "--month", OCTOBER, "--workers", "2")
    assert code == 0, err
    assert "3 issued" in out and "0 issued before" in out and "1 organisations without points" in out
    rows = await UsageStatement.select().order_by(UsageStatement.organization)
    assert [(r["month"], r["opening_points"], r["closing_points"]) for r in rows] == [
        (OCTOBER, 0, 10), (OCTOBER, 0, 11), (OCTOBER, 0, 12)]
    for row in rows:
        assert hashlib.sha256(bytes(row["pdf"])).hexdigest() == row["pdf_sha256"]
    text = PdfReader(io.BytesIO(bytes(rows[0]["pdf"]))).pages[0].extract_text()
    assert "株式会社明細0" in text and "2026" in text

    code, out, err = await kippu("statements", "--month", OCTOBER)
    assert code == 0 and "0 issued" in out and "3 issued before" in out
    assert [bytes(r["pdf"]) for r in await UsageStatement.select().order_by(UsageStatement.organization)] == [
        bytes(r["pdf"]) for r in rows]


async def test_kippu_statements_refuses_a_month_not_yet_ended_or_badly_written():
    from tests.factories import make_issuer

    await make_issuer()
    code, _out, err = await kippu("statements", "--month", "2999-01")
    assert code == 1 and "2999-01" in err
    code, _out, err = await kippu("statements", "--month", "10/2026")
    assert code == 1 and "YYYY-MM" in err
