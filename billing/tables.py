"""The points ledger: accounts, lots, holds, entries and allocations.

An account caches its organisation's `available` and `held` points; each lot caches where its
points are (`remaining` to spend, `held` by open requests, `consumed`, `expired`, `refunded`). The
truth is the append-only entries and their allocations (which lot each point came from); the
caches are updated in the same transaction, and `billing.ledger.verify()` recomputes them.

Database constraints back the invariants: no negative balance or lot, a lot's points always add
up, one entry per idempotency key. On PostgreSQL, triggers also refuse any UPDATE or DELETE of an
entry or allocation and refuse an entry whose running balance does not follow from the previous
one.
"""

from piccolo.columns import Date, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.reference import LazyTableReference
from piccolo.table import Table

ENTRY_KINDS = ("grant", "purchase", "hold", "capture", "release", "expire", "refund", "adjustment")
LOT_SOURCES = ("grant", "purchase", "adjustment")
HOLD_STATUSES = ("held", "captured", "released")


class PointsAccount(Table, tablename="points_accounts"):
    """One per organisation: its spendable (`available`) and held points."""

    organization = ForeignKey(
        LazyTableReference("Organization", module_path="app.accounts.tables"),
        null=False, unique=True, on_delete=OnDelete.restrict,
    )
    available = Integer(default=0)
    held = Integer(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # The low-balance alert (billing/alerts.py): the customer admins are told once when
    # `available` drops below the threshold (NULL: no alert); `low_balance_alerted_at` records
    # that they were, and is cleared when the balance is back at or above the threshold.
    low_balance_threshold = Integer(null=True, default=None)
    low_balance_alerted_at = Timestamptz(null=True, default=None)

    checks = {
        "account_available_not_negative": "available >= 0",
        "account_held_not_negative": "held >= 0",
        "account_low_balance_threshold_positive": "low_balance_threshold IS NULL OR low_balance_threshold > 0",
    }


class PointLot(Table, tablename="point_lots"):
    """Points from one purchase, grant or adjustment, with their own expiry date.

    `expires_on` is the last day the points can be spent (vendor time zone); NULL never expires.
    `yen_per_point` is the tax-exclusive price paid per point, 0 for granted points.
    """

    account = ForeignKey(PointsAccount, null=False, on_delete=OnDelete.restrict)
    source = Varchar(length=12)
    points = Integer()
    remaining = Integer()
    held = Integer(default=0)
    consumed = Integer(default=0)
    expired = Integer(default=0)
    refunded = Integer(default=0)
    yen_per_point = Integer(default=0)
    expires_on = Date(null=True, default=None)
    reason = Text(default="")
    created_at = Timestamptz()

    checks = {
        "lot_known_source": "source IN ('grant', 'purchase', 'adjustment')",
        "lot_points_positive": "points > 0",
        "lot_remaining_not_negative": "remaining >= 0",
        "lot_held_not_negative": "held >= 0",
        "lot_consumed_not_negative": "consumed >= 0",
        "lot_expired_not_negative": "expired >= 0",
        "lot_refunded_not_negative": "refunded >= 0",
        "lot_points_add_up": "points = remaining + held + consumed + expired + refunded",
        "lot_yen_not_negative": "yen_per_point >= 0",
        "lot_only_purchases_carry_yen": "source = 'purchase' OR yen_per_point = 0",
    }
    # Balances and spending look only at an account's lots that still have points (remaining > 0
    # or held > 0), found through these indexes however many spent lots the account has.
    composite_indexes = {
        "point_lots_account_remaining": ("account", "remaining"),
        "point_lots_account_held": ("account", "held"),
    }
    # The expiry run looks only at lots with points left, however many lots have expired before.
    postgres_ddl = ["CREATE INDEX point_lots_due ON point_lots (expires_on) WHERE remaining > 0"]


class PointHold(Table, tablename="point_holds"):
    """Points pinned to a request until it is captured (resolved) or released (cancelled, waived).

    `points` is what is held now; `captured` and `released` are what became of the rest.
    """

    account = ForeignKey(PointsAccount, null=False, on_delete=OnDelete.restrict, index=True)
    ticket_id = Integer(index=True)
    points = Integer()
    captured = Integer(default=0)
    released = Integer(default=0)
    status = Varchar(length=10, default="held")
    created_at = Timestamptz()
    settled_at = Timestamptz(null=True, default=None)

    checks = {
        "hold_known_status": "status IN ('held', 'captured', 'released')",
        "hold_points_not_negative": "points >= 0",
        "hold_captured_not_negative": "captured >= 0",
        "hold_released_not_negative": "released >= 0",
        "settled_holds_hold_nothing": "status = 'held' OR points = 0",
    }


class LedgerEntry(Table, tablename="ledger_entries"):
    """One change of an account's balance. Never updated or deleted: corrections are new entries.

    `available_delta`/`held_delta` are the changes; `available_after`/`held_after` the account's
    balance right after (a running total); `yen` the value of the points at their lots' unit price
    (revenue for a capture, breakage for an expiry of paid points, the amount of a refund).
    """

    account = ForeignKey(PointsAccount, null=False, on_delete=OnDelete.restrict)
    kind = Varchar(length=12)
    points = Integer()
    available_delta = Integer()
    held_delta = Integer()
    available_after = Integer()
    held_after = Integer()
    yen = Integer(default=0)
    lot = ForeignKey(PointLot, null=True, on_delete=OnDelete.restrict)
    hold = ForeignKey(PointHold, null=True, on_delete=OnDelete.restrict, index=True)
    ticket_id = Integer(null=True, default=None, index=True)
    reason = Text(default="")
    idempotency_key = Varchar(length=255, unique=True)
    # Hash of the operation and its arguments: the same key reused for another operation is refused.
    fingerprint = Varchar(length=64)
    actor = ForeignKey(
        LazyTableReference("User", module_path="app.accounts.tables"),
        null=True, on_delete=OnDelete.restrict,
    )
    created_at = Timestamptz()

    checks = {
        "entry_known_kind": (
            "kind IN ('grant', 'purchase', 'hold', 'capture', 'release', 'expire', 'refund', 'adjustment')"
        ),
        "entry_points_positive": "points > 0",
        "entry_available_after_not_negative": "available_after >= 0",
        "entry_held_after_not_negative": "held_after >= 0",
        "entry_yen_not_negative": "yen >= 0",
    }
    composite_indexes = {"ledger_entries_account_id": ("account", "id")}
    postgres_ddl = [
        """CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'ledger rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME;
        END $$""",
        "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries "
        "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
        """CREATE FUNCTION ledger_entry_follows_previous() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            previous RECORD;
        BEGIN
            SELECT available_after, held_after INTO previous FROM ledger_entries
            WHERE account = NEW.account ORDER BY id DESC LIMIT 1;
            IF NEW.available_after <> COALESCE(previous.available_after, 0) + NEW.available_delta
               OR NEW.held_after <> COALESCE(previous.held_after, 0) + NEW.held_delta THEN
                RAISE EXCEPTION 'ledger entry % does not follow the previous balance of account %',
                    NEW.idempotency_key, NEW.account;
            END IF;
            RETURN NEW;
        END $$""",
        "CREATE TRIGGER ledger_entries_running_balance BEFORE INSERT ON ledger_entries "
        "FOR EACH ROW EXECUTE FUNCTION ledger_entry_follows_previous()",
    ]


class PointAllocation(Table, tablename="point_allocations"):
    """Which lot an entry's points came from or went to, and how that lot changed.

    `remaining_delta` and `held_delta` are the changes to the lot; `hold` is set for the
    allocations of holds, captures and releases (the points pinned to that hold).
    """

    entry = ForeignKey(LedgerEntry, null=False, on_delete=OnDelete.restrict, index=True)
    lot = ForeignKey(PointLot, null=False, on_delete=OnDelete.restrict, index=True)
    hold = ForeignKey(PointHold, null=True, on_delete=OnDelete.restrict, index=True)
    remaining_delta = Integer()
    held_delta = Integer()
    yen = Integer(default=0)

    checks = {"allocation_moves_points": "remaining_delta <> 0 OR held_delta <> 0"}
    postgres_ddl = [
        "CREATE TRIGGER point_allocations_append_only BEFORE UPDATE OR DELETE ON point_allocations "
        "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
    ]



class ExpiryReminder(Table, tablename="point_expiry_reminders"):
    """A reminder that a lot's points expire soon, told to its organisation's customer admins.

    One row per lot and reminder (30 or 7 days before the lot's last day); the unique index
    makes each reminder go out once however often, or however concurrently, the job runs.
    """

    lot = ForeignKey(PointLot, null=False, on_delete=OnDelete.restrict)
    days_before = Integer()
    points = Integer()
    expires_on = Date()
    sent_at = Timestamptz()

    checks = {
        "reminder_known_days": "days_before IN (30, 7)",
        "reminder_points_positive": "points > 0",
    }
    unique_together = {"point_expiry_reminders_once": ("lot", "days_before")}


class LedgerJobMark(Table, tablename="ledger_job_marks"):
    """How far through the ledger's entries a job has looked (the low-balance check reads only
    the accounts with entries after its mark)."""

    job = Varchar(length=40, unique=True)
    entry_id = Integer(default=0)
    updated_at = Timestamptz()


LEDGER_TABLES = [PointsAccount, PointLot, PointHold, LedgerEntry, PointAllocation]
ALERT_TABLES = [ExpiryReminder, LedgerJobMark]
