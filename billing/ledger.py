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
from billing.transactions import for_update, write_transaction

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


# --- reading and locking ---------------------------------------------------------------------

async def _q(sql: str, *args: Any) -> list[dict[str, Any]]:
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


async def _lock_organization(organization_id: int, *, create: bool) -> _Account | None:
    """Lock the organisation's account (creating it first if asked); None if it has none."""
    sql = "SELECT id, available, held FROM points_accounts WHERE organization = {}" + for_update()
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
    row = (await _q(
        "SELECT id, available, held FROM points_accounts WHERE id = {}" + for_update(), account_id
    ))[0]
    return _Account(row["id"], row["available"], row["held"])


async def _replayed(key: str, fingerprint: str) -> Posted | None:
    rows = await _q(
        "SELECT id, kind, points, yen, available_after, held_after, hold, lot, fingerprint "
        "FROM ledger_entries WHERE idempotency_key = {}", key,
    )
    if not rows:
        return None
    row = rows[0]
    if row["fingerprint"] != fingerprint:
        raise IdempotencyKeyReused(
            "The idempotency key {key} was already used for another ledger operation.", key=key
        )
    return Posted(
        entry_id=row["id"], kind=row["kind"], points=row["points"], yen=row["yen"],
        available=row["available_after"], held=row["held_after"], hold_id=row["hold"], lot_id=row["lot"],
        replayed=True,
    )


# --- writing ---------------------------------------------------------------------------------

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
) -> Posted:
    """Append one entry with its allocations and apply it to the account and lots (guarded).

    `new_lot`: the entry creates its lot, which was inserted already holding its points.
    """
    available_delta = sum(m.remaining_delta for m in moves)
    held_delta = sum(m.held_delta for m in moves)
    points = max(abs(available_delta), abs(held_delta))
    outflow_column = _OUTFLOW_COLUMN.get(kind)
    now = datetime.now(UTC)

    updated = await _q(
        "UPDATE points_accounts SET available = available + {}, held = held + {}, updated_at = {} "
        "WHERE id = {} AND available + {} >= 0 AND held + {} >= 0 RETURNING available, held",
        available_delta, held_delta, now, account.id, available_delta, held_delta,
    )
    if not updated:
        raise InsufficientPoints(required=-available_delta, available=account.available)
    account.available, account.held = updated[0]["available"], updated[0]["held"]

    yen_by_lot: list[int] = []
    for move in moves:
        outflow = -(move.remaining_delta + move.held_delta)
        if outflow > 0 and outflow_column:
            spent_to = f", {outflow_column} = {outflow_column} + {outflow}"
            yen_by_lot.append(outflow * move.yen_per_point)
        else:
            spent_to = ""
            yen_by_lot.append(move.remaining_delta * move.yen_per_point if kind in ("grant", "purchase") else 0)
        if new_lot:
            continue
        changed = await _q(
            f"UPDATE point_lots SET remaining = remaining + {{}}, held = held + {{}}{spent_to} "
            "WHERE id = {} AND remaining + {} >= 0 AND held + {} >= 0 RETURNING id",
            move.remaining_delta, move.held_delta, move.lot, move.remaining_delta, move.held_delta,
        )
        if not changed:
            raise InsufficientPoints(required=-move.remaining_delta, available=0)

    # Plain INSERTs: on the hot path, building ORM rows costs more than the database work.
    entry_id = await _insert(
        "ledger_entries",
        account=account.id, kind=kind, points=points, available_delta=available_delta,
        held_delta=held_delta, available_after=account.available, held_after=account.held,
        yen=sum(yen_by_lot), lot=lot_id, hold=hold_id, ticket_id=ticket_id, reason=reason,
        idempotency_key=key, fingerprint=fingerprint, actor=actor_id, created_at=now,
    )
    rows = [(entry_id, m.lot, hold_id, m.remaining_delta, m.held_delta, yen)
            for m, yen in zip(moves, yen_by_lot, strict=True)]
    await _q(
        "INSERT INTO point_allocations (entry, lot, hold, remaining_delta, held_delta, yen) VALUES "
        + ", ".join(["({}, {}, {}, {}, {}, {})"] * len(rows)),
        *[value for row in rows for value in row],
    )
    return Posted(
        entry_id=entry_id, kind=kind, points=points, yen=sum(yen_by_lot),
        available=account.available, held=account.held, hold_id=hold_id, lot_id=lot_id,
    )


