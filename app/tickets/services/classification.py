"""Reclassifying a request and pricing it again: priority, category, request type, department and
custom fields (staff); extra time beyond what the request type includes (staff); and the
customer's answer to a rise of price that waits for it.

Another request type or priority, or extra time, re-quotes the request by its own point table
version; app/tickets/services/charges.py decides what that does to its points, and this module
carries the decision out: a lower price applies at once, a higher one within the customer's
approval limit too; a larger rise waits for the customer, and until then the request keeps its
type, priority and extra time. A new priority or request type is written by one function,
whether it comes from the console or from an approved change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app import db
from app.accounts.caller import Caller
from app.accounts.tables import Department
from app.errors import IllegalTransition, InvalidInput, NotAllowed
from app.i18n import _
from app.notifications import services as notify
from app.tickets.services import charges
from app.tickets.services._rows import (
    active_custom_fields,
    due_dates,
    lock,
    record,
    request_type_codes,
    request_type_id,
    require_staff,
    save,
    touch,
    utcnow,
)
from app.tickets.services.points import change_view
from app.tickets.services.reading import ticket_summary
from app.tickets.services.results import ChangeView, Requote, TicketSummary
from app.tickets.services.rules import status_label
from app.tickets.services.validation import clean_extra_minutes, clean_reason, validate_custom_fields
from app.tickets.tables import CATEGORIES, PRIORITIES, Ticket

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
    time. Each change is one history line with its old and new value. Another request type or
    priority re-quotes the request (module docstring); `reason` tells the customer why.
    """
    require_staff(caller)
    reason = clean_reason(reason, required=False)
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
        to_priority = priority if priority is not None else row["priority"]
        to_type = to_type_id if to_type_id is not None else row["request_type"]
        codes: dict[int, str] = {}
        price: dict[Any, Any] = {}
        asked_customer = False
        if (to_priority, to_type) != (row["priority"], row["request_type"]):
            codes = await request_type_codes({row["request_type"], to_type})
            outcome = await _requote(
                caller, row, kind="reclassify", from_code=codes[row["request_type"]], to_code=codes[to_type],
                to_priority=to_priority, to_extra_minutes=row["extra_minutes"], reason=reason, now=now,
            )
            if not outcome.applied:
                # The customer answers first; the request keeps its type and priority until then.
                priority = to_type_id = None
                asked_customer = True
            elif outcome.to_points != row["quoted_points"]:
                price[Ticket.quoted_points] = outcome.to_points
        changes, events = _classification(row, codes, priority=priority, category=category, request_type_id=to_type_id)
        changes.update(price)
        if department_id is not _KEEP and department_id != row["department"]:
            old_name = None
            if row["department"] is not None:
                old = await Department.select(Department.name).where(Department.id == row["department"]).first()
                old_name = old["name"] if old else None
            changes[Ticket.department] = department_id
            events.append({"field": "department", "from": row["department"], "to": department_id,
                           "from_label": old_name, "to_label": department_name})
        if changes:
            await _save_with_history(caller, row, changes, events, now)
        elif asked_customer:
            await touch(row, now)
    return await ticket_summary(caller, ticket_id)


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
            await _save_with_history(caller, row, {Ticket.custom_fields: cleaned}, [
                {"field": "custom_fields", "from": row["custom_fields"] or {}, "to": cleaned},
            ], now)
    return await ticket_summary(caller, ticket_id)


async def request_overage(
    caller: Caller, ticket_id: int, minutes: Any, reason: str, *, version: int | None = None
) -> Requote:
    """An agent asks for `minutes` more work beyond what the request type includes."""
    if not caller.is_staff:
        raise NotAllowed(_("Only our staff can ask for extra time."))
    minutes = clean_extra_minutes(minutes)
    reason = clean_reason(reason, required=True)
    now = utcnow()
    async with db.write_transaction():
        row = await lock(caller, ticket_id, version)
        if row["status"] in ("closed", "cancelled"):
            raise IllegalTransition(_("A {status} request takes no extra time.",
                                      status=status_label(row["status"])), field="extra_minutes")
        code = (await request_type_codes([row["request_type"]]))[row["request_type"]]
        extra_minutes = row["extra_minutes"] + minutes
        outcome = await _requote(
            caller, row, kind="overage", from_code=code, to_code=code, to_priority=row["priority"],
            to_extra_minutes=extra_minutes, reason=reason, now=now,
        )
        if outcome.applied:
            await _apply_price(caller, row, request_type_id=row["request_type"], priority=row["priority"],
                               extra_minutes=extra_minutes, quoted_points=outcome.to_points, now=now)
        else:
            await touch(row, now)
    return outcome


