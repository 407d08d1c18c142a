"""The row helpers every ticket service shares: the request row locked and saved under its version,
a history line recorded, the columns of a list row, the tenant condition, small lookups.

Changing a request always goes: `lock` (inside a write transaction) → check → `save` (version+1)
→ `record` one history line per change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from app import db
from app.accounts.caller import Caller
from app.accounts.services import reject_control_characters
from app.accounts.tables import User
from app.errors import InvalidInput, NotAllowed, NotFound, StaleVersion
from app.i18n import _
from app.settings import get_settings
from app.tickets.tables import CustomField, RequestType, Ticket, TicketEvent


def utcnow() -> datetime:
    return datetime.now(UTC)


def require_staff(caller: Caller) -> None:
    if not caller.is_staff:
        raise NotAllowed(_("Only our staff can do this."))


# ---------------------------------------------------------------------------------------------
# Changing a request: lock, check the version, save with a bumped version, record history


_LOCK_COLUMNS = (
    Ticket.id, Ticket.number, Ticket.organization, Ticket.requester, Ticket.subject, Ticket.body, Ticket.status,
    Ticket.priority, Ticket.category, Ticket.request_type, Ticket.department, Ticket.assignee,
    Ticket.custom_fields, Ticket.first_responded_at, Ticket.created_at, Ticket.version, Ticket.price_version,
    Ticket.quoted_points, Ticket.extra_minutes,
)


async def lock(caller: Caller, ticket_id: int, seen_version: int | None) -> dict[str, Any]:
    """Inside a write transaction: the request row, locked (FOR UPDATE on PostgreSQL; SQLite's
    BEGIN IMMEDIATE already holds the write lock), visible to the caller, at the seen version."""
    query = Ticket.select(*_LOCK_COLUMNS).where(Ticket.id == ticket_id).output(load_json=True)
    if db.is_postgres():
        query = query.lock_rows()
    row = await query.first()
    if row is None or not caller.can_see_organization(row["organization"]):
        raise NotFound(_("This request does not exist."))
    if seen_version is not None and seen_version != row["version"]:
        raise _stale(row["version"])
    return row


def _stale(current: int) -> StaleVersion:
    return StaleVersion(
        _("This request has been changed since you opened it. Reload it to see the changes, then try again."),
        current_version=current,
    )


async def save(row: dict[str, Any], changes: Mapping[Any, Any], now: datetime) -> int:
    """Write the changes with version+1 and updated_at, guarded by the version read under lock."""
    values = {**changes, Ticket.version: row["version"] + 1, Ticket.updated_at: now}
    saved = await Ticket.update(values).where(
        (Ticket.id == row["id"]) & (Ticket.version == row["version"])
    ).returning(Ticket.version)
    if not saved:
        raise _stale(row["version"])
    row["version"] = saved[0]["version"]
    return row["version"]


async def touch(row: dict[str, Any], now: datetime) -> int:
    """Bump the version of a locked request (its points changed, so open views are stale)."""
    return await save(row, {}, now)


async def record(ticket_id: int, actor_id: int | None, kind: str, detail: dict[str, Any], now: datetime) -> None:
    """One line of the request's history (app/tickets/services/history.py says what each kind means)."""
    await TicketEvent.insert(TicketEvent(ticket=ticket_id, actor=actor_id, kind=kind, detail=detail, created_at=now))


def status_changes(old: str, new: str, now: datetime) -> dict[Any, Any]:
    """The columns a status change sets: the status and when it was resolved or closed."""
    changes: dict[Any, Any] = {Ticket.status: new}
    if new == "resolved":
        changes[Ticket.resolved_at] = now
    elif new == "closed":
        changes[Ticket.closed_at] = now
    elif old == "resolved":
        changes[Ticket.resolved_at] = None
    return changes


def due_dates(priority: str, created_at: datetime) -> tuple[datetime, datetime]:
    """First response and resolution due, by the per-priority targets in settings."""
    settings = get_settings()
    return (
        created_at + timedelta(hours=settings.first_response_hours[priority]),
        created_at + timedelta(hours=settings.resolution_hours[priority]),
    )


# ---------------------------------------------------------------------------------------------
# Reading: a request as a list row, and who may see it