async def _spendable_lots(account: _Account, today: date) -> list[dict[str, Any]]:
    """The lots to spend from, in spending order (earliest expiry, then oldest), locked.

    Lots past their last day are expired on the way, so `account.available` is then exactly
    what can be spent.
    """
    lots = await _q(
        "SELECT id, remaining, expired, expires_on, yen_per_point FROM point_lots "
        "WHERE account = {} AND remaining > 0 ORDER BY (expires_on IS NULL), expires_on, id" + for_update(),
        account.id,
    )
    lapsed = [lot for lot in lots if lot["expires_on"] is not None and _as_date(lot["expires_on"]) < today]
    for lot in lapsed:
        await _expire_lot(account, lot)
    return lots[len(lapsed):]


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


async def _pinned(hold_id: int) -> list[dict[str, Any]]:
    """The points a hold has pinned in each lot, the lot expiring first first."""
    rows = await _q(
        "SELECT a.lot AS lot, SUM(a.held_delta) AS pinned, l.expires_on AS expires_on, "
        "l.yen_per_point AS yen_per_point FROM point_allocations a JOIN point_lots l ON l.id = a.lot "
        "WHERE a.hold = {} GROUP BY a.lot, l.expires_on, l.yen_per_point HAVING SUM(a.held_delta) > 0",
        hold_id,
    )
    return sorted(rows, key=lambda r: (_as_date(r["expires_on"]) is None, _as_date(r["expires_on"]) or date.max, r["lot"]))


async def _locked_hold(hold_id: int) -> tuple[_Account, dict[str, Any]]:
    rows = await _q("SELECT account FROM point_holds WHERE id = {}", hold_id)
    if not rows:
        raise UnknownHold("There is no hold {hold}.", hold=hold_id)
    account = await _lock(rows[0]["account"])
    hold = (await _q(
        "SELECT id, account, ticket_id, points, captured, released, status FROM point_holds WHERE id = {}",
        hold_id,
    ))[0]
    return account, hold


