"""The points ledger, through its services, on the real database (business rules #3, #4, #6–#8)."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count

import pytest

from app import db
from billing import ledger
from billing.errors import (
    HoldSettled,
    IdempotencyKeyReused,
    InsufficientPoints,
    InvalidAmount,
    NotRefundable,
    UnknownHold,
)
from billing.tables import LedgerEntry, PointAllocation, PointLot, PointsAccount
from billing.verify import verify
from tests.factories import behind_the_ledgers_back, make_organization, make_user

TODAY = date(2026, 4, 1)
_keys = count(1)


def key(label: str = "k") -> str:
    return f"{label}-{next(_keys)}"


async def assert_books_balance():
    report = await verify()
    assert report.clean, [str(d) for d in report.differences]


@pytest.fixture
async def org():
    return await make_organization()


@pytest.fixture
async def org_with_10_points(org):
    await ledger.grant(org.id, 10, "welcome", TODAY + timedelta(days=365), key=key("grant"), today=TODAY)
    return org


# --- #3 lots and expiry ------------------------------------------------------------------------

async def test_spending_takes_the_lot_that_expires_first(org):
    late = await ledger.purchase(org.id, 5, 1_000, date(2026, 12, 31), "bundle A", key=key(), today=TODAY)
    early = await ledger.purchase(org.id, 5, 2_000, date(2026, 6, 30), "bundle B", key=key(), today=TODAY)
    hold_id = await ledger.hold(org.id, 3, ticket_id=1, key=key(), today=TODAY)
    captured = await ledger.capture(hold_id, key(), today=TODAY)
    assert captured.yen == 3 * 2_000
    lots = {lot.id: lot for lot in (await ledger.balance(org.id, today=TODAY)).lots}
    assert lots[early.lot_id].remaining == 2
    assert lots[late.lot_id].remaining == 5
    await assert_books_balance()


async def test_between_lots_expiring_the_same_day_the_oldest_is_spent_first(org):
    first = await ledger.grant(org.id, 2, "first", date(2026, 6, 30), key=key(), today=TODAY)
    second = await ledger.grant(org.id, 2, "second", date(2026, 6, 30), key=key(), today=TODAY)
    await ledger.hold(org.id, 3, ticket_id=1, key=key(), today=TODAY)
    lots = {lot.id: lot for lot in (await ledger.balance(org.id, today=TODAY)).lots}
    assert lots[first.lot_id].held == 2 and lots[first.lot_id].remaining == 0
    assert lots[second.lot_id].held == 1 and lots[second.lot_id].remaining == 1


async def test_points_that_never_expire_are_spent_last(org):
    forever = await ledger.adjust(org.id, 4, "goodwill", key(), today=TODAY)
    dated = await ledger.grant(org.id, 4, "promo", date(2027, 3, 31), key=key(), today=TODAY)
    await ledger.hold(org.id, 5, ticket_id=1, key=key(), today=TODAY)
    lots = {lot.id: lot for lot in (await ledger.balance(org.id, today=TODAY)).lots}
    assert lots[dated.lot_id].held == 4
    assert lots[forever.lot_id].held == 1


async def test_expired_points_leave_the_balance_but_stay_in_the_books(org):
    paid = await ledger.purchase(org.id, 6, 500, date(2026, 4, 30), "bundle", key=key(), today=TODAY)
    await ledger.grant(org.id, 2, "promo", date(2026, 4, 30), key=key(), today=TODAY)
    assert (await ledger.balance(org.id, today=date(2026, 4, 30))).available == 8
    assert await ledger.expire_due(date(2026, 5, 1)) == 8
    balance = await ledger.balance(org.id, today=date(2026, 5, 1))
    assert balance.available == 0 and balance.lots == ()
    expiries = [e for e in (await ledger.entries(org.id)).items if e.kind == "expire"]
    assert sorted(e.points for e in expiries) == [2, 6]
    # Breakage: the paid lot's expiry carries its yen value, the granted one none.
    assert {e.lot_id: e.yen for e in expiries}[paid.lot_id] == 6 * 500
    await assert_books_balance()


async def test_points_are_spendable_through_their_last_day(org):
    await ledger.grant(org.id, 1, "promo", date(2026, 4, 30), key=key(), today=TODAY)
    await ledger.hold(org.id, 1, ticket_id=1, key=key(), today=date(2026, 4, 30))


async def test_expired_points_cannot_be_held_even_before_the_expiry_run(org):
    await ledger.grant(org.id, 5, "promo", date(2026, 4, 30), key=key(), today=TODAY)
    assert (await ledger.balance(org.id, today=date(2026, 5, 1))).available == 0
    with pytest.raises(InsufficientPoints) as refusal:
        await ledger.hold(org.id, 1, ticket_id=1, key=key(), today=date(2026, 5, 1))
    assert refusal.value.available == 0
    await assert_books_balance()


async def test_expiry_run_is_idempotent(org):
    await ledger.grant(org.id, 5, "promo", date(2026, 4, 30), key=key(), today=TODAY)
    assert await ledger.expire_due(date(2026, 5, 2)) == 5
    assert await ledger.expire_due(date(2026, 5, 2)) == 0
    assert await ledger.expire_due(date(2026, 6, 1)) == 0
    assert await LedgerEntry.count().where(LedgerEntry.kind == "expire") == 1


async def test_balance_shows_what_expires_within_30_60_and_90_days(org):
    await ledger.grant(org.id, 1, "a", TODAY + timedelta(days=10), key=key(), today=TODAY)
    await ledger.grant(org.id, 2, "b", TODAY + timedelta(days=45), key=key(), today=TODAY)
    await ledger.grant(org.id, 4, "c", TODAY + timedelta(days=90), key=key(), today=TODAY)
    await ledger.grant(org.id, 8, "d", TODAY + timedelta(days=200), key=key(), today=TODAY)
    balance = await ledger.balance(org.id, today=TODAY)
    assert balance.available == 15
    assert balance.expiring_within == {30: 1, 60: 3, 90: 7}
    assert [lot.remaining for lot in balance.lots] == [1, 2, 4, 8]


# --- #4 holds --------------------------------------------------------------------------------

async def test_a_hold_lowers_the_available_balance_at_once(org_with_10_points):
    await ledger.hold(org_with_10_points.id, 4, ticket_id=7, key=key(), today=TODAY)
    balance = await ledger.balance(org_with_10_points.id, today=TODAY)
    assert (balance.available, balance.held) == (6, 4)


async def test_a_customer_cannot_hold_more_than_it_has(org_with_10_points):
    await ledger.hold(org_with_10_points.id, 8, ticket_id=1, key=key(), today=TODAY)
    with pytest.raises(InsufficientPoints) as refusal:
        await ledger.hold(org_with_10_points.id, 3, ticket_id=2, key=key(), today=TODAY)
    assert (refusal.value.required, refusal.value.available) == (3, 2)
    assert "3 needed, 2 available" in refusal.value.message


async def test_an_organisation_without_points_cannot_hold(org):
    with pytest.raises(InsufficientPoints) as refusal:
        await ledger.hold(org.id, 1, ticket_id=1, key=key(), today=TODAY)
    assert refusal.value.available == 0


async def test_capture_spends_the_held_points(org_with_10_points):
    hold_id = await ledger.hold(org_with_10_points.id, 4, ticket_id=7, key=key(), today=TODAY)
    posted = await ledger.capture(hold_id, key(), today=TODAY)
    assert (posted.kind, posted.points, posted.available, posted.held) == ("capture", 4, 6, 0)
    with pytest.raises(HoldSettled):
        await ledger.release(hold_id, key(), "too late", today=TODAY)
    await assert_books_balance()


async def test_release_gives_the_points_back(org_with_10_points):
    hold_id = await ledger.hold(org_with_10_points.id, 4, ticket_id=7, key=key(), today=TODAY)
    posted = await ledger.release(hold_id, key(), "vendor's fault: charge waived", today=TODAY)
    assert (posted.available, posted.held) == (10, 0)
    with pytest.raises(HoldSettled):
        await ledger.capture(hold_id, key(), today=TODAY)
    await assert_books_balance()


async def test_capturing_less_than_held_releases_the_rest(org_with_10_points):
    hold_id = await ledger.hold(org_with_10_points.id, 5, ticket_id=7, key=key(), today=TODAY)
    await ledger.capture(hold_id, key(), points=3, today=TODAY)
    balance = await ledger.balance(org_with_10_points.id, today=TODAY)
    assert (balance.available, balance.held) == (7, 0)
    [held] = await ledger.holds_of_ticket(7)
    assert (held["status"], held["captured"], held["released"]) == ("captured", 3, 2)
    await assert_books_balance()


async def test_a_lower_requote_releases_part_and_a_higher_one_holds_more(org_with_10_points):
    hold_id = await ledger.hold(org_with_10_points.id, 5, ticket_id=7, key=key(), today=TODAY)
    await ledger.release(hold_id, key(), "reclassified", points=2, today=TODAY)
    await ledger.increase_hold(hold_id, 4, key(), today=TODAY)
    balance = await ledger.balance(org_with_10_points.id, today=TODAY)
    assert (balance.available, balance.held) == (3, 7)
    await ledger.capture(hold_id, key(), today=TODAY)
    balance = await ledger.balance(org_with_10_points.id, today=TODAY)
    assert (balance.available, balance.held) == (3, 0)
    await assert_books_balance()


async def test_held_points_do_not_expire_while_held(org):
    await ledger.grant(org.id, 5, "promo", date(2026, 4, 30), key=key(), today=TODAY)
    hold_id = await ledger.hold(org.id, 3, ticket_id=1, key=key(), today=TODAY)
    assert await ledger.expire_due(date(2026, 6, 1)) == 2
    balance = await ledger.balance(org.id, today=date(2026, 6, 1))
    assert (balance.available, balance.held) == (0, 3)
    captured = await ledger.capture(hold_id, key(), today=date(2026, 6, 1))
    assert captured.points == 3
    await assert_books_balance()


async def test_points_released_after_their_lot_expired_expire_at_release(org):
    await ledger.grant(org.id, 5, "promo", date(2026, 4, 30), key=key(), today=TODAY)
    fresh = await ledger.grant(org.id, 1, "later", date(2026, 12, 31), key=key(), today=TODAY)
    hold_id = await ledger.hold(org.id, 3, ticket_id=1, key=key(), today=TODAY)
    await ledger.expire_due(date(2026, 5, 1))
    await ledger.release(hold_id, key(), "cancelled", today=date(2026, 5, 1))
    balance = await ledger.balance(org.id, today=date(2026, 5, 1))
    assert (balance.available, balance.held) == (1, 0)
    assert [lot.id for lot in balance.lots] == [fresh.lot_id]
    kinds = [e.kind for e in (await ledger.entries(org.id)).items]
    assert kinds[:2] == ["expire", "release"]
    await assert_books_balance()


async def test_an_unknown_hold_is_reported(org):
    with pytest.raises(UnknownHold):
        await ledger.capture(999_999, key())


# --- #6 paid and granted points ------------------------------------------------------------------

async def test_granted_points_carry_no_yen_and_paid_points_their_unit_price(org):
    await ledger.grant(org.id, 2, "compensation", date(2026, 5, 31), key=key(), today=TODAY)
    await ledger.purchase(org.id, 2, 3_000, date(2026, 6, 30), "bundle", key=key(), today=TODAY)
    hold_id = await ledger.hold(org.id, 4, ticket_id=1, key=key(), today=TODAY)
    captured = await ledger.capture(hold_id, key(), today=TODAY)
    assert captured.yen == 2 * 0 + 2 * 3_000
    lots = (await ledger.balance(org.id, today=TODAY)).lots
    assert lots == ()


async def test_points_cannot_be_granted_already_expired(org):
    with pytest.raises(InvalidAmount) as refusal:
        await ledger.grant(org.id, 5, "late", TODAY - timedelta(days=1), key=key(), today=TODAY)
    assert refusal.value.values["field"] == "expires_on"
    with pytest.raises(InvalidAmount):
        await ledger.adjust(org.id, 5, "late", key(), expires_on=TODAY - timedelta(days=1), today=TODAY)
    assert (await ledger.balance(org.id, today=TODAY)).available == 0


async def test_grants_and_adjustments_need_a_reason(org):
    with pytest.raises(InvalidAmount) as refusal:
        await ledger.grant(org.id, 5, "  ", date(2026, 5, 31), key=key(), today=TODAY)
    assert refusal.value.values["field"] == "reason"
    with pytest.raises(InvalidAmount):
        await ledger.adjust(org.id, 5, "", key())


@pytest.mark.parametrize("points", [0, -1, 2.5, True, "3"])
async def test_nonsense_amounts_are_refused(org_with_10_points, points):
    with pytest.raises(InvalidAmount):
        await ledger.hold(org_with_10_points.id, points, ticket_id=1, key=key())


# --- #7 refunds ------------------------------------------------------------------------------

async def test_a_refund_takes_back_only_the_unspent_part_of_the_lot(org):
    paid = await ledger.purchase(org.id, 10, 1_000, date(2026, 12, 31), "bundle", key=key(), today=TODAY)
    hold_id = await ledger.hold(org.id, 4, ticket_id=1, key=key(), today=TODAY)
    await ledger.capture(hold_id, key(), today=TODAY)
    refund = await ledger.refund_unspent(paid.lot_id, key(), "contract ended", today=TODAY)
    assert (refund.points, refund.yen, refund.available) == (6, 6_000, 0)
    with pytest.raises(NotRefundable, match="no unspent points"):
        await ledger.refund_unspent(paid.lot_id, key(), today=TODAY)
    await assert_books_balance()


async def test_a_lot_with_only_held_points_left_or_granted_points_is_not_refunded(org):
    paid = await ledger.purchase(org.id, 10, 1_000, date(2026, 12, 31), "bundle", key=key(), today=TODAY)
    granted = await ledger.grant(org.id, 10, "promo", date(2027, 12, 31), key=key(), today=TODAY)
    await ledger.hold(org.id, 10, ticket_id=1, key=key(), today=TODAY)
    with pytest.raises(NotRefundable, match="no unspent points"):
        await ledger.refund_unspent(paid.lot_id, key(), today=TODAY)
    with pytest.raises(NotRefundable, match="not paid for"):
        await ledger.refund_unspent(granted.lot_id, key(), today=TODAY)
    await assert_books_balance()


async def test_a_refund_leaves_held_points_to_their_requests_released_available_captured_consumed(org):
    paid = await ledger.purchase(org.id, 10, 1_000, date(2026, 12, 31), "bundle", key=key(), today=TODAY)
    cancelled = await ledger.hold(org.id, 3, ticket_id=1, key=key(), today=TODAY)
    resolved = await ledger.hold(org.id, 2, ticket_id=2, key=key(), today=TODAY)
    refund = await ledger.refund_unspent(paid.lot_id, key(), "contract ended", today=TODAY)
    assert (refund.points, refund.yen, refund.available, refund.held) == (5, 5_000, 0, 5)

    # The customer paid for the released points and was not refunded for them: available again.
    released = await ledger.release(cancelled, key(), "cancelled", today=TODAY)
    assert (released.available, released.held) == (3, 2)
    [lot] = (await ledger.balance(org.id, today=TODAY)).lots
    assert (lot.id, lot.remaining, lot.held) == (paid.lot_id, 3, 2)

    captured = await ledger.capture(resolved, key(), today=TODAY)
    assert (captured.points, captured.yen, captured.available, captured.held) == (2, 2_000, 3, 0)
    row = await PointLot.select().where(PointLot.id == paid.lot_id).first()
    assert (row["remaining"], row["held"], row["consumed"], row["refunded"]) == (3, 0, 2, 5)
    await assert_books_balance()


# --- #8 no overdraft, no double spend, nothing lost -----------------------------------------------

async def test_a_replayed_call_returns_the_first_result_and_writes_nothing(org_with_10_points):
    hold_key, capture_key = key(), key()
    first = await ledger.hold(org_with_10_points.id, 3, ticket_id=1, key=hold_key, today=TODAY)
    again = await ledger.hold(org_with_10_points.id, 3, ticket_id=1, key=hold_key, today=TODAY)
    assert again == first
    captured = await ledger.capture(first, capture_key, today=TODAY)
    replayed = await ledger.capture(first, capture_key, today=TODAY)
    assert replayed.entry_id == captured.entry_id and replayed.replayed
    assert (await ledger.balance(org_with_10_points.id, today=TODAY)).available == 7
    assert await LedgerEntry.count() == 3
    await assert_books_balance()


async def test_a_key_reused_for_another_operation_is_refused(org_with_10_points):
    shared = key()
    await ledger.hold(org_with_10_points.id, 3, ticket_id=1, key=shared, today=TODAY)
    with pytest.raises(IdempotencyKeyReused):
        await ledger.hold(org_with_10_points.id, 4, ticket_id=1, key=shared, today=TODAY)
    with pytest.raises(IdempotencyKeyReused):
        await ledger.adjust(org_with_10_points.id, 1, "fix", shared)


async def test_a_negative_adjustment_cannot_overdraw(org_with_10_points):
    await ledger.adjust(org_with_10_points.id, -4, "duplicate grant", key(), today=TODAY)
    with pytest.raises(InsufficientPoints) as refusal:
        await ledger.adjust(org_with_10_points.id, -7, "too much", key(), today=TODAY)
    assert (refusal.value.required, refusal.value.available) == (7, 6)
    await assert_books_balance()


async def test_the_database_refuses_a_negative_balance_even_without_the_code(org_with_10_points):
    with pytest.raises(Exception, match="account_available_not_negative"):
        await PointsAccount.update({PointsAccount.available: -1}).where(
            PointsAccount.organization == org_with_10_points.id
        )
    with pytest.raises(Exception, match="lot_remaining_not_negative|lot_points_add_up"):
        await PointLot.update({PointLot.remaining: -1}).where(PointLot.id > 0)


async def test_the_database_refuses_a_second_entry_with_the_same_key(org_with_10_points):
    entry = await LedgerEntry.select().first()
    del entry["id"]
    entry["available_after"] += entry["available_delta"]  # a well-formed entry but for its key
    with pytest.raises(Exception, match="(?i)unique"):
        await LedgerEntry.insert(LedgerEntry(**entry))


async def test_the_database_refuses_a_cached_balance_the_entries_do_not_give(org_with_10_points):
    with pytest.raises(Exception, match="does not match its ledger entries"):
        async with db.write_transaction():
            await PointsAccount.update({PointsAccount.available: 11}).where(
                PointsAccount.organization == org_with_10_points.id
            )
    assert (await ledger.balance(org_with_10_points.id, today=TODAY)).available == 10


async def test_an_entry_the_cached_balance_does_not_follow_is_refused_or_reported(org_with_10_points):
    entry = await LedgerEntry.select().first()
    del entry["id"]
    entry.update(idempotency_key="forged", available_after=entry["available_after"] + entry["available_delta"])
    if db.is_postgres():
        # Checked at the end of the statement that wrote the entry.
        with pytest.raises(Exception, match="does not match its ledger entries"):
            async with db.write_transaction():
                await LedgerEntry.insert(LedgerEntry(**entry))
        assert await LedgerEntry.count() == 1
    else:
        # SQLite checks the account as it is written, not the entry: verify finds it.
        await LedgerEntry.insert(LedgerEntry(**entry))
        assert any("sum of its entries" in str(d) for d in (await verify()).differences)


async def test_verify_finds_a_tampered_balance(org_with_10_points):
    # Tampered behind the database's back (its check switched off), as a restore from a bad
    # backup or a hand-made fix might: verify still finds it.
    await behind_the_ledgers_back(
        "UPDATE points_accounts SET available = 11 WHERE organization = {}", org_with_10_points.id)
    report = await verify()
    assert not report.clean
    assert any("sum of its entries" in str(d) for d in report.differences)


async def test_entries_cannot_be_rewritten_or_deleted(org_with_10_points):
    with pytest.raises(Exception, match="append-only"):
        await LedgerEntry.update({LedgerEntry.points: 99}).where(LedgerEntry.id > 0)
    with pytest.raises(Exception, match="append-only"):
        await LedgerEntry.delete().where(LedgerEntry.id > 0)
    with pytest.raises(Exception, match="append-only"):
        await PointAllocation.update({PointAllocation.yen: 1}).where(PointAllocation.id > 0)
    assert await LedgerEntry.count() == 1


async def test_an_entry_that_breaks_the_running_balance_is_refused(org_with_10_points):
    entry = await LedgerEntry.select().first()
    del entry["id"]
    entry["idempotency_key"] = "forged"
    with pytest.raises(Exception, match="does not follow the previous balance"):
        await LedgerEntry.insert(LedgerEntry(**entry))


async def test_the_history_says_who_did_what_and_why(org_with_10_points):
    finance = await make_user(role="finance")
    await ledger.adjust(org_with_10_points.id, -2, "duplicate grant in March", key(), today=TODAY,
                        actor_id=finance.id)
    hold_id = await ledger.hold(org_with_10_points.id, 3, ticket_id=42, key=key(), today=TODAY)
    await ledger.release(hold_id, key(), "fault was ours: charge waived", today=TODAY, actor_id=finance.id)
    release, hold, adjustment, grant = (await ledger.entries(org_with_10_points.id)).items
    assert (adjustment.kind, adjustment.points, adjustment.available_delta) == ("adjustment", 2, -2)
    assert (adjustment.reason, adjustment.actor_id) == ("duplicate grant in March", finance.id)
    assert (hold.ticket_id, release.ticket_id, release.hold_id) == (42, 42, hold_id)
    assert (release.reason, release.actor_id, release.available_after) == (
        "fault was ours: charge waived", finance.id, 8,
    )
    assert grant.kind == "grant" and grant.reason == "welcome"


async def test_entries_page_newest_first(org):
    for n in range(5):
        await ledger.grant(org.id, n + 1, f"grant {n}", None, key=key(), today=TODAY)
    first = await ledger.entries(org.id, limit=3)
    assert [e.points for e in first.items] == [5, 4, 3]
    second = await ledger.entries(org.id, cursor=first.next_cursor, limit=3)
    assert [e.points for e in second.items] == [2, 1] and second.next_cursor is None
    with pytest.raises(InvalidAmount):
        await ledger.entries(org.id, cursor="abc")


async def test_one_organisation_never_spends_anothers_points(org_with_10_points):
    other = await make_organization()
    with pytest.raises(InsufficientPoints):
        await ledger.hold(other.id, 1, ticket_id=1, key=key(), today=TODAY)
    assert (await ledger.balance(org_with_10_points.id, today=TODAY)).available == 10
