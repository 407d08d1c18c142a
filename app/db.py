"""The database: schema set-up, migrations and the dialect in use."""

from __future__ import annotations

from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import create_db_tables

from app.piccolo_app import TABLES
from app.schema import constraint_statements
# A transaction for a multi-statement change: the ledger's own (BEGIN IMMEDIATE on SQLite, row
# locks inside it on PostgreSQL, nested calls join the outer one, cleaned up when COMMIT fails).
from billing.transactions import write_transaction  # noqa: F401


def engine():
    return TABLES[0]._meta.db


def is_postgres() -> bool:
    return isinstance(engine(), PostgresEngine)


async def prepare_connection() -> None:
    """Per-database settings that must hold before serving (WAL lets readers run beside a writer)."""
    if not is_postgres():
        await engine().run_ddl("PRAGMA journal_mode=WAL")


async def migrate() -> None:
    """Apply the committed migrations (what `kippu migrate` and the run command do)."""
    await prepare_connection()
    response = await run_forwards(app_name="kippu", migration_id="all", fake=False)
    if not response.success:
        raise RuntimeError(f"migration failed: {response.message}")


async def create_schema_from_tables() -> None:
    """Build the schema straight from the table classes (tests compare it with the migrations)."""
    await create_db_tables(*TABLES, if_not_exists=False)
    for statement in constraint_statements(TABLES, postgres=is_postgres()):
        await engine().run_ddl(statement)


async def delete_all_rows() -> None:
    """Empty every table (between tests). On SQLite the triggers that keep issued documents
    are dropped for the moment (TRUNCATE on PostgreSQL fires no row triggers)."""
    names = [t._meta.tablename for t in TABLES]
    if is_postgres():
        quoted = ", ".join(f'"{n}"' for n in names)
        await engine().run_ddl(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
        return
    triggers = [statement for table in TABLES for statement in getattr(table, "sqlite_ddl", [])]
    for statement in triggers:
        await engine().run_ddl("DROP TRIGGER IF EXISTS " + statement.split()[2])
    for name in reversed(names):
        await engine().run_ddl(f'DELETE FROM "{name}"')
    for statement in triggers:
        await engine().run_ddl(statement)
