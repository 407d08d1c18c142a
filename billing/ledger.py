"""The points ledger: grant, hold, capture, release, adjust, expire, refund; balances and verify.

Like a TigerBeetle pending transfer, filing a request *holds* its points (available drops at
once), resolving it *captures* them and cancelling or waiving *releases* them. Points come from
lots, the one expiring first (then the oldest) first; a hold pins its points to their lots, and
points released after their lot's expiry date expire at release.

Every call is one write transaction: the account row is locked (SELECT ... FOR UPDATE on
PostgreSQL, BEGIN IMMEDIATE on SQLite), the account and lots are changed by guarded UPDATEs, and
the entry and its allocations are appended. Every call takes an idempotency key: calling again with
the same key returns the first result and writes nothing; the same key for another operation is
refused. The key is looked up under the account's lock, so concurrent replays meet there too.
Keys starting with "~" are the ledger's own (derived entries such as expiries).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from billing import clock
from billing.errors import (
    HoldSettled,
    IdempotencyKeyReused,
    InsufficientPoints,
    InvalidAmount,
    NotRefundable,
    UnknownHold,
    UnknownLot,
)
from billing.tables import PointsAccount
from billing.transactions import engine, for_update, is_postgres, write_transaction

EXPIRY_WINDOWS = (30, 60, 90)
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Posted:
    """The result of a ledger call: its entry and the account's balance right after it."""

    entry_id: int
    kind: str
    points: int
    yen: int
    available: int
    held: int
    hold_id: int | None = None
    lot_id: int | None = None
    replayed: bool = False


@dataclass(frozen=True)
class LotBalance:
    id: int
    source: str
    points: int
    remaining: int
    held: int
    expires_on: date | None
    yen_per_point: int

    @property
    def paid(self) -> bool:
        return self.yen_per_point > 0


@dataclass(frozen=True)
class Balance:
    available: int
    held: int
    lots: tuple[LotBalance, ...] = ()
    # Available points whose lot's last day falls within 30, 60 and 90 days of today.
    expiring_within: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class EntryView:
    id: int
    kind: str
    points: int
    available_delta: int
    held_delta: int
    available_after: int
    held_after: int
    yen: int
    lot_id: int | None
    hold_id: int | None
    ticket_id: int | None
    reason: str
    actor_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class EntryPage:
    items: tuple[EntryView, ...]
    next_cursor: str | None


@dataclass
class _Account:
    id: int
    available: int
    held: int


@dataclass(frozen=True)
class _Move:
    """One lot's part in an entry: the change to its remaining and held points."""

    lot: int
    remaining_delta: int
    held_delta: int
    yen_per_point: int


# Where the points that leave a lot (remaining + held going down) end up, per entry kind.
_OUTFLOW_COLUMN = {"capture": "consumed", "adjustment": "consumed", "expire": "expired", "refund": "refunded"}


# --- arguments -------------------------------------------------------------------------------

