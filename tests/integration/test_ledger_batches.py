"""Calls made at the same moment share a transaction (billing/batch.py); each still gets the answer
it would get alone, and one caller's refusal or database error never becomes another's
(business rules #4 and #8).

The calls below are started together, so they meet in the same batches; what each caller gets
back is checked against the books afterwards.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from app import db
from billing import clock, ledger
from billing.errors import HoldSettled, IdempotencyKeyReused, InsufficientPoints, LedgerError, UnknownHold
from billing.tables import LedgerEntry, PointHold
from billing.verify import verify
from tests.factories import make_organization

TODAY = date(2026, 4, 1)


async def assert_books_balance():
    report = await verify()
    assert report.clean, [str(d) for d in report.differences]


async def outcome(call):
    try:
        return await call
    except LedgerError as refusal:
        return refusal


async def test_concurrent_holds_captures_replays_and_refusals_on_one_account():
    org = await make_organization()
    await ledger.grant(org.id, 10, "bundle", date(2026, 12, 31), key="grant", today=TODAY)
    first, second, third = [
        await ledger.hold(org.id, 2, ticket_id=n, key=f"pre-{n}", today=TODAY) for n in (1, 2, 3)
    ]
    # 4 points available, 6 held.

    calls = {
        **{f"hold-{n}": ledger.hold(org.id, 1, ticket_id=100 + n, key=f"hold-{n}", today=TODAY) for n in range(8)},
        "capture-first": ledger.capture(first, "cap-first", today=TODAY),
        "capture-first-again": ledger.capture(first, "cap-first", today=TODAY),
        "capture-second": ledger.capture(second, "cap-second", today=TODAY),
        "capture-second-other-key": ledger.capture(second, "cap-second-2", today=TODAY),
        "replay-of-a-hold": ledger.hold(org.id, 2, ticket_id=1, key="pre-1", today=TODAY),
        "key-of-a-hold-reused": ledger.hold(org.id, 1, ticket_id=99, key="pre-1", today=TODAY),
        "unknown-hold": ledger.release(999_999, "rel-unknown", today=TODAY),
    }
    answers = dict(zip(calls, await asyncio.gather(*(outcome(c) for c in calls.values())), strict=True))

    held = [answers[f"hold-{n}"] for n in range(8) if isinstance(answers[f"hold-{n}"], int)]
    refused = [answers[f"hold-{n}"] for n in range(8) if isinstance(answers[f"hold-{n}"], InsufficientPoints)]
    assert len(held) == len(set(held)) == 4 and len(refused) == 4
    assert all((r.required, r.available) == (1, 0) for r in refused)
    for n in range(8):
        holds = await ledger.holds_of_ticket(100 + n)
        assert [h["id"] for h in holds] == ([answers[f"hold-{n}"]] if answers[f"hold-{n}"] in held else [])

    once, again = answers["capture-first"], answers["capture-first-again"]
    assert once.entry_id == again.entry_id and (once.points, once.kind) == (2, "capture")
    assert sorted([once.replayed, again.replayed]) == [False, True]

    kinds = Counter(type(answers[name]).__name__ for name in ("capture-second", "capture-second-other-key"))
    assert kinds == {"Posted": 1, "HoldSettled": 1}

    assert answers["replay-of-a-hold"] == first
    assert isinstance(answers["key-of-a-hold-reused"], IdempotencyKeyReused)
    assert isinstance(answers["unknown-hold"], UnknownHold)

    balance = await ledger.balance(org.id, today=TODAY)
    assert (balance.available, balance.held) == (0, 4 + 2)
    assert await PointHold.count().where(PointHold.status == "captured") == 2
    await assert_books_balance()


async def test_concurrent_calls_across_accounts_each_get_their_own_answer():
    orgs = [await make_organization() for _ in range(12)]
    open_holds = {}
    for org in orgs:
        await ledger.purchase(org.id, 5, 1_000, date(2026, 12, 31), "bundle", key=f"buy-{org.id}", today=TODAY)
        open_holds[org.id] = await ledger.hold(org.id, 2, ticket_id=org.id, key=f"pre-{org.id}", today=TODAY)

    calls = []
    for n, org in enumerate(orgs):
        calls.append(("hold", org.id, ledger.hold(org.id, 3, ticket_id=1000 + org.id, key=f"big-{org.id}",
                                                  today=TODAY)))
        calls.append(("hold", org.id, ledger.hold(org.id, 3, ticket_id=2000 + org.id, key=f"rival-{org.id}",
                                                  today=TODAY)))
        settle = ledger.capture if n % 2 else ledger.release
        calls.append((settle.__name__, org.id, settle(open_holds[org.id], f"settle-{org.id}", today=TODAY)))
    answers = await asyncio.gather(*(outcome(call) for _, _, call in calls))

    for org in orgs:
        mine = [(what, answer) for (what, org_id, _), answer in zip(calls, answers, strict=True) if org_id == org.id]
        holds = [answer for what, answer in mine if what == "hold" and isinstance(answer, int)]
        refusals = [answer for what, answer in mine if what == "hold" and isinstance(answer, LedgerError)]
        [(settled_by, settled)] = [(what, answer) for what, answer in mine if what != "hold"]
        assert settled.kind == settled_by and settled.points == 2
        if settled_by == "capture":
            assert len(holds) == 1  # 3 points free for two holds of 3
        else:
            assert len(holds) in (1, 2)  # a release before the second hold gives it 2 more
        assert all(isinstance(r, InsufficientPoints) and r.required == 3 and r.available < 3 for r in refusals)
        assert len(holds) + len(refusals) == 2
        balance = await ledger.balance(org.id, today=TODAY)
        captured = 2 if settled_by == "capture" else 0
        assert (balance.available, balance.held) == (5 - captured - 3 * len(holds), 3 * len(holds))
        for hold_id in holds:
            [row] = await PointHold.select().where(PointHold.id == hold_id)
            assert (row["points"], row["status"]) == (3, "held")
    await assert_books_balance()


async def test_one_callers_refusal_does_not_fail_the_others():
    rich, poor = await make_organization(), await make_organization()
    await ledger.grant(rich.id, 50, "bundle", None, key="rich", today=TODAY)
    captured = await ledger.hold(rich.id, 1, ticket_id=1, key="done", today=TODAY)
    await ledger.capture(captured, "done-capture", today=TODAY)

    answers = await asyncio.gather(
        *(outcome(ledger.hold(rich.id, 1, ticket_id=10 + n, key=f"ok-{n}", today=TODAY)) for n in range(5)),
        outcome(ledger.hold(poor.id, 1, ticket_id=20, key="poor", today=TODAY)),
        outcome(ledger.release(captured, "too-late", today=TODAY)),
        outcome(ledger.adjust(rich.id, 1, "reusing a key", "done", today=TODAY)),
        *(outcome(ledger.hold(rich.id, 1, ticket_id=30 + n, key=f"ok-too-{n}", today=TODAY)) for n in range(5)),
    )

    assert all(isinstance(answer, int) for answer in answers[:5] + answers[8:])
    assert isinstance(answers[5], InsufficientPoints)
    assert isinstance(answers[6], HoldSettled)
    assert isinstance(answers[7], IdempotencyKeyReused)
    balance = await ledger.balance(rich.id, today=TODAY)
    assert (balance.available, balance.held) == (39, 10)
    await assert_books_balance()


async def test_a_database_error_in_a_batch_is_that_callers_alone():
    org = await make_organization()
    await ledger.grant(org.id, 20, "bundle", None, key="grant", today=TODAY)

    async def broken():
        # A request id the database refuses (NOT NULL): the batch fails and its calls are applied
        # again one by one.
        try:
            await ledger.hold(org.id, 1, ticket_id=None, key="broken", today=TODAY)
        except Exception as error:
            return error

    answers = await asyncio.gather(
        *(outcome(ledger.hold(org.id, 1, ticket_id=n, key=f"fine-{n}", today=TODAY)) for n in range(6)),
        broken(),
        *(outcome(ledger.hold(org.id, 1, ticket_id=10 + n, key=f"fine-too-{n}", today=TODAY)) for n in range(6)),
    )

    assert all(isinstance(answer, int) for answer in answers[:6] + answers[7:])
    assert isinstance(answers[6], Exception) and not isinstance(answers[6], LedgerError)
    assert not await LedgerEntry.exists().where(LedgerEntry.idempotency_key == "broken")
    balance = await ledger.balance(org.id, today=TODAY)
    assert (balance.available, balance.held) == (8, 12)
    await assert_books_balance()


async def test_lapsed_points_expire_once_when_many_calls_meet_them():
    org = await make_organization()
    await ledger.grant(org.id, 4, "old", date(2026, 3, 31), key="old", today=date(2026, 3, 1))
    pinned = await ledger.hold(org.id, 3, ticket_id=1, key="pinned", today=date(2026, 3, 1))
    await ledger.grant(org.id, 6, "new", date(2026, 12, 31), key="new", today=TODAY)

    answers = await asyncio.gather(
        *(outcome(ledger.hold(org.id, 1, ticket_id=10 + n, key=f"h-{n}", today=TODAY)) for n in range(8)),
        outcome(ledger.release(pinned, "cancelled", today=TODAY)),
        ledger.expire_due(TODAY),
    )

    assert sum(isinstance(answer, int) for answer in answers[:8]) == 6
    # The old lot's free point and its 3 released points expired, each point once.
    expiries = [e for e in (await ledger.entries(org.id)).items if e.kind == "expire"]
    assert sum(e.points for e in expiries) == 4
    balance = await ledger.balance(org.id, today=TODAY)
    assert (balance.available, balance.held) == (0, 6)
    await assert_books_balance()


async def test_a_call_inside_an_outer_transaction_joins_it():
    org = await make_organization()
    await ledger.grant(org.id, 10, "bundle", None, key="grant", today=TODAY)

    with pytest.raises(RuntimeError):
        async with db.write_transaction():
            await ledger.hold(org.id, 4, ticket_id=1, key="undone", today=TODAY)
            raise RuntimeError("the request could not be filed")
    assert await ledger.holds_of_ticket(1) == []

    async with db.write_transaction():
        hold_id = await ledger.hold(org.id, 4, ticket_id=2, key="kept", today=TODAY)
        with pytest.raises(InsufficientPoints):
            await ledger.hold(org.id, 7, ticket_id=3, key="too-much", today=TODAY)
        await ledger.capture(hold_id, "kept-capture", today=TODAY)
    balance = await ledger.balance(org.id, today=TODAY)
    assert (balance.available, balance.held) == (6, 0)
    await assert_books_balance()


async def test_a_call_made_at_a_moment_in_the_past_is_stamped_with_it_outside_a_transaction_too():
    org = await make_organization()
    moment = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    with clock.at(moment):
        await ledger.grant(org.id, 5, "demo history", None, key="past-grant", today=moment.date())
    await ledger.grant(org.id, 1, "today", None, key="present-grant", today=TODAY)
    stamps = {row["idempotency_key"]: row["created_at"] for row in await LedgerEntry.select(
        LedgerEntry.idempotency_key, LedgerEntry.created_at)}
    assert stamps["past-grant"] == moment
    assert stamps["present-grant"] > moment


if os.environ["DATABASE_URL"].startswith("postgres"):

    async def test_the_running_balance_trigger_checks_each_row_of_a_multi_row_insert_on_postgresql():
        org = await make_organization()
        await ledger.grant(org.id, 10, "bundle", None, key="grant", today=TODAY)
        [last] = await LedgerEntry.select().where(LedgerEntry.idempotency_key == "grant")
        insert = (
            "INSERT INTO ledger_entries (account, kind, points, available_delta, held_delta, available_after, "
            "held_after, yen, reason, idempotency_key, fingerprint, created_at) VALUES "
            "({0}, 'adjustment', 1, -1, 0, 9, 0, 0, 'x', 'forged-1', '-', now()), "
            "({0}, 'adjustment', 1, -1, 0, {1}, 0, 0, 'x', 'forged-2', '-', now())"
        )
        # The second row follows the first (9 - 1 = 8), not the last committed entry: accepted, with
        # the account's cached balance brought to 8 by the same statement (as a batch writes it).
        with pytest.raises(RuntimeError, match="roll back"):
            async with db.write_transaction():
                await LedgerEntry.raw(
                    f"WITH entries AS ({insert.format(last['account'], 8)} RETURNING id) "
                    "UPDATE points_accounts SET available = 8 WHERE id = {}", last["account"])
                raise RuntimeError("roll back")
        # The second row follows the committed entry instead of the first row: refused.
        with pytest.raises(Exception, match="does not follow the previous balance"):
            await LedgerEntry.raw(insert.format(last["account"], 9))
        await assert_books_balance()
