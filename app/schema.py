"""Constraints and indexes that Piccolo's table classes cannot express on both databases.

A table declares them next to its columns as class attributes:

    checks = {"known_status": "status IN ('new', 'open')"}
    unique_together = {"one_watch_per_user": ("ticket", "user")}
    composite_indexes = {"tickets_queue": ("status", "id")}
    postgres_ddl = ["CREATE INDEX ... USING gin (...)"]
    sqlite_ddl = ["CREATE TRIGGER ..."]

PostgreSQL gets real CHECK constraints; SQLite cannot add a CHECK to an existing table, so it
gets triggers that abort the write with the constraint's name. Both get unique indexes.

These attributes, and the foreign keys declared with `with_foreign_keys`, are the one source of
each current table's DDL. A migration copies the statements as they were when it was written, so
that it never changes; tests/integration/test_migrations.py proves that the migrations build the
schema these give, on both databases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from piccolo.columns import Column, ForeignKey, Integer, OnDelete
from piccolo.table import Table, create_table_class

# The largest id (or version) an INTEGER column holds on both databases; a larger number in a
# request names no row and is refused before it reaches a query.
MAX_ID = 2**31 - 1

# What a table declares for `constraint_statements`, besides its columns.
DDL_ATTRIBUTES = ("checks", "unique_together", "composite_indexes", "postgres_ddl", "sqlite_ddl")


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


def with_foreign_keys(
    tables: Iterable[type[Table]], references: Iterable[tuple[Column, type[Table]]], *, on_delete: OnDelete
) -> list[type[Table]]:
    """The tables as the database has them: each integer column of `references` a foreign key to
    the table paired with it, with the column's own NULL, UNIQUE and index.

    A lower layer keeps the ids of the app's rows as plain integers, so that it never imports the
    app; the app, which knows both, declares the keys. The copy of a table that has such a column
    is what creates and migrates it: Piccolo writes the key into its CREATE TABLE exactly as for a
    ForeignKey declared in the table (SQLite can add a foreign key nowhere else), and its migrations
    see the foreign keys they created. Queries use the original class: the values are the same ids.
    """
    # Pairs, not a dict keyed by column: Piccolo's columns hash by name and compare into a WHERE.
    keys: dict[type[Table], dict[str, type[Table]]] = {}
    for column, target in references:
        if not isinstance(column, Integer):
            raise TypeError(f"{column._meta.table.__name__}.{column._meta.name} is not a plain integer column")
        keys.setdefault(column._meta.table, {})[column._meta.name] = target
    result = []
    for table in tables:
        table_keys = keys.pop(table, None)
        if table_keys is None:
            result.append(table)
            continue
        members: dict[str, object] = {}
        # Every column but the default primary key, which Piccolo adds to the copy as to the table.
        for column in table._meta.non_default_columns:
            name = column._meta.name
            if name in table_keys:
                members[name] = ForeignKey(
                    table_keys[name], null=column._meta.null, unique=column._meta.unique,
                    index=column._meta.index, on_delete=on_delete,
                )
            else:
                members[name] = column.copy()
        members.update({a: getattr(table, a) for a in DDL_ATTRIBUTES if hasattr(table, a)})
        result.append(create_table_class(
            table.__name__, class_kwargs={"tablename": table._meta.tablename}, class_members=members,
        ))
    if keys:
        raise ValueError(f"foreign keys declared for tables not listed: {sorted(t.__name__ for t in keys)}")
    return result
