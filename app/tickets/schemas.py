"""What the tickets API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from app.openapi import json_int
from app.schema import MAX_ID
from app.tickets.services.history import EventView
from app.tickets.services.results import (
    AttachmentView,
    ChangeView,
    MessageView,
    PointsStory,
    ReplyOutcome,
    TicketDetail,
    TicketPage,
    TicketSummary,
)
from app.tickets.services.rules import category_label, priority_label, status_label
from app.tickets.services.validation import BODY_MAX, MINUTES_MAX, SUBJECT_MAX

PriorityName = Literal["urgent", "normal", "low"]
CategoryName = Literal["question", "incident", "change_request", "notice", "other"]
StatusName = Literal["new", "open", "waiting", "resolved", "closed", "cancelled"]
CustomValue = StrictStr | StrictInt | StrictFloat | None


class _Input(BaseModel):
    # Strict: "yes" is not a boolean and 5 is not a subject; unknown fields are refused by name.
    model_config = ConfigDict(strict=True, extra="forbid")


class TicketCreate(_Input):
    subject: Annotated[str, Field(min_length=1, max_length=SUBJECT_MAX)]
    body: Annotated[str, Field(min_length=1, max_length=BODY_MAX)]
    request_type: Annotated[str, Field(min_length=1, max_length=32, description="A request type code")]
    priority: PriorityName = "normal"
    category: CategoryName = "question"
    custom_fields: dict[Annotated[str, Field(max_length=40)], CustomValue] = {}
    organization: json_int(gt=0, le=MAX_ID, description="Staff only: the organisation filed for") | None = None
    requester: json_int(gt=0, le=MAX_ID, description="Staff only: the customer user filing") | None = None


class MessageCreate(_Input):
    body: Annotated[str, Field(min_length=1, max_length=BODY_MAX)]
    internal: StrictBool = False
    minutes_spent: json_int(ge=0, le=MINUTES_MAX) = 0
    version: json_int(ge=1, le=MAX_ID, description="The version you saw; refused (409) if it changed") | None = None
    status: Annotated[StatusName, Field(description="A status to move to after the reply, e.g. waiting")] | None = None


class StatusChange(_Input):
    status: StatusName
    version: json_int(ge=1, le=MAX_ID) | None = None


class Named(BaseModel):
    id: int
    name: str


class RequestTypeRef(BaseModel):
    code: str
    name: str


class TicketRefRead(BaseModel):
    id: int
    number: str


class TicketListItem(BaseModel):
    id: int
    number: str
    subject: str
    status: StatusName
    status_label: str
    priority: PriorityName
    priority_label: str
    category: CategoryName
    category_label: str
    organization: Named
    requester: Named
    request_type: RequestTypeRef
    department: Named | None
    assignee: Named | None
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    first_responded_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    # The points the request costs (its quote, changed only by re-quotes).
    quoted_points: int = 0

    @classmethod
    def of(cls, ticket: TicketSummary, **extra: Any) -> TicketListItem:
        return cls(
            id=ticket.id,
            number=ticket.number,
            subject=ticket.subject,
            status=ticket.status,
            status_label=status_label(ticket.status),
            priority=ticket.priority,
            priority_label=priority_label(ticket.priority),
            category=ticket.category,
            category_label=category_label(ticket.category),
            organization=Named(id=ticket.organization_id, name=ticket.organization_name),
            requester=Named(id=ticket.requester_id, name=ticket.requester_name),
            request_type=RequestTypeRef(code=ticket.request_type_code, name=ticket.request_type_name),
            department=Named(id=ticket.department_id, name=ticket.department_name or "")
            if ticket.department_id is not None else None,
            assignee=Named(id=ticket.assignee_id, name=ticket.assignee_name or "")
            if ticket.assignee_id is not None else None,
            first_response_due_at=ticket.first_response_due_at,
            resolution_due_at=ticket.resolution_due_at,
            first_responded_at=ticket.first_responded_at,
            created_at=ticket.created_at,
            updated_at=ticket.updated_at,
            version=ticket.version,
            quoted_points=ticket.quoted_points,
            **extra,
        )


class AttachmentRead(BaseModel):
    id: int
    message_id: int | None
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime
    download_url: str

    @classmethod
    def of(cls, ticket_id: int, item: AttachmentView) -> AttachmentRead:
        return cls(
            id=item.id, message_id=item.message_id, filename=item.filename, content_type=item.content_type,
            size_bytes=item.size_bytes, sha256=item.sha256, created_at=item.created_at,
            download_url=f"/api/v1/tickets/{ticket_id}/attachments/{item.id}",
        )


class MessageRead(BaseModel):
    id: int
    author: Named
    author_is_staff: bool
    body: str
    internal: bool
    minutes_spent: int
    created_at: datetime

    @classmethod
    def of(cls, message: MessageView) -> MessageRead:
        return cls(
            id=message.id, author=Named(id=message.author_id, name=message.author_name),
            author_is_staff=message.author_is_staff, body=message.body, internal=message.internal,
            minutes_spent=message.minutes_spent, created_at=message.created_at,
        )


class EventRead(BaseModel):
    id: int
    kind: str
    actor: Named | None
    detail: dict[str, Any]
    text: str
    created_at: datetime

    @classmethod
    def of(cls, event: EventView) -> EventRead:
        return cls(
            id=event.id, kind=event.kind,
            actor=Named(id=event.actor_id, name=event.actor_name or "") if event.actor_id is not None else None,
            detail=event.detail, text=event.text, created_at=event.created_at,
        )


class PointChangeRead(BaseModel):
    id: int
    kind: str
    status: str
    from_points: int
    to_points: int
    from_request_type: str
    to_request_type: str
    from_priority: str
    to_priority: str
    extra_minutes: int
    reason: str
    requested_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, change: ChangeView) -> PointChangeRead:
        return cls(
            id=change.id, kind=change.kind, status=change.status, from_points=change.from_points,
            to_points=change.to_points, from_request_type=change.from_request_type,
            to_request_type=change.to_request_type, from_priority=change.from_priority, to_priority=change.to_priority,
            extra_minutes=change.to_extra_minutes - change.from_extra_minutes, reason=change.reason,
            requested_at=change.requested_at, decided_at=change.decided_at,
        )


class PointsRead(BaseModel):
    """A request's points: its quote, what is held now, captured (charged) and released."""

    quoted: int
    held: int
    captured: int
    released: int
    waived: bool
    pending_change: PointChangeRead | None

    @classmethod
    def of(cls, story: PointsStory | None) -> PointsRead:
        if story is None:
            return cls(quoted=0, held=0, captured=0, released=0, waived=False, pending_change=None)
        return cls(
            quoted=story.quoted, held=story.held, captured=story.captured, released=story.released,
            waived=story.waived,
            pending_change=PointChangeRead.of(story.pending_change) if story.pending_change else None,
        )


