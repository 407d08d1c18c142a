"""Ledger calls applied in batches: the calls waiting at a given moment share one transaction.

Like TigerBeetle, the ledger does not make every caller lock the account, read, write and commit
on its own. A call made outside any transaction waits in its process's queue, and a batch takes
every call waiting (up to MAX_CALLS) and, in one transaction:

1. opens an account for each organisation credited with points that has none yet;
2. locks every account its calls touch, in id order (so two batches never deadlock), in a
   statement of its own: on PostgreSQL a statement that had to wait for a lock still reads the
   other rows as they were before the wait;
3. reads what the calls need, after the lock (one statement on PostgreSQL): the accounts' lots
   that have points, the holds the calls name with the points they pin per lot, the entries the
   calls' idempotency keys already made, and ids for the holds and lots it may create;
4. applies the calls in memory one after the other, each accepted or refused on its own
   (billing/books.py);
5. writes every entry, allocation, new lot and hold, and every lot, hold and account change with
   multi-row statements (one statement on PostgreSQL), each change guarded by the figures it was
   computed from;
6. commits once, then answers every caller.

Lock time and the commit's flush to disk are then per batch, not per call. If the batch fails (a
database error, a guard that did not hold), its calls are applied again one by one, each in its
own transaction, so that every caller gets its own true answer; a call whose entry did commit
finds it again by its key and gets it back as a replay.

A call made inside an outer transaction (the app files a request and holds its points in the
request's own transaction) cannot wait for a batch: it is applied alone, in that transaction, in
the same way.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from billing import clock
from billing.books import (
    Account,
    Adjust,
    Answer,
    Books,
    Call,
    Capture,
    Entry,
    ExpireDue,
    Grant,
    Hold,
    IncreaseHold,
    Lot,
    PlaceHold,
    Refund,
    Release,
    creates_account,
)
from billing.transactions import as_date, for_update, in_transaction, is_postgres, one_of, rows, write_transaction

log = logging.getLogger(__name__)

MAX_CALLS = 256


async def run(call: Call) -> Answer:
    """Apply one call: in the caller's transaction if there is one, else in the next batch. A call
    made under `clock.at(...)` (history made up after the fact) is applied alone in the caller's
    task, so that it is stamped with the caller's moment, not the batch's."""
    if in_transaction() or clock.is_moved():
        async with write_transaction():
            return (await _apply([call]))[0]
    return await _queue().submit(call)


# --- the queue -------------------------------------------------------------------------------

class _Queue:
    """The calls of one event loop waiting for a batch, and the one batch in flight.

    One batch at a time: while it is in the database the next calls gather, and they all go in the
    next batch. (Two batches in flight, sharing the waiting calls, measured slower on one hot
    account, where they queue for its lock, and no faster spread over many: docs/benchmarks.md.)
    """

    def __init__(self) -> None:
        self.waiting: list[tuple[Call, asyncio.Future[Answer]]] = []
        self.task: asyncio.Task[None] | None = None

    async def submit(self, call: Call) -> Answer:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        self.waiting.append((call, future))
        if self.task is None:
            # A context of its own: the batches never run inside a caller's transaction.
            self.task = loop.create_task(self._batches(), context=contextvars.Context())
        return await future

    async def _batches(self) -> None:
        try:
            while self.waiting:
                batch = [(call, future) for call, future in self.waiting[:MAX_CALLS] if not future.done()]
                del self.waiting[:MAX_CALLS]
                if batch:
                    await _answer(batch)
                # Let the callers just answered queue their next calls before the next batch.
                await asyncio.sleep(0)
        finally:
            self.task = None


_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = weakref.WeakKeyDictionary()


def _queue() -> _Queue:
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = _Queue()
    return queue


async def _answer(batch: list[tuple[Call, asyncio.Future[Answer]]]) -> None:
    try:
        try:
            answers = await _in_own_transaction([call for call, _ in batch])
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], error=error)
                return
            log.warning("a ledger batch of %d calls failed (%r); applying them one by one", len(batch), error)
            for call, future in batch:
                try:
                    [answer] = await _in_own_transaction([call])
                except Exception as alone:
                    _settle(future, error=alone)
                else:
                    _settle(future, answer)
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            _settle(future, answer)
    finally:
        # Callers still waiting here: the batch itself was cancelled (the loop is shutting down).
        for _, future in batch:
            future.cancel()


def _settle(future: asyncio.Future[Answer], answer: Answer | None = None, *, error: Exception | None = None) -> None:
    if future.done():  # the caller gave up waiting
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(answer)


async def _in_own_transaction(calls: list[Call]) -> list[Answer]:
    async with write_transaction():
        return await _apply(calls)


# --- one batch -------------------------------------------------------------------------------

async def _apply(calls: list[Call]) -> list[Answer]:
    """Inside a write transaction: lock, read, book every call, write. Returns each call's answer."""
    now = clock.now()
    credited = sorted({call.organization_id for call in calls if creates_account(call)})
    if credited:
        await rows(
            "INSERT INTO points_accounts (organization, available, held, created_at, updated_at) "
            f"SELECT value, 0, 0, {{}}, {{}} FROM {_each('int')} WHERE true ON CONFLICT (organization) DO NOTHING",
            now, now, credited,
        )
    accounts = await _lock(calls)
    load = _load_postgres if is_postgres() else _load_sqlite
    books = await load(accounts, calls, now)
    answers = [books.apply(call) for call in calls]
    if books.entries:
        await (_write_postgres if is_postgres() else _write_sqlite)(books, now)
    return answers


