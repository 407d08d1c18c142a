"""Write transactions for balance changes, and the ledger's SQL, on the ledger tables' own engine.

SQLite: BEGIN IMMEDIATE takes the write lock up front, so concurrent writers queue instead of
failing half-way. PostgreSQL: an ordinary transaction in which the ledger takes row locks
(SELECT ... FOR UPDATE on the accounts) before it reads anything else. A call inside an outer
transaction (the app filing a request and holding its points together) joins it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from typing import Any

from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import TransactionType

from billing.tables import PointsAccount


def engine():
    return PointsAccount._meta.db


def is_postgres() -> bool:
    return isinstance(engine(), PostgresEngine)


def in_transaction() -> bool:
    return engine().current_transaction.get() is not None


def write_transaction() -> WriteTransaction:
    """A transaction for a multi-statement change (see the module's docstring); nested calls
    join the outer transaction."""
    if is_postgres():
        return WriteTransaction(engine().transaction(allow_nested=True))
    return WriteTransaction(engine().transaction(transaction_type=TransactionType.immediate, allow_nested=True))


class WriteTransaction:
    """Piccolo's transaction, safe when COMMIT itself fails (a deferred constraint, a serialization
    failure, a lost connection).

    Piccolo 1.38 then neither gives the connection back to the pool nor forgets the transaction:
    every later query of the task would go to the dead transaction and the pool would shrink by
    one for good. Here the connection is given back and the transaction forgotten, and the
    COMMIT's error is raised as it was."""

    def __init__(self, transaction: Any) -> None:
        self._transaction = transaction

    async def __aenter__(self) -> Any:
        return await self._transaction.__aenter__()

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        transaction = self._transaction
        try:
            return await transaction.__aexit__(exception_type, exception, traceback)
        except BaseException:
            if transaction._parent is None and getattr(transaction, "connection", None) is not None:
                if transaction.engine.current_transaction.get() is transaction:
                    transaction.engine.current_transaction.reset(transaction.context)
                pool = getattr(transaction.engine, "pool", None)
                if pool is not None:
                    await pool.release(transaction.connection)
                else:
                    await transaction.connection.close()
            raise


def for_update() -> str:
    """The row-lock clause where the database has one (SQLite already holds the write lock)."""
    return " FOR UPDATE" if is_postgres() else ""


def one_of(sql_type: str) -> str:
    """`column {one_of('int')}`: the column is one of a list passed as one argument (an array on
    PostgreSQL; on SQLite Piccolo passes a list as JSON)."""
    return f"= ANY({{}}::{sql_type}[])" if is_postgres() else "IN (SELECT value FROM json_each({}))"


# The ledger's statements are few and run often, so the per-query cost of the ORM's query
# building shows: on PostgreSQL they (written with Piccolo's `{}` placeholders) are turned into
# `$n` once and run straight on the transaction's asyncpg connection, whose statement cache
# makes each distinct statement a prepared one. SQLite runs in-process, so it keeps Piccolo's
# raw queries.

@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    parts = sql.split("{}")
    return "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, start=1))


async def rows(sql: str, *args: Any) -> Sequence[Any]:
    """Rows of one statement (mappings: row["column"]), in the current transaction if any."""
    engine_ = engine()
    if not is_postgres():
        return await PointsAccount.raw(sql, *args)
    transaction = engine_.current_transaction.get()
    if transaction is not None:
        return await transaction.connection.fetch(_numbered(sql), *args)
    if engine_.pool is not None:
        async with engine_.pool.acquire() as connection:
            return await connection.fetch(_numbered(sql), *args)
    return await PointsAccount.raw(sql, *args)


def as_date(value: Any) -> date | None:
    """A date column's value (SQLite may give its ISO text)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
