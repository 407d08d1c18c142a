"""Write transactions for balance changes, on the ledger tables' own engine.

SQLite: BEGIN IMMEDIATE takes the write lock up front, so concurrent writers queue instead of
failing half-way. PostgreSQL: an ordinary transaction in which the ledger takes row locks
(SELECT ... FOR UPDATE on the account, guarded UPDATEs). A call inside an outer transaction (the
app filing a request and holding its points together) joins it.
"""

from __future__ import annotations

from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import TransactionType

from billing.tables import PointsAccount


def engine():
    return PointsAccount._meta.db


def is_postgres() -> bool:
    return isinstance(engine(), PostgresEngine)


def write_transaction():
    if is_postgres():
        return engine().transaction(allow_nested=True)
    return engine().transaction(transaction_type=TransactionType.immediate, allow_nested=True)


def for_update() -> str:
    """The row-lock clause where the database has one (SQLite already holds the write lock)."""
    return " FOR UPDATE" if is_postgres() else ""