def _each(sql_type: str) -> str:
    """A list passed as one argument, as rows of a column `value`."""
    return f"unnest({{}}::{sql_type}[]) AS l(value)" if is_postgres() else "json_each({})"


async def _lock(calls: list[Call]) -> list[Account]:
    organizations = {c.organization_id for c in calls if isinstance(c, (Grant, PlaceHold, Adjust))}
    holds = {c.hold_id for c in calls if isinstance(c, (IncreaseHold, Capture, Release))}
    lots = {c.lot_id for c in calls if isinstance(c, Refund)}
    accounts = {c.account_id for c in calls if isinstance(c, ExpireDue)}
    locked = await rows(
        "SELECT id, organization, available, held FROM points_accounts WHERE id IN ("
        f"SELECT id FROM points_accounts WHERE organization {one_of('int')} "
        f"UNION SELECT account FROM point_holds WHERE id {one_of('int')} "
        f"UNION SELECT account FROM point_lots WHERE id {one_of('int')} "
        f"UNION SELECT value FROM {_each('int')}) ORDER BY id" + for_update(),
        sorted(organizations), sorted(holds), sorted(lots), sorted(accounts),
    )
    return [Account(r["id"], r["organization"], r["available"], r["held"]) for r in locked]


# What a batch reads of lots, holds and entries, in this column order.
_LOT = "id, account, source, points, remaining, held, consumed, expired, refunded, yen_per_point, expires_on"
_HOLD = "id, account, ticket_id, points, captured, released, status"
_ENTRY = (
    "id, account, kind, points, available_delta, held_delta, available_after, held_after, yen, lot, hold, "
    "ticket_id, reason, idempotency_key, fingerprint, actor"
)


def _where_lots() -> str:
    return f"account {one_of('int')} AND (remaining > 0 OR held > 0 OR id {one_of('int')})"


def _where_pins() -> str:
    return f"hold {one_of('int')} GROUP BY hold, lot HAVING SUM(held_delta) > 0"


def _read_postgres() -> str:
    return (
        f"SELECT ARRAY(SELECT ROW({_LOT}) FROM point_lots WHERE {_where_lots()}) AS lots, "
        f"ARRAY(SELECT ROW({_HOLD}) FROM point_holds WHERE id {one_of('int')}) AS holds, "
        f"ARRAY(SELECT ROW(hold, lot, SUM(held_delta)::int) FROM point_allocations WHERE {_where_pins()}) AS pins, "
        f"ARRAY(SELECT ROW({_ENTRY}) FROM ledger_entries WHERE idempotency_key {one_of('text')}) AS stored, "
        "ARRAY(SELECT nextval('point_holds_id_seq')::int FROM generate_series(1, {})) AS hold_ids, "
        "ARRAY(SELECT nextval('point_lots_id_seq')::int FROM generate_series(1, {})) AS lot_ids"
    )


