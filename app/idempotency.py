"""Replaying a mutating API call with the same `Idempotency-Key` returns the first result."""

from piccolo.columns import ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.table import Table

from app.accounts.tables import User


class IdempotencyRecord(Table, tablename="idempotency_records"):
    user = ForeignKey(User, null=False, on_delete=OnDelete.cascade)
    key = Varchar(length=255)
    # method, path and body hash: the same key reused for a different call is refused.
    fingerprint = Varchar(length=64)
    status_code = Integer()
    response_body = Text()
    created_at = Timestamptz()

    unique_together = {"one_result_per_key": ("user", "key")}
