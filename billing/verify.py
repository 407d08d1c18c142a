"""`kippu ledger verify`: recompute every cached figure from the entries and report differences.

The entries and their allocations are the books; accounts, lots and holds cache what they add up
to. Each check is one set-based query, so a run over millions of entries takes seconds, and a
clean ledger reports nothing — ever.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from billing.tables import PointsAccount

# Each check: a description and a query returning the rows that disagree (subject id first).
CHECKS: tuple[tuple[str, str], ...] = (
    (
        "account balance differs from the sum of its entries",
        """SELECT a.id AS subject, a.available AS cached_available, a.held AS cached_held,
                  COALESCE(SUM(e.available_delta), 0) AS available, COALESCE(SUM(e.held_delta), 0) AS held
           FROM points_accounts a LEFT JOIN ledger_entries e ON e.account = a.id
           GROUP BY a.id, a.available, a.held
           HAVING a.available <> COALESCE(SUM(e.available_delta), 0)
               OR a.held <> COALESCE(SUM(e.held_delta), 0)""",
    ),
    (
        "account balance differs from the sum of its lots",
        """SELECT a.id AS subject, a.available AS cached_available, a.held AS cached_held,
                  COALESCE(SUM(l.remaining), 0) AS available, COALESCE(SUM(l.held), 0) AS held
           FROM points_accounts a LEFT JOIN point_lots l ON l.account = a.id
           GROUP BY a.id, a.available, a.held
           HAVING a.available <> COALESCE(SUM(l.remaining), 0) OR a.held <> COALESCE(SUM(l.held), 0)""",
    ),
    (
        "entry's running balance differs from the running sum of the entries before it",
        """SELECT id AS subject, available_after, held_after, running_available, running_held FROM (
               SELECT id, available_after, held_after,
                      SUM(available_delta) OVER (PARTITION BY account ORDER BY id) AS running_available,
                      SUM(held_delta) OVER (PARTITION BY account ORDER BY id) AS running_held
               FROM ledger_entries) t
           WHERE available_after <> running_available OR held_after <> running_held""",
    ),
    (
        "entry differs from the sum of its allocations",
        """SELECT e.id AS subject, e.available_delta, e.held_delta, e.yen,
                  COALESCE(a.remaining, 0) AS allocated_available, COALESCE(a.held, 0) AS allocated_held,
                  COALESCE(a.yen, 0) AS allocated_yen
           FROM ledger_entries e LEFT JOIN (
               SELECT entry, SUM(remaining_delta) AS remaining, SUM(held_delta) AS held, SUM(yen) AS yen,
                      COUNT(*) AS n
               FROM point_allocations GROUP BY entry) a ON a.entry = e.id
           WHERE a.n IS NULL OR e.available_delta <> a.remaining OR e.held_delta <> a.held OR e.yen <> a.yen
              OR e.points <> (CASE WHEN ABS(a.remaining) > ABS(a.held) THEN ABS(a.remaining)
                                   ELSE ABS(a.held) END)""",
    ),
    (
        "allocation moves points of another account's lot",
        """SELECT a.id AS subject, e.account AS entry_account, l.account AS lot_account
           FROM point_allocations a JOIN ledger_entries e ON e.id = a.entry JOIN point_lots l ON l.id = a.lot
           WHERE e.account <> l.account OR (a.hold IS NOT NULL AND a.hold <> e.hold)""",
    ),
    (
        "lot differs from the sum of its allocations",
        """SELECT l.id AS subject, l.points, l.remaining, l.held, l.consumed, l.expired, l.refunded,
                  x.credited, x.remaining AS allocated_remaining, x.held AS allocated_held,
                  x.consumed AS allocated_consumed, x.expired AS allocated_expired,
                  x.refunded AS allocated_refunded
           FROM point_lots l LEFT JOIN (
               SELECT a.lot,
                      SUM(CASE WHEN e.kind IN ('grant', 'purchase')
                                 OR (e.kind = 'adjustment' AND a.remaining_delta > 0)
                               THEN a.remaining_delta ELSE 0 END) AS credited,
                      SUM(a.remaining_delta) AS remaining,
                      SUM(a.held_delta) AS held,
                      SUM(CASE WHEN e.kind IN ('capture', 'adjustment') AND a.remaining_delta + a.held_delta < 0
                               THEN -(a.remaining_delta + a.held_delta) ELSE 0 END) AS consumed,
                      SUM(CASE WHEN e.kind = 'expire' THEN -a.remaining_delta ELSE 0 END) AS expired,
                      SUM(CASE WHEN e.kind = 'refund' THEN -a.remaining_delta ELSE 0 END) AS refunded
               FROM point_allocations a JOIN ledger_entries e ON e.id = a.entry
               GROUP BY a.lot) x ON x.lot = l.id
           WHERE x.lot IS NULL OR l.points <> x.credited OR l.remaining <> x.remaining OR l.held <> x.held
              OR l.consumed <> x.consumed OR l.expired <> x.expired OR l.refunded <> x.refunded""",
    ),
    (
        "allocation's yen differs from its points at the lot's unit price",
        """SELECT a.id AS subject, a.yen, l.yen_per_point, a.remaining_delta, a.held_delta, e.kind
           FROM point_allocations a JOIN point_lots l ON l.id = a.lot JOIN ledger_entries e ON e.id = a.entry
           WHERE a.yen <> CASE
               WHEN e.kind IN ('grant', 'purchase') THEN a.remaining_delta * l.yen_per_point
               WHEN e.kind IN ('capture', 'expire', 'refund', 'adjustment') AND a.remaining_delta + a.held_delta < 0
                   THEN -(a.remaining_delta + a.held_delta) * l.yen_per_point
               ELSE 0 END""",
    ),
    (
        "hold differs from the points pinned, captured and released by its entries",
        """SELECT h.id AS subject, h.points, h.captured, h.released,
                  COALESCE(x.pinned, 0) AS pinned, COALESCE(x.captured, 0) AS entries_captured,
                  COALESCE(x.released, 0) AS entries_released
           FROM point_holds h LEFT JOIN (
               SELECT a.hold, SUM(a.held_delta) AS pinned,
                      SUM(CASE WHEN e.kind = 'capture' THEN -a.held_delta ELSE 0 END) AS captured,
                      SUM(CASE WHEN e.kind = 'release' THEN -a.held_delta ELSE 0 END) AS released
               FROM point_allocations a JOIN ledger_entries e ON e.id = a.entry
               WHERE a.hold IS NOT NULL GROUP BY a.hold) x ON x.hold = h.id
           WHERE h.points <> COALESCE(x.pinned, 0) OR h.captured <> COALESCE(x.captured, 0)
              OR h.released <> COALESCE(x.released, 0)""",
    ),
    (
        "hold has released or captured more points of a lot than it pinned there",
        """SELECT hold AS subject, lot, SUM(held_delta) AS pinned FROM point_allocations
           WHERE hold IS NOT NULL GROUP BY hold, lot HAVING SUM(held_delta) < 0""",
    ),
)


@dataclass(frozen=True)
class Difference:
    check: str
    subject: int
    detail: dict

    def __str__(self) -> str:
        figures = ", ".join(f"{k}={v}" for k, v in self.detail.items())
        return f"{self.check}: #{self.subject} ({figures})"


@dataclass(frozen=True)
class VerifyReport:
    differences: tuple[Difference, ...] = field(default_factory=tuple)
    accounts: int = 0
    entries: int = 0
    lots: int = 0

    @property
    def clean(self) -> bool:
        return not self.differences


async def verify() -> VerifyReport:
    """Recompute accounts, lots, holds and running balances from the entries."""
    differences: list[Difference] = []
    for description, sql in CHECKS:
        for row in await PointsAccount.raw(sql):
            subject = row.pop("subject")
            differences.append(Difference(description, subject, row))
    counts = (await PointsAccount.raw(
        "SELECT (SELECT COUNT(*) FROM points_accounts) AS accounts, (SELECT COUNT(*) FROM point_lots) AS lots, "
        "(SELECT COUNT(*) FROM ledger_entries) AS entries"
    ))[0]
    return VerifyReport(
        differences=tuple(differences), accounts=counts["accounts"], entries=counts["entries"], lots=counts["lots"]
    )
