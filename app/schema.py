"""Constraints and indexes that Piccolo's table classes cannot express on both databases.

A table declares them next to its columns as class attributes:

    checks = {"known_status": "status IN ('new', 'open')"}
    unique_together = {"one_watch_per_user": ("ticket", "user")}
    composite_indexes = {"tickets_queue": ("status", "id")}
    postgres_ddl = ["CREATE INDEX ... USING gin (...)"]
    sqlite_ddl = ["CREATE TRIGGER ..."]

PostgreSQL gets real CHECK constraints; SQLite cannot add a CHECK to an existing table, so it
gets triggers that abort the write with the constraint's name. Both get unique indexes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from piccolo.table import Table

# The largest id (or version) an INTEGER column holds on both databases; a larger number in a
# request names no row and is refused before it reaches a query.
MAX_ID = 2**31 - 1


def constraint_statements(tables: Iterable[type[Table]], *, postgres: bool) -> list[str]:
    statements: list[str] = []
    for table in tables:
        name = table._meta.tablename
        for check, condition in getattr(table, "checks", {}).items():
            if postgres:
                statements.append(f'ALTER TABLE "{name}" ADD CONSTRAINT {check} CHECK ({condition})')
            else:
                for event in ("INSERT", "UPDATE"):
                    statements.append(
                        f"CREATE TRIGGER {name}_{check}_{event.lower()} BEFORE {event} ON \"{name}\" "
                        f"WHEN NOT ({_new_row(condition, table)}) "
                        f"BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {check}'); END"
                    )
        for unique, columns in getattr(table, "unique_together", {}).items():
            cols = ", ".join(f'"{c}"' for c in columns)
            statements.append(f'CREATE UNIQUE INDEX {unique} ON "{name}" ({cols})')
        for index, columns in getattr(table, "composite_indexes", {}).items():
            cols = ", ".join(f'"{c}"' for c in columns)
            statements.append(f'CREATE INDEX {index} ON "{name}" ({cols})')
        statements.extend(getattr(table, "postgres_ddl" if postgres else "sqlite_ddl", []))
    return statements


def _new_row(condition: str, table: type[Table]) -> str:
    """Qualify column names with NEW. for a SQLite trigger's WHEN clause."""
    names = sorted((c._meta.db_column_name for c in table._meta.columns), key=len, reverse=True)
    pattern = re.compile(r"(?<![\w.'])(" + "|".join(map(re.escape, names)) + r")(?![\w'])")
    return pattern.sub(r"NEW.\1", condition)
