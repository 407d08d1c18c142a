"""Reading requests: one request (as a list row or whole, with its thread, files, history and
points), a page of a queue, and the counts and short lists of the home screens.

Customers see only their own organisation's requests (another's does not exist: NotFound),
no internal notes and only the history lines in CUSTOMER_EVENT_KINDS.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from piccolo.query.functions.aggregate import Count

from app.accounts.caller import Caller
from app.accounts.tables import STAFF_ROLES
from app.errors import InvalidInput, NotFound
from app.i18n import _
from app.tickets.services._rows import active_custom_fields, summary_columns, summary_values, utcnow, where_visible
from app.tickets.services.filters import decode_cursor, encode_cursor, filtered
from app.tickets.services.history import CUSTOMER_EVENT_KINDS, EventView
from app.tickets.services.points import points_story
from app.tickets.services.results import (
    AttachmentView,
    CustomFieldValue,
    MessageView,
    TicketDetail,
    TicketFilters,
    TicketPage,
    TicketRef,
    TicketSummary,
)
from app.tickets.services.rules import OPEN_STATUSES, allowed_statuses, localised
from app.tickets.tables import STATUSES, Attachment, Ticket, TicketEvent, TicketMessage

PAGE_LIMIT_MAX = 100
STATUS_COUNT_CAP = 9999


async def ticket_summary(caller: Caller, ticket_id: int) -> TicketSummary:
    """One request as a list row; NotFound when the caller may not see it."""
    row = await where_visible(Ticket.select(*summary_columns()).where(Ticket.id == ticket_id), caller).first()
    if row is None:
        raise NotFound(_("This request does not exist."))
    return TicketSummary(**summary_values(row))


async def get_ticket(caller: Caller, ticket_id: int) -> TicketDetail:
    """A request with its messages (internal notes only for staff), files, history and follow-ups.

    NotFound for another organisation's request. Customers see only custom fields visible to
    customers and the history lines in CUSTOMER_EVENT_KINDS.
    """
    query = Ticket.select(
        *summary_columns(),
        Ticket.body,
        Ticket.custom_fields,
        Ticket.follow_up_of,
        Ticket.follow_up_of.number.as_alias("follow_up_of_number"),
        Ticket.resolved_at,
        Ticket.closed_at,
    ).where(Ticket.id == ticket_id).output(load_json=True)
    row = await where_visible(query, caller).first()
    if row is None:
        raise NotFound(_("This request does not exist."))

    messages_query = TicketMessage.select(
        TicketMessage.id, TicketMessage.author, TicketMessage.author.name.as_alias("author_name"),
        TicketMessage.author.role.as_alias("author_role"), TicketMessage.body, TicketMessage.internal,
        TicketMessage.minutes_spent, TicketMessage.created_at,
    ).where(TicketMessage.ticket == ticket_id).order_by(TicketMessage.id)
    if not caller.is_staff:
        messages_query = messages_query.where(TicketMessage.internal == False)  # noqa: E712
    message_rows = await messages_query
    visible_messages = {m["id"] for m in message_rows}

    files = [
        AttachmentView(
            id=a["id"], message_id=a["message"], filename=a["filename"], content_type=a["content_type"],
            size_bytes=a["size_bytes"], sha256=a["sha256"], uploaded_by_id=a["uploaded_by"], created_at=a["created_at"],
        )
        for a in await Attachment.select(
            Attachment.id, Attachment.message, Attachment.filename, Attachment.content_type, Attachment.size_bytes,
            Attachment.sha256, Attachment.uploaded_by, Attachment.created_at,
        ).where(Attachment.ticket == ticket_id).order_by(Attachment.id)
        if a["message"] is None or a["message"] in visible_messages
    ]
    messages = tuple(
        MessageView(
            id=m["id"], author_id=m["author"], author_name=m["author_name"] or "",
            author_is_staff=m["author_role"] in STAFF_ROLES, body=m["body"], internal=m["internal"],
            minutes_spent=m["minutes_spent"], created_at=m["created_at"],
            attachments=tuple(f for f in files if f.message_id == m["id"]),
        )
        for m in message_rows
    )

    events_query = TicketEvent.select(
        TicketEvent.id, TicketEvent.kind, TicketEvent.actor, TicketEvent.actor.name.as_alias("actor_name"),
        TicketEvent.detail, TicketEvent.created_at,
    ).where(TicketEvent.ticket == ticket_id).order_by(TicketEvent.id).output(load_json=True)
    if not caller.is_staff:
        events_query = events_query.where(TicketEvent.kind.is_in(list(CUSTOMER_EVENT_KINDS)))
    events = tuple(
        EventView(id=e["id"], kind=e["kind"], actor_id=e["actor"], actor_name=e["actor_name"],
                  detail=e["detail"] or {}, created_at=e["created_at"])
        for e in await events_query
    )
    follow_ups = tuple(
        TicketRef(id=f["id"], number=f["number"])
        for f in await Ticket.select(Ticket.id, Ticket.number)
        .where(Ticket.follow_up_of == ticket_id)
        .order_by(Ticket.id)
    )

    definitions = await active_custom_fields()
    shown = [d for d in definitions if caller.is_staff or d["visible_to_customers"]]
    stored_values = row["custom_fields"] or {}
    field_values = tuple(
        CustomFieldValue(key=d["key"], label=localised(d["label_ja"], d["label_en"]), field_type=d["field_type"],
                         value=stored_values[d["key"]])
        for d in shown
        if d["key"] in stored_values
    )
    work_started = row["first_responded_at"] is not None
    return TicketDetail(
        **summary_values(row),
        body=row["body"],
        custom_fields={f.key: f.value for f in field_values},
        custom_field_values=field_values,
        follow_up_of=(
            TicketRef(id=row["follow_up_of"], number=row["follow_up_of_number"]) if row["follow_up_of"] else None
        ),
        follow_ups=follow_ups,
        resolved_at=row["resolved_at"],
        closed_at=row["closed_at"],
        messages=messages,
        attachments=tuple(files),
        events=events,
        allowed_statuses=allowed_statuses(row["status"], staff=caller.is_staff, work_started=work_started),
        minutes_spent_total=sum(m.minutes_spent for m in messages),
        points=await points_story(caller, row["id"]),
    )


async def list_tickets(
    caller: Caller, filters: TicketFilters | None = None, cursor: str | None = None, limit: int = 25
) -> TicketPage:
    """A page of requests, newest first, with the names of their organisation, requester, request
    type, department and assignee (one joined query). `next_cursor` (opaque) fetches the next
    page; None on the last one. Customers always see only their own organisation's requests."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_LIMIT_MAX:
        raise InvalidInput(_("The page size must be between 1 and {max}.", max=PAGE_LIMIT_MAX), field="limit")
    query = await filtered(Ticket.select(*summary_columns()), caller, filters or TicketFilters())
    if cursor:
        query = query.where(Ticket.id < decode_cursor(cursor))
    rows = await query.order_by(Ticket.id, ascending=False).limit(limit + 1)
    items = [TicketSummary(**summary_values(r)) for r in rows[:limit]]
    return TicketPage(items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None)


