"""The points ledger: accounts, lots, holds, entries and allocations.

An account caches its organisation's `available` and `held` points; each lot caches where its
points are (`remaining` to spend, `held` by open requests, `consumed`, `expired`, `refunded`). The
truth is the append-only entries and their allocations (which lot each point came from); the
caches are updated in the same transaction, and `billing.ledger.verify()` recomputes them.

Database constraints back the invariants: no negative balance or lot, a lot's points always add
up, one entry per idempotency key. On PostgreSQL, triggers also refuse any UPDATE or DELETE of an
entry or allocation and refuse an entry whose running balance does not follow from the previous
one.

Organisations and users belong to the app. Billing never imports app, so its tables keep their ids
as plain integers (`organization`, `actor`, `requested_by`, `issued_by`, ...; `default=None`: a
row must name one when the column is NOT NULL). The app declares the foreign keys from these
columns to its own tables (`app/piccolo_app.py`), and the database enforces them as before.
"""

from piccolo.columns import Bytea, Date, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.reference import LazyTableReference
from piccolo.table import Table

ENTRY_KINDS = ("grant", "purchase", "hold", "capture", "release", "expire", "refund", "adjustment")
LOT_SOURCES = ("grant", "purchase", "adjustment")
HOLD_STATUSES = ("held", "captured", "released")


