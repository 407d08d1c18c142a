"""What the ticket services take and return: plain frozen dataclasses, no rows, no HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from app.i18n import current_locale
from app.tickets.services.history import EventView
from app.tickets.services.rules import localised
from pricing.rules import Quote, RequestTypePrice


@dataclass(frozen=True, kw_only=True)
class TicketSummary:
    """A request as a list shows it (one row of a queue, a search result or an export)."""

    id: int
    number: str
    subject: str
    status: str
    priority: str
    category: str
    organization_id: int
    organization_name: str
    requester_id: int
    requester_name: str
    request_type_code: str
    request_type_name_ja: str
    request_type_name_en: str
    department_id: int | None
    department_name: str | None
    assignee_id: int | None
    assignee_name: str | None
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    first_responded_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    quoted_points: int = 0  # the points the request costs now (app/tickets/services/quotes.py)

    @property
    def request_type_name(self) -> str:
        return localised(self.request_type_name_ja, self.request_type_name_en)

    def is_overdue(self, now: datetime | None = None) -> bool:
        """Past a due date while the vendor holds the ball (new or open)."""
        now = now or datetime.now(UTC)
        if self.status not in ("new", "open"):
            return False
        if self.first_responded_at is None and self.first_response_due_at and self.first_response_due_at < now:
            return True
        return bool(self.resolution_due_at and self.resolution_due_at < now)


@dataclass(frozen=True, kw_only=True)
class AttachmentView:
    id: int
    message_id: int | None
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by_id: int
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class MessageView:
    id: int
    author_id: int
    author_name: str
    author_is_staff: bool
    body: str
    internal: bool
    minutes_spent: int
    created_at: datetime
    attachments: tuple[AttachmentView, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CustomFieldValue:
    key: str
    label: str
    field_type: str
    value: Any


@dataclass(frozen=True, kw_only=True)
class TicketRef:
    id: int
    number: str


# ---------------------------------------------------------------------------------------------
# Points


@dataclass(frozen=True, kw_only=True)
class PricedType:
    """A request type as the point table prices it, named in the current locale."""

    code: str
    name: str
    scope: str
    points: int
    included_minutes: int | None
    block_minutes: int | None
    points_per_block: int | None

    @classmethod
    def of(cls, price: RequestTypePrice) -> PricedType:
        locale = current_locale()
        return cls(
            code=price.code, name=price.name(locale) or price.name_ja, scope=price.scope(locale) or price.scope_ja,
            points=price.points, included_minutes=price.included_minutes, block_minutes=price.block_minutes,
            points_per_block=price.points_per_block,
        )


@dataclass(frozen=True, kw_only=True)
class FilingPrice:
    """What the new-request form shows before sending: the price and what the company has."""

    request_type: PricedType | None
    quote: Quote | None
    available: int
    held: int

    @property
    def points(self) -> int:
        return self.quote.points if self.quote else 0

    @property
    def enough(self) -> bool:
        return self.quote is None or self.available >= self.quote.points

    @property
    def shortfall(self) -> int:
        return max(0, self.points - self.available)


@dataclass(frozen=True, kw_only=True)
class ChangeView:
    id: int
    kind: str
    status: str
    from_points: int
    to_points: int
    from_request_type: str
    to_request_type: str
    from_priority: str
    to_priority: str
    from_extra_minutes: int
    to_extra_minutes: int
    reason: str
    requested_by_name: str
    requested_at: datetime
    decided_by_name: str | None
    decided_at: datetime | None

    @property
    def increase(self) -> int:
        return self.to_points - self.from_points


@dataclass(frozen=True, kw_only=True)
class PointsLine:
    """One line of a request's points story: when, who, what, why."""

    at: datetime
    actor_name: str | None
    text: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class PointsStory:
    """A request's points: its quote and what became of it, line by line."""

    priced: bool
    version_number: int | None
    quoted: int
    extra_minutes: int
    held: int
    captured: int
    released: int
    waived: bool
    waive_reason: str
    pending_change: ChangeView | None
    changes: tuple[ChangeView, ...]
    lines: tuple[PointsLine, ...]
    can_decide: bool  # the caller may approve or decline the pending change

    @property
    def settled(self) -> bool:
        return self.priced and self.held == 0 and (self.captured > 0 or self.released > 0)


@dataclass(frozen=True, kw_only=True)
class Requote:
    """What a re-quote did: `applied` (the price and classification changed now) or a pending
    change waiting for the customer (`change_id`)."""

    applied: bool
    change_id: int | None
    from_points: int
    to_points: int


# ---------------------------------------------------------------------------------------------
# A request whole


@dataclass(frozen=True, kw_only=True)
class TicketDetail(TicketSummary):
    """A request with its thread, files and history, as the caller may see them."""

    body: str
    custom_fields: dict[str, Any]
    custom_field_values: tuple[CustomFieldValue, ...]
    follow_up_of: TicketRef | None
    follow_ups: tuple[TicketRef, ...]
    resolved_at: datetime | None
    closed_at: datetime | None
    messages: tuple[MessageView, ...]
    attachments: tuple[AttachmentView, ...]  # every file the caller may see (on the request or a message)
    events: tuple[EventView, ...]
    allowed_statuses: tuple[str, ...]  # what this caller may change the status to now
    minutes_spent_total: int
    points: PointsStory | None = None  # its quote and what became of it


@dataclass(frozen=True, kw_only=True)
class TicketPage:
    items: list[TicketSummary]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True)
class ReplyOutcome:
    """Where a reply landed. A reply to a closed request becomes a new follow-up request."""

    ticket_id: int
    number: str
    message_id: int | None  # None when the reply started a follow-up (it became that request's body)
    status: str
    version: int
    follow_up_of: int | None = None


@dataclass(frozen=True, kw_only=True)
class TicketFilters:
    """Filters of a queue or an export. Empty values mean "any".

    `status` and `priority` take one value, a comma-separated string or a sequence.
    `assignee`: a user id, "me" or "none"; `requester`: a user id or "me".
    Date ranges are calendar dates in the vendor's time zone, both ends included.
    """

    status: str | Sequence[str] | None = None
    priority: str | Sequence[str] | None = None
    organization_id: int | None = None
    department_id: int | None = None
    assignee: int | str | None = None
    requester: int | str | None = None
    request_type: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    updated_from: date | None = None
    updated_to: date | None = None
    q: str | None = None


# ---------------------------------------------------------------------------------------------
# Choices for the forms of the portal and the console


@dataclass(frozen=True, kw_only=True)
class RequestTypeChoice:
    code: str
    name: str  # in the current locale
    is_active: bool = True


@dataclass(frozen=True, kw_only=True)
class CustomFieldInput:
    """A custom field as a form shows it; `choices` are the allowed values of a choice field."""

    key: str
    label: str
    field_type: str
    choices: tuple[str, ...]
    required: bool


@dataclass(frozen=True, kw_only=True)
class CustomFieldDefinition(CustomFieldInput):
    """A custom field as the console shows it to staff: also whether customers see it."""

    visible_to_customers: bool


@dataclass(frozen=True, kw_only=True)
class PersonChoice:
    id: int
    name: str


class WatcherView(NamedTuple):
    user_id: int
    name: str