# ---------------------------------------------------------------------------------------------
# Counts and short lists for the home screens


async def counts_by_status(caller: Caller) -> dict[str, int]:
    """How many requests are in each status (every status present, zero when none)."""
    query = where_visible(Ticket.select(Ticket.status, Count(alias="count")), caller).group_by(Ticket.status)
    counts = dict.fromkeys(STATUSES, 0)
    for row in await query:
        counts[row["status"]] = row["count"]
    return counts


async def status_counts_capped(caller: Caller, cap: int = STATUS_COUNT_CAP) -> dict[str, int]:
    """How many requests are in each status, counting at most `cap` + 1 per status.

    A value above `cap` means "more than cap". Each count reads at most cap + 1 entries of the
    (status, id) index, so the home screen costs the same with a million closed requests."""
    counts: dict[str, int] = {}
    for status in STATUSES:
        if caller.is_staff:
            sql = "SELECT COUNT(*) AS n FROM (SELECT 1 FROM tickets WHERE status = {} LIMIT {}) AS capped"
            args: tuple[Any, ...] = (status, cap + 1)
        else:
            sql = ("SELECT COUNT(*) AS n FROM (SELECT 1 FROM tickets WHERE status = {} AND organization = {} "
                   "LIMIT {}) AS capped")
            args = (status, caller.organization_id or -1, cap + 1)
        rows = await Ticket.raw(sql, *args)
        counts[status] = rows[0]["n"]
    return counts


async def urgent_tickets(caller: Caller, limit: int = 20) -> list[TicketSummary]:
    """Urgent requests still with the vendor or the customer (new/open/waiting), soonest due first."""
    query = where_visible(
        Ticket.select(*summary_columns()).where(
            (Ticket.priority == "urgent") & Ticket.status.is_in(list(OPEN_STATUSES))
        ),
        caller,
    ).order_by(Ticket.resolution_due_at).order_by(Ticket.id).limit(limit)
    return [TicketSummary(**summary_values(r)) for r in await query]


async def overdue_tickets(caller: Caller, limit: int = 20, now: datetime | None = None) -> list[TicketSummary]:
    """New or open requests past their first-response or resolution due time, most overdue first.
    (A waiting request is with the customer, so its clock does not count here.)"""
    now = now or utcnow()
    late = (Ticket.resolution_due_at < now) | (
        Ticket.first_responded_at.is_null() & (Ticket.first_response_due_at < now)
    )
    query = where_visible(
        Ticket.select(*summary_columns()).where(Ticket.status.is_in(["new", "open"])).where(late), caller
    ).order_by(Ticket.resolution_due_at).order_by(Ticket.id).limit(limit)
    return [TicketSummary(**summary_values(r)) for r in await query]
