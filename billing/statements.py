"""Monthly usage statements (利用明細書): what each organisation's points did in a month.

A statement is read from the ledger's entries of the month (the month's days in the vendor's time
zone): the balance owned at its start (available + held), each purchase, grant, adjustment,
consumption (with the request's number, subject and type), expiry and refund, the balance at its
end, and the lots whose points expire in the 90 days after it. Holds and releases only move points
between available and held, so they are not lines. A statement is issued once per organisation and
month that has ended, stored with its PDF and SHA-256; `issue_month` issues a month's statements
rendered in parallel on every core, and a re-run issues only the missing ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from billing import clock
from billing.documents import ExpiringLot, Issuer, Statement, StatementLine, statement_pdf, statement_pool
from billing.errors import N_, InvalidValue
from billing.invoicing import as_date, as_datetime
from billing.tables import PointsAccount, UsageStatement
from billing.transactions import write_transaction

EXPIRING_WINDOW_DAYS = 90
MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class TicketDetail:
    """What a statement says about the request that consumed points."""

    number: str
    subject: str
    request_type: str


TicketDetails = Callable[[list[int]], Awaitable[dict[int, TicketDetail]]]


@dataclass(frozen=True)
class MonthRun:
    issued: int
    already_issued: int
    without_points: int


def month_period(month: str) -> tuple[date, date]:
    """The first and last day of a month written YYYY-MM; InvalidValue otherwise."""
    match = MONTH.fullmatch(month or "")
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 2000:
        raise InvalidValue(N_("Give a month as YYYY-MM (e.g. 2026-10)."), field="month")
    first = date(int(match[1]), int(match[2]), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def has_ended(month: str, today: date) -> bool:
    return month_period(month)[1] < today


def _bounds(month: str) -> tuple[date, date, datetime, datetime]:
    first, last = month_period(month)
    return first, last, clock.start_of(first).astimezone(UTC), clock.start_of(last + timedelta(days=1)).astimezone(UTC)


async def _account(organization_id: int) -> dict[str, Any] | None:
    rows = await PointsAccount.raw(
        "SELECT id, created_at FROM points_accounts WHERE organization = {}", organization_id
    )
    return rows[0] if rows else None


async def _owned_before(account_id: int, moment: datetime) -> tuple[int, int]:
    """(available + held, held) right before `moment`: the running balance of the last entry."""
    rows = await PointsAccount.raw(
        "SELECT available_after, held_after FROM ledger_entries WHERE account = {} AND created_at < {} "
        "ORDER BY created_at DESC, id DESC LIMIT 1",
        account_id, moment,
    )
    if not rows:
        return 0, 0
    return rows[0]["available_after"] + rows[0]["held_after"], rows[0]["held_after"]


_DESCRIPTIONS = {"expire": "有効期限切れ", "capture": "お問い合わせでの利用"}


async def build_statement(
    organization_id: int,
    organization_name: str,
    month: str,
    *,
    issuer: Issuer,
    ticket_details: TicketDetails,
    issued_on: date,
) -> Statement:
    """The statement of one organisation for one month, from its ledger entries."""
    first, last, start, end = _bounds(month)
    account = await _account(organization_id)
    if account is None:
        opening = closing = held = 0
        rows: Sequence[Any] = []
        expiring: tuple[ExpiringLot, ...] = ()
    else:
        opening, _ = await _owned_before(account["id"], start)
        closing, held = await _owned_before(account["id"], end)
        rows = await PointsAccount.raw(
            "SELECT id, kind, available_delta, held_delta, ticket_id, reason, created_at FROM ledger_entries "
            "WHERE account = {} AND created_at >= {} AND created_at < {} AND kind NOT IN ('hold', 'release') "
            "ORDER BY created_at, id",
            account["id"], start, end,
        )
        expiring = await _expiring_after(account["id"], last, end)
    tickets = await ticket_details(sorted({r["ticket_id"] for r in rows if r["kind"] == "capture" and r["ticket_id"]}))
    lines, totals = [], {kind: 0 for kind in ("purchase", "grant", "adjustment", "capture", "expire", "refund")}
    for row in rows:
        change = row["available_delta"] + row["held_delta"]
        if not change:
            continue
        kind = row["kind"]
        totals[kind] += change
        ticket = tickets.get(row["ticket_id"]) if kind == "capture" else None
        lines.append(StatementLine(
            on=clock.day_of(as_datetime(row["created_at"])), kind=kind,
            description=_DESCRIPTIONS.get(kind) or row["reason"] or "", points=change,
            ticket_number=ticket.number if ticket else None, subject=ticket.subject if ticket else None,
            request_type=ticket.request_type if ticket else None,
        ))
    return Statement(
        organization_name=organization_name, month=month, period_start=first, period_end=last, issued_on=issued_on,
        issuer=issuer, opening_points=opening, purchased_points=totals["purchase"], granted_points=totals["grant"],
        adjusted_points=totals["adjustment"], consumed_points=-totals["capture"], expired_points=-totals["expire"],
        refunded_points=-totals["refund"], closing_points=closing, held_points=held, lines=tuple(lines),
        expiring_soon=expiring,
    )


async def _expiring_after(account_id: int, last: date, end: datetime) -> tuple[ExpiringLot, ...]:
    """The points each lot still had at the end of the month, for lots whose last day falls in
    the 90 days after it (from the allocations up to then, not from the lots as they are now)."""
    rows = await PointsAccount.raw(
        "SELECT l.expires_on AS expires_on, SUM(a.remaining_delta + a.held_delta) AS points "
        "FROM point_lots l JOIN point_allocations a ON a.lot = l.id JOIN ledger_entries e ON e.id = a.entry "
        "WHERE l.account = {} AND l.expires_on > {} AND l.expires_on <= {} AND e.created_at < {} "
        "GROUP BY l.id, l.expires_on ORDER BY l.expires_on, l.id",
        account_id, last, last + timedelta(days=EXPIRING_WINDOW_DAYS), end,
    )
    return tuple(ExpiringLot(expires_on=as_date(r["expires_on"]), points=int(r["points"])) for r in rows if r["points"])


# --- issuing -------------------------------------------------------------------------------------

async def stored_pdf(organization_id: int, month: str) -> bytes | None:
    rows = await UsageStatement.raw(
        "SELECT pdf FROM usage_statements WHERE organization = {} AND month = {}", organization_id, month
    )
    return bytes(rows[0]["pdf"]) if rows else None


async def _store(organization_id: int, statement: Statement, pdf: bytes) -> bool:
    """Keep a statement's PDF; False when one was stored meanwhile (that one stands)."""
    async with write_transaction():
        return await _insert_statement(organization_id, statement, pdf)