def _points(value: object, name: str = "points", *, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidAmount("{field} must be a whole number of at least {minimum}.", field=name, minimum=minimum)
    return value


def _key(key: object) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH or key.startswith("~"):
        raise InvalidAmount(
            "An idempotency key must be 1 to {maximum} characters and not start with '~'.",
            field="key", maximum=MAX_KEY_LENGTH,
        )
    return key


def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidAmount("A reason is required.", field="reason")
    return reason.strip()


def _not_lapsed(expires_on: date | None, today: date) -> None:
    if expires_on is not None and expires_on < today:
        raise InvalidAmount(
            "The expiry date {expires_on} has already passed.", field="expires_on", expires_on=expires_on.isoformat()
        )


def _fingerprint(operation: str, *args: Any) -> str:
    return hashlib.sha256(json.dumps([operation, *args], default=str).encode()).hexdigest()


# --- talking to the database -----------------------------------------------------------------
#
# Every ledger call is a few round trips, so the per-query cost of the ORM's query building shows:
# on PostgreSQL the ledger's SQL (written with Piccolo's `{}` placeholders) is turned into `$n`
# once and run straight on the transaction's asyncpg connection, whose statement cache makes each
# distinct statement a prepared one. SQLite runs in-process, so it keeps Piccolo's raw queries.

@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    parts = sql.split("{}")
    return "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, start=1))


async def _q(sql: str, *args: Any) -> Sequence[Any]:
    """Rows of one statement (mappings: row["column"]), in the current transaction if any."""
    engine_ = engine()
    if not is_postgres():
        return await PointsAccount.raw(sql, *args)
    transaction = engine_.current_transaction.get()
    if transaction is not None:
        return await transaction.connection.fetch(_numbered(sql), *args)
    if engine_.pool is not None:
        async with engine_.pool.acquire() as connection:
            return await connection.fetch(_numbered(sql), *args)
    return await PointsAccount.raw(sql, *args)


async def _insert(table: str, **values: Any) -> int:
    """INSERT one row of a ledger table; returns its id."""
    columns = ", ".join(f'"{name}"' for name in values)
    placeholders = ", ".join(["{}"] * len(values))
    rows = await _q(f'INSERT INTO "{table}" ({columns}) VALUES ({placeholders}) RETURNING id', *values.values())
    return rows[0]["id"]


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


# --- locking and reading ---------------------------------------------------------------------
#
# A call locks its account first, in a statement of its own: on PostgreSQL a statement that had
# to wait for the lock still reads the other rows as they were before the wait, so everything
# else (lots, holds, an earlier entry with the same key) is read by the next statement, after
# the lock. Every change to a lot happens under its account's lock, so that read is current.

_ACCOUNT = "SELECT id, available, held FROM points_accounts"


async def _lock_organization(organization_id: int, *, create: bool) -> _Account | None:
    """Lock the organisation's account (creating it first if asked); None if it has none."""
    sql = _ACCOUNT + " WHERE organization = {}" + for_update()
    rows = await _q(sql, organization_id)
    if not rows and create:
        now = datetime.now(UTC)
        await _q(
            "INSERT INTO points_accounts (organization, available, held, created_at, updated_at) "
            "VALUES ({}, 0, 0, {}, {}) ON CONFLICT (organization) DO NOTHING",
            organization_id, now, now,
        )
        rows = await _q(sql, organization_id)
    return _Account(rows[0]["id"], rows[0]["available"], rows[0]["held"]) if rows else None


async def _lock(account_id: int) -> _Account:
    row = (await _q(_ACCOUNT + " WHERE id = {}" + for_update(), account_id))[0]
    return _Account(row["id"], row["available"], row["held"])


# The entry an idempotency key already made, if any: joined to the reads below as `r`.
_REPLAY_COLUMNS = (
    "r.id AS replay_id, r.kind AS replay_kind, r.points AS replay_points, r.yen AS replay_yen, "
    "r.available_after AS replay_available, r.held_after AS replay_held, r.hold AS replay_hold, "
    "r.lot AS replay_lot, r.fingerprint AS replay_fingerprint"
)


def _replay(row: Any, key: str, fingerprint: str) -> Posted | None:
    if row is None or row["replay_id"] is None:
        return None
    if row["replay_fingerprint"] != fingerprint:
        raise IdempotencyKeyReused(
            "The idempotency key {key} was already used for another ledger operation.", key=key
        )
    return Posted(
        entry_id=row["replay_id"], kind=row["replay_kind"], points=row["replay_points"], yen=row["replay_yen"],
        available=row["replay_available"], held=row["replay_held"], hold_id=row["replay_hold"],
        lot_id=row["replay_lot"], replayed=True,
    )


async def _replayed(key: str, fingerprint: str) -> Posted | None:
    rows = await _q(f"SELECT {_REPLAY_COLUMNS} FROM ledger_entries r WHERE r.idempotency_key = {{}}", key)
    return _replay(rows[0] if rows else None, key, fingerprint)


async def _spending_state(account: _Account, key: str, fingerprint: str) -> tuple[Posted | None, list[Any]]:
    """After the lock, in one query: the replay of `key` if any, and the lots that still have
    points to spend, in spending order (earliest expiry, then oldest)."""
    rows = await _q(
        f"SELECT {_REPLAY_COLUMNS}, l.id AS id, l.remaining AS remaining, l.expired AS expired, "
        "l.expires_on AS expires_on, l.yen_per_point AS yen_per_point "
        "FROM (SELECT 1 AS one) one "
        "LEFT JOIN ledger_entries r ON r.idempotency_key = {} "
        "LEFT JOIN point_lots l ON l.account = {} AND l.remaining > 0 "
        "ORDER BY (l.expires_on IS NULL), l.expires_on, l.id",
        key, account.id,
    )
    return _replay(rows[0], key, fingerprint), [row for row in rows if row["id"] is not None]


async def _spendable(account: _Account, lots: list[Any], today: date) -> list[Any]:
    """The lots to spend from. Lots past their last day are expired on the way, so
    `account.available` is then exactly what can be spent."""
    lapsed = [lot for lot in lots if lot["expires_on"] is not None and _as_date(lot["expires_on"]) < today]
    for lot in lapsed:
        await _expire_lot(account, lot)
    return lots[len(lapsed):]


async def _spendable_lots(account: _Account, today: date) -> list[Any]:
    lots = await _q(
        "SELECT id, remaining, expired, expires_on, yen_per_point FROM point_lots "
        "WHERE account = {} AND remaining > 0 ORDER BY (expires_on IS NULL), expires_on, id",
        account.id,
    )
    return await _spendable(account, list(lots), today)


@dataclass
class _Hold:
    id: int
    ticket_id: int | None
    points: int
    captured: int
    status: str
    # Points pinned in each lot, the lot expiring first first: [lot, pinned, expires_on, yen_per_point].
    pinned: list[list[Any]]


async def _locked_hold(hold_id: int, key: str, fingerprint: str) -> tuple[_Account, _Hold, Posted | None]:
    """Lock the hold's account, then read the hold, the points it pins and the replay of `key`."""
    rows = await _q(_ACCOUNT + " WHERE id = (SELECT account FROM point_holds WHERE id = {})" + for_update(), hold_id)
    if not rows:
        raise UnknownHold("There is no hold {hold}.", hold=hold_id)
    account = _Account(rows[0]["id"], rows[0]["available"], rows[0]["held"])
    rows = await _q(
        f"SELECT h.ticket_id AS ticket_id, h.points AS points, h.captured AS captured, h.status AS status, "
        f"{_REPLAY_COLUMNS}, p.lot AS lot, p.pinned AS pinned, p.expires_on AS expires_on, "
        "p.yen_per_point AS yen_per_point "
        "FROM point_holds h "
        "LEFT JOIN ledger_entries r ON r.idempotency_key = {} "
        "LEFT JOIN (SELECT a.lot AS lot, SUM(a.held_delta) AS pinned, l.expires_on AS expires_on, "
        "           l.yen_per_point AS yen_per_point "
        "           FROM point_allocations a JOIN point_lots l ON l.id = a.lot WHERE a.hold = {} "
        "           GROUP BY a.lot, l.expires_on, l.yen_per_point HAVING SUM(a.held_delta) > 0) p ON 1 = 1 "
        "WHERE h.id = {}",
        key, hold_id, hold_id,
    )
    first = rows[0]
    pinned = sorted(
        ([r["lot"], r["pinned"], _as_date(r["expires_on"]), r["yen_per_point"]] for r in rows if r["lot"] is not None),
        key=lambda p: (p[2] is None, p[2] or date.max, p[0]),
    )
    held = _Hold(hold_id, first["ticket_id"], first["points"], first["captured"], first["status"], pinned)
    return account, held, _replay(first, key, fingerprint)


# --- writing ---------------------------------------------------------------------------------

# On PostgreSQL an entry is one statement: the account's guarded UPDATE, the lots' guarded
# UPDATE, the entry, its allocations and the hold's new state, as data-modifying CTEs. If the
# account's guard fails nothing is written (every part hangs off its RETURNING row); a lot's
# guard failing is counted and refused, which rolls the transaction back.
_POST_POSTGRES = """
WITH account AS (
    UPDATE points_accounts SET available = available + {{}}::int, held = held + {{}}::int, updated_at = {{}}
    WHERE id = {{}} AND available + {{}}::int >= 0 AND held + {{}}::int >= 0
    RETURNING id, available, held
), {new_hold}moves AS (
    SELECT * FROM unnest({{}}::int[], {{}}::int[], {{}}::int[], {{}}::int[], {{}}::int[], {{}}::int[], {{}}::int[])
        AS m(lot, remaining_delta, held_delta, consumed, expired, refunded, yen)
), lots AS (
    UPDATE point_lots l SET remaining = l.remaining + m.remaining_delta, held = l.held + m.held_delta,
        consumed = l.consumed + m.consumed, expired = l.expired + m.expired, refunded = l.refunded + m.refunded
    FROM moves m, account
    WHERE l.id = m.lot AND NOT {{}}::boolean
      AND l.remaining + m.remaining_delta >= 0 AND l.held + m.held_delta >= 0
    RETURNING l.id
), entry AS (
    INSERT INTO ledger_entries (account, kind, points, available_delta, held_delta, available_after, held_after,
        yen, lot, hold, ticket_id, reason, idempotency_key, fingerprint, actor, created_at)
    SELECT id, {{}}::text, {{}}::int, {{}}::int, {{}}::int, available, held, {{}}::int, {{}}::int, {hold}, {{}}::int,
        {{}}::text, {{}}::text, {{}}::text, {{}}::int, {{}}::timestamptz FROM account
    RETURNING id
), allocations AS (
    INSERT INTO point_allocations (entry, lot, hold, remaining_delta, held_delta, yen)
    SELECT entry.id, m.lot, {hold}, m.remaining_delta, m.held_delta, m.yen FROM entry, moves m
){hold_update}
SELECT entry.id AS id, account.available AS available, account.held AS held, {hold} AS hold,
       (SELECT COUNT(*) FROM lots) AS lots
FROM entry, account
"""
_NEW_HOLD = (
    "new_hold AS (INSERT INTO point_holds (account, ticket_id, points, captured, released, status, created_at) "
    "SELECT id, {}::int, {}::int, 0, 0, 'held', {}::timestamptz FROM account RETURNING id), "
)
_HOLD_UPDATE = (
    ", hold_update AS (UPDATE point_holds SET points = points + {{}}::int, captured = captured + {{}}::int, "
    "released = released + {{}}::int, status = {{}}::text, settled_at = {{}}::timestamptz "
    "WHERE id = {hold} AND EXISTS (SELECT 1 FROM entry))"
)


@functools.lru_cache(maxsize=8)
def _post_sql(new_hold: bool, hold_update: bool) -> str:
    hold = "(SELECT id FROM new_hold)" if new_hold else "{}::int"
    return _POST_POSTGRES.format(
        new_hold=_NEW_HOLD if new_hold else "",
        hold=hold,
        hold_update=_HOLD_UPDATE.format(hold=hold) if hold_update else "",
    )


@dataclass(frozen=True)
class _HoldChange:
    """What an entry does to its hold: create it holding `points`, or change its points by `points`
    and its captured and released figures, and set its status."""

    points: int
    captured: int = 0
    released: int = 0
    status: str = "held"
    create: bool = False


async def _post(
    account: _Account,
    kind: str,
    moves: Sequence[_Move],
    *,
    key: str,
    fingerprint: str,
    hold_id: int | None = None,
    lot_id: int | None = None,
    ticket_id: int | None = None,
    reason: str = "",
    actor_id: int | None = None,
    new_lot: bool = False,
    hold_change: _HoldChange | None = None,
) -> Posted:
    """Append one entry with its allocations and apply it to the account, lots and hold (guarded).

    `new_lot`: the entry creates its lot, which was inserted already holding its points.
    `hold_change`: the hold to create (then `hold_id` is None) or the change to `hold_id`.
    """
    available_delta = sum(m.remaining_delta for m in moves)
    held_delta = sum(m.held_delta for m in moves)
    points = max(abs(available_delta), abs(held_delta))
    outflow_column = _OUTFLOW_COLUMN.get(kind)
    now = datetime.now(UTC)

    yen_by_lot: list[int] = []
    outflows: list[dict[str, int]] = []
    for move in moves:
        outflow = -(move.remaining_delta + move.held_delta)
        if outflow > 0 and outflow_column:
            outflows.append({outflow_column: outflow})
            yen_by_lot.append(outflow * move.yen_per_point)
        else:
            outflows.append({})
            yen_by_lot.append(move.remaining_delta * move.yen_per_point if kind in ("grant", "purchase") else 0)
    yen = sum(yen_by_lot)
    creates_hold = hold_change is not None and hold_change.create
    settled_at = None if hold_change is None or hold_change.status == "held" else now

    if is_postgres():
        # Arguments in the order of their placeholders; the hold's id (when it exists already) is
        # one per place it is used.
        hold_args = [] if creates_hold else [hold_id]
        args: list[Any] = [available_delta, held_delta, now, account.id, available_delta, held_delta]
        if creates_hold:
            args += [ticket_id, hold_change.points, now]
        args += [
            [m.lot for m in moves], [m.remaining_delta for m in moves], [m.held_delta for m in moves],
            [o.get("consumed", 0) for o in outflows], [o.get("expired", 0) for o in outflows],
            [o.get("refunded", 0) for o in outflows], yen_by_lot,
        ]
        args += [new_lot]
        args += [kind, points, available_delta, held_delta, yen, lot_id, *hold_args, ticket_id, reason, key,
                 fingerprint, actor_id, now]
        args += hold_args
        if hold_change is not None and not creates_hold:
            args += [hold_change.points, hold_change.captured, hold_change.released, hold_change.status,
                     settled_at, *hold_args]
        args += hold_args
        rows = await _q(_post_sql(creates_hold, hold_change is not None and not creates_hold), *args)
        if not rows:
            raise InsufficientPoints(required=-available_delta, available=account.available)
        if rows[0]["lots"] != (0 if new_lot else len(moves)):
            raise InsufficientPoints(required=points, available=0)
        account.available, account.held = rows[0]["available"], rows[0]["held"]
        return Posted(
            entry_id=rows[0]["id"], kind=kind, points=points, yen=yen, available=account.available,
            held=account.held, hold_id=rows[0]["hold"], lot_id=lot_id,
        )

    # SQLite: the same changes, a statement each (they run in-process, so round trips are cheap).
    if creates_hold:
        hold_id = await _insert(
            "point_holds", account=account.id, ticket_id=ticket_id, points=hold_change.points, captured=0,
            released=0, status="held", created_at=now,
        )
    updated = await _q(
        "UPDATE points_accounts SET available = available + {}, held = held + {}, updated_at = {} "
        "WHERE id = {} AND available + {} >= 0 AND held + {} >= 0 RETURNING available, held",
        available_delta, held_delta, now, account.id, available_delta, held_delta,
    )
    if not updated:
        raise InsufficientPoints(required=-available_delta, available=account.available)
    account.available, account.held = updated[0]["available"], updated[0]["held"]
    if not new_lot:
        for move, outflow in zip(moves, outflows, strict=True):
            spent_to = "".join(f", {column} = {column} + {amount}" for column, amount in outflow.items())
            changed = await _q(
                f"UPDATE point_lots SET remaining = remaining + {{}}, held = held + {{}}{spent_to} "
                "WHERE id = {} AND remaining + {} >= 0 AND held + {} >= 0 RETURNING id",
                move.remaining_delta, move.held_delta, move.lot, move.remaining_delta, move.held_delta,
            )
            if not changed:
                raise InsufficientPoints(required=-move.remaining_delta, available=0)
    entry_id = await _insert(
        "ledger_entries",
        account=account.id, kind=kind, points=points, available_delta=available_delta,
        held_delta=held_delta, available_after=account.available, held_after=account.held,
        yen=yen, lot=lot_id, hold=hold_id, ticket_id=ticket_id, reason=reason,
        idempotency_key=key, fingerprint=fingerprint, actor=actor_id, created_at=now,
    )
    rows = [(entry_id, m.lot, hold_id, m.remaining_delta, m.held_delta, y)
            for m, y in zip(moves, yen_by_lot, strict=True)]
    await _q(
        "INSERT INTO point_allocations (entry, lot, hold, remaining_delta, held_delta, yen) VALUES "
        + ", ".join(["({}, {}, {}, {}, {}, {})"] * len(rows)),
        *[value for row in rows for value in row],
    )
    if hold_change is not None and not creates_hold:
        await _q(
            "UPDATE point_holds SET points = points + {}, captured = captured + {}, released = released + {}, "
            "status = {}, settled_at = {} WHERE id = {}",
            hold_change.points, hold_change.captured, hold_change.released, hold_change.status,
            settled_at, hold_id,
        )
    return Posted(
        entry_id=entry_id, kind=kind, points=points, yen=yen, available=account.available,
        held=account.held, hold_id=hold_id, lot_id=lot_id,
    )


def _take(lots: list[dict[str, Any]], points: int) -> list[tuple[dict[str, Any], int]]:
    taken, wanted = [], points
    for lot in lots:
        if wanted == 0:
            break
        part = min(lot["remaining"], wanted)
        taken.append((lot, part))
        wanted -= part
    return taken


async def _expire_lot(
    account: _Account, lot: dict[str, Any], *, hold_id: int | None = None, ticket_id: int | None = None
) -> None:
    # The lot's points expired so far make each expiry of it a distinct, replay-safe key.
    await _post(
        account, "expire", [_Move(lot["id"], -lot["remaining"], 0, lot["yen_per_point"])],
        key=f"~expire:lot:{lot['id']}:{lot['expired']}", fingerprint=_fingerprint("expire", lot["id"]),
        lot_id=lot["id"], hold_id=hold_id, ticket_id=ticket_id, reason="expired",
    )


async def _expire_due(
    account: _Account, today: date, *, hold_id: int | None = None, ticket_id: int | None = None
) -> int:
    """Expire the available points of every lot whose last day is before `today`."""
    lots = await _q(
        "SELECT id, remaining, expired, yen_per_point FROM point_lots "
        "WHERE account = {} AND remaining > 0 AND expires_on < {} ORDER BY expires_on, id" + for_update(),
        account.id, today,
    )
    for lot in lots:
        await _expire_lot(account, lot, hold_id=hold_id, ticket_id=ticket_id)
    return sum(lot["remaining"] for lot in lots)


async def _unpin(
    account: _Account, held: _Hold, kind: str, points: int, *,
    key: str, fingerprint: str, today: date, reason: str = "", actor_id: int | None = None,
) -> Posted:
    """Capture or release `points` of a hold: captures take from the lots expiring first,
    releases give back to the lots expiring last first."""
    moves, wanted = [], points
    for pin in (held.pinned if kind == "capture" else reversed(held.pinned)):
        part = min(pin[1], wanted)
        if part:
            moves.append(_Move(pin[0], part if kind == "release" else 0, -part, pin[3]))
            pin[1] -= part
            wanted -= part
    held.pinned = [pin for pin in held.pinned if pin[1] > 0]
    left = held.points - points
    captured, released = (points, 0) if kind == "capture" else (0, points)
    status = "held" if left else ("captured" if kind == "capture" or held.captured else "released")
    posted = await _post(
        account, kind, moves, key=key, fingerprint=fingerprint, hold_id=held.id, ticket_id=held.ticket_id,
        reason=reason, actor_id=actor_id, hold_change=_HoldChange(-points, captured, released, status),
    )
    held.points, held.status, held.captured = left, status, held.captured + captured
    if kind == "release":
        # Released points whose lot expired meanwhile expire now.
        await _expire_due(account, today, hold_id=held.id, ticket_id=held.ticket_id)
    return posted


# --- the services ----------------------------------------------------------------------------

async def grant(
    organization_id: int,
    points: int,
    reason: str,
    expires_on: date | None,
    yen_per_point: int = 0,
    *,
    key: str,
    today: date | None = None,
    actor_id: int | None = None,
) -> Posted:
    """Credit a new lot: free points (yen_per_point 0, a grant) or paid ones (a purchase).

    `expires_on` is the lot's last day (pricing.lot_expiry), None for points that never expire.
    """
    _points(points)
    _points(yen_per_point, "yen_per_point", minimum=0)
    reason, key = _reason(reason), _key(key)
    kind = "purchase" if yen_per_point else "grant"
    fingerprint = _fingerprint(kind, organization_id, points, expires_on, yen_per_point)
    async with write_transaction():
        account = await _lock_organization(organization_id, create=True)
        if replay := await _replayed(key, fingerprint):
            return replay
        _not_lapsed(expires_on, today or clock.today())
        lot_id = await _new_lot(account, kind, points, yen_per_point, expires_on, reason)
        return await _post(
            account, kind, [_Move(lot_id, points, 0, yen_per_point)], key=key, fingerprint=fingerprint,
            lot_id=lot_id, reason=reason, actor_id=actor_id, new_lot=True,
        )


async def purchase(
    organization_id: int, points: int, yen_per_point: int, expires_on: date | None, reason: str, *,
    key: str, today: date | None = None, actor_id: int | None = None,
) -> Posted:
    """Credit a paid lot (a bundle bought and paid): `yen_per_point` is its tax-exclusive unit price."""
    _points(yen_per_point, "yen_per_point", minimum=1)
    return await grant(
        organization_id, points, reason, expires_on, yen_per_point, key=key, today=today, actor_id=actor_id
    )


async def _new_lot(
    account: _Account, source: str, points: int, yen_per_point: int, expires_on: date | None, reason: str
) -> int:
    return await _insert(
        "point_lots",
        account=account.id, source=source, points=points, remaining=points, held=0, consumed=0,
        expired=0, refunded=0, yen_per_point=yen_per_point, expires_on=expires_on, reason=reason,
        created_at=datetime.now(UTC),
    )


async def hold(
    organization_id: int,
    points: int,
    ticket_id: int,
    key: str,
    *,
    today: date | None = None,
    actor_id: int | None = None,
    reason: str = "",
) -> int:
    """Hold `points` for a request; returns the hold's id. InsufficientPoints if not available."""
    _points(points)
    key = _key(key)
    fingerprint = _fingerprint("hold", organization_id, points, ticket_id)
    today = today or clock.today()
    async with write_transaction():
        account = await _lock_organization(organization_id, create=False)
        if account is None:
            raise InsufficientPoints(required=points, available=0)
        replay, lots = await _spending_state(account, key, fingerprint)
        if replay:
            return replay.hold_id
        lots = await _spendable(account, lots, today)
        if account.available < points:
            raise InsufficientPoints(required=points, available=account.available)
        moves = [_Move(lot["id"], -part, part, lot["yen_per_point"]) for lot, part in _take(lots, points)]
        posted = await _post(
            account, "hold", moves, key=key, fingerprint=fingerprint, ticket_id=ticket_id, reason=reason,
            actor_id=actor_id, hold_change=_HoldChange(points, create=True),
        )
        return posted.hold_id


async def increase_hold(
    hold_id: int, points: int, key: str, *, today: date | None = None, actor_id: int | None = None,
    reason: str = "",
) -> Posted:
    """Hold `points` more for the same request (an approved re-quote or overage)."""
    _points(points)
    key = _key(key)
    fingerprint = _fingerprint("increase_hold", hold_id, points)
    today = today or clock.today()
    async with write_transaction():
        account, held, replay = await _locked_hold(hold_id, key, fingerprint)
        if replay:
            return replay
        if held.status != "held":
            raise HoldSettled("Hold {hold} is already {status}.", hold=hold_id, status=held.status)
        lots = await _spendable_lots(account, today)
        if account.available < points:
            raise InsufficientPoints(required=points, available=account.available)
        moves = [_Move(lot["id"], -part, part, lot["yen_per_point"]) for lot, part in _take(lots, points)]
        return await _post(
            account, "hold", moves, key=key, fingerprint=fingerprint, hold_id=hold_id,
            ticket_id=held.ticket_id, reason=reason, actor_id=actor_id, hold_change=_HoldChange(points),
        )


def _part_of_hold(held: _Hold, hold_id: int, points: int | None, too_many: str) -> int:
    """How many of an open hold's points a capture or release takes: all by default, never more."""
    if held.status != "held":
        raise HoldSettled("Hold {hold} is already {status}.", hold=hold_id, status=held.status)
    amount = held.points if points is None else points
    if amount > held.points:
        raise InvalidAmount(too_many, field="points", points=amount, held=held.points)
    return amount


async def capture(
    hold_id: int, key: str, *, points: int | None = None, today: date | None = None,
    actor_id: int | None = None, reason: str = "",
) -> Posted:
    """Spend a hold's points (the request is resolved). With `points` less than held, the rest is
    released. Returns the capture entry."""
    key = _key(key)
    if points is not None:
        _points(points)
    fingerprint = _fingerprint("capture", hold_id, points)
    today = today or clock.today()
    async with write_transaction():
        account, held, replay = await _locked_hold(hold_id, key, fingerprint)
        if replay:
            return replay
        amount = _part_of_hold(held, hold_id, points, "Cannot capture {points} points of a hold of {held}.")
        posted = await _unpin(
            account, held, "capture", amount, key=key, fingerprint=fingerprint, today=today,
            reason=reason, actor_id=actor_id,
        )
        if held.points:
            await _unpin(
                account, held, "release", held.points, key=f"~{key}:rest",
                fingerprint=_fingerprint("release", hold_id, None), today=today, reason=reason,
                actor_id=actor_id,
            )
        return posted


async def release(
    hold_id: int, key: str, reason: str = "", *, points: int | None = None, today: date | None = None,
    actor_id: int | None = None,
) -> Posted:
    """Give a hold's points back (cancelled, or waived by the vendor). With `points`, only that
    many (a re-quote that lowers the price); the hold stays open for the rest."""
    key = _key(key)
    if points is not None:
        _points(points)
    fingerprint = _fingerprint("release", hold_id, points)
    today = today or clock.today()
    async with write_transaction():
        account, held, replay = await _locked_hold(hold_id, key, fingerprint)
        if replay:
            return replay
        amount = _part_of_hold(held, hold_id, points, "Cannot release {points} points of a hold of {held}.")
        return await _unpin(
            account, held, "release", amount, key=key, fingerprint=fingerprint, today=today,
            reason=reason, actor_id=actor_id,
        )


async def adjust(
    organization_id: int,
    points: int,
    reason: str,
    key: str,
    *,
    expires_on: date | None = None,
    today: date | None = None,
    actor_id: int | None = None,
) -> Posted:
    """A correction by finance: +points become a new zero-yen lot (expiring `expires_on`),
    -points are taken from the available lots in spending order (never below zero)."""
    if not isinstance(points, int) or isinstance(points, bool) or points == 0:
        raise InvalidAmount("{field} must be a whole number other than 0.", field="points")
    reason, key = _reason(reason), _key(key)
    fingerprint = _fingerprint("adjustment", organization_id, points, expires_on)
    today = today or clock.today()
    async with write_transaction():
        account = await _lock_organization(organization_id, create=True)
        if replay := await _replayed(key, fingerprint):
            return replay
        if points > 0:
            _not_lapsed(expires_on, today)
            lot_id = await _new_lot(account, "adjustment", points, 0, expires_on, reason)
            return await _post(
                account, "adjustment", [_Move(lot_id, points, 0, 0)], key=key, fingerprint=fingerprint,
                lot_id=lot_id, reason=reason, actor_id=actor_id, new_lot=True,
            )
        lots = await _spendable_lots(account, today)
        if account.available < -points:
            raise InsufficientPoints(required=-points, available=account.available)
        moves = [_Move(lot["id"], -part, 0, lot["yen_per_point"]) for lot, part in _take(lots, -points)]
        return await _post(
            account, "adjustment", moves, key=key, fingerprint=fingerprint, reason=reason, actor_id=actor_id,
        )


async def refund_unspent(
    lot_id: int, key: str, reason: str = "refund", *, today: date | None = None, actor_id: int | None = None
) -> Posted:
    """Take back the unspent, unexpired points of a paid lot (for its credit note).

    Refused while some of the lot's points are held by open requests: settle them first.
    """
    key = _key(key)
    fingerprint = _fingerprint("refund", lot_id)
    today = today or clock.today()
    async with write_transaction():
        rows = await _q("SELECT account FROM point_lots WHERE id = {}", lot_id)
        if not rows:
            raise UnknownLot("There is no lot {lot}.", lot=lot_id)
        account = await _lock(rows[0]["account"])
        if replay := await _replayed(key, fingerprint):
            return replay
        await _expire_due(account, today)
        lot = (await _q(
            "SELECT id, source, remaining, held, yen_per_point FROM point_lots WHERE id = {}", lot_id
        ))[0]
        if lot["source"] != "purchase":
            raise NotRefundable("Lot {lot} was not paid for, so there is nothing to refund.", lot=lot_id)
        if lot["held"]:
            raise NotRefundable(
                "{held} points of lot {lot} are held by open requests; settle them before refunding.",
                lot=lot_id, held=lot["held"],
            )
        if not lot["remaining"]:
            raise NotRefundable("Lot {lot} has no unspent points left to refund.", lot=lot_id)
        return await _post(
            account, "refund", [_Move(lot_id, -lot["remaining"], 0, lot["yen_per_point"])], key=key,
            fingerprint=fingerprint, lot_id=lot_id, reason=_reason(reason), actor_id=actor_id,
        )


async def expire_due(today: date | None = None) -> int:
    """Expire every lot whose last day is before `today` (the `kippu expire` job).

    Idempotent and safe beside traffic and other runs: each account is handled in its own
    transaction under its lock, and a lot already expired has nothing left to expire.
    Returns the number of points expired.
    """
    today = today or clock.today()
    accounts = await _q(
        "SELECT DISTINCT account FROM point_lots WHERE remaining > 0 AND expires_on < {} ORDER BY account",
        today,
    )
    expired = 0
    for row in accounts:
        async with write_transaction():
            expired += await _expire_due(await _lock(row["account"]), today)
    return expired


# --- reading ---------------------------------------------------------------------------------

async def balance(organization_id: int, *, today: date | None = None) -> Balance:
    """Available and held points, the lots that still have points, and what expires soon.

    Reads the cached account row and the open lots only, so it costs the same however long the
    history. Points of lots past their last day that the expiry job has not reached yet are not
    counted as available.
    """
    today = today or clock.today()
    rows = await _q(
        "SELECT a.available AS available, a.held AS account_held, l.id AS id, l.source AS source, "
        "l.points AS points, l.remaining AS remaining, l.held AS held, l.expires_on AS expires_on, "
        "l.yen_per_point AS yen_per_point "
        "FROM points_accounts a LEFT JOIN point_lots l ON l.account = a.id AND (l.remaining > 0 OR l.held > 0) "
        "WHERE a.organization = {} ORDER BY (l.expires_on IS NULL), l.expires_on, l.id",
        organization_id,
    )
    if not rows:
        return Balance(available=0, held=0, lots=(), expiring_within={days: 0 for days in EXPIRY_WINDOWS})
    lots = tuple(
        LotBalance(
            id=r["id"], source=r["source"], points=r["points"], remaining=r["remaining"], held=r["held"],
            expires_on=_as_date(r["expires_on"]), yen_per_point=r["yen_per_point"],
        )
        for r in rows if r["id"] is not None
    )
    lapsed = sum(lot.remaining for lot in lots if lot.expires_on is not None and lot.expires_on < today)
    expiring = {
        days: sum(
            lot.remaining for lot in lots
            if lot.expires_on is not None and today <= lot.expires_on <= today + timedelta(days=days)
        )
        for days in EXPIRY_WINDOWS
    }
    return Balance(
        available=rows[0]["available"] - lapsed, held=rows[0]["account_held"],
        lots=tuple(lot for lot in lots if not (lot.held == 0 and lot.expires_on and lot.expires_on < today)),
        expiring_within=expiring,
    )


async def entries(organization_id: int, cursor: str | None = None, limit: int = 50) -> EntryPage:
    """The organisation's entries, newest first, a page at a time (`next_cursor` for the next)."""
    limit = max(1, min(int(limit), 200))
    before = _cursor(cursor)
    account = await _q("SELECT id FROM points_accounts WHERE organization = {}", organization_id)
    if not account:
        return EntryPage(items=(), next_cursor=None)
    sql = (
        "SELECT id, kind, points, available_delta, held_delta, available_after, held_after, yen, lot, hold, "
        "ticket_id, reason, actor, created_at FROM ledger_entries WHERE account = {}"
    )
    args: list[Any] = [account[0]["id"]]
    if before is not None:
        sql += " AND id < {}"
        args.append(before)
    rows = await _q(sql + " ORDER BY id DESC LIMIT {}", *args, limit + 1)
    items = tuple(
        EntryView(
            id=r["id"], kind=r["kind"], points=r["points"], available_delta=r["available_delta"],
            held_delta=r["held_delta"], available_after=r["available_after"], held_after=r["held_after"],
            yen=r["yen"], lot_id=r["lot"], hold_id=r["hold"], ticket_id=r["ticket_id"], reason=r["reason"],
            actor_id=r["actor"], created_at=_as_datetime(r["created_at"]),
        )
        for r in rows[:limit]
    )
    return EntryPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


def _cursor(cursor: str | None) -> int | None:
    if cursor in (None, ""):
        return None
    if not str(cursor).isdigit():
        raise InvalidAmount("The cursor {cursor} is not one this list gave.", field="cursor", cursor=cursor)
    return int(cursor)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def holds_of_ticket(ticket_id: int) -> list[dict[str, Any]]:
    """The holds of a request (normally one), for its points story."""
    rows = await _q(
        "SELECT id, points, captured, released, status, created_at, settled_at FROM point_holds "
        "WHERE ticket_id = {} ORDER BY id", ticket_id,
    )
    return [dict(row) for row in rows]
