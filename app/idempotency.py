"""Replaying a mutating API call with the same `Idempotency-Key` returns the first result.

A POST handler takes the header as a parameter (so the API document lists it) and wraps its
service call in `respond_once`:

    async def create_thing(self, request: Request, idempotency_key: IdempotencyKey = None) -> ...:
        return await respond_once(request, caller, lambda: create_thing(...), key=idempotency_key, status_code=201)

- no `Idempotency-Key` header: the call simply runs;
- a key seen before from the same caller for the same call (method, path and JSON body): the
  first response (status and body) is sent again, with `Idempotent-Replayed: true`, and nothing
  runs;
- the same key with a different call: 409 `idempotency_key_reused`.

The record is written in the same transaction as the work, so either both happen or neither;
two concurrent calls with one key cannot both do the work (the unique index on (user, key)
makes the second one roll back and replay the first). Only successful responses are stored: a
refused call changed nothing, so retrying it with the same key runs it again.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
from litestar import MediaType, Request, Response
from litestar.params import HeaderParameter
from piccolo.columns import ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.table import Table
from pydantic import BaseModel

from app.accounts.caller import Caller
from app.accounts.tables import User
from app.errors import IdempotencyKeyReused, InvalidInput
from app.i18n import _
# The ledger's write transaction, which app.db re-exports, taken from billing: app.db builds the
# schema from every table, this module's among them, so importing app.db here would be a circle.
from billing.transactions import write_transaction

HEADER = "Idempotency-Key"
KEY_MAX = 255
KEEP_FOR = timedelta(days=1)

# Checked here, not by Litestar: a malformed key is a 422 naming the header, as before.
KEY_PARAMETER = HeaderParameter(
    name=HEADER, required=False,
    description=f"Any 1 to {KEY_MAX} printable characters, new for each new request: a retry with the same key "
                "and the same request returns the first result (`Idempotent-Replayed: true`) without doing it again.",
)
IdempotencyKey = Annotated[str | None, KEY_PARAMETER]


class IdempotencyRecord(Table, tablename="idempotency_records"):
    user = ForeignKey(User, null=False, on_delete=OnDelete.cascade)
    key = Varchar(length=255)
    # method, path and body hash: the same key reused for a different call is refused.
    fingerprint = Varchar(length=64)
    status_code = Integer()
    response_body = Text()
    created_at = Timestamptz()

    unique_together = {"one_result_per_key": ("user", "key")}


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: str  # JSON text
    replayed: bool = False


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What identifies "the same call": method, path and the body (JSON compared by value)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):  # not JSON (or nested beyond reason): as sent
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), b"\0", path.encode(), b"\0", canonical):
        digest.update(part)
    return digest.hexdigest()


def _check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > KEY_MAX or not key.isprintable():
        raise InvalidInput(
            _("The Idempotency-Key header must be 1 to {max} printable characters.", max=KEY_MAX), field=HEADER
        )
    return key


async def _stored(user_id: int, key: str, print_: str) -> StoredResponse | None:
    row = await IdempotencyRecord.select(
        IdempotencyRecord.fingerprint, IdempotencyRecord.status_code, IdempotencyRecord.response_body
    ).where((IdempotencyRecord.user == user_id) & (IdempotencyRecord.key == key)).first()
    if row is None:
        return None
    if row["fingerprint"] != print_:
        raise IdempotencyKeyReused(
            _("This Idempotency-Key was already used for a different request. Use a new key for a new request.")
        )
    return StoredResponse(status_code=row["status_code"], body=row["response_body"], replayed=True)


async def replay_or_run(
    user_id: int, key: str | None, print_: str, run: Callable[[], Awaitable[tuple[int, str]]]
) -> StoredResponse:
    """Run `run()` (which returns status code and JSON text) once per (user, key)."""
    if key is None:
        status_code, body = await run()
        return StoredResponse(status_code=status_code, body=body)
    key = _check_key(key)
    try:
        async with write_transaction():
            earlier = await _stored(user_id, key, print_)
            if earlier is not None:
                return earlier
            status_code, body = await run()
            if 200 <= status_code < 300:
                await IdempotencyRecord.insert(
                    IdempotencyRecord(
                        user=user_id, key=key, fingerprint=print_, status_code=status_code, response_body=body,
                        created_at=datetime.now(UTC),
                    )
                )
            return StoredResponse(status_code=status_code, body=body)
    except (asyncpg.UniqueViolationError, sqlite3.IntegrityError):
        # Another call with this key committed first: its work stands, ours was rolled back.
        earlier = await _stored(user_id, key, print_)
        if earlier is None:
            raise
        return earlier


async def respond_once(
    request: Request, caller: Caller, run: Callable[[], Awaitable[Any]], *, key: str | None, status_code: int = 201
) -> Response:
    """For a Litestar POST handler: run the service call once per Idempotency-Key (`key`).

    `run` returns a Pydantic model (or anything JSON-serialisable); the answer is a JSON
    Response with `status_code`, or the first answer replayed.
    """
    async def produce() -> tuple[int, str]:
        result = await run()
        body = result.model_dump_json() if isinstance(result, BaseModel) else json.dumps(result, default=str)
        return status_code, body

    print_ = fingerprint(request.method, request.url.path, await request.body())
    stored = await replay_or_run(caller.id, key, print_, produce)
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else {}
    return Response(
        content=stored.body.encode(), status_code=stored.status_code, media_type=MediaType.JSON, headers=headers
    )


async def forget_old_records(now: datetime | None = None) -> int:
    """Delete records older than a day (keys are for retries, not forever); return how many."""
    cutoff = (now or datetime.now(UTC)) - KEEP_FOR
    deleted = await IdempotencyRecord.delete().where(IdempotencyRecord.created_at < cutoff).returning(
        IdempotencyRecord.id
    )
    return len(deleted)
