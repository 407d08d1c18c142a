"""Reclassifying a request (staff): priority, category, request type, department, custom fields."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app import db
from app.accounts.caller import Caller
from app.accounts.tables import Department
from app.errors import InvalidInput
from app.i18n import _
from app.tickets import points
from app.tickets.services._rows import (
    active_custom_fields,
    due_dates,
    lock,
    record,
    request_type_id,
    require_staff,
    save,
    utcnow,
)
from app.tickets.services.reading import ticket_summary
from app.tickets.services.results import TicketSummary
from app.tickets.services.validation import validate_custom_fields
from app.tickets.tables import CATEGORIES, PRIORITIES, RequestType, Ticket

_KEEP: Any = object()


async def update_fields(
    caller: Caller,
    ticket_id: int,
    *,
    version: int,
    priority: str | None = None,
    category: str | None = None,
    request_type_code: str | None = None,
    department_id: int | None = _KEEP,
    reason: str | None = None,
) -> TicketSummary:
    """Reclassify a request (staff): priority, category, request type, department (None clears it).

    Arguments left out are unchanged. A priority change recomputes the due dates from the filing
    time. Each change is one history line with its old and new value.

    Another request type or priority re-quotes the request by its own point table version
    (app/tickets/points.py): a lower price applies at once, a higher one within the customer's
    approval limit too; a larger rise waits for the customer, and until then the request keeps
    its type and priority (`reason` tells the customer why).
    """
    require_staff(caller)
    reason = points.clean_reason(reason, required=False)
    if priority is not None and priority not in PRIORITIES:
        raise InvalidInput(_("Unknown priority: {value}.", value=priority), field="priority")
    if category is not None and category not in CATEGORIES:
        raise InvalidInput(_("Unknown category: {value}.", value=category), field="category")
    to_type_id = await request_type_id(request_type_code) if request_type_code is not None else None
    department_name = None
    if department_id is not _KEEP and department_id is not None:
        department = await Department.select(Department.name).where(Department.id == department_id).first()
        if department is None:
            raise InvalidInput(_("Unknown department."), field="department")
        department_name = department["name"]
    now = utcnow()
    async with db.write_transaction():
        row = await lock(caller, ticket_id, version)
        changes: dict[Any, Any] = {}
        events: list[dict[str, Any]] = []
        to_priority = priority if priority is not None else row["priority"]
        to_type = to_type_id if to_type_id is not None else row["request_type"]
        asked_customer = False
        if (to_priority, to_type) != (row["priority"], row["request_type"]):
            code = await RequestType.select(RequestType.code).where(RequestType.id == to_type).first()
            outcome = await points.requote(
                caller, row, kind="reclassify", to_code=code["code"], to_priority=to_priority,
                to_extra_minutes=row["extra_minutes"], reason=reason, now=now,
            )
            if not outcome.applied:
                # The customer answers first; the request keeps its type and priority until then.
                priority = to_type_id = None
                asked_customer = True
            elif outcome.to_points != row["quoted_points"]:
                changes[Ticket.quoted_points] = outcome.to_points
        if priority is not None and priority != row["priority"]:
            first_due, resolution_due = due_dates(priority, row["created_at"])
            changes.update({Ticket.priority: priority, Ticket.resolution_due_at: resolution_due,
                            Ticket.first_response_due_at: first_due})
            events.append({"field": "priority", "from": row["priority"], "to": priority})
        if category is not None and category != row["category"]:
            changes[Ticket.category] = category
            events.append({"field": "category", "from": row["category"], "to": category})
        if to_type_id is not None and to_type_id != row["request_type"]:
            codes = {
                r["id"]: r["code"]
                for r in await RequestType.select(RequestType.id, RequestType.code).where(
                    RequestType.id.is_in([row["request_type"], to_type_id])
                )
            }
            changes[Ticket.request_type] = to_type_id
            events.append({"field": "request_type", "from": codes.get(row["request_type"]),
                           "to": codes.get(to_type_id)})
        if department_id is not _KEEP and department_id != row["department"]:
            old_name = None
            if row["department"] is not None:
                old = await Department.select(Department.name).where(Department.id == row["department"]).first()
                old_name = old["name"] if old else None
            changes[Ticket.department] = department_id
            events.append({"field": "department", "from": row["department"], "to": department_id,
                           "from_label": old_name, "to_label": department_name})
        if changes:
            await save(row, changes, now)
            for detail in events:
                await record(ticket_id, caller.id, "field_changed", detail, now)
        elif asked_customer:
            await save(row, {}, now)
    return await ticket_summary(caller, ticket_id)


async def apply_classification(
    caller: Caller, row: dict[str, Any], *, request_type_id: int, priority: str, extra_minutes: int,
    quoted_points: int, now: datetime,
) -> None:
    """Save a re-quote's classification and price on a locked request, with history lines."""
    changes: dict[Any, Any] = {Ticket.quoted_points: quoted_points, Ticket.extra_minutes: extra_minutes}
    events: list[dict[str, Any]] = []
    if priority != row["priority"]:
        first_due, resolution_due = due_dates(priority, row["created_at"])
        changes.update({Ticket.priority: priority, Ticket.resolution_due_at: resolution_due,
                        Ticket.first_response_due_at: first_due})
        events.append({"field": "priority", "from": row["priority"], "to": priority})
    if request_type_id != row["request_type"]:
        codes = {
            r["id"]: r["code"]
            for r in await RequestType.select(RequestType.id, RequestType.code).where(
                RequestType.id.is_in([row["request_type"], request_type_id])
            )
        }
        changes[Ticket.request_type] = request_type_id
        events.append({"field": "request_type", "from": codes.get(row["request_type"]), "to": codes.get(request_type_id)})
    await save(row, changes, now)
    row.update(priority=priority, request_type=request_type_id, extra_minutes=extra_minutes, quoted_points=quoted_points)
    for detail in events:
        await record(row["id"], caller.id, "field_changed", detail, now)


async def update_custom_fields(
    caller: Caller, ticket_id: int, values: Mapping[str, Any], *, version: int
) -> TicketSummary:
    """Replace the custom field values of a request (staff), validated like at filing."""
    require_staff(caller)
    cleaned = validate_custom_fields(await active_custom_fields(), values, customer=False)
    now = utcnow()
    async with db.write_transaction():
        row = await lock(caller, ticket_id, version)
        if cleaned != (row["custom_fields"] or {}):
            await save(row, {Ticket.custom_fields: cleaned}, now)
            await record(ticket_id, caller.id, "field_changed",
                         {"field": "custom_fields", "from": row["custom_fields"] or {}, "to": cleaned}, now)
    return await ticket_summary(caller, ticket_id)
