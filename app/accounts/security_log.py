"""Each user's security log: sign-ins (and refused ones), sign-outs, password changes, API tokens
created and revoked — who, when, from where. The user sees their own on the account page;
administrators see anyone's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.accounts.caller import Caller
from app.accounts.tables import SecurityEvent, SecurityEventKind
from app.errors import NotFound
from app.i18n import _

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Where a request came from, as the app saw it (after the trusted proxies)."""

    ip_address: str = ""
    user_agent: str = ""


@dataclass(frozen=True, slots=True)
class SecurityEventInfo:
    id: int
    kind: SecurityEventKind
    detail: str
    actor_name: str | None
    ip_address: str
    user_agent: str
    created_at: datetime


async def record(
    user_id: int,
    kind: SecurityEventKind,
    client: ClientInfo,
    *,
    actor_id: int | None = None,
    detail: str = "",
) -> None:
    await SecurityEvent.insert(
        SecurityEvent(
            user=user_id,
            kind=kind,
            actor=actor_id,
            detail=detail[:200],
            ip_address=client.ip_address[:45],
            user_agent=client.user_agent[:300],
            created_at=datetime.now(UTC),
        )
    )


async def list_events(caller: Caller, user_id: int, limit: int = PAGE_SIZE) -> list[SecurityEventInfo]:
    """A user's latest security events, newest first: their own, or anyone's for an administrator."""
    if user_id != caller.id and not caller.is_admin:
        raise NotFound(_("This user does not exist."))
    rows = await (
        SecurityEvent.select(
            SecurityEvent.id,
            SecurityEvent.kind,
            SecurityEvent.detail,
            SecurityEvent.actor.name.as_alias("actor_name"),
            SecurityEvent.ip_address,
            SecurityEvent.user_agent,
            SecurityEvent.created_at,
        )
        .where(SecurityEvent.user == user_id)
        .order_by(SecurityEvent.id, ascending=False)
        .limit(limit)
    )
    return [SecurityEventInfo(**{**row, "kind": SecurityEventKind(row["kind"])}) for row in rows]