class PointsAccount(Table, tablename="points_accounts"):
    """One per organisation: its spendable (`available`) and held points."""

    organization = Integer(unique=True, default=None)
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
    actor = Integer(null=True, default=None)
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
    # An account's entries newest first (history pages), and those of a month (usage statements).
    composite_indexes = {
        "ledger_entries_account_id": ("account", "id"),
        "ledger_entries_account_created": ("account", "created_at"),
    }
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
        # The cached balance is the running balance of the account's last entry: checked at the end
        # of every statement that writes entries or changes accounts (a batch does both in one
        # statement, so each check sees the other's rows), once per statement, not per row.
        """CREATE FUNCTION ledger_accounts_match_entries(accounts integer[]) RETURNS void LANGUAGE plpgsql AS $$
        DECLARE
            wrong RECORD;
        BEGIN
            SELECT a.id, a.available, a.held, COALESCE(last.available_after, 0) AS available_after,
                   COALESCE(last.held_after, 0) AS held_after INTO wrong
            FROM points_accounts a LEFT JOIN LATERAL (
                SELECT available_after, held_after FROM ledger_entries e
                WHERE e.account = a.id ORDER BY e.id DESC LIMIT 1
            ) last ON true
            WHERE a.id = ANY(accounts)
              AND (a.available <> COALESCE(last.available_after, 0) OR a.held <> COALESCE(last.held_after, 0))
            LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'points account % does not match its ledger entries: % available and % held, '
                    'the entries say % and %', wrong.id, wrong.available, wrong.held, wrong.available_after,
                    wrong.held_after;
            END IF;
        END $$""",
        """CREATE FUNCTION ledger_entries_match_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM ledger_accounts_match_entries(ARRAY(SELECT DISTINCT account FROM new_entries));
            RETURN NULL;
        END $$""",
        """CREATE FUNCTION points_accounts_match_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM ledger_accounts_match_entries(ARRAY(SELECT id FROM changed_accounts));
            RETURN NULL;
        END $$""",
        "CREATE TRIGGER ledger_entries_match_accounts AFTER INSERT ON ledger_entries "
        "REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_match_accounts()",
        "CREATE TRIGGER points_accounts_match_entries AFTER UPDATE ON points_accounts "
        "REFERENCING NEW TABLE AS changed_accounts FOR EACH STATEMENT EXECUTE FUNCTION points_accounts_match_ledger()",
    ]
    # SQLite cannot write several tables in one statement: the ledger writes an account's entries
    # before the account (billing/batch.py), and the account's new balance is checked against them.
    sqlite_ddl = [
        "CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries "
        "BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: UPDATE on ledger_entries refused'); END",
        "CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries "
        "BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: DELETE on ledger_entries refused'); END",
        "CREATE TRIGGER ledger_entries_running_balance BEFORE INSERT ON ledger_entries WHEN "
        "NEW.available_after <> COALESCE((SELECT available_after FROM ledger_entries WHERE account = NEW.account "
        "ORDER BY id DESC LIMIT 1), 0) + NEW.available_delta "
        "OR NEW.held_after <> COALESCE((SELECT held_after FROM ledger_entries WHERE account = NEW.account "
        "ORDER BY id DESC LIMIT 1), 0) + NEW.held_delta "
        "BEGIN SELECT RAISE(ABORT, 'ledger entry does not follow the previous balance of its account'); END",
        "CREATE TRIGGER points_accounts_match_entries AFTER UPDATE OF available, held ON points_accounts WHEN "
        "NEW.available <> COALESCE((SELECT available_after FROM ledger_entries WHERE account = NEW.id "
        "ORDER BY id DESC LIMIT 1), 0) "
        "OR NEW.held <> COALESCE((SELECT held_after FROM ledger_entries WHERE account = NEW.id "
        "ORDER BY id DESC LIMIT 1), 0) "
        "BEGIN SELECT RAISE(ABORT, 'points account does not match its ledger entries'); END",
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
    sqlite_ddl = [
        "CREATE TRIGGER point_allocations_no_update BEFORE UPDATE ON point_allocations "
        "BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: UPDATE on point_allocations refused'); END",
        "CREATE TRIGGER point_allocations_no_delete BEFORE DELETE ON point_allocations "
        "BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: DELETE on point_allocations refused'); END",
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


# --- buying points and the documents of the sale -----------------------------------------------

PURCHASE_METHODS = ("card", "invoice")
# pending: a card checkout is open; processing: the checkout is done, the payment not yet confirmed
# (a delayed method); awaiting_payment: invoiced, waiting for the bank transfer; paid: the points
# were granted; failed / expired: the card payment did not happen; cancelled: the invoice was voided.
PURCHASE_STATUSES = ("pending", "processing", "awaiting_payment", "paid", "failed", "expired", "cancelled")
DOCUMENT_KINDS = ("invoice", "receipt", "credit_note")
DOCUMENT_STATUSES = ("issued", "paid", "void", "replaced")


class IssuerProfile(Table, tablename="issuer_profiles"):
    """The vendor as the issuer of invoices, receipts and credit notes (適格請求書発行事業者).

    The newest row is in force; earlier rows are kept as the history of the changes. Every
    document copies what it needs, so a change never alters a document already issued.
    """

    name = Varchar(length=200)
    registration_number = Varchar(length=14)
    address = Text(default="")
    phone = Varchar(length=40, default="")
    email = Varchar(length=254, default="")
    bank_account = Text(default="")
    payment_terms_days = Integer(default=30)
    tax_rounding = Varchar(length=10, default="down")
    updated_by = Integer(null=True, default=None)
    created_at = Timestamptz()

    checks = {
        "issuer_registration_number_shape": "registration_number LIKE 'T_____________' AND length(registration_number) = 14",
        "issuer_payment_terms_positive": "payment_terms_days > 0",
        "issuer_known_rounding": "tax_rounding IN ('down', 'up', 'half_up')",
    }


class Purchase(Table, tablename="purchases"):
    """Bundles bought by an organisation: what was bought at what price, how, and what became of it.

    The bundle is copied (code, names, points, unit price, tax rate, validity), so a later change
    of the price list never changes a purchase. A paid purchase has its lot of points.
    """

    organization = Integer(index=True, default=None)
    requested_by = Integer(null=True, default=None)
    # The form's or the API call's key: submitting the same purchase twice buys once.
    request_key = Varchar(length=255, null=True, default=None, unique=True)
    bundle_code = Varchar(length=32)
    bundle_name_ja = Varchar(length=100)
    bundle_name_en = Varchar(length=100)
    bundle_points = Integer()
    unit_price_jpy = Integer()
    quantity = Integer()
    points = Integer()
    price_jpy = Integer()
    tax_rate = Integer()
    tax_jpy = Integer()
    total_jpy = Integer()
    validity_months = Integer()
    method = Varchar(length=10)
    status = Varchar(length=20)
    recipient_name = Varchar(length=200)
    stripe_session_id = Varchar(length=255, null=True, default=None, unique=True)
    stripe_payment_intent = Varchar(length=255, null=True, default=None, index=True)
    stripe_refund_id = Varchar(length=255, null=True, default=None)
    checkout_url = Text(default="")
    lot = ForeignKey(PointLot, null=True, on_delete=OnDelete.restrict, unique=True)
    paid_at = Timestamptz(null=True, default=None)
    refunded_points = Integer(default=0)
    refunded_at = Timestamptz(null=True, default=None)
    failure_reason = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()

    checks = {
        "purchase_known_method": "method IN ('card', 'invoice')",
        "purchase_known_status": (
            "status IN ('pending', 'processing', 'awaiting_payment', 'paid', 'failed', 'expired', 'cancelled')"
        ),
        "purchase_quantity_positive": "quantity > 0",
        "purchase_bundle_points_positive": "bundle_points > 0",
        "purchase_points_add_up": "points = bundle_points * quantity",
        "purchase_price_adds_up": "price_jpy = unit_price_jpy * quantity",
        "purchase_total_adds_up": "total_jpy = price_jpy + tax_jpy",
        "purchase_yen_not_negative": "unit_price_jpy >= 0 AND tax_jpy >= 0 AND tax_rate >= 0",
        # Every point carries a whole number of yen (the lot's unit value for revenue).
        "purchase_whole_yen_per_point": "unit_price_jpy % bundle_points = 0",
        "purchase_paid_has_its_lot": "(status = 'paid') = (lot IS NOT NULL AND paid_at IS NOT NULL)",
        "purchase_refund_within_points": "refunded_points >= 0 AND refunded_points <= points",
    }


class BillingDocument(Table, tablename="billing_documents"):
    """An issued invoice (適格請求書), receipt (領収書) or credit note (適格返還請求書).

    Numbers are sequential per kind and year and never reused (billing_document_counters). What
    the document says never changes once issued: only its status (paid, void with a reason,
    replaced by a corrected invoice), its payments and, once, its stored PDF change. A credit note
    or a corrected invoice links to the document it corrects (`original`).
    """

    kind = Varchar(length=12)
    number = Varchar(length=20, unique=True)
    year = Integer()
    sequence = Integer()
    organization = Integer(index=True, default=None)
    purchase = ForeignKey(Purchase, null=True, on_delete=OnDelete.restrict, index=True)
    # NO ACTION, not RESTRICT: SQLite checks RESTRICT row by row, and documents are never deleted.
    original = ForeignKey(
        LazyTableReference("BillingDocument", module_path="billing.tables"), null=True,
        on_delete=OnDelete.no_action,
    )
    status = Varchar(length=10, default="issued")
    issued_on = Date()
    transaction_on = Date()
    due_on = Date(null=True, default=None)
    paid_on = Date(null=True, default=None)
    payment_method = Varchar(length=20, default="")
    recipient_name = Varchar(length=200)
    issuer_name = Varchar(length=200)
    issuer_registration_number = Varchar(length=14)
    issuer_address = Text(default="")
    issuer_phone = Varchar(length=40, default="")
    issuer_email = Varchar(length=254, default="")
    issuer_bank_account = Text(default="")
    subtotal_jpy = Integer()
    tax_jpy = Integer()
    total_jpy = Integer()
    paid_jpy = Integer(default=0)
    note = Text(default="")
    pdf = Bytea(null=True, default=None)
    pdf_sha256 = Varchar(length=64, null=True, default=None)
    issued_by = Integer(null=True, default=None)
    void_reason = Text(default="")
    voided_at = Timestamptz(null=True, default=None)
    voided_by = Integer(null=True, default=None)
    created_at = Timestamptz()

    checks = {
        "document_known_kind": "kind IN ('invoice', 'receipt', 'credit_note')",
        "document_known_status": "status IN ('issued', 'paid', 'void', 'replaced')",
        "document_sequence_positive": "sequence > 0",
        "document_totals_add_up": "total_jpy = subtotal_jpy + tax_jpy",
        "document_yen_not_negative": "subtotal_jpy >= 0 AND tax_jpy >= 0",
        "document_paid_within_total": "paid_jpy >= 0 AND paid_jpy <= total_jpy",
        "document_only_invoices_are_paid_or_replaced": "status NOT IN ('paid', 'replaced') OR kind = 'invoice'",
        "document_paid_in_full": "status <> 'paid' OR (paid_jpy = total_jpy AND paid_on IS NOT NULL)",
        "document_void_has_a_reason": "(status = 'void') = (voided_at IS NOT NULL) AND (status <> 'void' OR void_reason <> '')",
        "document_credit_notes_name_the_original": "kind <> 'credit_note' OR original IS NOT NULL",
        "document_pdf_with_its_hash": "(pdf IS NULL) = (pdf_sha256 IS NULL)",
    }
    unique_together = {"billing_documents_number_once": ("kind", "year", "sequence")}
    composite_indexes = {"billing_documents_issued": ("issued_on", "id")}
    # What an issued document says is immutable (its status, payments and the first stored PDF
    # may change); documents are never deleted.
    _immutable = (
        "kind", "number", "year", "sequence", "organization", "purchase", "original", "issued_on",
        "transaction_on", "due_on", "payment_method", "recipient_name", "issuer_name",
        "issuer_registration_number", "issuer_address", "issuer_phone", "issuer_email", "issuer_bank_account",
        "subtotal_jpy", "tax_jpy", "total_jpy", "note", "issued_by", "created_at",
    )
    postgres_ddl = [
        """CREATE FUNCTION billing_document_stays_as_issued() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'issued documents are never deleted: % refused', OLD.number;
            END IF;
            IF ROW("""
        + ", ".join(f"NEW.{c}" for c in _immutable)
        + ") IS DISTINCT FROM ROW("
        + ", ".join(f"OLD.{c}" for c in _immutable)
        + """) OR (OLD.pdf IS NOT NULL AND (NEW.pdf IS DISTINCT FROM OLD.pdf OR NEW.pdf_sha256 IS DISTINCT FROM OLD.pdf_sha256)) THEN
                RAISE EXCEPTION 'document % was issued and cannot be changed', OLD.number;
            END IF;
            RETURN NEW;
        END $$""",
        "CREATE TRIGGER billing_documents_stay_as_issued BEFORE UPDATE OR DELETE ON billing_documents "
        "FOR EACH ROW EXECUTE FUNCTION billing_document_stays_as_issued()",
    ]
    sqlite_ddl = [
        f"CREATE TRIGGER billing_documents_stay_as_issued BEFORE UPDATE OF {', '.join(_immutable)} "
        "ON billing_documents BEGIN SELECT RAISE(ABORT, 'an issued document cannot be changed'); END",
        "CREATE TRIGGER billing_documents_keep_their_pdf BEFORE UPDATE OF pdf, pdf_sha256 ON billing_documents "
        "WHEN OLD.pdf IS NOT NULL BEGIN SELECT RAISE(ABORT, 'an issued document keeps its PDF'); END",
        "CREATE TRIGGER billing_documents_never_deleted BEFORE DELETE ON billing_documents "
        "BEGIN SELECT RAISE(ABORT, 'issued documents are never deleted'); END",
    ]


class DocumentLine(Table, tablename="billing_document_lines"):
    """One line of a document: `quantity` × `unit_price_jpy` (tax-exclusive) at `tax_rate` percent."""

    document = ForeignKey(BillingDocument, null=False, on_delete=OnDelete.restrict, index=True)
    position = Integer()
    description = Text()
    quantity = Integer()
    unit_price_jpy = Integer()
    amount_jpy = Integer()
    tax_rate = Integer()

    checks = {
        "document_line_quantity_positive": "quantity > 0",
        "document_line_amount_adds_up": "amount_jpy = quantity * unit_price_jpy",
        "document_line_yen_not_negative": "unit_price_jpy >= 0 AND tax_rate >= 0",
    }
    unique_together = {"billing_document_lines_position": ("document", "position")}


class DocumentTax(Table, tablename="billing_document_taxes"):
    """A document's lines at one tax rate, their total and its consumption tax (rounded once)."""

    document = ForeignKey(BillingDocument, null=False, on_delete=OnDelete.restrict, index=True)
    tax_rate = Integer()
    base_jpy = Integer()
    tax_jpy = Integer()

    checks = {"document_tax_not_negative": "tax_rate >= 0 AND base_jpy >= 0 AND tax_jpy >= 0"}
    unique_together = {"billing_document_taxes_rate": ("document", "tax_rate")}


class DocumentCounter(Table, tablename="billing_document_counters"):
    """The last number given to a kind of document in a year (locked while a number is taken)."""

    kind = Varchar(length=12)
    year = Integer()
    last_sequence = Integer(default=0)

    checks = {"document_counter_not_negative": "last_sequence >= 0"}
    unique_together = {"billing_document_counters_kind_year": ("kind", "year")}


class InvoicePayment(Table, tablename="invoice_payments"):
    """A bank transfer received against an invoice (finance records it)."""

    document = ForeignKey(BillingDocument, null=False, on_delete=OnDelete.restrict, index=True)
    paid_on = Date()
    amount_jpy = Integer()
    note = Text(default="")
    # The form's key: the same payment submitted twice is recorded once.
    request_key = Varchar(length=255, null=True, default=None, unique=True)
    recorded_by = Integer(null=True, default=None)
    created_at = Timestamptz()

    checks = {"invoice_payment_positive": "amount_jpy > 0"}


class StripeEvent(Table, tablename="stripe_events"):
    """A Stripe webhook event, recorded in the transaction that applied it: each id applies once."""

    event_id = Varchar(length=255, unique=True)
    type = Varchar(length=100)
    outcome = Text(default="")
    received_at = Timestamptz()


class UsageStatement(Table, tablename="usage_statements"):
    """An organisation's usage statement (利用明細書) for a month that has ended, as issued."""

    organization = Integer(default=None)
    month = Varchar(length=7)
    opening_points = Integer()
    closing_points = Integer()
    pdf = Bytea()
    pdf_sha256 = Varchar(length=64)
    created_at = Timestamptz()

    unique_together = {"usage_statements_once_a_month": ("organization", "month")}
    composite_indexes = {"usage_statements_month": ("month", "organization")}


LEDGER_TABLES = [PointsAccount, PointLot, PointHold, LedgerEntry, PointAllocation]
ALERT_TABLES = [ExpiryReminder, LedgerJobMark]
SALE_TABLES = [
    IssuerProfile, Purchase, BillingDocument, DocumentLine, DocumentTax, DocumentCounter, InvoicePayment,
    StripeEvent, UsageStatement,
]
