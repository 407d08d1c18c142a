"""Constraints, indexes and triggers of the purchase and document tables, and the index the usage
statements read the ledger by (see app/schema.py).

The statements are written out here, not imported, so that this migration never changes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-01T18:47:43:999999"
VERSION = "1.38.0"
DESCRIPTION = "purchase and document constraints"

POSTGRES_STATEMENTS = ['CREATE INDEX ledger_entries_account_created ON "ledger_entries" ("account", "created_at")',
 'ALTER TABLE "issuer_profiles" ADD CONSTRAINT issuer_registration_number_shape CHECK '
 "(registration_number LIKE 'T_____________' AND length(registration_number) = 14)",
 'ALTER TABLE "issuer_profiles" ADD CONSTRAINT issuer_payment_terms_positive CHECK '
 '(payment_terms_days > 0)',
 'ALTER TABLE "issuer_profiles" ADD CONSTRAINT issuer_known_rounding CHECK (tax_rounding IN '
 "('down', 'up', 'half_up'))",
 'ALTER TABLE "purchases" ADD CONSTRAINT purchase_known_method CHECK (method IN (\'card\', '
 "'invoice'))",
 'ALTER TABLE "purchases" ADD CONSTRAINT purchase_known_status CHECK (status IN (\'pending\', '
 "'processing', 'awaiting_payment', 'paid', 'failed', 'expired', 'cancelled'))",
 'ALTER TABLE "purchases" ADD CONSTRAINT purchase_quantity_positive CHECK (quantity > 0)',
 'ALTER TABLE "purchases" ADD CONSTRAINT purchase_bundle_points_positive CHECK (bundle_points > 0)',
 'ALTER TABLE "purchases" ADD CONSTRAINT purchase_points_add_up CHECK (points = bundle_points * '
 'quantity)',
 'ALTER TABLE "purchases" ADD CONSTRAINT purchase_price_adds_up CHECK (price_jpy = unit_price_jpy '
 '* quantity)',
 'ALTER TABLE "purchases" ADD CONSTRAINT purchase_total_adds_up CHECK (total_jpy = price_jpy + '
 'tax_jpy)',
 'ALTER TABLE "purchases" ADD CONSTRAINT purchase_yen_not_negative CHECK (unit_price_jpy >= 0 AND '
 'tax_jpy >= 0 AND tax_rate >= 0)',
 'ALTER TABLE "purchases" ADD CONSTRAINT purchase_whole_yen_per_point CHECK (unit_price_jpy % '
 'bundle_points = 0)',
 'ALTER TABLE "purchases" ADD CONSTRAINT purchase_paid_has_its_lot CHECK ((status = \'paid\') = '
 '(lot IS NOT NULL AND paid_at IS NOT NULL))',
 'ALTER TABLE "purchases" ADD CONSTRAINT purchase_refund_within_points CHECK (refunded_points >= 0 '
 'AND refunded_points <= points)',
 'ALTER TABLE "billing_documents" ADD CONSTRAINT document_known_kind CHECK (kind IN (\'invoice\', '
 "'receipt', 'credit_note'))",
 'ALTER TABLE "billing_documents" ADD CONSTRAINT document_known_status CHECK (status IN '
 "('issued', 'paid', 'void', 'replaced'))",
 'ALTER TABLE "billing_documents" ADD CONSTRAINT document_sequence_positive CHECK (sequence > 0)',
 'ALTER TABLE "billing_documents" ADD CONSTRAINT document_totals_add_up CHECK (total_jpy = '
 'subtotal_jpy + tax_jpy)',
 'ALTER TABLE "billing_documents" ADD CONSTRAINT document_yen_not_negative CHECK (subtotal_jpy >= '
 '0 AND tax_jpy >= 0)',
 'ALTER TABLE "billing_documents" ADD CONSTRAINT document_paid_within_total CHECK (paid_jpy >= 0 '
 'AND paid_jpy <= total_jpy)',
 'ALTER TABLE "billing_documents" ADD CONSTRAINT document_only_invoices_are_paid_or_replaced CHECK '
 "(status NOT IN ('paid', 'replaced') OR kind = 'invoice')",
 'ALTER TABLE "billing_documents" ADD CONSTRAINT document_paid_in_full CHECK (status <> \'paid\' '
 'OR (paid_jpy = total_jpy AND paid_on IS NOT NULL))',
 'ALTER TABLE "billing_documents" ADD CONSTRAINT document_void_has_a_reason CHECK ((status = '
 "'void') = (voided_at IS NOT NULL) AND (status <> 'void' OR void_reason <> ''))",
 'ALTER TABLE "billing_documents" ADD CONSTRAINT document_credit_notes_name_the_original CHECK '
 "(kind <> 'credit_note' OR original IS NOT NULL)",
 'ALTER TABLE "billing_documents" ADD CONSTRAINT document_pdf_with_its_hash CHECK ((pdf IS NULL) = '
 '(pdf_sha256 IS NULL))',
 'CREATE UNIQUE INDEX billing_documents_number_once ON "billing_documents" ("kind", "year", '
 '"sequence")',
 'CREATE INDEX billing_documents_issued ON "billing_documents" ("issued_on", "id")',
 'CREATE FUNCTION billing_document_stays_as_issued() RETURNS trigger LANGUAGE plpgsql AS $$\n'
 '        BEGIN\n'
 "            IF TG_OP = 'DELETE' THEN\n"
 "                RAISE EXCEPTION 'issued documents are never deleted: % refused', OLD.number;\n"
 '            END IF;\n'
 '            IF ROW(NEW.kind, NEW.number, NEW.year, NEW.sequence, NEW.organization, NEW.purchase, '
 'NEW.original, NEW.issued_on, NEW.transaction_on, NEW.due_on, NEW.payment_method, '
 'NEW.recipient_name, NEW.issuer_name, NEW.issuer_registration_number, NEW.issuer_address, '
 'NEW.issuer_phone, NEW.issuer_email, NEW.issuer_bank_account, NEW.subtotal_jpy, NEW.tax_jpy, '
 'NEW.total_jpy, NEW.note, NEW.issued_by, NEW.created_at) IS DISTINCT FROM ROW(OLD.kind, '
 'OLD.number, OLD.year, OLD.sequence, OLD.organization, OLD.purchase, OLD.original, OLD.issued_on, '
 'OLD.transaction_on, OLD.due_on, OLD.payment_method, OLD.recipient_name, OLD.issuer_name, '
 'OLD.issuer_registration_number, OLD.issuer_address, OLD.issuer_phone, OLD.issuer_email, '
 'OLD.issuer_bank_account, OLD.subtotal_jpy, OLD.tax_jpy, OLD.total_jpy, OLD.note, OLD.issued_by, '
 'OLD.created_at) OR (OLD.pdf IS NOT NULL AND (NEW.pdf IS DISTINCT FROM OLD.pdf OR NEW.pdf_sha256 '
 'IS DISTINCT FROM OLD.pdf_sha256)) THEN\n'
 "                RAISE EXCEPTION 'document % was issued and cannot be changed', OLD.number;\n"
 '            END IF;\n'
 '            RETURN NEW;\n'
 '        END $$',
 'CREATE TRIGGER billing_documents_stay_as_issued BEFORE UPDATE OR DELETE ON billing_documents FOR '
 'EACH ROW EXECUTE FUNCTION billing_document_stays_as_issued()',
 'ALTER TABLE "billing_document_lines" ADD CONSTRAINT document_line_quantity_positive CHECK '
 '(quantity > 0)',
 'ALTER TABLE "billing_document_lines" ADD CONSTRAINT document_line_amount_adds_up CHECK '
 '(amount_jpy = quantity * unit_price_jpy)',
 'ALTER TABLE "billing_document_lines" ADD CONSTRAINT document_line_yen_not_negative CHECK '
 '(unit_price_jpy >= 0 AND tax_rate >= 0)',
 'CREATE UNIQUE INDEX billing_document_lines_position ON "billing_document_lines" ("document", '
 '"position")',
 'ALTER TABLE "billing_document_taxes" ADD CONSTRAINT document_tax_not_negative CHECK (tax_rate >= '
 '0 AND base_jpy >= 0 AND tax_jpy >= 0)',
 'CREATE UNIQUE INDEX billing_document_taxes_rate ON "billing_document_taxes" ("document", '
 '"tax_rate")',
 'ALTER TABLE "billing_document_counters" ADD CONSTRAINT document_counter_not_negative CHECK '
 '(last_sequence >= 0)',
 'CREATE UNIQUE INDEX billing_document_counters_kind_year ON "billing_document_counters" ("kind", '
 '"year")',
 'ALTER TABLE "invoice_payments" ADD CONSTRAINT invoice_payment_positive CHECK (amount_jpy > 0)',
 'CREATE UNIQUE INDEX usage_statements_once_a_month ON "usage_statements" ("organization", '
 '"month")',
 'CREATE INDEX usage_statements_month ON "usage_statements" ("month", "organization")']

SQLITE_STATEMENTS = ['CREATE INDEX ledger_entries_account_created ON "ledger_entries" ("account", "created_at")',
 'CREATE TRIGGER issuer_profiles_issuer_registration_number_shape_insert BEFORE INSERT ON '
 '"issuer_profiles" WHEN NOT (NEW.registration_number LIKE \'T_____________\' AND '
 "length(NEW.registration_number) = 14) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "issuer_registration_number_shape'); END",
 'CREATE TRIGGER issuer_profiles_issuer_registration_number_shape_update BEFORE UPDATE ON '
 '"issuer_profiles" WHEN NOT (NEW.registration_number LIKE \'T_____________\' AND '
 "length(NEW.registration_number) = 14) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "issuer_registration_number_shape'); END",
 'CREATE TRIGGER issuer_profiles_issuer_payment_terms_positive_insert BEFORE INSERT ON '
 '"issuer_profiles" WHEN NOT (NEW.payment_terms_days > 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: issuer_payment_terms_positive'); END",
 'CREATE TRIGGER issuer_profiles_issuer_payment_terms_positive_update BEFORE UPDATE ON '
 '"issuer_profiles" WHEN NOT (NEW.payment_terms_days > 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: issuer_payment_terms_positive'); END",
 'CREATE TRIGGER issuer_profiles_issuer_known_rounding_insert BEFORE INSERT ON "issuer_profiles" '
 "WHEN NOT (NEW.tax_rounding IN ('down', 'up', 'half_up')) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: issuer_known_rounding'); END",
 'CREATE TRIGGER issuer_profiles_issuer_known_rounding_update BEFORE UPDATE ON "issuer_profiles" '
 "WHEN NOT (NEW.tax_rounding IN ('down', 'up', 'half_up')) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: issuer_known_rounding'); END",
 'CREATE TRIGGER purchases_purchase_known_method_insert BEFORE INSERT ON "purchases" WHEN NOT '
 "(NEW.method IN ('card', 'invoice')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "purchase_known_method'); END",
 'CREATE TRIGGER purchases_purchase_known_method_update BEFORE UPDATE ON "purchases" WHEN NOT '
 "(NEW.method IN ('card', 'invoice')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "purchase_known_method'); END",
 'CREATE TRIGGER purchases_purchase_known_status_insert BEFORE INSERT ON "purchases" WHEN NOT '
 "(NEW.status IN ('pending', 'processing', 'awaiting_payment', 'paid', 'failed', 'expired', "
 "'cancelled')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: purchase_known_status'); END",
 'CREATE TRIGGER purchases_purchase_known_status_update BEFORE UPDATE ON "purchases" WHEN NOT '
 "(NEW.status IN ('pending', 'processing', 'awaiting_payment', 'paid', 'failed', 'expired', "
 "'cancelled')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: purchase_known_status'); END",
 'CREATE TRIGGER purchases_purchase_quantity_positive_insert BEFORE INSERT ON "purchases" WHEN NOT '
 "(NEW.quantity > 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "purchase_quantity_positive'); END",
 'CREATE TRIGGER purchases_purchase_quantity_positive_update BEFORE UPDATE ON "purchases" WHEN NOT '
 "(NEW.quantity > 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "purchase_quantity_positive'); END",
 'CREATE TRIGGER purchases_purchase_bundle_points_positive_insert BEFORE INSERT ON "purchases" '
 "WHEN NOT (NEW.bundle_points > 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "purchase_bundle_points_positive'); END",
 'CREATE TRIGGER purchases_purchase_bundle_points_positive_update BEFORE UPDATE ON "purchases" '
 "WHEN NOT (NEW.bundle_points > 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "purchase_bundle_points_positive'); END",
 'CREATE TRIGGER purchases_purchase_points_add_up_insert BEFORE INSERT ON "purchases" WHEN NOT '
 "(NEW.points = NEW.bundle_points * NEW.quantity) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: purchase_points_add_up'); END",
 'CREATE TRIGGER purchases_purchase_points_add_up_update BEFORE UPDATE ON "purchases" WHEN NOT '
 "(NEW.points = NEW.bundle_points * NEW.quantity) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: purchase_points_add_up'); END",
 'CREATE TRIGGER purchases_purchase_price_adds_up_insert BEFORE INSERT ON "purchases" WHEN NOT '
 "(NEW.price_jpy = NEW.unit_price_jpy * NEW.quantity) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: purchase_price_adds_up'); END",
 'CREATE TRIGGER purchases_purchase_price_adds_up_update BEFORE UPDATE ON "purchases" WHEN NOT '
 "(NEW.price_jpy = NEW.unit_price_jpy * NEW.quantity) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: purchase_price_adds_up'); END",
 'CREATE TRIGGER purchases_purchase_total_adds_up_insert BEFORE INSERT ON "purchases" WHEN NOT '
 "(NEW.total_jpy = NEW.price_jpy + NEW.tax_jpy) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: purchase_total_adds_up'); END",
 'CREATE TRIGGER purchases_purchase_total_adds_up_update BEFORE UPDATE ON "purchases" WHEN NOT '
 "(NEW.total_jpy = NEW.price_jpy + NEW.tax_jpy) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: purchase_total_adds_up'); END",
 'CREATE TRIGGER purchases_purchase_yen_not_negative_insert BEFORE INSERT ON "purchases" WHEN NOT '
 '(NEW.unit_price_jpy >= 0 AND NEW.tax_jpy >= 0 AND NEW.tax_rate >= 0) BEGIN SELECT RAISE(ABORT, '
 "'CHECK constraint failed: purchase_yen_not_negative'); END",
 'CREATE TRIGGER purchases_purchase_yen_not_negative_update BEFORE UPDATE ON "purchases" WHEN NOT '
 '(NEW.unit_price_jpy >= 0 AND NEW.tax_jpy >= 0 AND NEW.tax_rate >= 0) BEGIN SELECT RAISE(ABORT, '
 "'CHECK constraint failed: purchase_yen_not_negative'); END",
 'CREATE TRIGGER purchases_purchase_whole_yen_per_point_insert BEFORE INSERT ON "purchases" WHEN '
 "NOT (NEW.unit_price_jpy % NEW.bundle_points = 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: purchase_whole_yen_per_point'); END",
 'CREATE TRIGGER purchases_purchase_whole_yen_per_point_update BEFORE UPDATE ON "purchases" WHEN '
 "NOT (NEW.unit_price_jpy % NEW.bundle_points = 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: purchase_whole_yen_per_point'); END",
 'CREATE TRIGGER purchases_purchase_paid_has_its_lot_insert BEFORE INSERT ON "purchases" WHEN NOT '
 "((NEW.status = 'paid') = (NEW.lot IS NOT NULL AND NEW.paid_at IS NOT NULL)) BEGIN SELECT "
 "RAISE(ABORT, 'CHECK constraint failed: purchase_paid_has_its_lot'); END",
 'CREATE TRIGGER purchases_purchase_paid_has_its_lot_update BEFORE UPDATE ON "purchases" WHEN NOT '
 "((NEW.status = 'paid') = (NEW.lot IS NOT NULL AND NEW.paid_at IS NOT NULL)) BEGIN SELECT "
 "RAISE(ABORT, 'CHECK constraint failed: purchase_paid_has_its_lot'); END",
 'CREATE TRIGGER purchases_purchase_refund_within_points_insert BEFORE INSERT ON "purchases" WHEN '
 'NOT (NEW.refunded_points >= 0 AND NEW.refunded_points <= NEW.points) BEGIN SELECT RAISE(ABORT, '
 "'CHECK constraint failed: purchase_refund_within_points'); END",
 'CREATE TRIGGER purchases_purchase_refund_within_points_update BEFORE UPDATE ON "purchases" WHEN '
 'NOT (NEW.refunded_points >= 0 AND NEW.refunded_points <= NEW.points) BEGIN SELECT RAISE(ABORT, '
 "'CHECK constraint failed: purchase_refund_within_points'); END",
 'CREATE TRIGGER billing_documents_document_known_kind_insert BEFORE INSERT ON "billing_documents" '
 "WHEN NOT (NEW.kind IN ('invoice', 'receipt', 'credit_note')) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: document_known_kind'); END",
 'CREATE TRIGGER billing_documents_document_known_kind_update BEFORE UPDATE ON "billing_documents" '
 "WHEN NOT (NEW.kind IN ('invoice', 'receipt', 'credit_note')) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: document_known_kind'); END",
 'CREATE TRIGGER billing_documents_document_known_status_insert BEFORE INSERT ON '
 '"billing_documents" WHEN NOT (NEW.status IN (\'issued\', \'paid\', \'void\', \'replaced\')) '
 "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: document_known_status'); END",
 'CREATE TRIGGER billing_documents_document_known_status_update BEFORE UPDATE ON '
 '"billing_documents" WHEN NOT (NEW.status IN (\'issued\', \'paid\', \'void\', \'replaced\')) '
 "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: document_known_status'); END",
 'CREATE TRIGGER billing_documents_document_sequence_positive_insert BEFORE INSERT ON '
 '"billing_documents" WHEN NOT (NEW.sequence > 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: document_sequence_positive'); END",
 'CREATE TRIGGER billing_documents_document_sequence_positive_update BEFORE UPDATE ON '
 '"billing_documents" WHEN NOT (NEW.sequence > 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: document_sequence_positive'); END",
 'CREATE TRIGGER billing_documents_document_totals_add_up_insert BEFORE INSERT ON '
 '"billing_documents" WHEN NOT (NEW.total_jpy = NEW.subtotal_jpy + NEW.tax_jpy) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: document_totals_add_up'); END",
 'CREATE TRIGGER billing_documents_document_totals_add_up_update BEFORE UPDATE ON '
 '"billing_documents" WHEN NOT (NEW.total_jpy = NEW.subtotal_jpy + NEW.tax_jpy) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: document_totals_add_up'); END",
 'CREATE TRIGGER billing_documents_document_yen_not_negative_insert BEFORE INSERT ON '
 '"billing_documents" WHEN NOT (NEW.subtotal_jpy >= 0 AND NEW.tax_jpy >= 0) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: document_yen_not_negative'); END",
 'CREATE TRIGGER billing_documents_document_yen_not_negative_update BEFORE UPDATE ON '
 '"billing_documents" WHEN NOT (NEW.subtotal_jpy >= 0 AND NEW.tax_jpy >= 0) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: document_yen_not_negative'); END",
 'CREATE TRIGGER billing_documents_document_paid_within_total_insert BEFORE INSERT ON '
 '"billing_documents" WHEN NOT (NEW.paid_jpy >= 0 AND NEW.paid_jpy <= NEW.total_jpy) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: document_paid_within_total'); END",
 'CREATE TRIGGER billing_documents_document_paid_within_total_update BEFORE UPDATE ON '
 '"billing_documents" WHEN NOT (NEW.paid_jpy >= 0 AND NEW.paid_jpy <= NEW.total_jpy) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: document_paid_within_total'); END",
 'CREATE TRIGGER billing_documents_document_only_invoices_are_paid_or_replaced_insert BEFORE '
 'INSERT ON "billing_documents" WHEN NOT (NEW.status NOT IN (\'paid\', \'replaced\') OR NEW.kind = '
 "'invoice') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "document_only_invoices_are_paid_or_replaced'); END",
 'CREATE TRIGGER billing_documents_document_only_invoices_are_paid_or_replaced_update BEFORE '
 'UPDATE ON "billing_documents" WHEN NOT (NEW.status NOT IN (\'paid\', \'replaced\') OR NEW.kind = '
 "'invoice') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "document_only_invoices_are_paid_or_replaced'); END",
 'CREATE TRIGGER billing_documents_document_paid_in_full_insert BEFORE INSERT ON '
 '"billing_documents" WHEN NOT (NEW.status <> \'paid\' OR (NEW.paid_jpy = NEW.total_jpy AND '
 "NEW.paid_on IS NOT NULL)) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "document_paid_in_full'); END",
 'CREATE TRIGGER billing_documents_document_paid_in_full_update BEFORE UPDATE ON '
 '"billing_documents" WHEN NOT (NEW.status <> \'paid\' OR (NEW.paid_jpy = NEW.total_jpy AND '
 "NEW.paid_on IS NOT NULL)) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "document_paid_in_full'); END",
 'CREATE TRIGGER billing_documents_document_void_has_a_reason_insert BEFORE INSERT ON '
 '"billing_documents" WHEN NOT ((NEW.status = \'void\') = (NEW.voided_at IS NOT NULL) AND '
 "(NEW.status <> 'void' OR NEW.void_reason <> '')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: document_void_has_a_reason'); END",
 'CREATE TRIGGER billing_documents_document_void_has_a_reason_update BEFORE UPDATE ON '
 '"billing_documents" WHEN NOT ((NEW.status = \'void\') = (NEW.voided_at IS NOT NULL) AND '
 "(NEW.status <> 'void' OR NEW.void_reason <> '')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: document_void_has_a_reason'); END",
 'CREATE TRIGGER billing_documents_document_credit_notes_name_the_original_insert BEFORE INSERT ON '
 '"billing_documents" WHEN NOT (NEW.kind <> \'credit_note\' OR NEW.original IS NOT NULL) BEGIN '
 "SELECT RAISE(ABORT, 'CHECK constraint failed: document_credit_notes_name_the_original'); END",
 'CREATE TRIGGER billing_documents_document_credit_notes_name_the_original_update BEFORE UPDATE ON '
 '"billing_documents" WHEN NOT (NEW.kind <> \'credit_note\' OR NEW.original IS NOT NULL) BEGIN '
 "SELECT RAISE(ABORT, 'CHECK constraint failed: document_credit_notes_name_the_original'); END",
 'CREATE TRIGGER billing_documents_document_pdf_with_its_hash_insert BEFORE INSERT ON '
 '"billing_documents" WHEN NOT ((NEW.pdf IS NULL) = (NEW.pdf_sha256 IS NULL)) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: document_pdf_with_its_hash'); END",
 'CREATE TRIGGER billing_documents_document_pdf_with_its_hash_update BEFORE UPDATE ON '
 '"billing_documents" WHEN NOT ((NEW.pdf IS NULL) = (NEW.pdf_sha256 IS NULL)) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: document_pdf_with_its_hash'); END",
 'CREATE UNIQUE INDEX billing_documents_number_once ON "billing_documents" ("kind", "year", '
 '"sequence")',
 'CREATE INDEX billing_documents_issued ON "billing_documents" ("issued_on", "id")',
 'CREATE TRIGGER billing_documents_stay_as_issued BEFORE UPDATE OF kind, number, year, sequence, '
 'organization, purchase, original, issued_on, transaction_on, due_on, payment_method, '
 'recipient_name, issuer_name, issuer_registration_number, issuer_address, issuer_phone, '
 'issuer_email, issuer_bank_account, subtotal_jpy, tax_jpy, total_jpy, note, issued_by, created_at '
 "ON billing_documents BEGIN SELECT RAISE(ABORT, 'an issued document cannot be changed'); END",
 'CREATE TRIGGER billing_documents_keep_their_pdf BEFORE UPDATE OF pdf, pdf_sha256 ON '
 "billing_documents WHEN OLD.pdf IS NOT NULL BEGIN SELECT RAISE(ABORT, 'an issued document keeps "
 "its PDF'); END",
 'CREATE TRIGGER billing_documents_never_deleted BEFORE DELETE ON billing_documents BEGIN SELECT '
 "RAISE(ABORT, 'issued documents are never deleted'); END",
 'CREATE TRIGGER billing_document_lines_document_line_quantity_positive_insert BEFORE INSERT ON '
 '"billing_document_lines" WHEN NOT (NEW.quantity > 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: document_line_quantity_positive'); END",
 'CREATE TRIGGER billing_document_lines_document_line_quantity_positive_update BEFORE UPDATE ON '
 '"billing_document_lines" WHEN NOT (NEW.quantity > 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: document_line_quantity_positive'); END",
 'CREATE TRIGGER billing_document_lines_document_line_amount_adds_up_insert BEFORE INSERT ON '
 '"billing_document_lines" WHEN NOT (NEW.amount_jpy = NEW.quantity * NEW.unit_price_jpy) BEGIN '
 "SELECT RAISE(ABORT, 'CHECK constraint failed: document_line_amount_adds_up'); END",
 'CREATE TRIGGER billing_document_lines_document_line_amount_adds_up_update BEFORE UPDATE ON '
 '"billing_document_lines" WHEN NOT (NEW.amount_jpy = NEW.quantity * NEW.unit_price_jpy) BEGIN '
 "SELECT RAISE(ABORT, 'CHECK constraint failed: document_line_amount_adds_up'); END",
 'CREATE TRIGGER billing_document_lines_document_line_yen_not_negative_insert BEFORE INSERT ON '
 '"billing_document_lines" WHEN NOT (NEW.unit_price_jpy >= 0 AND NEW.tax_rate >= 0) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: document_line_yen_not_negative'); END",
 'CREATE TRIGGER billing_document_lines_document_line_yen_not_negative_update BEFORE UPDATE ON '
 '"billing_document_lines" WHEN NOT (NEW.unit_price_jpy >= 0 AND NEW.tax_rate >= 0) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: document_line_yen_not_negative'); END",
 'CREATE UNIQUE INDEX billing_document_lines_position ON "billing_document_lines" ("document", '
 '"position")',
 'CREATE TRIGGER billing_document_taxes_document_tax_not_negative_insert BEFORE INSERT ON '
 '"billing_document_taxes" WHEN NOT (NEW.tax_rate >= 0 AND NEW.base_jpy >= 0 AND NEW.tax_jpy >= 0) '
 "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: document_tax_not_negative'); END",
 'CREATE TRIGGER billing_document_taxes_document_tax_not_negative_update BEFORE UPDATE ON '
 '"billing_document_taxes" WHEN NOT (NEW.tax_rate >= 0 AND NEW.base_jpy >= 0 AND NEW.tax_jpy >= 0) '
 "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: document_tax_not_negative'); END",
 'CREATE UNIQUE INDEX billing_document_taxes_rate ON "billing_document_taxes" ("document", '
 '"tax_rate")',
 'CREATE TRIGGER billing_document_counters_document_counter_not_negative_insert BEFORE INSERT ON '
 '"billing_document_counters" WHEN NOT (NEW.last_sequence >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: document_counter_not_negative'); END",
 'CREATE TRIGGER billing_document_counters_document_counter_not_negative_update BEFORE UPDATE ON '
 '"billing_document_counters" WHEN NOT (NEW.last_sequence >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: document_counter_not_negative'); END",
 'CREATE UNIQUE INDEX billing_document_counters_kind_year ON "billing_document_counters" ("kind", '
 '"year")',
 'CREATE TRIGGER invoice_payments_invoice_payment_positive_insert BEFORE INSERT ON '
 '"invoice_payments" WHEN NOT (NEW.amount_jpy > 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: invoice_payment_positive'); END",
 'CREATE TRIGGER invoice_payments_invoice_payment_positive_update BEFORE UPDATE ON '
 '"invoice_payments" WHEN NOT (NEW.amount_jpy > 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: invoice_payment_positive'); END",
 'CREATE UNIQUE INDEX usage_statements_once_a_month ON "usage_statements" ("organization", '
 '"month")',
 'CREATE INDEX usage_statements_month ON "usage_statements" ("month", "organization")']


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kippu", description=DESCRIPTION)

    async def add_constraints_and_indexes():
        engine = engine_finder()
        postgres = engine.engine_type == "postgres"
        for statement in POSTGRES_STATEMENTS if postgres else SQLITE_STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(add_constraints_and_indexes)
    return manager