async def _insert_statement(organization_id: int, statement: Statement, pdf: bytes) -> bool:
    rows = await UsageStatement.raw(
        "INSERT INTO usage_statements (organization, month, opening_points, closing_points, pdf, pdf_sha256, "
        "created_at) VALUES ({}, {}, {}, {}, {}, {}, {}) ON CONFLICT (organization, month) DO NOTHING RETURNING id",
        organization_id, statement.month, statement.opening_points, statement.closing_points, pdf,
        hashlib.sha256(pdf).hexdigest(), datetime.now(UTC),
    )
    return bool(rows)


def _created(statement: Statement) -> datetime:
    return clock.start_of(statement.issued_on)


def _render(statement: Statement) -> bytes:
    return statement_pdf(statement, _created(statement))


async def statement_pdf_of(
    organization_id: int,
    organization_name: str,
    month: str,
    *,
    issuer: Issuer,
    ticket_details: TicketDetails,
    today: date | None = None,
) -> bytes:
    """The stored PDF of a month that has ended, issuing it the first time it is asked for."""
    today = today or clock.today()
    if not has_ended(month, today):
        raise InvalidValue(N_("The statement of {month} is issued once the month has ended."),
                           field="month", month=month)
    stored = await stored_pdf(organization_id, month)
    if stored is not None:
        return stored
    statement = await build_statement(
        organization_id, organization_name, month, issuer=issuer, ticket_details=ticket_details, issued_on=today
    )
    await _store(organization_id, statement, await asyncio.to_thread(_render, statement))
    return await stored_pdf(organization_id, month)


async def issue_month(
    month: str,
    organizations: Sequence[tuple[int, str]],
    *,
    issuer: Issuer,
    ticket_details: TicketDetails,
    workers: int | None = None,
    today: date | None = None,
    progress: Callable[[int, int], None] = lambda _done, _total: None,
) -> MonthRun:
    """Issue the statements of a month that has ended for every organisation that had points by
    its end and has none yet, rendering them in `workers` processes (default: one per core).
    `progress(done, total)` is called before the first and after each statement issued."""
    today = today or clock.today()
    if not has_ended(month, today):
        raise InvalidValue(N_("The statements of {month} are issued once the month has ended."),
                           field="month", month=month)
    _, _, _, end = _bounds(month)
    done = {r["organization"] for r in await UsageStatement.raw(
        "SELECT organization FROM usage_statements WHERE month = {}", month)}
    with_points = {r["organization"] for r in await PointsAccount.raw(
        "SELECT a.organization AS organization FROM points_accounts a WHERE EXISTS ("
        "SELECT 1 FROM ledger_entries e WHERE e.account = a.id AND e.created_at < {})", end)}
    todo = [(oid, name) for oid, name in organizations if oid in with_points and oid not in done]
    already = sum(1 for oid, _ in organizations if oid in done)
    issued = finished = 0
    progress(0, len(todo))
    workers = workers or os.cpu_count() or 1
    loop = asyncio.get_running_loop()
    # Build a few statements ahead of the renderers, no more (each holds its lines in memory).
    ahead = asyncio.Semaphore(workers * 2)
    with statement_pool(workers) as pool:
        async def issue_one(organization_id: int, name: str) -> None:
            nonlocal issued, finished
            async with ahead:
                statement = await build_statement(
                    organization_id, name, month, issuer=issuer, ticket_details=ticket_details, issued_on=today
                )
                pdf = await loop.run_in_executor(pool, statement_pdf, statement, _created(statement))
                stored = await _store(organization_id, statement, pdf)
                # Counted after the await: `issued += await …` would read `issued` before it.
                issued += stored
                finished += 1
                progress(finished, len(todo))

        await asyncio.gather(*(issue_one(oid, name) for oid, name in todo))
    return MonthRun(issued=issued, already_issued=already,
                    without_points=len(organizations) - already - len(todo))
