"""The database keeps the cached balance equal to the ledger: on PostgreSQL a check at the end of
every statement that writes entries or changes accounts that those accounts match their last
entry; on SQLite the append-only and running-balance triggers PostgreSQL already had, and the
same check as each account is written (billing/tables.py, LedgerEntry and PointAllocation).

The statements are written out here, not imported, so that this migration never changes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-02T06:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "the cached balance equals the ledger"

POSTGRES_STATEMENTS = [
    "CREATE FUNCTION ledger_accounts_match_entries(accounts integer[]) RETURNS void LANGUAGE plpgsql AS $$\n        DECLARE\n            wrong RECORD;\n        BEGIN\n            SELECT a.id, a.available, a.held, COALESCE(last.available_after, 0) AS available_after,\n                   COALESCE(last.held_after, 0) AS held_after INTO wrong\n            FROM points_accounts a LEFT JOIN LATERAL (\n                SELECT available_after, held_after FROM ledger_entries e\n                WHERE e.account = a.id ORDER BY e.id DESC LIMIT 1\n            ) last ON true\n            WHERE a.id = ANY(accounts)\n              AND (a.available <> COALESCE(last.available_after, 0) OR a.held <> COALESCE(last.held_after, 0))\n            LIMIT 1;\n            IF FOUND THEN\n                RAISE EXCEPTION 'points account % does not match its ledger entries: % available and % held, '\n                    'the entries say % and %', wrong.id, wrong.available, wrong.held, wrong.available_after,\n                    wrong.held_after;\n            END IF;\n        END $$",
    'CREATE FUNCTION ledger_entries_match_accounts() RETURNS trigger LANGUAGE plpgsql AS $$\n        BEGIN\n            PERFORM ledger_accounts_match_entries(ARRAY(SELECT DISTINCT account FROM new_entries));\n            RETURN NULL;\n        END $$',
    'CREATE FUNCTION points_accounts_match_ledger() RETURNS trigger LANGUAGE plpgsql AS $$\n        BEGIN\n            PERFORM ledger_accounts_match_entries(ARRAY(SELECT id FROM changed_accounts));\n            RETURN NULL;\n        END $$',
    'CREATE TRIGGER ledger_entries_match_accounts AFTER INSERT ON ledger_entries REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_match_accounts()',
    'CREATE TRIGGER points_accounts_match_entries AFTER UPDATE ON points_accounts REFERENCING NEW TABLE AS changed_accounts FOR EACH STATEMENT EXECUTE FUNCTION points_accounts_match_ledger()',
]

SQLITE_STATEMENTS = [
    "CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: UPDATE on ledger_entries refused'); END",
    "CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: DELETE on ledger_entries refused'); END",
    "CREATE TRIGGER ledger_entries_running_balance BEFORE INSERT ON ledger_entries WHEN NEW.available_after <> COALESCE((SELECT available_after FROM ledger_entries WHERE account = NEW.account ORDER BY id DESC LIMIT 1), 0) + NEW.available_delta OR NEW.held_after <> COALESCE((SELECT held_after FROM ledger_entries WHERE account = NEW.account ORDER BY id DESC LIMIT 1), 0) + NEW.held_delta BEGIN SELECT RAISE(ABORT, 'ledger entry does not follow the previous balance of its account'); END",
    "CREATE TRIGGER points_accounts_match_entries AFTER UPDATE OF available, held ON points_accounts WHEN NEW.available <> COALESCE((SELECT available_after FROM ledger_entries WHERE account = NEW.id ORDER BY id DESC LIMIT 1), 0) OR NEW.held <> COALESCE((SELECT held_after FROM ledger_entries WHERE account = NEW.id ORDER BY id DESC LIMIT 1), 0) BEGIN SELECT RAISE(ABORT, 'points account does not match its ledger entries'); END",
    "CREATE TRIGGER point_allocations_no_update BEFORE UPDATE ON point_allocations BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: UPDATE on point_allocations refused'); END",
    "CREATE TRIGGER point_allocations_no_delete BEFORE DELETE ON point_allocations BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: DELETE on point_allocations refused'); END",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kippu", description=DESCRIPTION)

    async def add_triggers():
        engine = engine_finder()
        postgres = engine.engine_type == "postgres"
        for statement in POSTGRES_STATEMENTS if postgres else SQLITE_STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(add_triggers)
    return manager
