"""What the ledger's jobs tell customers: points about to expire, a balance below its threshold.

billing decides who is due for what and records it; the app turns the result into mail (in the
same transaction, so a claimed reminder and its mail are written together or not at all).

- **Expiry reminders.** A lot with points left is reminded of 30 days and 7 days before its last
  day (a calendar date in the vendor's time zone). A lot already inside a window when it is first
  seen (granted 20 days before its expiry, or the job was down that day) is reminded of at once,
  with the real date; each (lot, reminder) is claimed once, backed by a unique index.
- **Low-balance alert.** An organisation's `low_balance_threshold`: when `available` is below it
  the customer admins are told once (`low_balance_alerted_at` set by a guarded UPDATE); the alert
  is re-armed when the balance is back at or above the threshold. The job looks only at the
  accounts that have ledger entries after its mark, so a run costs nothing when nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from billing import clock, ledger
from billing.errors import N_, InvalidAmount
from billing.tables import PointsAccount
from billing.transactions import for_update, write_transaction

REMINDER_DAYS = (30, 7)
LOW_BALANCE_JOB = "low-balance"
# Entries younger than this may belong to a PostgreSQL transaction that committed after a later
# id became visible; the mark stays behind them, so they are read again on the next run.
SETTLE = timedelta(seconds=30)
THRESHOLD_MAX = 10_000_000


@dataclass(frozen=True)
class ExpiryRun:
    """What one `kippu expire` run did: points expired, and lots whose lapse was booked."""

    points: int
    lots: int


@dataclass(frozen=True)
class ExpiringLot:
    lot_id: int
    points: int
    expires_on: date
    days_before: int


@dataclass(frozen=True)
class ExpiryNotice:
    """The lots of one organisation newly claimed for a reminder, earliest expiry first."""

    organization_id: int
    lots: tuple[ExpiringLot, ...]

    @property
    def points(self) -> int:
        return sum(lot.points for lot in self.lots)

    @property
    def first_expiry(self) -> date:
        return self.lots[0].expires_on


@dataclass(frozen=True)
class LowBalance:
    """An organisation whose available balance has just been found below its threshold."""

    organization_id: int
    available: int
    threshold: int


@dataclass(frozen=True)
class AlertSettings:
    organization_id: int
    threshold: int | None
    alerted_at: datetime | None
    available: int


# --- the pure rules ----------------------------------------------------------------------------

def reminder_due(expires_on: date, today: date) -> int | None:
    """Which reminder a lot expiring after `expires_on` is due for today: 7 in its last week,
    30 in the 30 days before that, None otherwise (or once its last day has passed)."""
    days_left = (expires_on - today).days
    if days_left < 0:
        return None
    for days in sorted(REMINDER_DAYS):
        if days_left <= days:
            return days
    return None


# --- expiry --------------------------------------------------------------------------------------

async def _q(sql: str, *args: Any) -> list[dict[str, Any]]:
    return await PointsAccount.raw(sql, *args)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _lapsed_lots(today: date) -> int:
    rows = await _q("SELECT COUNT(*) AS n FROM point_lots WHERE remaining > 0 AND expires_on < {}", today)
    return rows[0]["n"]


async def expire(today: date | None = None) -> ExpiryRun:
    """`ledger.expire_due` with a count of the lots it booked (for the command's summary).

    Requests filed meanwhile may expire a lapsed lot themselves; such a lot is counted too, as it
    expired during the run.
    """
    today = today or clock.today()
    before = await _lapsed_lots(today)
    points = await ledger.expire_due(today)
    return ExpiryRun(points=points, lots=before - await _lapsed_lots(today))


# --- expiry reminders ----------------------------------------------------------------------------

async def _due_lots(today: date, organization_id: int | None = None) -> list[dict[str, Any]]:
    """Lots with points left whose reminder for today's window has not been sent, by organisation
    and expiry."""
    week, month = today + timedelta(days=min(REMINDER_DAYS)), today + timedelta(days=max(REMINDER_DAYS))
    sql = (
        "SELECT l.id AS lot, l.remaining AS points, l.expires_on AS expires_on, a.organization AS organization "
        "FROM point_lots l JOIN points_accounts a ON a.id = l.account "
        "WHERE l.remaining > 0 AND l.expires_on >= {} AND l.expires_on <= {} "
        "AND NOT EXISTS (SELECT 1 FROM point_expiry_reminders r WHERE r.lot = l.id "
        "AND r.days_before = CASE WHEN l.expires_on <= {} THEN 7 ELSE 30 END)"
    )
    args: list[Any] = [today, month, week]
    if organization_id is not None:
        sql += " AND a.organization = {}"
        args.append(organization_id)
    return await _q(sql + " ORDER BY a.organization, l.expires_on, l.id", *args)


async def organizations_due_reminders(today: date | None = None) -> list[int]:
    """The organisations with at least one lot due for a reminder not yet sent."""
    rows = await _due_lots(today or clock.today())
    return sorted({row["organization"] for row in rows})


async def claim_expiry_reminder(organization_id: int, today: date | None = None) -> ExpiryNotice | None:
    """Claim the organisation's due reminders; None when there is nothing (left) to remind of.

    Call it inside the transaction that also writes the mail: the account row is locked, so two
    runs at once claim each organisation's lots in turn, and the second finds nothing left.
    """
    today = today or clock.today()
    async with write_transaction():
        if not await _q("SELECT id FROM points_accounts WHERE organization = {}" + for_update(), organization_id):
            return None
        due = []
        for row in await _due_lots(today, organization_id):
            expires_on = _as_date(row["expires_on"])
            due.append(ExpiringLot(row["lot"], row["points"], expires_on, reminder_due(expires_on, today)))
        if not due:
            return None
        now = clock.now()
        claimed = await _q(
            "INSERT INTO point_expiry_reminders (lot, days_before, points, expires_on, sent_at) VALUES "
            + ", ".join(["({}, {}, {}, {}, {})"] * len(due))
            + " ON CONFLICT (lot, days_before) DO NOTHING RETURNING lot",
            *[value for lot in due for value in (lot.lot_id, lot.days_before, lot.points, lot.expires_on, now)],
        )
        mine = {row["lot"] for row in claimed}
        lots = tuple(lot for lot in due if lot.lot_id in mine)
        return ExpiryNotice(organization_id, lots) if lots else None


# --- the low-balance alert -----------------------------------------------------------------------

def _threshold(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= THRESHOLD_MAX:
        raise InvalidAmount(
            N_("{field} must be a whole number from 1 to {maximum}, or empty for no alert."),
            field="low_balance_threshold", maximum=THRESHOLD_MAX,
        )
    return value


async def alert_settings(organization_id: int) -> AlertSettings:
    rows = await _q(
        "SELECT available, low_balance_threshold, low_balance_alerted_at FROM points_accounts WHERE organization = {}",
        organization_id,
    )
    if not rows:
        return AlertSettings(organization_id, None, None, 0)
    row = rows[0]
    return AlertSettings(
        organization_id, row["low_balance_threshold"], _as_datetime(row["low_balance_alerted_at"]), row["available"]
    )


async def set_low_balance_threshold(organization_id: int, threshold: int | None) -> LowBalance | None:
    """Set (or with None, switch off) the organisation's threshold, then check it at once.

    Returns the alert to send when the balance is already below the new threshold and nobody was
    told yet; call it inside the transaction that writes that mail.
    """
    threshold = _threshold(threshold)
    async with write_transaction():
        now = clock.now()
        # An organisation without points yet gets its (empty) account, as its first grant would.
        await _q(
            "INSERT INTO points_accounts (organization, available, held, created_at, updated_at) "
            "VALUES ({}, 0, 0, {}, {}) ON CONFLICT (organization) DO NOTHING",
            organization_id, now, now,
        )
        rows = await _q(
            "UPDATE points_accounts SET low_balance_threshold = {} WHERE organization = {} RETURNING id",
            threshold, organization_id,
        )
        return await check_low_balance(rows[0]["id"])


async def check_low_balance(account_id: int) -> LowBalance | None:
    """Alert or re-arm one account as its balance says (guarded UPDATEs: one alert per drop, even
    with several runs at once). Returns the alert to send, inside the caller's transaction."""
    async with write_transaction():
        alerted = await _q(
            "UPDATE points_accounts SET low_balance_alerted_at = {} WHERE id = {} "
            "AND low_balance_threshold IS NOT NULL AND low_balance_alerted_at IS NULL "
            "AND available < low_balance_threshold RETURNING organization, available, low_balance_threshold",
            clock.now(), account_id,
        )
        if alerted:
            row = alerted[0]
            return LowBalance(row["organization"], row["available"], row["low_balance_threshold"])
        await _q(
            "UPDATE points_accounts SET low_balance_alerted_at = NULL WHERE id = {} "
            "AND low_balance_alerted_at IS NOT NULL "
            "AND (low_balance_threshold IS NULL OR available >= low_balance_threshold)",
            account_id,
        )
        return None


async def accounts_to_check(
    job: str = LOW_BALANCE_JOB, *, now: datetime | None = None
) -> tuple[list[int], int | None]:
    """The accounts with a threshold or a standing alert whose balance may have changed since the
    job's mark, and the mark to store once they are checked (None: keep the old one).

    Reads only the entries after the mark (the primary key's range), so a run when nothing
    changed is one index look-up. The first run checks every account with a threshold.
    """
    mark_rows = await _q("SELECT entry_id FROM ledger_job_marks WHERE job = {}", job)
    settled = (now or clock.now()) - SETTLE
    if not mark_rows:
        accounts = await _q(
            "SELECT id FROM points_accounts WHERE low_balance_threshold IS NOT NULL "
            "OR low_balance_alerted_at IS NOT NULL ORDER BY id"
        )
        top = await _q("SELECT MAX(id) AS id FROM ledger_entries WHERE created_at < {}", settled)
        return [row["id"] for row in accounts], top[0]["id"] or 0
    mark = mark_rows[0]["entry_id"]
    if not await _q("SELECT id FROM ledger_entries WHERE id > {} LIMIT 1", mark):
        return [], None
    accounts = await _q(
        "SELECT a.id FROM points_accounts a "
        "WHERE a.id IN (SELECT account FROM ledger_entries WHERE id > {}) "
        "AND (a.low_balance_threshold IS NOT NULL OR a.low_balance_alerted_at IS NOT NULL) ORDER BY a.id",
        mark,
    )
    top = await _q("SELECT MAX(id) AS id FROM ledger_entries WHERE id > {} AND created_at < {}", mark, settled)
    return [row["id"] for row in accounts], top[0]["id"]


async def advance_mark(mark: int, job: str = LOW_BALANCE_JOB) -> None:
    """Move the job's mark forward to `mark` (never back: runs at once may finish in any order)."""
    now = clock.now()
    async with write_transaction():
        await _q(
            "INSERT INTO ledger_job_marks (job, entry_id, updated_at) VALUES ({}, {}, {}) "
            "ON CONFLICT (job) DO UPDATE SET entry_id = excluded.entry_id, updated_at = excluded.updated_at "
            "WHERE ledger_job_marks.entry_id < excluded.entry_id",
            job, mark, now,
        )