def _wanted(accounts: list[Account], calls: list[Call]) -> tuple[list[int], list[int], list[int], list[str]]:
    return (
        [account.id for account in accounts],
        sorted({c.lot_id for c in calls if isinstance(c, Refund)}),
        sorted({c.hold_id for c in calls if isinstance(c, (IncreaseHold, Capture, Release))}),
        sorted({c.key for c in calls if c.key}),
    )


def _new_ids(calls: list[Call]) -> tuple[int, int]:
    """How many holds and lots the calls may create."""
    return (
        sum(isinstance(c, PlaceHold) for c in calls),
        sum(isinstance(c, (Grant, Adjust)) and creates_account(c) for c in calls),
    )


async def _load_postgres(accounts: list[Account], calls: list[Call], now: datetime) -> Books:
    account_ids, refunded, holds, keys = _wanted(accounts, calls)
    new_holds, new_lots = _new_ids(calls)
    [row] = await rows(_read_postgres(), account_ids, refunded, holds, holds, keys, new_holds, new_lots)
    return _books(accounts, row["lots"], row["holds"], row["pins"], row["stored"], row["hold_ids"], row["lot_ids"], now)


async def _load_sqlite(accounts: list[Account], calls: list[Call], now: datetime) -> Books:
    account_ids, refunded, holds, keys = _wanted(accounts, calls)
    new_holds, new_lots = _new_ids(calls)
    lots = await rows(f"SELECT {_LOT} FROM point_lots WHERE {_where_lots()}", account_ids, refunded)
    held = await rows(f"SELECT {_HOLD} FROM point_holds WHERE id {one_of('int')}", holds)
    pins = await rows(f"SELECT hold, lot, SUM(held_delta) FROM point_allocations WHERE {_where_pins()}", holds)
    stored = await rows(f"SELECT {_ENTRY} FROM ledger_entries WHERE idempotency_key {one_of('text')}", keys)
    # SQLite gives a new row the largest id + 1, and this transaction holds the only write lock.
    [top] = await rows(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM point_holds) AS holds, "
        "(SELECT COALESCE(MAX(id), 0) FROM point_lots) AS lots"
    )
    return _books(
        accounts, [tuple(r.values()) for r in lots], [tuple(r.values()) for r in held],
        [tuple(r.values()) for r in pins], [tuple(r.values()) for r in stored],
        range(top["holds"] + 1, top["holds"] + 1 + new_holds), range(top["lots"] + 1, top["lots"] + 1 + new_lots), now,
    )


def _books(
    accounts: list[Account], lots: Sequence[Sequence[Any]], holds: Sequence[Sequence[Any]],
    pins: Sequence[Sequence[Any]], stored: Sequence[Sequence[Any]], hold_ids: Sequence[int],
    lot_ids: Sequence[int], now: datetime,
) -> Books:
    loaded_holds = {
        r[0]: Hold(id=r[0], account_id=r[1], ticket_id=r[2], points=r[3], captured=r[4], released=r[5], status=r[6])
        for r in holds
    }
    for hold_id, lot_id, pinned in pins:
        loaded_holds[hold_id].pinned[lot_id] = pinned
    return Books(
        accounts,
        [
            Lot(id=r[0], account_id=r[1], source=r[2], points=r[3], remaining=r[4], held=r[5], consumed=r[6],
                expired=r[7], refunded=r[8], yen_per_point=r[9], expires_on=as_date(r[10]))
            for r in lots
        ],
        list(loaded_holds.values()),
        [
            Entry(id=r[0], account_id=r[1], kind=r[2], points=r[3], available_delta=r[4], held_delta=r[5],
                  available_after=r[6], held_after=r[7], yen=r[8], lot_id=r[9], hold_id=r[10], ticket_id=r[11],
                  reason=r[12], key=r[13], fingerprint=r[14], actor_id=r[15])
            for r in stored
        ],
        hold_ids=iter(hold_ids), lot_ids=iter(lot_ids), now=now,
    )


