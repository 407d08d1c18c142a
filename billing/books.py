"""The books of the accounts a batch has locked, in memory, and the ledger's rules applied to them.

A batch (billing/batch.py) locks its accounts, loads their lots with points, the holds its calls
name and the entries its idempotency keys already made, then applies each call here in turn.
A call is checked in full before anything is booked, so a refused call changes nothing and the
next call sees the books as if it had never been made. Booking appends entries (each with its
moves, one per lot) and changes the figures of accounts, lots and holds; the batch then writes
it all at once. Nothing here talks to the database.

The rules: points are taken from the lot that expires first (then the oldest); a hold pins its
points to their lots, and they do not expire while held; a capture spends the pinned points of
the lots expiring first, a release gives them back to the lots expiring last first; lots past
their last day are expired before points are spent, and points released into such a lot expire
at release; nothing goes below zero.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from billing.errors import (
    N_,
    HoldSettled,
    IdempotencyKeyReused,
    InsufficientPoints,
    InvalidAmount,
    LedgerError,
    NotRefundable,
    UnknownHold,
    UnknownLot,
)

# Where the points that leave a lot (remaining + held going down) end up, per entry kind.
_OUTFLOW = {"capture": "consumed", "adjustment": "consumed", "expire": "expired", "refund": "refunded"}


def fingerprint(operation: str, *args: Any) -> str:
    """A hash of the operation and its arguments: the same key reused for another one is refused."""
    return hashlib.sha256(json.dumps([operation, *args], default=str).encode()).hexdigest()


# --- the calls -------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Call:
    """One ledger call, its arguments already checked. `key` is the caller's idempotency key."""

    today: date
    key: str = ""
    fingerprint: str = ""
    actor_id: int | None = None
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Grant(Call):
    organization_id: int
    points: int
    expires_on: date | None
    yen_per_point: int


@dataclass(frozen=True, kw_only=True)
class PlaceHold(Call):
    organization_id: int
    points: int
    ticket_id: int


@dataclass(frozen=True, kw_only=True)
class IncreaseHold(Call):
    hold_id: int
    points: int


@dataclass(frozen=True, kw_only=True)
class Capture(Call):
    hold_id: int
    points: int | None


@dataclass(frozen=True, kw_only=True)
class Release(Call):
    hold_id: int
    points: int | None


@dataclass(frozen=True, kw_only=True)
class Adjust(Call):
    organization_id: int
    points: int
    expires_on: date | None


@dataclass(frozen=True, kw_only=True)
class Refund(Call):
    lot_id: int
    at_most: int | None = None  # points; None: every available point of the lot


@dataclass(frozen=True, kw_only=True)
class ExpireDue(Call):
    account_id: int


def creates_account(call: Call) -> bool:
    """Points credited to an organisation open its account if it has none yet."""
    return isinstance(call, Grant) or (isinstance(call, Adjust) and call.points > 0)


# --- the books -------------------------------------------------------------------------------

@dataclass(eq=False)
class Lot:
    id: int
    account_id: int
    source: str
    points: int
    remaining: int
    held: int
    consumed: int
    expired: int
    refunded: int
    yen_per_point: int
    expires_on: date | None
    reason: str = ""
    new: bool = False
    loaded: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        self.loaded = (self.remaining, self.held)

    @property
    def order(self) -> tuple[bool, date, int]:
        """Spending order: the earliest expiry first, then the oldest; never-expiring points last."""
        return (self.expires_on is None, self.expires_on or date.max, self.id)

    def lapsed(self, today: date) -> bool:
        return self.expires_on is not None and self.expires_on < today

    @property
    def changed(self) -> bool:
        return (self.remaining, self.held) != self.loaded


@dataclass(eq=False)
class Hold:
    id: int
    account_id: int
    ticket_id: int | None
    points: int
    captured: int
    released: int
    status: str
    # Points pinned in each lot (lot id → points).
    pinned: dict[int, int] = field(default_factory=dict)
    settled_at: datetime | None = None
    new: bool = False
    loaded: tuple[int, str] = (0, "")

    def __post_init__(self) -> None:
        self.loaded = (self.points, self.status)

    @property
    def changed(self) -> bool:
        return (self.points, self.status) != self.loaded


@dataclass(eq=False)
class Account:
    id: int
    organization_id: int
    available: int
    held: int
    lots: list[Lot] = field(default_factory=list)
    loaded: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        self.loaded = (self.available, self.held)

    @property
    def changed(self) -> bool:
        return (self.available, self.held) != self.loaded


@dataclass(frozen=True)
class Move:
    """One lot's part in an entry: the change to its remaining and held points, and their yen."""

    lot_id: int
    remaining_delta: int
    held_delta: int
    yen: int