def summary_columns() -> list:
    return [
        Ticket.id,
        Ticket.number,
        Ticket.subject,
        Ticket.status,
        Ticket.priority,
        Ticket.category,
        Ticket.organization,
        Ticket.organization.name.as_alias("organization_name"),
        Ticket.requester,
        Ticket.requester.name.as_alias("requester_name"),
        Ticket.request_type.code.as_alias("request_type_code"),
        Ticket.request_type.name_ja.as_alias("request_type_name_ja"),
        Ticket.request_type.name_en.as_alias("request_type_name_en"),
        Ticket.department,
        Ticket.department.name.as_alias("department_name"),
        Ticket.assignee,
        Ticket.assignee.name.as_alias("assignee_name"),
        Ticket.first_response_due_at,
        Ticket.resolution_due_at,
        Ticket.first_responded_at,
        Ticket.created_at,
        Ticket.updated_at,
        Ticket.version,
        Ticket.quoted_points,
    ]


def summary_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a TicketSummary from a row read with `summary_columns`."""
    return {
        "id": row["id"],
        "number": row["number"],
        "subject": row["subject"],
        "status": row["status"],
        "priority": row["priority"],
        "category": row["category"],
        "organization_id": row["organization"],
        "organization_name": row["organization_name"] or "",
        "requester_id": row["requester"],
        "requester_name": row["requester_name"] or "",
        "request_type_code": row["request_type_code"] or "",
        "request_type_name_ja": row["request_type_name_ja"] or "",
        "request_type_name_en": row["request_type_name_en"] or "",
        "department_id": row["department"],
        "department_name": row["department_name"],
        "assignee_id": row["assignee"],
        "assignee_name": row["assignee_name"],
        "first_response_due_at": row["first_response_due_at"],
        "resolution_due_at": row["resolution_due_at"],
        "first_responded_at": row["first_responded_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "version": row["version"],
        "quoted_points": row["quoted_points"],
    }


def _visible_to(caller: Caller):
    """The tenant condition: customers see only their own organisation's requests."""
    if caller.is_staff:
        return None
    if caller.organization_id is None:
        return Ticket.id == -1
    return Ticket.organization == caller.organization_id


def where_visible(query, caller: Caller):
    """`query` on `tickets` limited to the requests the caller may see."""
    condition = _visible_to(caller)
    return query.where(condition) if condition is not None else query


# ---------------------------------------------------------------------------------------------
# Small lookups


async def request_type_id(code: str, *, active_only: bool = True) -> int:
    """The registry id of a request type code (only an active one, unless `active_only` is False)."""
    if not active_only:
        row = await RequestType.select(RequestType.id).where(RequestType.code == code).first()
        if row is None:
            raise InvalidInput(_("Unknown request type: {code}.", code=code[:40]), field="request_type")
        return row["id"]
    if not isinstance(code, str) or not code.strip():
        raise InvalidInput(_("Please choose a request type."), field="request_type")
    reject_control_characters(code, "request_type")
    row = await RequestType.select(RequestType.id).where(
        (RequestType.code == code.strip()) & (RequestType.is_active == True)  # noqa: E712
    ).first()
    if row is None:
        raise InvalidInput(_("Unknown request type: {code}.", code=code.strip()[:40]), field="request_type")
    return row["id"]


async def request_type_codes(ids: Iterable[int]) -> dict[int, str]:
    """The codes of request types, by id."""
    rows = await RequestType.select(RequestType.id, RequestType.code).where(RequestType.id.is_in(list(ids) or [-1]))
    return {r["id"]: r["code"] for r in rows}


async def active_custom_fields() -> list[dict[str, Any]]:
    """The active custom field definitions (CustomField rows), in display order."""
    return await CustomField.select().where(CustomField.is_active == True).order_by(  # noqa: E712
        CustomField.sort_order
    ).order_by(CustomField.id).output(load_json=True)


async def user_names(ids: Iterable[int]) -> dict[int, str]:
    ids = list(set(ids))
    if not ids:
        return {}
    return {r["id"]: r["name"] for r in await User.select(User.id, User.name).where(User.id.is_in(ids))}