# --- writing a batch -------------------------------------------------------------------------
#
# The rows to write, as tuples in the column order of the statements below.

def _account_rows(books: Books) -> list[tuple]:
    return [(a.id, a.available, a.held, *a.loaded) for a in books.changed_accounts()]


def _new_lot_rows(books: Books) -> list[tuple]:
    return [
        (lot.id, lot.account_id, lot.source, lot.points, lot.remaining, lot.held, lot.consumed, lot.expired,
         lot.refunded, lot.yen_per_point, lot.expires_on, lot.reason)
        for lot in books.new_lots()
    ]


def _lot_rows(books: Books) -> list[tuple]:
    return [
        (lot.id, lot.remaining, lot.held, lot.consumed, lot.expired, lot.refunded, *lot.loaded)
        for lot in books.changed_lots()
    ]


def _new_hold_rows(books: Books) -> list[tuple]:
    return [
        (h.id, h.account_id, h.ticket_id, h.points, h.captured, h.released, h.status, h.settled_at)
        for h in books.new_holds()
    ]


def _hold_rows(books: Books) -> list[tuple]:
    return [(h.id, h.points, h.captured, h.released, h.status, h.settled_at, *h.loaded) for h in books.changed_holds()]


def _entry_rows(books: Books) -> list[tuple]:
    return [
        (e.account_id, e.kind, e.points, e.available_delta, e.held_delta, e.available_after, e.held_after, e.yen,
         e.lot_id, e.hold_id, e.ticket_id, e.reason, e.key, e.fingerprint, e.actor_id)
        for e in books.entries
    ]


def _allocation_rows(books: Books) -> list[tuple]:
    return [
        (e.key, m.lot_id, e.hold_id, m.remaining_delta, m.held_delta, m.yen) for e in books.entries for m in e.moves
    ]


def _columns(table: list[tuple], width: int) -> list[list[Any]]:
    """Rows as columns: one array argument per column."""
    return [list(column) for column in zip(*table, strict=True)] if table else [[] for _ in range(width)]


