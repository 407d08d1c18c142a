"""The points ledger: grant, hold, capture, release, adjust, expire, refund; balances and entries.

Like a TigerBeetle pending transfer, filing a request *holds* its points (available drops at
once), resolving it *captures* them and cancelling or waiving *releases* them. Points come from
lots, the one expiring first (then the oldest) first; a hold pins its points to their lots, and
points released after their lot's expiry date expire at release. The rules are in
billing/books.py.

Every call takes an idempotency key: calling again with the same key returns the first result
and writes nothing; the same key for another operation is refused. Keys starting with "~" are the
ledger's own (derived entries such as expiries). The functions here check their arguments and
hand the call to billing/batch.py, which applies the calls waiting at the same moment in one
transaction (each accepted or refused on its own), or a call made inside an outer transaction
alone, in that transaction. Every call's answer is the one it would get on its own: the key is
looked up, and the points counted, under the account's lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from billing import batch, clock
from billing.books import (
    Adjust,
    Answer,
    Call,
    Capture,
    ExpireDue,
    Grant,
    IncreaseHold,
    PlaceHold,
    Refund,
    Release,
    fingerprint,
)
from billing.errors import N_, InvalidAmount
from billing.transactions import as_date, rows

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


# --- arguments -------------------------------------------------------------------------------

def _points(value: object, name: str = "points", *, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidAmount(N_("{field} must be a whole number of at least {minimum}."), field=name, minimum=minimum)
    return value


def _key(key: object) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH or key.startswith("~"):
        raise InvalidAmount(
            N_("An idempotency key must be 1 to {maximum} characters and not start with '~'."),
            field="key", maximum=MAX_KEY_LENGTH,
        )
    return key


def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidAmount(N_("A reason is required."), field="reason")
    return reason.strip()


async def _posted(call: Call) -> Posted:
    """Apply the call; its entry, or its refusal raised."""
    answer: Answer = await batch.run(call)
    if answer.refusal is not None:
        raise answer.refusal
    entry = answer.entry
    return Posted(
        entry_id=entry.id, kind=entry.kind, points=entry.points, yen=entry.yen, available=entry.available_after,
        held=entry.held_after, hold_id=entry.hold_id, lot_id=entry.lot_id, replayed=answer.replayed,
    )


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
    return await _posted(Grant(
        organization_id=organization_id, points=points, expires_on=expires_on, yen_per_point=yen_per_point,
        key=key, fingerprint=fingerprint(kind, organization_id, points, expires_on, yen_per_point),
        today=today or clock.today(), actor_id=actor_id, reason=reason,
    ))


async def purchase(
    organization_id: int, points: int, yen_per_point: int, expires_on: date | None, reason: str, *,
    key: str, today: date | None = None, actor_id: int | None = None,
) -> Posted:
    """Credit a paid lot (a bundle bought and paid): `yen_per_point` is its tax-exclusive unit price."""
    _points(yen_per_point, "yen_per_point", minimum=1)
    return await grant(
        organization_id, points, reason, expires_on, yen_per_point, key=key, today=today, actor_id=actor_id
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
    posted = await _posted(PlaceHold(
        organization_id=organization_id, points=points, ticket_id=ticket_id, key=_key(key),
        fingerprint=fingerprint("hold", organization_id, points, ticket_id), today=today or clock.today(),
        actor_id=actor_id, reason=reason,
    ))
    return posted.hold_id


async def increase_hold(
    hold_id: int, points: int, key: str, *, today: date | None = None, actor_id: int | None = None,
    reason: str = "",
) -> Posted:
    """Hold `points` more for the same request (an approved re-quote or overage)."""
    _points(points)
    return await _posted(IncreaseHold(
        hold_id=hold_id, points=points, key=_key(key), fingerprint=fingerprint("increase_hold", hold_id, points),
        today=today or clock.today(), actor_id=actor_id, reason=reason,
    ))


async def capture(
    hold_id: int, key: str, *, points: int | None = None, today: date | None = None,
    actor_id: int | None = None, reason: str = "",
) -> Posted:
    """Spend a hold's points (the request is resolved). With `points` less than held, the rest is
    released. Returns the capture entry."""
    key = _key(key)
    if points is not None:
        _points(points)
    return await _posted(Capture(
        hold_id=hold_id, points=points, key=key, fingerprint=fingerprint("capture", hold_id, points),
        today=today or clock.today(), actor_id=actor_id, reason=reason,
    ))


async def release(
    hold_id: int, key: str, reason: str = "", *, points: int | None = None, today: date | None = None,
    actor_id: int | None = None,
) -> Posted:
    """Give a hold's points back (cancelled, or waived by the vendor). With `points`, only that
    many (a re-quote that lowers the price); the hold stays open for the rest."""
    key = _key(key)
    if points is not None:
        _points(points)
    return await _posted(Release(
        hold_id=hold_id, points=points, key=key, fingerprint=fingerprint("release", hold_id, points),
        today=today or clock.today(), actor_id=actor_id, reason=reason,
    ))


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
        raise InvalidAmount(N_("{field} must be a whole number other than 0."), field="points")
    reason, key = _reason(reason), _key(key)
    return await _posted(Adjust(
        organization_id=organization_id, points=points, expires_on=expires_on, key=key,
        fingerprint=fingerprint("adjustment", organization_id, points, expires_on), today=today or clock.today(),
        actor_id=actor_id, reason=reason,
    ))


async def refund_unspent(
    lot_id: int, key: str, reason: str = "refund", *, today: date | None = None, actor_id: int | None = None,
    at_most: int | None = None,
) -> Posted:
    """Take back the available, unexpired points of a paid lot (for its credit note), or no more
    than `at_most` of them.

    Points of the lot held by open requests are not refunded and stay pinned to them: captured
    later they are consumed; released later they are available in the lot again (they were paid
    for and not refunded). Refused for granted lots and lots with nothing left to refund.
    """
    if at_most is not None:
        _points(at_most)
    return await _posted(Refund(
        lot_id=lot_id, key=_key(key), fingerprint=fingerprint("refund", lot_id, *([] if at_most is None else [at_most])),
        today=today or clock.today(), actor_id=actor_id, reason=_reason(reason), at_most=at_most,
    ))


async def expire_due(today: date | None = None) -> int:
    """Expire every lot whose last day is before `today` (the `kippu expire` job).

    Idempotent and safe beside traffic and other runs: each account is expired under its lock, and
    a lot already expired has nothing left to expire. Returns the number of points expired.
    """
    today = today or clock.today()
    accounts = await rows(
        "SELECT DISTINCT account FROM point_lots WHERE remaining > 0 AND expires_on < {} ORDER BY account",
        today,
    )
    expired = 0
    for row in accounts:
        expired += (await batch.run(ExpireDue(account_id=row["account"], today=today))).expired
    return expired


# --- reading ---------------------------------------------------------------------------------

async def balance(organization_id: int, *, today: date | None = None) -> Balance:
    """Available and held points, the lots that still have points, and what expires soon.

    Reads the cached account row and the open lots only, so it costs the same however long the
    history. Points of lots past their last day that the expiry job has not reached yet are not
    counted as available.
    """
    today = today or clock.today()
    found = await rows(
        "SELECT a.available AS available, a.held AS account_held, l.id AS id, l.source AS source, "
        "l.points AS points, l.remaining AS remaining, l.held AS held, l.expires_on AS expires_on, "
        "l.yen_per_point AS yen_per_point "
        "FROM points_accounts a LEFT JOIN point_lots l ON l.account = a.id AND (l.remaining > 0 OR l.held > 0) "
        "WHERE a.organization = {} ORDER BY (l.expires_on IS NULL), l.expires_on, l.id",
        organization_id,
    )
    if not found:
        return Balance(available=0, held=0, lots=(), expiring_within={days: 0 for days in EXPIRY_WINDOWS})
    lots = tuple(
        LotBalance(
            id=r["id"], source=r["source"], points=r["points"], remaining=r["remaining"], held=r["held"],
            expires_on=as_date(r["expires_on"]), yen_per_point=r["yen_per_point"],
        )
        for r in found if r["id"] is not None
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
        available=found[0]["available"] - lapsed, held=found[0]["account_held"],
        lots=tuple(lot for lot in lots if not (lot.held == 0 and lot.expires_on and lot.expires_on < today)),
        expiring_within=expiring,
    )


async def entries(organization_id: int, cursor: str | None = None, limit: int = 50) -> EntryPage:
    """The organisation's entries, newest first, a page at a time (`next_cursor` for the next)."""
    limit = max(1, min(int(limit), 200))
    before = _cursor(cursor)
    account = await rows("SELECT id FROM points_accounts WHERE organization = {}", organization_id)
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
    page = await rows(sql + " ORDER BY id DESC LIMIT {}", *args, limit + 1)
    items = tuple(
        EntryView(
            id=r["id"], kind=r["kind"], points=r["points"], available_delta=r["available_delta"],
            held_delta=r["held_delta"], available_after=r["available_after"], held_after=r["held_after"],
            yen=r["yen"], lot_id=r["lot"], hold_id=r["hold"], ticket_id=r["ticket_id"], reason=r["reason"],
            actor_id=r["actor"], created_at=_as_datetime(r["created_at"]),
        )
        for r in page[:limit]
    )
    return EntryPage(items=items, next_cursor=str(items[-1].id) if len(page) > limit else None)


def _cursor(cursor: str | None) -> int | None:
    if cursor in (None, ""):
        return None
    if not str(cursor).isdigit():
        raise InvalidAmount(N_("The cursor {cursor} is not one this list gave."), field="cursor", cursor=cursor)
    return int(cursor)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def holds_of_ticket(ticket_id: int) -> list[dict[str, Any]]:
    """The holds of a request (normally one), for its points story."""
    holds = await rows(
        "SELECT id, points, captured, released, status, created_at, settled_at FROM point_holds "
        "WHERE ticket_id = {} ORDER BY id", ticket_id,
    )
    return [dict(row) for row in holds]
