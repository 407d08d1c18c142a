"""A queue's filters as a query on `tickets` (for the lists and the exports), and its page cursor
(the app's one cursor codec, app/accounts/services.py, for the kind "t")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from app.accounts import services as accounts
from app.accounts.caller import Caller
from app.accounts.services import reject_control_characters
from app.errors import InvalidInput
from app.i18n import _
from app.schema import MAX_ID
from app.settings import get_settings
from app.tickets.search import keyword_condition
from app.tickets.services._rows import where_visible
from app.tickets.services.results import TicketFilters
from app.tickets.tables import PRIORITIES, STATUSES, RequestType, Ticket


def _many(value: str | Sequence[str] | None, allowed: Sequence[str], field_name: str) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [i.strip() for i in items if i and i.strip()]
    for item in items:
        if item not in allowed:
            raise InvalidInput(_("Unknown {field}: {value}.", field=field_name, value=item[:40]), field=field_name)
    return items


def _person(value: int | str | None, caller: Caller, field_name: str, *, allow_none: bool) -> int | str | None:
    """A user filter: an id, "me" (the caller) or, where allowed, "none"."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput(_("Unknown {field}: {value}.", field=field_name, value=value), field=field_name)
    if isinstance(value, int):
        return value
    text = value.strip().lower()
    if text == "me":
        return caller.id
    if text == "none" and allow_none:
        return "none"
    if text.isdecimal() and len(text) <= 10 and int(text) <= MAX_ID:
        return int(text)
    raise InvalidInput(_("Unknown {field}: {value}.", field=field_name, value=value[:40]), field=field_name)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=get_settings().zone).astimezone(UTC)


async def filtered(query, caller: Caller, filters: TicketFilters):
    """Add the tenant condition and the filters to a query on `tickets`."""
    query = where_visible(query, caller)
    statuses = _many(filters.status, STATUSES, "status")
    if statuses:
        query = query.where(Ticket.status.is_in(statuses))
    priorities = _many(filters.priority, PRIORITIES, "priority")
    if priorities:
        query = query.where(Ticket.priority.is_in(priorities))
    if filters.organization_id is not None:
        query = query.where(Ticket.organization == filters.organization_id)
    if filters.department_id is not None:
        query = query.where(Ticket.department == filters.department_id)
    assignee = _person(filters.assignee, caller, "assignee", allow_none=True)
    if assignee == "none":
        query = query.where(Ticket.assignee.is_null())
    elif assignee is not None:
        query = query.where(Ticket.assignee == assignee)
    requester = _person(filters.requester, caller, "requester", allow_none=False)
    if requester is not None:
        query = query.where(Ticket.requester == requester)
    if filters.request_type:
        code = reject_control_characters(filters.request_type, "request_type")
        type_row = await RequestType.select(RequestType.id).where(RequestType.code == code).first()
        query = query.where(Ticket.request_type == (type_row["id"] if type_row else -1))
    for column, start, end in (
        (Ticket.created_at, filters.created_from, filters.created_to),
        (Ticket.updated_at, filters.updated_from, filters.updated_to),
    ):
        if start is not None:
            query = query.where(column >= _day_start(start))
        if end is not None:
            query = query.where(column < _day_start(end + timedelta(days=1)))
    if filters.q:
        condition = await keyword_condition(filters.q, include_internal=caller.is_staff)
        if condition is not None:
            query = query.where(condition)
    return query


def encode_cursor(ticket_id: int) -> str:
    """The opaque cursor of the page after the request `ticket_id`."""
    return accounts.encode_cursor("t", ticket_id)


def decode_cursor(cursor: str) -> int:
    """The request a (non-empty) cursor names; InvalidInput (field "cursor") for anything else."""
    return accounts.decode_cursor("t", cursor)