async def decide_change(caller: Caller, ticket_id: int, change_id: int, *, approve: bool) -> ChangeView:
    """The customer approves a waiting rise of price (the hold grows, the new classification
    applies) or declines it (nothing changes)."""
    now = utcnow()
    async with db.write_transaction():
        row = await lock(caller, ticket_id, None)
        change = await charges.change_to_answer(caller, row, change_id)
        if approve:
            await charges.carry_out(await charges.approval(row, change), caller.id)
            await _apply_price(
                caller, row, request_type_id=await request_type_id(change["to_request_type"], active_only=False),
                priority=change["to_priority"], extra_minutes=change["to_extra_minutes"],
                quoted_points=change["to_points"], now=now,
            )
        status = "approved" if approve else "declined"
        await charges.answer_change(change_id, status, by=caller.id, now=now)
        await record(ticket_id, caller.id, f"points_change_{status}", {
            "change": change_id, "from": change["from_points"], "to": change["to_points"],
        }, now)
    return await change_view(ticket_id, change_id)


# ---------------------------------------------------------------------------------------------
# The one way a classification and a price are written


async def _requote(
    caller: Caller, row: dict[str, Any], *, kind: str, from_code: str, to_code: str, to_priority: str,
    to_extra_minutes: int, reason: str, now: datetime,
) -> Requote:
    """Inside the request's write transaction (row locked): price it again and carry out what
    charges decides. The caller saves the new classification only when the outcome is `applied`."""
    decision = await charges.reprice(
        row, from_code=from_code, to_code=to_code, to_priority=to_priority, to_extra_minutes=to_extra_minutes
    )
    if not decision.changes_price:
        return Requote(applied=True, change_id=None, from_points=decision.from_points, to_points=decision.to_points)
    change_id = await charges.record_change(decision, kind=kind, reason=reason, by=caller.id, now=now)
    detail = {"change": change_id, "from": decision.from_points, "to": decision.to_points, "reason": reason}
    if decision.applies_now:
        await charges.carry_out(decision.movement(change_id, reason), caller.id)
        await record(row["id"], caller.id, "points_requoted", detail, now)
    else:
        await record(row["id"], caller.id, "points_change_requested", detail, now)
        await notify.point_change_pending(row["id"], change_id)
    return Requote(applied=decision.applies_now, change_id=change_id, from_points=decision.from_points,
                   to_points=decision.to_points)


def _classification(
    row: dict[str, Any], codes: Mapping[int, str], *, priority: str | None, category: str | None,
    request_type_id: int | None,
) -> tuple[dict[Any, Any], list[dict[str, Any]]]:
    """The columns and history lines of a new priority (with its due dates), category and request
    type (`codes` names the old and new type); None and the current value change nothing."""
    changes: dict[Any, Any] = {}
    events: list[dict[str, Any]] = []
    if priority is not None and priority != row["priority"]:
        first_due, resolution_due = due_dates(priority, row["created_at"])
        changes.update({Ticket.priority: priority, Ticket.resolution_due_at: resolution_due,
                        Ticket.first_response_due_at: first_due})
        events.append({"field": "priority", "from": row["priority"], "to": priority})
    if category is not None and category != row["category"]:
        changes[Ticket.category] = category
        events.append({"field": "category", "from": row["category"], "to": category})
    if request_type_id is not None and request_type_id != row["request_type"]:
        changes[Ticket.request_type] = request_type_id
        events.append({"field": "request_type", "from": codes.get(row["request_type"]),
                       "to": codes.get(request_type_id)})
    return changes, events


async def _apply_price(
    caller: Caller, row: dict[str, Any], *, request_type_id: int, priority: str, extra_minutes: int,
    quoted_points: int, now: datetime,
) -> None:
    """Save a re-quote that applies (at once, or approved) on the locked request: its price, extra
    time and classification, with the history lines."""
    changed_type = request_type_id != row["request_type"]
    codes = await request_type_codes({row["request_type"], request_type_id}) if changed_type else {}
    changes, events = _classification(row, codes, priority=priority, category=None, request_type_id=request_type_id)
    changes.update({Ticket.quoted_points: quoted_points, Ticket.extra_minutes: extra_minutes})
    await _save_with_history(caller, row, changes, events, now)


async def _save_with_history(
    caller: Caller, row: dict[str, Any], changes: Mapping[Any, Any], events: list[dict[str, Any]], now: datetime
) -> None:
    await save(row, changes, now)
    for detail in events:
        await record(row["id"], caller.id, "field_changed", detail, now)
