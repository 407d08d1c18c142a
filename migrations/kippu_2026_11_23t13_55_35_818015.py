"""CHECK constraints, composite unique and list indexes (see app/schema.py).

The statements are written out here, not imported, so that this migration never changes.
SQLite cannot add a CHECK to an existing table: it gets triggers that abort the write instead.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T13:55:35:818015"
VERSION = "1.38.0"
DESCRIPTION = "constraints and indexes"

POSTGRES_STATEMENTS = ['ALTER TABLE "users" ADD CONSTRAINT known_role CHECK (role IN (\'admin\', \'agent\', '
 "'finance', 'customer_admin', 'customer_member'))",
 'ALTER TABLE "users" ADD CONSTRAINT customers_belong_to_an_organization CHECK ((role IN '
 "('customer_admin', 'customer_member')) = (organization IS NOT NULL))",
 'ALTER TABLE "users" ADD CONSTRAINT known_locale CHECK (locale IN (\'ja\', \'en\'))',
 'CREATE UNIQUE INDEX one_result_per_key ON "idempotency_records" ("user", "key")',
 'ALTER TABLE "tickets" ADD CONSTRAINT known_status CHECK (status IN (\'new\', \'open\', '
 "'waiting', 'resolved', 'closed', 'cancelled'))",
 'ALTER TABLE "tickets" ADD CONSTRAINT known_priority CHECK (priority IN (\'urgent\', '
 "'normal', 'low'))",
 'ALTER TABLE "tickets" ADD CONSTRAINT known_category CHECK (category IN (\'question\', '
 "'incident', 'change_request', 'notice', 'other'))",
 'ALTER TABLE "tickets" ADD CONSTRAINT version_positive CHECK (version >= 1)',
 'CREATE INDEX tickets_organization_id ON "tickets" ("organization", "id")',
 'CREATE INDEX tickets_status_id ON "tickets" ("status", "id")',
 'CREATE INDEX tickets_assignee_id ON "tickets" ("assignee", "id")',
 'CREATE INDEX tickets_department_id ON "tickets" ("department", "id")',
 'CREATE INDEX tickets_priority_id ON "tickets" ("priority", "id")',
 'CREATE INDEX tickets_requester_id ON "tickets" ("requester", "id")',
 'CREATE INDEX tickets_updated_at ON "tickets" ("updated_at")',
 'ALTER TABLE "ticket_messages" ADD CONSTRAINT minutes_not_negative CHECK (minutes_spent >= 0)',
 'CREATE UNIQUE INDEX one_watch_per_user ON "ticket_watchers" ("ticket", "user")',
 'ALTER TABLE "custom_fields" ADD CONSTRAINT known_type CHECK (field_type IN (\'text\', '
 "'number', 'date', 'choice'))",
 'CREATE INDEX ticket_search_grams ON ticket_search USING gin (grams)',
 'ALTER TABLE "outbox_messages" ADD CONSTRAINT known_status CHECK (status IN (\'pending\', '
 "'sent', 'failed'))",
 'CREATE INDEX outbox_messages_due ON "outbox_messages" ("status", "send_after")']

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
 'CREATE INDEX tickets_organization_id ON "tickets" ("organization", "id")',
 'CREATE INDEX tickets_status_id ON "tickets" ("status", "id")',
 'CREATE INDEX tickets_assignee_id ON "tickets" ("assignee", "id")',
 'CREATE INDEX tickets_department_id ON "tickets" ("department", "id")',
 'CREATE INDEX tickets_priority_id ON "tickets" ("priority", "id")',
 'CREATE INDEX tickets_requester_id ON "tickets" ("requester", "id")',
 'CREATE INDEX tickets_updated_at ON "tickets" ("updated_at")',
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
 'CREATE TRIGGER outbox_messages_known_status_insert BEFORE INSERT ON "outbox_messages" WHEN '
 "NOT (NEW.status IN ('pending', 'sent', 'failed')) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: known_status'); END",
 'CREATE TRIGGER outbox_messages_known_status_update BEFORE UPDATE ON "outbox_messages" WHEN '
 "NOT (NEW.status IN ('pending', 'sent', 'failed')) BEGIN SELECT RAISE(ABORT, 'CHECK "
 "constraint failed: known_status'); END",
 'CREATE INDEX outbox_messages_due ON "outbox_messages" ("status", "send_after")']


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kippu", description=DESCRIPTION)

    async def add_constraints_and_indexes():
        engine = engine_finder()
        postgres = engine.engine_type == "postgres"
        for statement in POSTGRES_STATEMENTS if postgres else SQLITE_STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(add_constraints_and_indexes)
    return manager
