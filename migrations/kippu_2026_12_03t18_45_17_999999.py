"""The constraints of the security log (app/accounts/tables.py, SecurityEvent; see app/schema.py).

The statements are written out here, not imported, so that this migration never changes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-03T18:45:17:999999"
VERSION = "1.38.0"
DESCRIPTION = "security log constraints"

POSTGRES_STATEMENTS = [
    'ALTER TABLE "security_events" ADD CONSTRAINT known_security_event CHECK '
    "(kind IN ('signed_in', 'sign_in_failed', 'sign_in_locked', 'signed_out', "
    "'password_changed', 'password_reset', 'sessions_ended', 'token_created', "
    "'token_revoked'))",
    'CREATE INDEX security_events_by_user ON "security_events" ("user", "id")',
]

SQLITE_STATEMENTS = [
    'CREATE TRIGGER security_events_known_security_event_insert BEFORE INSERT ON '
    '"security_events" WHEN NOT (NEW.kind IN (\'signed_in\', \'sign_in_failed\', '
    "'sign_in_locked', 'signed_out', 'password_changed', 'password_reset', "
    "'sessions_ended', 'token_created', 'token_revoked')) BEGIN SELECT "
    "RAISE(ABORT, 'CHECK constraint failed: known_security_event'); END",
    'CREATE TRIGGER security_events_known_security_event_update BEFORE UPDATE ON '
    '"security_events" WHEN NOT (NEW.kind IN (\'signed_in\', \'sign_in_failed\', '
    "'sign_in_locked', 'signed_out', 'password_changed', 'password_reset', "
    "'sessions_ended', 'token_created', 'token_revoked')) BEGIN SELECT "
    "RAISE(ABORT, 'CHECK constraint failed: known_security_event'); END",
    'CREATE INDEX security_events_by_user ON "security_events" ("user", "id")',
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kippu", description=DESCRIPTION)

    async def add_constraints():
        engine = engine_finder()
        postgres = engine.engine_type == "postgres"
        for statement in POSTGRES_STATEMENTS if postgres else SQLITE_STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(add_constraints)
    return manager