class Waive(_Input):
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    version: json_int(ge=1, le=MAX_ID) | None = None


class OverageCreate(_Input):
    minutes: json_int(ge=1, le=10000, description="Extra minutes of work beyond the included time")
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    version: json_int(ge=1, le=MAX_ID) | None = None


class TicketRead(TicketListItem):
    body: str
    custom_fields: dict[str, Any]
    follow_up_of: TicketRefRead | None
    follow_ups: list[TicketRefRead]
    resolved_at: datetime | None
    closed_at: datetime | None
    messages: list[MessageRead]
    attachments: list[AttachmentRead]
    events: list[EventRead]
    allowed_statuses: list[StatusName]
    minutes_spent_total: int
    points: PointsRead

    @classmethod
    def of_detail(cls, ticket: TicketDetail) -> TicketRead:
        return cls.of(
            ticket,
            body=ticket.body,
            custom_fields=ticket.custom_fields,
            follow_up_of=TicketRefRead(id=ticket.follow_up_of.id, number=ticket.follow_up_of.number)
            if ticket.follow_up_of else None,
            follow_ups=[TicketRefRead(id=f.id, number=f.number) for f in ticket.follow_ups],
            resolved_at=ticket.resolved_at,
            closed_at=ticket.closed_at,
            messages=[MessageRead.of(m) for m in ticket.messages],
            attachments=[AttachmentRead.of(ticket.id, a) for a in ticket.attachments],
            events=[EventRead.of(e) for e in ticket.events],
            allowed_statuses=list(ticket.allowed_statuses),
            minutes_spent_total=ticket.minutes_spent_total,
            points=PointsRead.of(ticket.points),
        )


class TicketListPage(BaseModel):
    items: list[TicketListItem]
    next_cursor: str | None

    @classmethod
    def of(cls, page: TicketPage) -> TicketListPage:
        return cls(items=[TicketListItem.of(t) for t in page.items], next_cursor=page.next_cursor)


class MessageCreated(BaseModel):
    """Where the reply landed: `ticket` is a new follow-up request when the original was closed."""

    message_id: int | None
    ticket: TicketRefRead
    status: StatusName
    version: int
    follow_up_of: int | None

    @classmethod
    def of(cls, outcome: ReplyOutcome) -> MessageCreated:
        return cls(
            message_id=outcome.message_id, ticket=TicketRefRead(id=outcome.ticket_id, number=outcome.number),
            status=outcome.status, version=outcome.version, follow_up_of=outcome.follow_up_of,
        )