@dataclass(eq=False, kw_only=True)
class Entry:
    """An entry: one already in the books (a replay's answer) or one booked by this batch, whose
    `id` is known once written."""

    account_id: int
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
    key: str
    fingerprint: str
    actor_id: int | None
    moves: tuple[Move, ...] = ()
    id: int | None = None


@dataclass(frozen=True)
class Answer:
    """What became of one call: its entry (or the first one its key made: `replayed`), its refusal,
    or for an expiry run the points it expired."""

    entry: Entry | None = None
    replayed: bool = False
    refusal: LedgerError | None = None
    expired: int = 0


class Books:
    """The locked accounts with their lots and holds; `apply` books one call at a time."""

    def __init__(
        self, accounts: list[Account], lots: list[Lot], holds: list[Hold], stored: list[Entry], *,
        hold_ids: Iterator[int], lot_ids: Iterator[int], now: datetime,
    ) -> None:
        self.accounts = {account.id: account for account in accounts}
        self.by_organization = {account.organization_id: account for account in accounts}
        self.lots = {lot.id: lot for lot in lots}
        for lot in lots:
            self.accounts[lot.account_id].lots.append(lot)
        self.holds = {hold.id: hold for hold in holds}
        self.by_key = {entry.key: entry for entry in stored}
        self.entries: list[Entry] = []
        self._hold_ids, self._lot_ids, self._now = hold_ids, lot_ids, now

    def apply(self, call: Call) -> Answer:
        try:
            match call:
                case Grant():
                    return self._grant(call)
                case PlaceHold():
                    return self._hold(call)
                case IncreaseHold():
                    return self._increase_hold(call)
                case Capture():
                    return self._capture(call)
                case Release():
                    return self._release(call)
                case Adjust():
                    return self._adjust(call)
                case Refund():
                    return self._refund(call)
                case ExpireDue():
                    return Answer(expired=self._expire(self.accounts[call.account_id], call.today))
        except LedgerError as refusal:
            return Answer(refusal=refusal)
        raise TypeError(f"not a ledger call: {call!r}")

    # --- the calls ---

    def _grant(self, call: Grant) -> Answer:
        account = self.by_organization[call.organization_id]
        if replay := self._replay(call):
            return replay
        _not_lapsed(call.expires_on, call.today)
        kind = "purchase" if call.yen_per_point else "grant"
        lot = self._new_lot(account, kind, call.points, call.yen_per_point, call.expires_on, call.reason)
        return Answer(self._post(account, kind, [(lot, call.points, 0)], call, lot_id=lot.id))

    def _hold(self, call: PlaceHold) -> Answer:
        account = self.by_organization.get(call.organization_id)
        if account is None:
            raise InsufficientPoints(required=call.points, available=0)
        if replay := self._replay(call):
            return replay
        self._check_available(account, call.points, call.today)
        self._expire(account, call.today)
        held = Hold(
            id=next(self._hold_ids), account_id=account.id, ticket_id=call.ticket_id, points=0, captured=0,
            released=0, status="held", new=True,
        )
        self.holds[held.id] = held
        return Answer(self._pin(account, held, call.points, call))

    def _increase_hold(self, call: IncreaseHold) -> Answer:
        held, account = self._hold_and_account(call.hold_id)
        if replay := self._replay(call):
            return replay
        if held.status != "held":
            raise HoldSettled(N_("Hold {hold} is already {status}."), hold=held.id, status=held.status)
        self._check_available(account, call.points, call.today)
        self._expire(account, call.today)
        return Answer(self._pin(account, held, call.points, call))

    def _capture(self, call: Capture) -> Answer:
        """Spend a hold's points; with `points` less than held, the rest is released."""
        held, account = self._hold_and_account(call.hold_id)
        if replay := self._replay(call):
            return replay
        amount = _part_of_hold(held, call.points, N_("Cannot capture {points} points of a hold of {held}."))
        entry = self._unpin(account, held, "capture", amount, call, call.key, call.fingerprint)
        if held.points:
            self._unpin(
                account, held, "release", held.points, call, f"~{call.key}:rest", fingerprint("release", held.id, None)
            )
        return Answer(entry)

    def _release(self, call: Release) -> Answer:
        held, account = self._hold_and_account(call.hold_id)
        if replay := self._replay(call):
            return replay
        amount = _part_of_hold(held, call.points, N_("Cannot release {points} points of a hold of {held}."))
        return Answer(self._unpin(account, held, "release", amount, call, call.key, call.fingerprint))

    def _adjust(self, call: Adjust) -> Answer:
        account = self.by_organization.get(call.organization_id)
        if account is None:
            raise InsufficientPoints(required=-call.points, available=0)
        if replay := self._replay(call):
            return replay
        if call.points > 0:
            _not_lapsed(call.expires_on, call.today)
            lot = self._new_lot(account, "adjustment", call.points, 0, call.expires_on, call.reason)
            return Answer(self._post(account, "adjustment", [(lot, call.points, 0)], call, lot_id=lot.id))
        self._check_available(account, -call.points, call.today)
        self._expire(account, call.today)
        taken = [(lot, -part, 0) for lot, part in self._take(account, -call.points)]
        return Answer(self._post(account, "adjustment", taken, call))

    def _refund(self, call: Refund) -> Answer:
        """The lot's available, unexpired points go back; points held by open requests stay pinned
        to them (captured later: consumed; released later: available in the lot again)."""
        lot = self.lots.get(call.lot_id)
        if lot is None:
            raise UnknownLot(N_("There is no lot {lot}."), lot=call.lot_id)
        account = self.accounts[lot.account_id]
        if replay := self._replay(call):
            return replay
        if lot.source != "purchase":
            raise NotRefundable(N_("Lot {lot} was not paid for, so there is nothing to refund."), lot=lot.id)
        points = lot.remaining if call.at_most is None else min(lot.remaining, call.at_most)
        if points <= 0 or lot.lapsed(call.today):
            raise NotRefundable(N_("Lot {lot} has no unspent points left to refund."), lot=lot.id)
        self._expire(account, call.today)
        return Answer(self._post(account, "refund", [(lot, -points, 0)], call, lot_id=lot.id))

    # --- the rules ---

    def _replay(self, call: Call) -> Answer | None:
        """The first answer of `call.key`, looked up under the account's lock; or a refusal when the
        key was used for another operation."""
        entry = self.by_key.get(call.key)
        if entry is None:
            return None
        if entry.fingerprint != call.fingerprint:
            raise IdempotencyKeyReused(
                N_("The idempotency key {key} was already used for another ledger operation."), key=call.key
            )
        return Answer(entry, replayed=True)

    def _hold_and_account(self, hold_id: int) -> tuple[Hold, Account]:
        held = self.holds.get(hold_id)
        if held is None:
            raise UnknownHold(N_("There is no hold {hold}."), hold=hold_id)
        return held, self.accounts[held.account_id]

    @staticmethod
    def _open_lots(account: Account) -> list[Lot]:
        return sorted((lot for lot in account.lots if lot.remaining > 0), key=lambda lot: lot.order)

    def _check_available(self, account: Account, points: int, today: date) -> None:
        """Refuse unless `points` can be spent today (points of lapsed lots cannot)."""
        spendable = account.available - sum(lot.remaining for lot in account.lots if lot.lapsed(today))
        if spendable < points:
            raise InsufficientPoints(required=points, available=spendable)

    def _take(self, account: Account, points: int) -> list[tuple[Lot, int]]:
        taken, wanted = [], points
        for lot in self._open_lots(account):
            if wanted == 0:
                break
            part = min(lot.remaining, wanted)
            taken.append((lot, part))
            wanted -= part
        return taken

    def _pin(self, account: Account, held: Hold, points: int, call: Call) -> Entry:
        taken = self._take(account, points)
        entry = self._post(
            account, "hold", [(lot, -part, part) for lot, part in taken], call, hold_id=held.id,
            ticket_id=held.ticket_id,
        )
        held.points += points
        for lot, part in taken:
            held.pinned[lot.id] = held.pinned.get(lot.id, 0) + part
        return entry

    def _unpin(
        self, account: Account, held: Hold, kind: str, points: int, call: Call, key: str, fingerprint_: str
    ) -> Entry:
        """Capture or release `points` of a hold: captures take from the lots expiring first,
        releases give back to the lots expiring last first."""
        pins = sorted(held.pinned, key=lambda lot_id: self.lots[lot_id].order, reverse=kind == "release")
        moves, wanted = [], points
        for lot_id in pins:
            part = min(held.pinned[lot_id], wanted)
            if part:
                moves.append((self.lots[lot_id], part if kind == "release" else 0, -part))
                held.pinned[lot_id] -= part
                wanted -= part
        held.pinned = {lot_id: pinned for lot_id, pinned in held.pinned.items() if pinned}
        entry = self._post(
            account, kind, moves, call, key=key, fingerprint_=fingerprint_, hold_id=held.id, ticket_id=held.ticket_id
        )
        left = held.points - points
        if kind == "capture":
            held.captured += points
        else:
            held.released += points
        held.points = left
        if not left:
            held.status = "captured" if held.captured else "released"
            held.settled_at = self._now
        if kind == "release":
            # Released points whose lot expired meanwhile expire now.
            self._expire(account, call.today, hold_id=held.id, ticket_id=held.ticket_id)
        return entry

    def _expire(
        self, account: Account, today: date, *, hold_id: int | None = None, ticket_id: int | None = None
    ) -> int:
        """Expire the available points of every lot whose last day is before `today`."""
        expired = 0
        for lot in [lot for lot in self._open_lots(account) if lot.lapsed(today)]:
            expired += lot.remaining
            # The lot's points expired so far make each expiry of it a distinct, replay-safe key.
            self._post(
                account, "expire", [(lot, -lot.remaining, 0)], None, key=f"~expire:lot:{lot.id}:{lot.expired}",
                fingerprint_=fingerprint("expire", lot.id), lot_id=lot.id, hold_id=hold_id, ticket_id=ticket_id,
                reason="expired",
            )
        return expired

    def _new_lot(
        self, account: Account, source: str, points: int, yen_per_point: int, expires_on: date | None, reason: str
    ) -> Lot:
        lot = Lot(
            id=next(self._lot_ids), account_id=account.id, source=source, points=points, remaining=0, held=0,
            consumed=0, expired=0, refunded=0, yen_per_point=yen_per_point, expires_on=expires_on, reason=reason,
            new=True,
        )
        self.lots[lot.id] = lot
        account.lots.append(lot)
        return lot

    def _post(
        self, account: Account, kind: str, moves: list[tuple[Lot, int, int]], call: Call | None, *,
        key: str | None = None, fingerprint_: str | None = None, lot_id: int | None = None,
        hold_id: int | None = None, ticket_id: int | None = None, reason: str | None = None,
    ) -> Entry:
        """Book one entry: its moves change the lots (and where the points went), and the account."""
        outflow_column = _OUTFLOW.get(kind)
        booked = []
        for lot, remaining_delta, held_delta in moves:
            if lot.remaining + remaining_delta < 0 or lot.held + held_delta < 0:
                raise RuntimeError(f"lot {lot.id} would go below zero")
            lot.remaining += remaining_delta
            lot.held += held_delta
            outflow = -(remaining_delta + held_delta)
            if outflow > 0 and outflow_column:
                setattr(lot, outflow_column, getattr(lot, outflow_column) + outflow)
                yen = outflow * lot.yen_per_point
            else:
                yen = remaining_delta * lot.yen_per_point if kind in ("grant", "purchase") else 0
            booked.append(Move(lot.id, remaining_delta, held_delta, yen))
        available_delta = sum(move.remaining_delta for move in booked)
        held_delta = sum(move.held_delta for move in booked)
        if account.available + available_delta < 0 or account.held + held_delta < 0:
            raise RuntimeError(f"account {account.id} would go below zero")
        account.available += available_delta
        account.held += held_delta
        entry = Entry(
            account_id=account.id, kind=kind, points=max(abs(available_delta), abs(held_delta)),
            available_delta=available_delta, held_delta=held_delta, available_after=account.available,
            held_after=account.held, yen=sum(move.yen for move in booked), lot_id=lot_id, hold_id=hold_id,
            ticket_id=ticket_id, reason=call.reason if reason is None else reason,
            key=call.key if key is None else key,
            fingerprint=call.fingerprint if fingerprint_ is None else fingerprint_,
            actor_id=call.actor_id if call else None, moves=tuple(booked),
        )
        self.entries.append(entry)
        self.by_key[entry.key] = entry
        return entry

    # --- what the batch writes ---

    def changed_accounts(self) -> list[Account]:
        return [account for account in self.accounts.values() if account.changed]

    def new_lots(self) -> list[Lot]:
        return [lot for lot in self.lots.values() if lot.new]

    def changed_lots(self) -> list[Lot]:
        return [lot for lot in self.lots.values() if not lot.new and lot.changed]

    def new_holds(self) -> list[Hold]:
        return [held for held in self.holds.values() if held.new]

    def changed_holds(self) -> list[Hold]:
        return [held for held in self.holds.values() if not held.new and held.changed]


def _not_lapsed(expires_on: date | None, today: date) -> None:
    if expires_on is not None and expires_on < today:
        raise InvalidAmount(
            N_("The expiry date {expires_on} has already passed."),
            field="expires_on", expires_on=expires_on.isoformat(),
        )


def _part_of_hold(held: Hold, points: int | None, too_many: str) -> int:
    """How many of an open hold's points a capture or release takes: all by default, never more."""
    if held.status != "held":
        raise HoldSettled(N_("Hold {hold} is already {status}."), hold=held.id, status=held.status)
    amount = held.points if points is None else points
    if amount > held.points:
        raise InvalidAmount(too_many, field="points", points=amount, held=held.points)
    return amount