# On PostgreSQL a batch is written by one statement of data-modifying CTEs over arrays (one
# prepared statement whatever the batch's size). The entries are inserted in the order they were
# booked, so their ids follow that order and each one's running balance follows the previous one
# (the BEFORE INSERT trigger sees the rows inserted before it by the same statement). Foreign keys
# are checked at the end of the statement, when the new holds and lots exist.
_WRITE_POSTGRES = """
WITH accounts AS (
    UPDATE points_accounts a SET available = u.available, held = u.held, updated_at = $1
    FROM unnest($2::int[], $3::int[], $4::int[], $5::int[], $6::int[])
        AS u(id, available, held, was_available, was_held)
    WHERE a.id = u.id AND a.available = u.was_available AND a.held = u.was_held
    RETURNING a.id
), new_lots AS (
    INSERT INTO point_lots (id, account, source, points, remaining, held, consumed, expired, refunded,
        yen_per_point, expires_on, reason, created_at)
    SELECT id, account, source, points, remaining, held, consumed, expired, refunded, yen_per_point, expires_on,
        reason, $1
    FROM unnest($7::int[], $8::int[], $9::text[], $10::int[], $11::int[], $12::int[], $13::int[], $14::int[],
        $15::int[], $16::int[], $17::date[], $18::text[])
        AS n(id, account, source, points, remaining, held, consumed, expired, refunded, yen_per_point, expires_on,
            reason)
    RETURNING id
), lots AS (
    UPDATE point_lots l SET remaining = u.remaining, held = u.held, consumed = u.consumed, expired = u.expired,
        refunded = u.refunded
    FROM unnest($19::int[], $20::int[], $21::int[], $22::int[], $23::int[], $24::int[], $25::int[], $26::int[])
        AS u(id, remaining, held, consumed, expired, refunded, was_remaining, was_held)
    WHERE l.id = u.id AND l.remaining = u.was_remaining AND l.held = u.was_held
    RETURNING l.id
), new_holds AS (
    INSERT INTO point_holds (id, account, ticket_id, points, captured, released, status, settled_at, created_at)
    SELECT id, account, ticket_id, points, captured, released, status, settled_at, $1
    FROM unnest($27::int[], $28::int[], $29::int[], $30::int[], $31::int[], $32::int[], $33::text[],
        $34::timestamptz[])
        AS n(id, account, ticket_id, points, captured, released, status, settled_at)
    RETURNING id
), holds AS (
    UPDATE point_holds h SET points = u.points, captured = u.captured, released = u.released, status = u.status,
        settled_at = u.settled_at
    FROM unnest($35::int[], $36::int[], $37::int[], $38::int[], $39::text[], $40::timestamptz[], $41::int[],
        $42::text[])
        AS u(id, points, captured, released, status, settled_at, was_points, was_status)
    WHERE h.id = u.id AND h.points = u.was_points AND h.status = u.was_status
    RETURNING h.id
), entries AS (
    INSERT INTO ledger_entries (account, kind, points, available_delta, held_delta, available_after, held_after,
        yen, lot, hold, ticket_id, reason, idempotency_key, fingerprint, actor, created_at)
    SELECT account, kind, points, available_delta, held_delta, available_after, held_after, yen, lot, hold,
        ticket_id, reason, key, fingerprint, actor, $1
    FROM unnest($43::int[], $44::text[], $45::int[], $46::int[], $47::int[], $48::int[], $49::int[], $50::int[],
        $51::int[], $52::int[], $53::int[], $54::text[], $55::text[], $56::text[], $57::int[]) WITH ORDINALITY
        AS e(account, kind, points, available_delta, held_delta, available_after, held_after, yen, lot, hold,
            ticket_id, reason, key, fingerprint, actor, n)
    ORDER BY n
    RETURNING id, idempotency_key
), allocations AS (
    INSERT INTO point_allocations (entry, lot, hold, remaining_delta, held_delta, yen)
    SELECT entries.id, a.lot, a.hold, a.remaining_delta, a.held_delta, a.yen
    FROM unnest($58::text[], $59::int[], $60::int[], $61::int[], $62::int[], $63::int[])
        AS a(key, lot, hold, remaining_delta, held_delta, yen)
    JOIN entries ON entries.idempotency_key = a.key
    RETURNING 1
)
SELECT (SELECT COUNT(*) FROM accounts) AS accounts, (SELECT COUNT(*) FROM lots) AS lots,
    (SELECT COUNT(*) FROM holds) AS holds, (SELECT COUNT(*) FROM allocations) AS allocations,
    ARRAY(SELECT id FROM entries ORDER BY id) AS ids, ARRAY(SELECT idempotency_key FROM entries ORDER BY id) AS keys
"""


async def _write_postgres(books: Books, now: datetime) -> None:
    accounts, lots, holds = _account_rows(books), _lot_rows(books), _hold_rows(books)
    allocations = _allocation_rows(books)
    [written] = await rows(
        _WRITE_POSTGRES,
        now, *_columns(accounts, 5), *_columns(_new_lot_rows(books), 12), *_columns(lots, 8),
        *_columns(_new_hold_rows(books), 8), *_columns(holds, 8), *_columns(_entry_rows(books), 15),
        *_columns(allocations, 6),
    )
    _check_written(
        books, (written["accounts"], written["lots"], written["holds"], written["allocations"]),
        (len(accounts), len(lots), len(holds), len(allocations)), written["keys"],
    )
    for entry, entry_id in zip(books.entries, written["ids"], strict=True):
        entry.id = entry_id