async def _unpin(
    account: _Account, hold: dict[str, Any], kind: str, points: int, *,
    key: str, fingerprint: str, today: date, reason: str = "", actor_id: int | None = None,
) -> Posted:
    """Capture or release `points` of a hold: captures take from the lots expiring first."""
    pinned = await _pinned(hold["id"])
    if kind == "release":
        pinned.reverse()
    moves, wanted = [], points
    for lot in pinned:
        part = min(lot["pinned"], wanted)
        if part:
            moves.append(_Move(lot["lot"], part if kind == "release" else 0, -part, lot["yen_per_point"]))
            wanted -= part
    posted = await _post(
        account, kind, moves, key=key, fingerprint=fingerprint, hold_id=hold["id"],
        ticket_id=hold["ticket_id"], reason=reason, actor_id=actor_id,
    )
    left = hold["points"] - points
    column = "captured" if kind == "capture" else "released"
    status = "held" if left else ("captured" if kind == "capture" or hold["captured"] else "released")
    await _q(
        f"UPDATE point_holds SET points = {{}}, {column} = {column} + {{}}, status = {{}}, settled_at = {{}} "
        "WHERE id = {}",
        left, points, status, None if left else datetime.now(UTC), hold["id"],
    )
    hold.update(points=left, status=status)
    hold[column] += points
    if kind == "release":
        # Released points whose lot expired meanwhile expire now.
        await _expire_due(account, today, hold_id=hold["id"], ticket_id=hold["ticket_id"])
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
        if replay := await _replayed(key, fingerprint):
            return replay.hold_id
        lots = await _spendable_lots(account, today)
        if account.available < points:
            raise InsufficientPoints(required=points, available=account.available)
        hold_id = await _insert(
            "point_holds", account=account.id, ticket_id=ticket_id, points=points, captured=0, released=0,
            status="held", created_at=datetime.now(UTC),
        )
        moves = [_Move(lot["id"], -part, part, lot["yen_per_point"]) for lot, part in _take(lots, points)]
        await _post(
            account, "hold", moves, key=key, fingerprint=fingerprint, hold_id=hold_id,
            ticket_id=ticket_id, reason=reason, actor_id=actor_id,
        )
        return hold_id


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
        account, held = await _locked_hold(hold_id)
        if replay := await _replayed(key, fingerprint):
            return replay
        if held["status"] != "held":
            raise HoldSettled("Hold {hold} is already {status}.", hold=hold_id, status=held["status"])
        lots = await _spendable_lots(account, today)
        if account.available < points:
            raise InsufficientPoints(required=points, available=account.available)
        moves = [_Move(lot["id"], -part, part, lot["yen_per_point"]) for lot, part in _take(lots, points)]
        posted = await _post(
            account, "hold", moves, key=key, fingerprint=fingerprint, hold_id=hold_id,
            ticket_id=held["ticket_id"], reason=reason, actor_id=actor_id,
        )
        await _q("UPDATE point_holds SET points = points + {} WHERE id = {}", points, hold_id)
        return posted


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
        account, held = await _locked_hold(hold_id)
        if replay := await _replayed(key, fingerprint):
            return replay
        if held["status"] != "held":
            raise HoldSettled("Hold {hold} is already {status}.", hold=hold_id, status=held["status"])
        amount = held["points"] if points is None else points
        if amount > held["points"]:
            raise InvalidAmount(
                "Cannot capture {points} points of a hold of {held}.", field="points", points=amount,
                held=held["points"],
            )
        posted = await _unpin(
            account, held, "capture", amount, key=key, fingerprint=fingerprint, today=today,
            reason=reason, actor_id=actor_id,
        )
        if held["points"]:
            await _unpin(
                account, held, "release", held["points"], key=f"~{key}:rest",
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
        account, held = await _locked_hold(hold_id)
        if replay := await _replayed(key, fingerprint):
            return replay
        if held["status"] != "held":
            raise HoldSettled("Hold {hold} is already {status}.", hold=hold_id, status=held["status"])
        amount = held["points"] if points is None else points
        if amount > held["points"]:
            raise InvalidAmount(
                "Cannot release {points} points of a hold of {held}.", field="points", points=amount,
                held=held["points"],
            )
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
    account = await _q(
        "SELECT id, available, held FROM points_accounts WHERE organization = {}", organization_id
    )
    if not account:
        return Balance(available=0, held=0, lots=(), expiring_within={days: 0 for days in EXPIRY_WINDOWS})
    rows = await _q(
        "SELECT id, source, points, remaining, held, expires_on, yen_per_point FROM point_lots "
        "WHERE account = {} AND (remaining > 0 OR held > 0) ORDER BY (expires_on IS NULL), expires_on, id",
        account[0]["id"],
    )
    lots = tuple(
        LotBalance(
            id=r["id"], source=r["source"], points=r["points"], remaining=r["remaining"], held=r["held"],
            expires_on=_as_date(r["expires_on"]), yen_per_point=r["yen_per_point"],
        )
        for r in rows
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
        available=account[0]["available"] - lapsed, held=account[0]["held"],
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
    return await _q(
        "SELECT id, points, captured, released, status, created_at, settled_at FROM point_holds "
        "WHERE ticket_id = {} ORDER BY id", ticket_id,
    )
