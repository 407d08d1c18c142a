"""API bearer tokens: shown once at creation, stored as SHA-256, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from app.accounts.caller import Caller
from app.accounts.tables import ApiToken, User

PREFIX = "kp_"
# "Last used" is written at most once a minute per token, so most API calls stay read-only.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(user_id: int, name: str) -> tuple[str, int]:
    """Return the token (to show once) and its id."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user=user_id,
        name=name.strip()[:100] or "API",
        token_hash=hash_token(token),
        prefix=token[:10],
        created_at=datetime.now(UTC),
    )
    await row.save()
    return token, row.id


async def revoke_token(user_id: int, token_id: int) -> str | None:
    """Revoke one of the user's live tokens; returns its name (None: no such live token)."""
    updated = (
        await ApiToken.update({ApiToken.revoked_at: datetime.now(UTC)})
        .where(
            (ApiToken.id == token_id) & (ApiToken.user == user_id) & ApiToken.revoked_at.is_null()
        )
        .returning(ApiToken.name)
    )
    return updated[0]["name"] if updated else None


async def revoke_all_tokens(user_id: int) -> int:
    """Revoke every live token of the user; returns how many."""
    updated = (
        await ApiToken.update({ApiToken.revoked_at: datetime.now(UTC)})
        .where((ApiToken.user == user_id) & ApiToken.revoked_at.is_null())
        .returning(ApiToken.id)
    )
    return len(updated)


async def caller_for_token(token: str) -> Caller | None:
    owner = (
        await ApiToken.select(ApiToken.id, ApiToken.user, ApiToken.last_used_at)
        .where((ApiToken.token_hash == hash_token(token)) & ApiToken.revoked_at.is_null())
        .first()
    )
    if owner is None:
        return None
    now = datetime.now(UTC)
    if owner["last_used_at"] is None or now - owner["last_used_at"] >= LAST_USED_RESOLUTION:
        await ApiToken.update({ApiToken.last_used_at: now}).where(ApiToken.id == owner["id"])
    user = await User.select().where((User.id == owner["user"]) & (User.is_active == True)).first()  # noqa: E712
    return Caller.from_row(user) if user else None
