"""CHECK constraints, composite unique and list indexes, PostgreSQL-only DDL (see app/schema.py).

The statements are written out here, not imported, so that this migration never changes.
SQLite cannot add a CHECK to an existing table: it gets triggers that abort the write instead.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T15:28:34:073864"
VERSION = "1.38.0"
DESCRIPTION = "constraints and indexes"

POSTGRES_STATEMENTS = ['ALTER TABLE "users" ADD CONSTRAINT known_role CHECK (role IN (\'admin\', \'agent\', '
 "'finance', 'customer_admin', 'customer_member'))",
 'ALTER TABLE "users" ADD CONSTRAINT customers_belong_to_an_organization CHECK ((role IN '
 "('customer_admin', 'customer_member')) = (organization IS NOT NULL))",
 'ALTER TABLE "users" ADD CONSTRAINT known_locale CHECK (locale IN (\'ja\', \'en\'))',
 'CREATE UNIQUE INDEX one_result_per_key ON "idempotency_records" ("user", "key")',
 'ALTER TABLE "point_table_versions" ADD CONSTRAINT point_table_known_status CHECK (status IN '
 "('draft', 'published'))",
 'ALTER TABLE "point_table_versions" ADD CONSTRAINT published_tables_have_a_start CHECK '
 "(status = 'draft' OR (effective_from IS NOT NULL AND published_at IS NOT NULL))",
 'CREATE INDEX point_table_versions_in_force ON "point_table_versions" ("status", '
 '"effective_from")',
 'ALTER TABLE "point_table_request_types" ADD CONSTRAINT request_type_points_not_negative '
 'CHECK (points >= 0)',
 'ALTER TABLE "point_table_request_types" ADD CONSTRAINT request_type_overage_all_or_none '
 'CHECK ((included_minutes IS NULL AND block_minutes IS NULL AND points_per_block IS NULL) OR '
 '(included_minutes >= 0 AND block_minutes > 0 AND points_per_block > 0))',
 'CREATE UNIQUE INDEX one_price_per_code_per_version ON "point_table_request_types" '
 '("version", "code")',
 'ALTER TABLE "point_table_surcharges" ADD CONSTRAINT surcharge_known_priority CHECK (priority '
 "IN ('urgent', 'normal', 'low'))",
 'ALTER TABLE "point_table_surcharges" ADD CONSTRAINT surcharge_points_not_negative CHECK '
 '(points >= 0)',
 'CREATE UNIQUE INDEX one_surcharge_per_priority_per_version ON "point_table_surcharges" '
 '("version", "priority")',
 'ALTER TABLE "point_bundles" ADD CONSTRAINT bundle_points_positive CHECK (points > 0)',
 'ALTER TABLE "point_bundles" ADD CONSTRAINT bundle_price_not_negative CHECK (price_jpy >= 0)',
 'ALTER TABLE "point_bundles" ADD CONSTRAINT bundle_tax_rate_not_negative CHECK (tax_rate >= '
 '0)',
 'ALTER TABLE "point_bundles" ADD CONSTRAINT bundle_validity_positive CHECK (validity_months > '
 '0)',
 'ALTER TABLE "point_bundles" ADD CONSTRAINT bundle_min_quantity_positive CHECK (min_quantity '
 '> 0)',
 'ALTER TABLE "point_bundles" ADD CONSTRAINT bundle_max_not_below_min CHECK (max_quantity IS '
 'NULL OR max_quantity >= min_quantity)',
 'ALTER TABLE "tickets" ADD CONSTRAINT known_status CHECK (status IN (\'new\', \'open\', '
 "'waiting', 'resolved', 'closed', 'cancelled'))",
 'ALTER TABLE "tickets" ADD CONSTRAINT known_priority CHECK (priority IN (\'urgent\', '
 "'normal', 'low'))",
 'ALTER TABLE "tickets" ADD CONSTRAINT known_category CHECK (category IN (\'question\', '
 "'incident', 'change_request', 'notice', 'other'))",
 'ALTER TABLE "tickets" ADD CONSTRAINT version_positive CHECK (version >= 1)',
 'ALTER TABLE "tickets" ADD CONSTRAINT quoted_points_not_negative CHECK (quoted_points >= 0)',
 'ALTER TABLE "tickets" ADD CONSTRAINT extra_minutes_not_negative CHECK (extra_minutes >= 0)',
 'CREATE INDEX tickets_organization_id ON "tickets" ("organization", "id")',
 'CREATE INDEX tickets_status_id ON "tickets" ("status", "id")',
 'CREATE INDEX tickets_assignee_id ON "tickets" ("assignee", "id")',
 'CREATE INDEX tickets_department_id ON "tickets" ("department", "id")',
 'CREATE INDEX tickets_priority_id ON "tickets" ("priority", "id")',
 'CREATE INDEX tickets_requester_id ON "tickets" ("requester", "id")',
 'CREATE INDEX tickets_updated_at ON "tickets" ("updated_at")',
 'CREATE INDEX tickets_status_resolution_due ON "tickets" ("status", "resolution_due_at")',
 'CREATE INDEX tickets_follow_up_of ON "tickets" ("follow_up_of")',
 'ALTER TABLE "ticket_messages" ADD CONSTRAINT minutes_not_negative CHECK (minutes_spent >= 0)',
 'CREATE UNIQUE INDEX one_watch_per_user ON "ticket_watchers" ("ticket", "user")',
 'ALTER TABLE "custom_fields" ADD CONSTRAINT known_type CHECK (field_type IN (\'text\', '
 "'number', 'date', 'choice'))",
 'CREATE INDEX ticket_search_grams ON ticket_search USING gin (grams)',
 'ALTER TABLE ticket_search ALTER COLUMN grams SET STORAGE EXTERNAL',
 'ALTER TABLE "point_change_requests" ADD CONSTRAINT point_change_known_kind CHECK (kind IN '
 "('reclassify', 'overage'))",
 'ALTER TABLE "point_change_requests" ADD CONSTRAINT point_change_known_status CHECK (status '
 "IN ('pending', 'approved', 'declined', 'applied'))",
 'ALTER TABLE "point_change_requests" ADD CONSTRAINT point_change_points_not_negative CHECK '
 '(from_points >= 0 AND to_points >= 0)',
 'ALTER TABLE "point_change_requests" ADD CONSTRAINT point_change_decided CHECK (status = '
 "'pending' OR decided_at IS NOT NULL)",
 'CREATE INDEX point_change_requests_ticket_status ON "point_change_requests" ("ticket", '
 '"status")',
 'ALTER TABLE "points_policies" ADD CONSTRAINT approval_limit_not_negative CHECK '
 '(approval_limit >= 0)',
 'ALTER TABLE "outbox_messages" ADD CONSTRAINT known_status CHECK (status IN (\'pending\', '
 "'sent', 'failed'))",
 'CREATE INDEX outbox_messages_due ON "outbox_messages" ("status", "send_after")',
 'ALTER TABLE "points_accounts" ADD CONSTRAINT account_available_not_negative CHECK (available '
 '>= 0)',
 'ALTER TABLE "points_accounts" ADD CONSTRAINT account_held_not_negative CHECK (held >= 0)',
 'ALTER TABLE "points_accounts" ADD CONSTRAINT account_low_balance_threshold_positive CHECK '
 '(low_balance_threshold IS NULL OR low_balance_threshold > 0)',
 'ALTER TABLE "point_lots" ADD CONSTRAINT lot_known_source CHECK (source IN (\'grant\', '
 "'purchase', 'adjustment'))",
 'ALTER TABLE "point_lots" ADD CONSTRAINT lot_points_positive CHECK (points > 0)',
 'ALTER TABLE "point_lots" ADD CONSTRAINT lot_remaining_not_negative CHECK (remaining >= 0)',
 'ALTER TABLE "point_lots" ADD CONSTRAINT lot_held_not_negative CHECK (held >= 0)',
 'ALTER TABLE "point_lots" ADD CONSTRAINT lot_consumed_not_negative CHECK (consumed >= 0)',
 'ALTER TABLE "point_lots" ADD CONSTRAINT lot_expired_not_negative CHECK (expired >= 0)',
 'ALTER TABLE "point_lots" ADD CONSTRAINT lot_refunded_not_negative CHECK (refunded >= 0)',
 'ALTER TABLE "point_lots" ADD CONSTRAINT lot_points_add_up CHECK (points = remaining + held + '
 'consumed + expired + refunded)',
 'ALTER TABLE "point_lots" ADD CONSTRAINT lot_yen_not_negative CHECK (yen_per_point >= 0)',
 'ALTER TABLE "point_lots" ADD CONSTRAINT lot_only_purchases_carry_yen CHECK (source = '
 "'purchase' OR yen_per_point = 0)",
 'CREATE INDEX point_lots_account_remaining ON "point_lots" ("account", "remaining")',
 'CREATE INDEX point_lots_account_held ON "point_lots" ("account", "held")',
 'CREATE INDEX point_lots_due ON point_lots (expires_on) WHERE remaining > 0',
 'ALTER TABLE "point_holds" ADD CONSTRAINT hold_known_status CHECK (status IN (\'held\', '
 "'captured', 'released'))",
 'ALTER TABLE "point_holds" ADD CONSTRAINT hold_points_not_negative CHECK (points >= 0)',
 'ALTER TABLE "point_holds" ADD CONSTRAINT hold_captured_not_negative CHECK (captured >= 0)',
 'ALTER TABLE "point_holds" ADD CONSTRAINT hold_released_not_negative CHECK (released >= 0)',
 'ALTER TABLE "point_holds" ADD CONSTRAINT settled_holds_hold_nothing CHECK (status = \'held\' '
 'OR points = 0)',
 'ALTER TABLE "ledger_entries" ADD CONSTRAINT entry_known_kind CHECK (kind IN (\'grant\', '
 "'purchase', 'hold', 'capture', 'release', 'expire', 'refund', 'adjustment'))",
 'ALTER TABLE "ledger_entries" ADD CONSTRAINT entry_points_positive CHECK (points > 0)',
 'ALTER TABLE "ledger_entries" ADD CONSTRAINT entry_available_after_not_negative CHECK '
 '(available_after >= 0)',
 'ALTER TABLE "ledger_entries" ADD CONSTRAINT entry_held_after_not_negative CHECK (held_after '
 '>= 0)',
 'ALTER TABLE "ledger_entries" ADD CONSTRAINT entry_yen_not_negative CHECK (yen >= 0)',
 'CREATE INDEX ledger_entries_account_id ON "ledger_entries" ("account", "id")',
 'CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$\n'
 '        BEGIN\n'
 "            RAISE EXCEPTION 'ledger rows are append-only: % on % refused', TG_OP, "
 'TG_TABLE_NAME;\n'
 '        END $$',
 'CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries FOR EACH '
 'ROW EXECUTE FUNCTION ledger_refuse_change()',
 'CREATE FUNCTION ledger_entry_follows_previous() RETURNS trigger LANGUAGE plpgsql AS $$\n'
 '        DECLARE\n'
 '            previous RECORD;\n'
 '        BEGIN\n'
 '            SELECT available_after, held_after INTO previous FROM ledger_entries\n'
 '            WHERE account = NEW.account ORDER BY id DESC LIMIT 1;\n'
 '            IF NEW.available_after <> COALESCE(previous.available_after, 0) + '
 'NEW.available_delta\n'
 '               OR NEW.held_after <> COALESCE(previous.held_after, 0) + NEW.held_delta THEN\n'
 "                RAISE EXCEPTION 'ledger entry % does not follow the previous balance of "
 "account %',\n"
 '                    NEW.idempotency_key, NEW.account;\n'
 '            END IF;\n'
 '            RETURN NEW;\n'
 '        END $$',
 'CREATE TRIGGER ledger_entries_running_balance BEFORE INSERT ON ledger_entries FOR EACH ROW '
 'EXECUTE FUNCTION ledger_entry_follows_previous()',
 'ALTER TABLE "point_allocations" ADD CONSTRAINT allocation_moves_points CHECK '
 '(remaining_delta <> 0 OR held_delta <> 0)',
 'CREATE TRIGGER point_allocations_append_only BEFORE UPDATE OR DELETE ON point_allocations '
 'FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()',
 'ALTER TABLE "point_expiry_reminders" ADD CONSTRAINT reminder_known_days CHECK (days_before '
 'IN (30, 7))',
 'ALTER TABLE "point_expiry_reminders" ADD CONSTRAINT reminder_points_positive CHECK (points > '
 '0)',
 'CREATE UNIQUE INDEX point_expiry_reminders_once ON "point_expiry_reminders" ("lot", '
 '"days_before")']

SQLITE_STATEMENTS = ['CREATE TRIGGER users_known_role_insert BEFORE INSERT ON "users" WHEN NOT (NEW.role IN '
 "('admin', 'agent', 'finance', 'customer_admin', 'customer_member')) BEGIN SELECT "
 "RAISE(ABORT, 'CHECK constraint failed: known_role'); END",
 'CREATE TRIGGER users_known_role_update BEFORE UPDATE ON "users" WHEN NOT (NEW.role IN '
 "('admin', 'agent', 'finance', 'customer_admin', 'customer_member')) BEGIN SELECT "
 "RAISE(ABORT, 'CHECK constraint failed: known_role'); END",
 'CREATE TRIGGER users_customers_belong_to_an_organization_insert BEFORE INSERT ON "users" '
 "WHEN NOT ((NEW.role IN ('customer_admin', 'customer_member')) = (NEW.organization IS NOT "
 "NULL)) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "customers_belong_to_an_organization'); END",
 'CREATE TRIGGER users_customers_belong_to_an_organization_update BEFORE UPDATE ON "users" '
 "WHEN NOT ((NEW.role IN ('customer_admin', 'customer_member')) = (NEW.organization IS NOT "
 "NULL)) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "customers_belong_to_an_organization'); END",
 'CREATE TRIGGER users_known_locale_insert BEFORE INSERT ON "users" WHEN NOT (NEW.locale IN '
 "('ja', 'en')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: known_locale'); END",
 'CREATE TRIGGER users_known_locale_update BEFORE UPDATE ON "users" WHEN NOT (NEW.locale IN '
 "('ja', 'en')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: known_locale'); END",
 'CREATE UNIQUE INDEX one_result_per_key ON "idempotency_records" ("user", "key")',
 'CREATE TRIGGER point_table_versions_point_table_known_status_insert BEFORE INSERT ON '
 '"point_table_versions" WHEN NOT (NEW.status IN (\'draft\', \'published\')) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: point_table_known_status'); END",
 'CREATE TRIGGER point_table_versions_point_table_known_status_update BEFORE UPDATE ON '
 '"point_table_versions" WHEN NOT (NEW.status IN (\'draft\', \'published\')) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: point_table_known_status'); END",
 'CREATE TRIGGER point_table_versions_published_tables_have_a_start_insert BEFORE INSERT ON '
 '"point_table_versions" WHEN NOT (NEW.status = \'draft\' OR (NEW.effective_from IS NOT NULL '
 "AND NEW.published_at IS NOT NULL)) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "published_tables_have_a_start'); END",
 'CREATE TRIGGER point_table_versions_published_tables_have_a_start_update BEFORE UPDATE ON '
 '"point_table_versions" WHEN NOT (NEW.status = \'draft\' OR (NEW.effective_from IS NOT NULL '
 "AND NEW.published_at IS NOT NULL)) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "published_tables_have_a_start'); END",
 'CREATE INDEX point_table_versions_in_force ON "point_table_versions" ("status", '
 '"effective_from")',
 'CREATE TRIGGER point_table_request_types_request_type_points_not_negative_insert BEFORE '
 'INSERT ON "point_table_request_types" WHEN NOT (NEW.points >= 0) BEGIN SELECT RAISE(ABORT, '
 "'CHECK constraint failed: request_type_points_not_negative'); END",
 'CREATE TRIGGER point_table_request_types_request_type_points_not_negative_update BEFORE '
 'UPDATE ON "point_table_request_types" WHEN NOT (NEW.points >= 0) BEGIN SELECT RAISE(ABORT, '
 "'CHECK constraint failed: request_type_points_not_negative'); END",
 'CREATE TRIGGER point_table_request_types_request_type_overage_all_or_none_insert BEFORE '
 'INSERT ON "point_table_request_types" WHEN NOT ((NEW.included_minutes IS NULL AND '
 'NEW.block_minutes IS NULL AND NEW.points_per_block IS NULL) OR (NEW.included_minutes >= 0 '
 "AND NEW.block_minutes > 0 AND NEW.points_per_block > 0)) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: request_type_overage_all_or_none'); END",
 'CREATE TRIGGER point_table_request_types_request_type_overage_all_or_none_update BEFORE '
 'UPDATE ON "point_table_request_types" WHEN NOT ((NEW.included_minutes IS NULL AND '
 'NEW.block_minutes IS NULL AND NEW.points_per_block IS NULL) OR (NEW.included_minutes >= 0 '
 "AND NEW.block_minutes > 0 AND NEW.points_per_block > 0)) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: request_type_overage_all_or_none'); END",
 'CREATE UNIQUE INDEX one_price_per_code_per_version ON "point_table_request_types" '
 '("version", "code")',
 'CREATE TRIGGER point_table_surcharges_surcharge_known_priority_insert BEFORE INSERT ON '
 '"point_table_surcharges" WHEN NOT (NEW.priority IN (\'urgent\', \'normal\', \'low\')) BEGIN '
 "SELECT RAISE(ABORT, 'CHECK constraint failed: surcharge_known_priority'); END",
 'CREATE TRIGGER point_table_surcharges_surcharge_known_priority_update BEFORE UPDATE ON '
 '"point_table_surcharges" WHEN NOT (NEW.priority IN (\'urgent\', \'normal\', \'low\')) BEGIN '
 "SELECT RAISE(ABORT, 'CHECK constraint failed: surcharge_known_priority'); END",
 'CREATE TRIGGER point_table_surcharges_surcharge_points_not_negative_insert BEFORE INSERT ON '
 '"point_table_surcharges" WHEN NOT (NEW.points >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: surcharge_points_not_negative'); END",
 'CREATE TRIGGER point_table_surcharges_surcharge_points_not_negative_update BEFORE UPDATE ON '
 '"point_table_surcharges" WHEN NOT (NEW.points >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: surcharge_points_not_negative'); END",
 'CREATE UNIQUE INDEX one_surcharge_per_priority_per_version ON "point_table_surcharges" '
 '("version", "priority")',
 'CREATE TRIGGER point_bundles_bundle_points_positive_insert BEFORE INSERT ON "point_bundles" '
 "WHEN NOT (NEW.points > 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "bundle_points_positive'); END",
 'CREATE TRIGGER point_bundles_bundle_points_positive_update BEFORE UPDATE ON "point_bundles" '
 "WHEN NOT (NEW.points > 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "bundle_points_positive'); END",
 'CREATE TRIGGER point_bundles_bundle_price_not_negative_insert BEFORE INSERT ON '
 '"point_bundles" WHEN NOT (NEW.price_jpy >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: bundle_price_not_negative'); END",
 'CREATE TRIGGER point_bundles_bundle_price_not_negative_update BEFORE UPDATE ON '
 '"point_bundles" WHEN NOT (NEW.price_jpy >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: bundle_price_not_negative'); END",
 'CREATE TRIGGER point_bundles_bundle_tax_rate_not_negative_insert BEFORE INSERT ON '
 '"point_bundles" WHEN NOT (NEW.tax_rate >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: bundle_tax_rate_not_negative'); END",
 'CREATE TRIGGER point_bundles_bundle_tax_rate_not_negative_update BEFORE UPDATE ON '
 '"point_bundles" WHEN NOT (NEW.tax_rate >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: bundle_tax_rate_not_negative'); END",
 'CREATE TRIGGER point_bundles_bundle_validity_positive_insert BEFORE INSERT ON '
 '"point_bundles" WHEN NOT (NEW.validity_months > 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: bundle_validity_positive'); END",
 'CREATE TRIGGER point_bundles_bundle_validity_positive_update BEFORE UPDATE ON '
 '"point_bundles" WHEN NOT (NEW.validity_months > 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: bundle_validity_positive'); END",
 'CREATE TRIGGER point_bundles_bundle_min_quantity_positive_insert BEFORE INSERT ON '
 '"point_bundles" WHEN NOT (NEW.min_quantity > 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: bundle_min_quantity_positive'); END",
 'CREATE TRIGGER point_bundles_bundle_min_quantity_positive_update BEFORE UPDATE ON '
 '"point_bundles" WHEN NOT (NEW.min_quantity > 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: bundle_min_quantity_positive'); END",
 'CREATE TRIGGER point_bundles_bundle_max_not_below_min_insert BEFORE INSERT ON '
 '"point_bundles" WHEN NOT (NEW.max_quantity IS NULL OR NEW.max_quantity >= NEW.min_quantity) '
 "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: bundle_max_not_below_min'); END",
 'CREATE TRIGGER point_bundles_bundle_max_not_below_min_update BEFORE UPDATE ON '
 '"point_bundles" WHEN NOT (NEW.max_quantity IS NULL OR NEW.max_quantity >= NEW.min_quantity) '
 "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: bundle_max_not_below_min'); END",
 'CREATE TRIGGER tickets_known_status_insert BEFORE INSERT ON "tickets" WHEN NOT (NEW.status '
 "IN ('new', 'open', 'waiting', 'resolved', 'closed', 'cancelled')) BEGIN SELECT RAISE(ABORT, "
 "'CHECK constraint failed: known_status'); END",
 'CREATE TRIGGER tickets_known_status_update BEFORE UPDATE ON "tickets" WHEN NOT (NEW.status '
 "IN ('new', 'open', 'waiting', 'resolved', 'closed', 'cancelled')) BEGIN SELECT RAISE(ABORT, "
 "'CHECK constraint failed: known_status'); END",
 'CREATE TRIGGER tickets_known_priority_insert BEFORE INSERT ON "tickets" WHEN NOT '
 "(NEW.priority IN ('urgent', 'normal', 'low')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: known_priority'); END",
 'CREATE TRIGGER tickets_known_priority_update BEFORE UPDATE ON "tickets" WHEN NOT '
 "(NEW.priority IN ('urgent', 'normal', 'low')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: known_priority'); END",
 'CREATE TRIGGER tickets_known_category_insert BEFORE INSERT ON "tickets" WHEN NOT '
 "(NEW.category IN ('question', 'incident', 'change_request', 'notice', 'other')) BEGIN SELECT "
 "RAISE(ABORT, 'CHECK constraint failed: known_category'); END",
 'CREATE TRIGGER tickets_known_category_update BEFORE UPDATE ON "tickets" WHEN NOT '
 "(NEW.category IN ('question', 'incident', 'change_request', 'notice', 'other')) BEGIN SELECT "
 "RAISE(ABORT, 'CHECK constraint failed: known_category'); END",
 'CREATE TRIGGER tickets_version_positive_insert BEFORE INSERT ON "tickets" WHEN NOT '
 "(NEW.version >= 1) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: version_positive'); "
 'END',
 'CREATE TRIGGER tickets_version_positive_update BEFORE UPDATE ON "tickets" WHEN NOT '
 "(NEW.version >= 1) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: version_positive'); "
 'END',
 'CREATE TRIGGER tickets_quoted_points_not_negative_insert BEFORE INSERT ON "tickets" WHEN NOT '
 "(NEW.quoted_points >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "quoted_points_not_negative'); END",
 'CREATE TRIGGER tickets_quoted_points_not_negative_update BEFORE UPDATE ON "tickets" WHEN NOT '
 "(NEW.quoted_points >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "quoted_points_not_negative'); END",
 'CREATE TRIGGER tickets_extra_minutes_not_negative_insert BEFORE INSERT ON "tickets" WHEN NOT '
 "(NEW.extra_minutes >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "extra_minutes_not_negative'); END",
 'CREATE TRIGGER tickets_extra_minutes_not_negative_update BEFORE UPDATE ON "tickets" WHEN NOT '
 "(NEW.extra_minutes >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "extra_minutes_not_negative'); END",
 'CREATE INDEX tickets_organization_id ON "tickets" ("organization", "id")',
 'CREATE INDEX tickets_status_id ON "tickets" ("status", "id")',
 'CREATE INDEX tickets_assignee_id ON "tickets" ("assignee", "id")',
 'CREATE INDEX tickets_department_id ON "tickets" ("department", "id")',
 'CREATE INDEX tickets_priority_id ON "tickets" ("priority", "id")',
 'CREATE INDEX tickets_requester_id ON "tickets" ("requester", "id")',
 'CREATE INDEX tickets_updated_at ON "tickets" ("updated_at")',
 'CREATE INDEX tickets_status_resolution_due ON "tickets" ("status", "resolution_due_at")',
 'CREATE INDEX tickets_follow_up_of ON "tickets" ("follow_up_of")',
 'CREATE TRIGGER ticket_messages_minutes_not_negative_insert BEFORE INSERT ON '
 '"ticket_messages" WHEN NOT (NEW.minutes_spent >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: minutes_not_negative'); END",
 'CREATE TRIGGER ticket_messages_minutes_not_negative_update BEFORE UPDATE ON '
 '"ticket_messages" WHEN NOT (NEW.minutes_spent >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: minutes_not_negative'); END",
 'CREATE UNIQUE INDEX one_watch_per_user ON "ticket_watchers" ("ticket", "user")',
 'CREATE TRIGGER custom_fields_known_type_insert BEFORE INSERT ON "custom_fields" WHEN NOT '
 "(NEW.field_type IN ('text', 'number', 'date', 'choice')) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: known_type'); END",
 'CREATE TRIGGER custom_fields_known_type_update BEFORE UPDATE ON "custom_fields" WHEN NOT '
 "(NEW.field_type IN ('text', 'number', 'date', 'choice')) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: known_type'); END",
 'CREATE TRIGGER point_change_requests_point_change_known_kind_insert BEFORE INSERT ON '
 '"point_change_requests" WHEN NOT (NEW.kind IN (\'reclassify\', \'overage\')) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: point_change_known_kind'); END",
 'CREATE TRIGGER point_change_requests_point_change_known_kind_update BEFORE UPDATE ON '
 '"point_change_requests" WHEN NOT (NEW.kind IN (\'reclassify\', \'overage\')) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: point_change_known_kind'); END",
 'CREATE TRIGGER point_change_requests_point_change_known_status_insert BEFORE INSERT ON '
 '"point_change_requests" WHEN NOT (NEW.status IN (\'pending\', \'approved\', \'declined\', '
 "'applied')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: point_change_known_status'); "
 'END',
 'CREATE TRIGGER point_change_requests_point_change_known_status_update BEFORE UPDATE ON '
 '"point_change_requests" WHEN NOT (NEW.status IN (\'pending\', \'approved\', \'declined\', '
 "'applied')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: point_change_known_status'); "
 'END',
 'CREATE TRIGGER point_change_requests_point_change_points_not_negative_insert BEFORE INSERT '
 'ON "point_change_requests" WHEN NOT (NEW.from_points >= 0 AND NEW.to_points >= 0) BEGIN '
 "SELECT RAISE(ABORT, 'CHECK constraint failed: point_change_points_not_negative'); END",
 'CREATE TRIGGER point_change_requests_point_change_points_not_negative_update BEFORE UPDATE '
 'ON "point_change_requests" WHEN NOT (NEW.from_points >= 0 AND NEW.to_points >= 0) BEGIN '
 "SELECT RAISE(ABORT, 'CHECK constraint failed: point_change_points_not_negative'); END",
 'CREATE TRIGGER point_change_requests_point_change_decided_insert BEFORE INSERT ON '
 '"point_change_requests" WHEN NOT (NEW.status = \'pending\' OR NEW.decided_at IS NOT NULL) '
 "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: point_change_decided'); END",
 'CREATE TRIGGER point_change_requests_point_change_decided_update BEFORE UPDATE ON '
 '"point_change_requests" WHEN NOT (NEW.status = \'pending\' OR NEW.decided_at IS NOT NULL) '
 "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: point_change_decided'); END",
 'CREATE INDEX point_change_requests_ticket_status ON "point_change_requests" ("ticket", '
 '"status")',
 'CREATE TRIGGER points_policies_approval_limit_not_negative_insert BEFORE INSERT ON '
 '"points_policies" WHEN NOT (NEW.approval_limit >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: approval_limit_not_negative'); END",
 'CREATE TRIGGER points_policies_approval_limit_not_negative_update BEFORE UPDATE ON '
 '"points_policies" WHEN NOT (NEW.approval_limit >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: approval_limit_not_negative'); END",
 'CREATE TRIGGER outbox_messages_known_status_insert BEFORE INSERT ON "outbox_messages" WHEN '
 "NOT (NEW.status IN ('pending', 'sent', 'failed')) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: known_status'); END",
 'CREATE TRIGGER outbox_messages_known_status_update BEFORE UPDATE ON "outbox_messages" WHEN '
 "NOT (NEW.status IN ('pending', 'sent', 'failed')) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: known_status'); END",
 'CREATE INDEX outbox_messages_due ON "outbox_messages" ("status", "send_after")',
 'CREATE TRIGGER points_accounts_account_available_not_negative_insert BEFORE INSERT ON '
 '"points_accounts" WHEN NOT (NEW.available >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: account_available_not_negative'); END",
 'CREATE TRIGGER points_accounts_account_available_not_negative_update BEFORE UPDATE ON '
 '"points_accounts" WHEN NOT (NEW.available >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: account_available_not_negative'); END",
 'CREATE TRIGGER points_accounts_account_held_not_negative_insert BEFORE INSERT ON '
 '"points_accounts" WHEN NOT (NEW.held >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: account_held_not_negative'); END",
 'CREATE TRIGGER points_accounts_account_held_not_negative_update BEFORE UPDATE ON '
 '"points_accounts" WHEN NOT (NEW.held >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: account_held_not_negative'); END",
 'CREATE TRIGGER points_accounts_account_low_balance_threshold_positive_insert BEFORE INSERT '
 'ON "points_accounts" WHEN NOT (NEW.low_balance_threshold IS NULL OR '
 "NEW.low_balance_threshold > 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "account_low_balance_threshold_positive'); END",
 'CREATE TRIGGER points_accounts_account_low_balance_threshold_positive_update BEFORE UPDATE '
 'ON "points_accounts" WHEN NOT (NEW.low_balance_threshold IS NULL OR '
 "NEW.low_balance_threshold > 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "account_low_balance_threshold_positive'); END",
 'CREATE TRIGGER point_lots_lot_known_source_insert BEFORE INSERT ON "point_lots" WHEN NOT '
 "(NEW.source IN ('grant', 'purchase', 'adjustment')) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: lot_known_source'); END",
 'CREATE TRIGGER point_lots_lot_known_source_update BEFORE UPDATE ON "point_lots" WHEN NOT '
 "(NEW.source IN ('grant', 'purchase', 'adjustment')) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: lot_known_source'); END",
 'CREATE TRIGGER point_lots_lot_points_positive_insert BEFORE INSERT ON "point_lots" WHEN NOT '
 "(NEW.points > 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: lot_points_positive'); "
 'END',
 'CREATE TRIGGER point_lots_lot_points_positive_update BEFORE UPDATE ON "point_lots" WHEN NOT '
 "(NEW.points > 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: lot_points_positive'); "
 'END',
 'CREATE TRIGGER point_lots_lot_remaining_not_negative_insert BEFORE INSERT ON "point_lots" '
 "WHEN NOT (NEW.remaining >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "lot_remaining_not_negative'); END",
 'CREATE TRIGGER point_lots_lot_remaining_not_negative_update BEFORE UPDATE ON "point_lots" '
 "WHEN NOT (NEW.remaining >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "lot_remaining_not_negative'); END",
 'CREATE TRIGGER point_lots_lot_held_not_negative_insert BEFORE INSERT ON "point_lots" WHEN '
 "NOT (NEW.held >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "lot_held_not_negative'); END",
 'CREATE TRIGGER point_lots_lot_held_not_negative_update BEFORE UPDATE ON "point_lots" WHEN '
 "NOT (NEW.held >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "lot_held_not_negative'); END",
 'CREATE TRIGGER point_lots_lot_consumed_not_negative_insert BEFORE INSERT ON "point_lots" '
 "WHEN NOT (NEW.consumed >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "lot_consumed_not_negative'); END",
 'CREATE TRIGGER point_lots_lot_consumed_not_negative_update BEFORE UPDATE ON "point_lots" '
 "WHEN NOT (NEW.consumed >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "lot_consumed_not_negative'); END",
 'CREATE TRIGGER point_lots_lot_expired_not_negative_insert BEFORE INSERT ON "point_lots" WHEN '
 "NOT (NEW.expired >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "lot_expired_not_negative'); END",
 'CREATE TRIGGER point_lots_lot_expired_not_negative_update BEFORE UPDATE ON "point_lots" WHEN '
 "NOT (NEW.expired >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "lot_expired_not_negative'); END",
 'CREATE TRIGGER point_lots_lot_refunded_not_negative_insert BEFORE INSERT ON "point_lots" '
 "WHEN NOT (NEW.refunded >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "lot_refunded_not_negative'); END",
 'CREATE TRIGGER point_lots_lot_refunded_not_negative_update BEFORE UPDATE ON "point_lots" '
 "WHEN NOT (NEW.refunded >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "lot_refunded_not_negative'); END",
 'CREATE TRIGGER point_lots_lot_points_add_up_insert BEFORE INSERT ON "point_lots" WHEN NOT '
 '(NEW.points = NEW.remaining + NEW.held + NEW.consumed + NEW.expired + NEW.refunded) BEGIN '
 "SELECT RAISE(ABORT, 'CHECK constraint failed: lot_points_add_up'); END",
 'CREATE TRIGGER point_lots_lot_points_add_up_update BEFORE UPDATE ON "point_lots" WHEN NOT '
 '(NEW.points = NEW.remaining + NEW.held + NEW.consumed + NEW.expired + NEW.refunded) BEGIN '
 "SELECT RAISE(ABORT, 'CHECK constraint failed: lot_points_add_up'); END",
 'CREATE TRIGGER point_lots_lot_yen_not_negative_insert BEFORE INSERT ON "point_lots" WHEN NOT '
 "(NEW.yen_per_point >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "lot_yen_not_negative'); END",
 'CREATE TRIGGER point_lots_lot_yen_not_negative_update BEFORE UPDATE ON "point_lots" WHEN NOT '
 "(NEW.yen_per_point >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "lot_yen_not_negative'); END",
 'CREATE TRIGGER point_lots_lot_only_purchases_carry_yen_insert BEFORE INSERT ON "point_lots" '
 "WHEN NOT (NEW.source = 'purchase' OR NEW.yen_per_point = 0) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: lot_only_purchases_carry_yen'); END",
 'CREATE TRIGGER point_lots_lot_only_purchases_carry_yen_update BEFORE UPDATE ON "point_lots" '
 "WHEN NOT (NEW.source = 'purchase' OR NEW.yen_per_point = 0) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: lot_only_purchases_carry_yen'); END",
 'CREATE INDEX point_lots_account_remaining ON "point_lots" ("account", "remaining")',
 'CREATE INDEX point_lots_account_held ON "point_lots" ("account", "held")',
 'CREATE TRIGGER point_holds_hold_known_status_insert BEFORE INSERT ON "point_holds" WHEN NOT '
 "(NEW.status IN ('held', 'captured', 'released')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: hold_known_status'); END",
 'CREATE TRIGGER point_holds_hold_known_status_update BEFORE UPDATE ON "point_holds" WHEN NOT '
 "(NEW.status IN ('held', 'captured', 'released')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: hold_known_status'); END",
 'CREATE TRIGGER point_holds_hold_points_not_negative_insert BEFORE INSERT ON "point_holds" '
 "WHEN NOT (NEW.points >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "hold_points_not_negative'); END",
 'CREATE TRIGGER point_holds_hold_points_not_negative_update BEFORE UPDATE ON "point_holds" '
 "WHEN NOT (NEW.points >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "hold_points_not_negative'); END",
 'CREATE TRIGGER point_holds_hold_captured_not_negative_insert BEFORE INSERT ON "point_holds" '
 "WHEN NOT (NEW.captured >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "hold_captured_not_negative'); END",
 'CREATE TRIGGER point_holds_hold_captured_not_negative_update BEFORE UPDATE ON "point_holds" '
 "WHEN NOT (NEW.captured >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "hold_captured_not_negative'); END",
 'CREATE TRIGGER point_holds_hold_released_not_negative_insert BEFORE INSERT ON "point_holds" '
 "WHEN NOT (NEW.released >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "hold_released_not_negative'); END",
 'CREATE TRIGGER point_holds_hold_released_not_negative_update BEFORE UPDATE ON "point_holds" '
 "WHEN NOT (NEW.released >= 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "hold_released_not_negative'); END",
 'CREATE TRIGGER point_holds_settled_holds_hold_nothing_insert BEFORE INSERT ON "point_holds" '
 "WHEN NOT (NEW.status = 'held' OR NEW.points = 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: settled_holds_hold_nothing'); END",
 'CREATE TRIGGER point_holds_settled_holds_hold_nothing_update BEFORE UPDATE ON "point_holds" '
 "WHEN NOT (NEW.status = 'held' OR NEW.points = 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint "
 "failed: settled_holds_hold_nothing'); END",
 'CREATE TRIGGER ledger_entries_entry_known_kind_insert BEFORE INSERT ON "ledger_entries" WHEN '
 "NOT (NEW.kind IN ('grant', 'purchase', 'hold', 'capture', 'release', 'expire', 'refund', "
 "'adjustment')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: entry_known_kind'); END",
 'CREATE TRIGGER ledger_entries_entry_known_kind_update BEFORE UPDATE ON "ledger_entries" WHEN '
 "NOT (NEW.kind IN ('grant', 'purchase', 'hold', 'capture', 'release', 'expire', 'refund', "
 "'adjustment')) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: entry_known_kind'); END",
 'CREATE TRIGGER ledger_entries_entry_points_positive_insert BEFORE INSERT ON "ledger_entries" '
 "WHEN NOT (NEW.points > 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "entry_points_positive'); END",
 'CREATE TRIGGER ledger_entries_entry_points_positive_update BEFORE UPDATE ON "ledger_entries" '
 "WHEN NOT (NEW.points > 0) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: "
 "entry_points_positive'); END",
 'CREATE TRIGGER ledger_entries_entry_available_after_not_negative_insert BEFORE INSERT ON '
 '"ledger_entries" WHEN NOT (NEW.available_after >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: entry_available_after_not_negative'); END",
 'CREATE TRIGGER ledger_entries_entry_available_after_not_negative_update BEFORE UPDATE ON '
 '"ledger_entries" WHEN NOT (NEW.available_after >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: entry_available_after_not_negative'); END",
 'CREATE TRIGGER ledger_entries_entry_held_after_not_negative_insert BEFORE INSERT ON '
 '"ledger_entries" WHEN NOT (NEW.held_after >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: entry_held_after_not_negative'); END",
 'CREATE TRIGGER ledger_entries_entry_held_after_not_negative_update BEFORE UPDATE ON '
 '"ledger_entries" WHEN NOT (NEW.held_after >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: entry_held_after_not_negative'); END",
 'CREATE TRIGGER ledger_entries_entry_yen_not_negative_insert BEFORE INSERT ON '
 '"ledger_entries" WHEN NOT (NEW.yen >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: entry_yen_not_negative'); END",
 'CREATE TRIGGER ledger_entries_entry_yen_not_negative_update BEFORE UPDATE ON '
 '"ledger_entries" WHEN NOT (NEW.yen >= 0) BEGIN SELECT RAISE(ABORT, \'CHECK constraint '
 "failed: entry_yen_not_negative'); END",
 'CREATE INDEX ledger_entries_account_id ON "ledger_entries" ("account", "id")',
 'CREATE TRIGGER point_allocations_allocation_moves_points_insert BEFORE INSERT ON '
 '"point_allocations" WHEN NOT (NEW.remaining_delta <> 0 OR NEW.held_delta <> 0) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: allocation_moves_points'); END",
 'CREATE TRIGGER point_allocations_allocation_moves_points_update BEFORE UPDATE ON '
 '"point_allocations" WHEN NOT (NEW.remaining_delta <> 0 OR NEW.held_delta <> 0) BEGIN SELECT '
 "RAISE(ABORT, 'CHECK constraint failed: allocation_moves_points'); END",
 'CREATE TRIGGER point_expiry_reminders_reminder_known_days_insert BEFORE INSERT ON '
 '"point_expiry_reminders" WHEN NOT (NEW.days_before IN (30, 7)) BEGIN SELECT RAISE(ABORT, '
 "'CHECK constraint failed: reminder_known_days'); END",
 'CREATE TRIGGER point_expiry_reminders_reminder_known_days_update BEFORE UPDATE ON '
 '"point_expiry_reminders" WHEN NOT (NEW.days_before IN (30, 7)) BEGIN SELECT RAISE(ABORT, '
 "'CHECK constraint failed: reminder_known_days'); END",
 'CREATE TRIGGER point_expiry_reminders_reminder_points_positive_insert BEFORE INSERT ON '
 '"point_expiry_reminders" WHEN NOT (NEW.points > 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: reminder_points_positive'); END",
 'CREATE TRIGGER point_expiry_reminders_reminder_points_positive_update BEFORE UPDATE ON '
 '"point_expiry_reminders" WHEN NOT (NEW.points > 0) BEGIN SELECT RAISE(ABORT, \'CHECK '
 "constraint failed: reminder_points_positive'); END",
 'CREATE UNIQUE INDEX point_expiry_reminders_once ON "point_expiry_reminders" ("lot", '
 '"days_before")']


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kippu", description=DESCRIPTION)

    async def add_constraints_and_indexes():
        engine = engine_finder()
        postgres = engine.engine_type == "postgres"
        for statement in POSTGRES_STATEMENTS if postgres else SQLITE_STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(add_constraints_and_indexes)
    return manager
