"""Property tests: random histories of grants, holds, captures, releases, adjustments and expiry
runs, with the clock moving, against a small model of the rules (business rules #3, #4, #8).

After every step the ledger must agree with the model lot by lot, never go negative, and
`verify()` must find nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import count

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from billing import ledger
from billing.errors import InsufficientPoints, NotRefundable
from billing.tables import PointLot, PointsAccount
from billing.verify import verify
from tests.factories import make_organization

_keys = count(1)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.integers(1, 8), st.one_of(st.none(), st.integers(0, 120))),
        st.tuples(st.just("purchase"), st.integers(1, 8), st.integers(0, 120)),
        st.tuples(st.just("hold"), st.integers(1, 6)),
        st.tuples(st.just("capture"), st.integers(0, 9), st.one_of(st.none(), st.integers(1, 6))),
        st.tuples(st.just("release"), st.integers(0, 9)),
        st.tuples(st.just("adjust"), st.integers(-6, 6).filter(bool)),
        st.tuples(st.just("more"), st.integers(0, 9), st.integers(1, 4)),
        st.tuples(st.just("refund"), st.integers(0, 9)),
        st.tuples(st.just("expire")),
        st.tuples(st.just("wait"), st.integers(1, 60)),
    ),
    min_size=1,
    max_size=14,
)


@dataclass
class ModelLot:
    id: int
    remaining: int
    expires_on: date | None
    held: int = 0

    @property
    def order(self):
        return (self.expires_on is None, self.expires_on or date.max, self.id)


@dataclass
class Model:
    """The rules, written as plainly as possible."""

    today: date
    lots: dict[int, ModelLot] = field(default_factory=dict)
    paid: list[int] = field(default_factory=list)
    holds: dict[int, dict[int, int]] = field(default_factory=dict)

    def expire(self) -> None:
        for lot in self.lots.values():
            if lot.expires_on is not None and lot.expires_on < self.today:
                lot.remaining = 0

    def available(self) -> int:
        return sum(lot.remaining for lot in self.lots.values())

    def spendable(self) -> int:
        """What a hold could take today (a refused call writes nothing, not even expiries)."""
        return sum(
            lot.remaining for lot in self.lots.values() if lot.expires_on is None or lot.expires_on >= self.today
        )

    def take(self, points: int) -> dict[int, int]:
        taken = {}
        for lot in sorted(self.lots.values(), key=lambda lot: lot.order):
            part = min(lot.remaining, points - sum(taken.values()))
            if part:
                taken[lot.id] = part
                lot.remaining -= part
        return taken

    def unpin(self, hold: dict[int, int], points: int, *, back: bool) -> None:
        order = sorted(hold, key=lambda lot_id: self.lots[lot_id].order, reverse=back)
        for lot_id in order:
            part = min(hold[lot_id], points)
            hold[lot_id] -= part
            points -= part
            self.lots[lot_id].held -= part
            if back:
                self.lots[lot_id].remaining += part


async def check(org_id: int, model: Model) -> None:
    account = await PointsAccount.select().where(PointsAccount.organization == org_id).first()
    lots = {row["id"]: row for row in await PointLot.select().where(PointLot.account == account["id"])}
    assert account["available"] == model.available() >= 0
    assert account["held"] == sum(lot.held for lot in model.lots.values()) >= 0
    for lot in model.lots.values():
        assert (lots[lot.id]["remaining"], lots[lot.id]["held"]) == (lot.remaining, lot.held), lot
    shown = await ledger.balance(org_id, today=model.today)
    lapsed = sum(
        lot.remaining for lot in model.lots.values() if lot.expires_on is not None and lot.expires_on < model.today
    )
    assert shown.available == model.available() - lapsed
    report = await verify()
    assert report.clean, [str(d) for d in report.differences]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=operations)
# Histories the random ones reach only sometimes: always run them too.
@example(history=[("hold", 1), ("wait", 15), ("release", 0)])
@example(history=[("hold", 3), ("wait", 20), ("expire",), ("capture", 0, 1), ("hold", 2)])
@example(history=[("grant", 4, None), ("purchase", 3, 5), ("hold", 6), ("wait", 30), ("capture", 0, 2)])
@example(history=[("wait", 15), ("hold", 1), ("adjust", -1), ("adjust", 2), ("hold", 2)])
@example(history=[("purchase", 4, 40), ("hold", 6), ("refund", 0), ("capture", 0, None), ("more", 0, 1),
                  ("refund", 0), ("wait", 50), ("refund", 0)])
async def test_random_histories_keep_every_invariant(history):
    org = await make_organization()
    model = Model(today=date(2026, 1, 1))
    # Every history starts with points, so holds and captures have something to work on.
    opening = await ledger.grant(org.id, 5, "opening", date(2026, 1, 15), key=f"p{next(_keys)}", today=model.today)
    model.lots[opening.lot_id] = ModelLot(opening.lot_id, 5, date(2026, 1, 15))
    open_holds: list[int] = []

    for step in history:
        key = f"p{next(_keys)}"
        match step:
            case ("grant", points, days):
                expires = None if days is None else model.today + timedelta(days=days)
                posted = await ledger.grant(org.id, points, "grant", expires, key=key, today=model.today)
                model.lots[posted.lot_id] = ModelLot(posted.lot_id, points, expires)
            case ("purchase", points, days):
                expires = model.today + timedelta(days=days)
                posted = await ledger.purchase(org.id, points, 1_100, expires, "bundle", key=key, today=model.today)
                model.lots[posted.lot_id] = ModelLot(posted.lot_id, points, expires)
                model.paid.append(posted.lot_id)
            case ("hold", points):
                if model.spendable() < points:
                    try:
                        await ledger.hold(org.id, points, ticket_id=1, key=key, today=model.today)
                    except InsufficientPoints as refusal:
                        assert (refusal.required, refusal.available) == (points, model.spendable())
                    else:
                        raise AssertionError("a hold beyond the balance was accepted")
                else:
                    model.expire()
                    hold_id = await ledger.hold(org.id, points, ticket_id=1, key=key, today=model.today)
                    model.holds[hold_id] = model.take(points)
                    for lot_id, part in model.holds[hold_id].items():
                        model.lots[lot_id].held += part
                    open_holds.append(hold_id)
            case ("capture", index, points) if open_holds:
                hold_id = open_holds.pop(index % len(open_holds))
                pinned = sum(model.holds[hold_id].values())
                points = None if points is None else min(points, pinned)
                await ledger.capture(hold_id, key, points=points, today=model.today)
                model.unpin(model.holds[hold_id], pinned if points is None else points, back=False)
                if points is not None and points < pinned:
                    model.unpin(model.holds[hold_id], pinned - points, back=True)
                    model.expire()
            case ("more", index, points) if open_holds:
                hold_id = open_holds[index % len(open_holds)]
                if model.spendable() < points:
                    try:
                        await ledger.increase_hold(hold_id, points, key, today=model.today)
                    except InsufficientPoints:
                        pass
                    else:
                        raise AssertionError("a hold was increased beyond the balance")
                else:
                    model.expire()
                    await ledger.increase_hold(hold_id, points, key, today=model.today)
                    for lot_id, part in model.take(points).items():
                        model.holds[hold_id][lot_id] = model.holds[hold_id].get(lot_id, 0) + part
                        model.lots[lot_id].held += part
            case ("refund", index) if model.paid:
                lot = model.lots[model.paid[index % len(model.paid)]]
                lapsed = lot.expires_on < model.today
                # Only the available points go back; held ones stay pinned to their requests.
                if lapsed or not lot.remaining:
                    try:
                        await ledger.refund_unspent(lot.id, key, today=model.today)
                    except NotRefundable:
                        pass
                    else:
                        raise AssertionError("a lot with expired or no available points was refunded")
                else:
                    model.expire()
                    refunded = await ledger.refund_unspent(lot.id, key, today=model.today)
                    assert (refunded.points, refunded.yen) == (lot.remaining, lot.remaining * 1_100)
                    lot.remaining = 0
            case ("release", index) if open_holds:
                hold_id = open_holds.pop(index % len(open_holds))
                await ledger.release(hold_id, key, "cancelled", today=model.today)
                model.unpin(model.holds[hold_id], sum(model.holds[hold_id].values()), back=True)
                model.expire()
            case ("adjust", points) if points > 0:
                posted = await ledger.adjust(org.id, points, "correction", key, today=model.today)
                model.lots[posted.lot_id] = ModelLot(posted.lot_id, points, None)
            case ("adjust", points):
                if model.spendable() < -points:
                    try:
                        await ledger.adjust(org.id, points, "correction", key, today=model.today)
                    except InsufficientPoints:
                        pass
                    else:
                        raise AssertionError("an adjustment below zero was accepted")
                else:
                    model.expire()
                    await ledger.adjust(org.id, points, "correction", key, today=model.today)
                    model.take(-points)
            case ("expire",):
                await ledger.expire_due(model.today)
                model.expire()
            case ("wait", days):
                model.today += timedelta(days=days)
            case _:
                continue
        await check(org.id, model)

    # A second expiry run on the same day finds nothing more to do.
    await ledger.expire_due(model.today)
    model.expire()
    await check(org.id, model)
    entries_before = await ledger.entries(org.id, limit=1)
    assert await ledger.expire_due(model.today) == 0
    assert (await ledger.entries(org.id, limit=1)).items[0].id == entries_before.items[0].id