def _check_written(books: Books, written: tuple[int, ...], expected: tuple[int, ...], keys: list[str]) -> None:
    """A guard that did not hold (something changed a row this batch had locked and read) or
    entries out of their booking order: refuse the whole batch."""
    if written != expected or keys != [entry.key for entry in books.entries]:
        raise RuntimeError(
            f"ledger batch not written as booked: rows {written} instead of {expected}, or entries out of order"
        )


# SQLite: the same rows, a multi-row statement per table (in-process, so statements are cheap).
_CHUNK = 400


async def _write_sqlite(books: Books, now: datetime) -> None:
    """The batch's rows, the accounts last: SQLite checks an account's new balance against its
    entries as it is written (the trigger points_accounts_match_entries), so they come first."""
    accounts, lots, holds = _account_rows(books), _lot_rows(books), _hold_rows(books)
    lots_written = await _update_sqlite(
        "point_lots",
        "remaining = v.column2, held = v.column3, consumed = v.column4, expired = v.column5, refunded = v.column6",
        "point_lots.remaining = v.column7 AND point_lots.held = v.column8", lots,
    )
    holds_written = await _update_sqlite(
        "point_holds",
        "points = v.column2, captured = v.column3, released = v.column4, status = v.column5, settled_at = v.column6",
        "point_holds.points = v.column7 AND point_holds.status = v.column8", holds,
    )
    await _insert_sqlite(
        "point_lots", "id, account, source, points, remaining, held, consumed, expired, refunded, yen_per_point, "
        "expires_on, reason, created_at", [(*row, now) for row in _new_lot_rows(books)],
    )
    await _insert_sqlite(
        "point_holds", "id, account, ticket_id, points, captured, released, status, settled_at, created_at",
        [(*row, now) for row in _new_hold_rows(books)],
    )
    [top] = await rows("SELECT COALESCE(MAX(id), 0) AS id FROM ledger_entries")
    for n, entry in enumerate(books.entries, start=top["id"] + 1):
        entry.id = n
    await _insert_sqlite(
        "ledger_entries",
        "id, account, kind, points, available_delta, held_delta, available_after, held_after, yen, lot, hold, "
        "ticket_id, reason, idempotency_key, fingerprint, actor, created_at",
        [(entry.id, *row, now) for entry, row in zip(books.entries, _entry_rows(books), strict=True)],
    )
    ids = {entry.key: entry.id for entry in books.entries}
    allocations = [(ids[key], *rest) for key, *rest in _allocation_rows(books)]
    await _insert_sqlite("point_allocations", "entry, lot, hold, remaining_delta, held_delta, yen", allocations)
    accounts_written = await _update_sqlite(
        "points_accounts", "available = v.column2, held = v.column3, updated_at = {}",
        "points_accounts.available = v.column4 AND points_accounts.held = v.column5", accounts, now,
    )
    _check_written(books, (accounts_written, lots_written, holds_written), (len(accounts), len(lots), len(holds)),
                   [entry.key for entry in books.entries])


async def _update_sqlite(table: str, assignments: str, guard: str, changes: list[tuple], *extra: Any) -> int:
    """UPDATE many rows from a VALUES list (column1 is the id); returns how many the guard let through."""
    changed = 0
    for start in range(0, len(changes), _CHUNK):
        chunk = changes[start:start + _CHUNK]
        values = ", ".join("(" + ", ".join(["{}"] * len(chunk[0])) + ")" for _ in chunk)
        updated = await rows(
            f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v "
            f"WHERE {table}.id = v.column1 AND {guard} RETURNING {table}.id",
            *extra, *[value for row in chunk for value in row],
        )
        changed += len(updated)
    return changed


async def _insert_sqlite(table: str, columns: str, new_rows: list[tuple]) -> None:
    for start in range(0, len(new_rows), _CHUNK):
        chunk = new_rows[start:start + _CHUNK]
        values = ", ".join("(" + ", ".join(["{}"] * len(chunk[0])) + ")" for _ in chunk)
        await rows(f"INSERT INTO {table} ({columns}) VALUES {values}", *[value for row in chunk for value in row])
