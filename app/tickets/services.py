"""Support requests (tickets): filing, the status machine, the thread, ownership, reading, exports.

Every function takes the `Caller` making the request and plain values, and returns plain
dataclasses; none knows about HTTP. Errors are those of app/errors.py:

- another organisation's request, or one that does not exist → `NotFound` (never 403);
- a role that may not do something (a customer posting an internal note) → `NotAllowed`;
- a status change the machine does not allow → `IllegalTransition` (409);
- a change made on a stale view (the `version` the caller saw is not the current one) →
  `StaleVersion` (409, "changed since you opened it");
- a bad value → `InvalidInput` with `field` naming it.

The status machine (DESIGN.md):

    new ──→ open ──→ waiting ──→ resolved ──→ closed (final)
     │        ↑ ╲______↗ │          │  ↑
     │        └──────────┴──────────┘  └─ auto-close job after settings.auto_close_after_days
     └─→ cancelled (final), also from open/waiting while no staff member has replied publicly

- staff: new→open, open→waiting, waiting→open, open/waiting→resolved, resolved→open (reopen),
  resolved→closed, and cancel before work starts;
- customers: resolve their organisation's open/waiting request, cancel before work starts
  (no public staff reply yet), and reopen by replying: a customer reply moves a resolved or
  waiting request back to open. A reply to a closed request starts a follow-up request linked by
  `follow_up_of`; a cancelled request takes no more replies.
- the first public staff reply sets `first_responded_at` and moves new→open (without a separate
  status mail: the reply mail says it); a reply may also ask for a status (`then_status`).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from piccolo.query.functions.aggregate import Count

from app import db, exports
from app.accounts.caller import Caller
from app.accounts.services import reject_control_characters
from app.accounts.tables import STAFF_ROLES, Department, Organization, OrganizationRouting, User
from app.errors import IllegalTransition, InvalidInput, NotAllowed, NotFound, StaleVersion
from app.i18n import _, current_locale, format_datetime, format_number, ngettext
from app.notifications import services as notify
from app.schema import MAX_ID
from app.settings import get_settings
from app.tickets import points
from app.tickets.attachments import StoredFile, Upload, discard, record_files, store_uploads
from app.tickets.search import keyword_condition, refresh_search_document
from app.tickets.tables import (
    CATEGORIES,
    PRIORITIES,
    STATUSES,
    Attachment,
    CustomField,
    RequestType,
    Ticket,
    TicketCounter,
    TicketEvent,
    TicketMessage,
)

OPEN_STATUSES = ("new", "open", "waiting")
FINAL_STATUSES = ("closed", "cancelled")
SUBJECT_MAX = 200
BODY_MAX = 20000
MINUTES_MAX = 10000
CUSTOM_TEXT_MAX = 1000
PAGE_LIMIT_MAX = 100
EXPORT_BATCH = 500
# History lines a customer sees; assignment, departments and reclassification stay internal.
CUSTOMER_EVENT_KINDS = (
    "created", "status_changed", "follow_up_created", "points_waived", "points_requoted",
    "points_change_requested", "points_change_approved", "points_change_declined",
)

# (from, to) → who may ask for it. "work not started" adds a condition to cancellation.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("new", "open"): frozenset({"staff"}),
    ("new", "cancelled"): frozenset({"staff", "customer"}),
    ("open", "waiting"): frozenset({"staff"}),
    ("open", "resolved"): frozenset({"staff", "customer"}),
    ("open", "cancelled"): frozenset({"staff", "customer"}),
    ("waiting", "open"): frozenset({"staff"}),
    ("waiting", "resolved"): frozenset({"staff", "customer"}),
    ("waiting", "cancelled"): frozenset({"staff", "customer"}),
    ("resolved", "open"): frozenset({"staff"}),
    ("resolved", "closed"): frozenset({"staff"}),
}


# ---------------------------------------------------------------------------------------------
# Labels (for pages, exports and messages)


def status_label(status: str) -> str:
    return {
        "new": _("New"),
        "open": _("Open"),
        "waiting": _("Waiting on customer"),
        "resolved": _("Resolved"),
        "closed": _("Closed"),
        "cancelled": _("Cancelled"),
    }.get(status, status)


def priority_label(priority: str) -> str:
    return {"urgent": _("Urgent"), "normal": _("Normal"), "low": _("Low")}.get(priority, priority)


def category_label(category: str) -> str:
    return {
        "question": _("Question"),
        "incident": _("Incident"),
        "change_request": _("Change request"),
        "notice": _("Notice"),
        "other": _("Other"),
    }.get(category, category)


def _localised(ja: str | None, en: str | None) -> str:
    return (en if current_locale() == "en" else ja) or ja or en or ""


# ---------------------------------------------------------------------------------------------
# Results


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
    quoted_points: int = 0  # the points the request costs now (app/tickets/points.py)

    @property
    def request_type_name(self) -> str:
        return _localised(self.request_type_name_ja, self.request_type_name_en)

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
class EventView:
    """One line of history. `detail` holds {"from", "to"} (plus "field" for field changes)."""

    id: int
    kind: str
    actor_id: int | None
    actor_name: str | None
    detail: dict[str, Any]
    created_at: datetime

    @property
    def text(self) -> str:
        return describe_event(self)


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
    points: points.PointsStory | None = None  # its quote and what became of it


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
# The status machine (pure)


def allowed_statuses(current: str, *, staff: bool, work_started: bool) -> tuple[str, ...]:
    """The statuses a caller may move a request to from `current`."""
    who = "staff" if staff else "customer"
    return tuple(
        target
        for (source, target), roles in TRANSITIONS.items()
        if source == current and who in roles and not (target == "cancelled" and work_started)
    )


def check_transition(current: str, target: str, *, staff: bool, work_started: bool) -> None:
    """Raise unless the caller may move a request from `current` to `target`.

    IllegalTransition (409) when the machine has no such step (or work has started and the
    target is cancelled); NotAllowed (403) when only staff may take the step.
    """
    if target not in STATUSES:
        raise InvalidInput(_("Unknown status: {status}.", status=target), field="status")
    if current == target:
        raise IllegalTransition(
            _("The request is already {status}.", status=status_label(current)), current=current, requested=target
        )
    roles = TRANSITIONS.get((current, target))
    if roles is None:
        if current in FINAL_STATUSES:
            message = _("A {status} request cannot be changed any more.", status=status_label(current))
        else:
            message = _("A request cannot go from {current} to {target}.",
                        current=status_label(current), target=status_label(target))
        raise IllegalTransition(message, current=current, requested=target)
    if target == "cancelled" and work_started:
        raise IllegalTransition(
            _("This request can no longer be cancelled: our staff have already started on it."),
            current=current, requested=target,
        )
    if ("staff" if staff else "customer") not in roles:
        if current == "resolved" and target == "open":
            raise NotAllowed(_("To reopen a resolved request, reply to it."))
        raise NotAllowed(
            _("Only our staff can change a request from {current} to {target}.",
              current=status_label(current), target=status_label(target))
        )


# ---------------------------------------------------------------------------------------------
# Validation helpers (pure)


def _text(value: str, *, field_name: str, label: str, max_length: int, single_line: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInput(_("{label} must be text.", label=label), field=field_name)
    reject_control_characters(value, field_name)  # PostgreSQL refuses NUL in text outright
    if single_line:
        value = " ".join(value.split())
    value = value.strip()
    if not value:
        raise InvalidInput(_("Please enter {label}.", label=label), field=field_name)
    if len(value) > max_length:
        raise InvalidInput(
            _("{label} is too long (at most {max} characters).", label=label, max=max_length), field=field_name
        )
    return value


def clean_subject(subject: str) -> str:
    return _text(subject, field_name="subject", label=_("the subject"), max_length=SUBJECT_MAX, single_line=True)


def clean_body(body: str) -> str:
    return _text(body, field_name="body", label=_("the message"), max_length=BODY_MAX)


def _minutes(minutes: int | None) -> int:
    if minutes is None:
        return 0
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0 or minutes > MINUTES_MAX:
        raise InvalidInput(
            _("Time spent must be a whole number of minutes between 0 and {max}.", max=MINUTES_MAX),
            field="minutes_spent",
        )
    return minutes


def _choice_values(choices: Any) -> list[str]:
    values = []
    for item in choices or []:
        values.append(str(item.get("value")) if isinstance(item, Mapping) else str(item))
    return values


def validate_custom_fields(
    definitions: Sequence[Mapping[str, Any]], values: Mapping[str, Any] | None, *, customer: bool
) -> dict[str, Any]:
    """Check custom field values against their definitions; return the values to store.

    `definitions` are CustomField rows (active ones). Customers may only fill fields visible to
    customers and are only held to those fields' `required`. Empty values count as absent.
    Numbers are stored as int (or float when not whole), dates as YYYY-MM-DD, choices as given.
    """
    values = dict(values or {})
    usable = {d["key"]: d for d in definitions if d["is_active"] and (d["visible_to_customers"] or not customer)}
    unknown = [key for key in values if key not in usable]
    if unknown:
        raise InvalidInput(_("Unknown field: {key}.", key=unknown[0]), field=f"custom_fields.{unknown[0]}")
    cleaned: dict[str, Any] = {}
    for key, definition in usable.items():
        raw = values.get(key)
        label = _localised(definition["label_ja"], definition["label_en"])
        where = f"custom_fields.{key}"
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if definition["required"]:
                raise InvalidInput(_("Please fill in {label}.", label=label), field=where)
            continue
        kind = definition["field_type"]
        if kind == "text":
            if not isinstance(raw, str):
                raise InvalidInput(_("{label} must be text.", label=label), field=where)
            text = reject_control_characters(raw.strip(), where)
            if len(text) > CUSTOM_TEXT_MAX:
                raise InvalidInput(
                    _("{label} is too long (at most {max} characters).", label=label, max=CUSTOM_TEXT_MAX), field=where
                )
            cleaned[key] = text
        elif kind == "number":
            cleaned[key] = _number(raw, label, where)
        elif kind == "date":
            cleaned[key] = _date(raw, label, where)
        elif kind == "choice":
            text = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else None
            if text is None or text not in _choice_values(definition["choices"]):
                raise InvalidInput(_("Please choose one of the options for {label}.", label=label), field=where)
            cleaned[key] = text
    return cleaned


def _number(raw: Any, label: str, where: str) -> int | float:
    if isinstance(raw, bool):
        raise InvalidInput(_("{label} must be a number.", label=label), field=where)
    try:
        number = Decimal(raw.strip().replace(",", "")) if isinstance(raw, str) else Decimal(str(raw))
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(_("{label} must be a number.", label=label), field=where) from None
    if not number.is_finite() or abs(number) > Decimal(10) ** 15:
        raise InvalidInput(_("{label} must be a number.", label=label), field=where)
    return int(number) if number == number.to_integral_value() else float(number)


def _date(raw: Any, label: str, where: str) -> str:
    if isinstance(raw, datetime):
        raw = raw.date()
    if isinstance(raw, date):
        return raw.isoformat()
    if isinstance(raw, str):
        text = raw.strip().replace("/", "-")
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise InvalidInput(_("{label} must be a date (YYYY/MM/DD).", label=label), field=where)


_REPLY_PREFIX = re.compile(r"^(?:(?:re|fw|fwd|返信|転送)\s*[:：]\s*)+", re.IGNORECASE)


def normalise_subject(subject: str) -> str:
    """For duplicate detection: NFKC, case-folded, no Re:/Fw:, no spaces or punctuation."""
    text = _REPLY_PREFIX.sub("", unicodedata.normalize("NFKC", subject).casefold().strip())
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PZC")


def subjects_match(a: str, b: str) -> bool:
    """Equal normalised subjects, or one contains the other (the shorter at least 2 characters)."""
    if not a or not b:
        return False
    if a == b:
        return True
    shorter, longer = sorted((a, b), key=len)
    return len(shorter) >= 2 and shorter in longer


# ---------------------------------------------------------------------------------------------
# Queries shared by the readers


def _summary_columns() -> list:
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


def _summary_values(row: Mapping[str, Any]) -> dict[str, Any]:
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


def _where_visible(query, caller: Caller):
    condition = _visible_to(caller)
    return query.where(condition) if condition is not None else query


async def ticket_summary(caller: Caller, ticket_id: int) -> TicketSummary:
    """One request as a list row; NotFound when the caller may not see it."""
    row = await _where_visible(Ticket.select(*_summary_columns()).where(Ticket.id == ticket_id), caller).first()
    if row is None:
        raise NotFound(_("This request does not exist."))
    return TicketSummary(**_summary_values(row))


# ---------------------------------------------------------------------------------------------
# Filing


def _now() -> datetime:
    return datetime.now(UTC)


async def _number_ticket(ticket_id: int, now: datetime) -> str:
    """Give the request the year's next number, `YYYY-NNNNNN` (vendor-local year), and return it.

    A guarded UPDATE ... RETURNING on the year's counter row serialises concurrent filers until
    their COMMIT; the row is created on the first request of a year. On PostgreSQL the counter and
    the request are updated by one statement, so a filing holds the counter for two round trips
    (this one and whatever follows before COMMIT), not three."""
    year = now.astimezone(get_settings().zone).year
    for _attempt in range(2):
        if db.is_postgres():
            rows = await Ticket.raw(
                "WITH counter AS (UPDATE ticket_counters SET last_number = last_number + 1 WHERE year = {} "
                "RETURNING last_number) "
                "UPDATE tickets SET number = {}::text || '-' "
                "|| repeat('0', greatest(0, 6 - length(counter.last_number::text))) || counter.last_number::text "
                "FROM counter WHERE tickets.id = {} RETURNING tickets.number AS number",
                year, str(year), ticket_id,
            )
            if rows:
                return rows[0]["number"]
        else:
            bump = {TicketCounter.last_number: TicketCounter.last_number + 1}
            rows = await TicketCounter.update(bump).where(TicketCounter.year == year).returning(
                TicketCounter.last_number)
            if rows:
                number = f"{year}-{rows[0]['last_number']:06d}"
                await Ticket.update({Ticket.number: number}).where(Ticket.id == ticket_id)
                return number
        await TicketCounter.insert(TicketCounter(year=year, last_number=0)).on_conflict(
            target=TicketCounter.year, action="DO NOTHING"
        )
    raise RuntimeError(f"the request number counter of {year} could not be created")


def _due_dates(priority: str, created_at: datetime) -> tuple[datetime, datetime]:
    settings = get_settings()
    return (
        created_at + timedelta(hours=settings.first_response_hours[priority]),
        created_at + timedelta(hours=settings.resolution_hours[priority]),
    )


async def _request_type_id(code: str) -> int:
    if not isinstance(code, str) or not code.strip():
        raise InvalidInput(_("Please choose a request type."), field="request_type")
    reject_control_characters(code, "request_type")
    row = await RequestType.select(RequestType.id).where(
        (RequestType.code == code.strip()) & (RequestType.is_active == True)  # noqa: E712
    ).first()
    if row is None:
        raise InvalidInput(_("Unknown request type: {code}.", code=code.strip()[:40]), field="request_type")
    return row["id"]


async def _custom_field_definitions() -> list[dict[str, Any]]:
    return await CustomField.select().where(CustomField.is_active == True).order_by(  # noqa: E712
        CustomField.sort_order
    ).order_by(CustomField.id).output(load_json=True)


async def _filer(caller: Caller, organization_id: int | None, requester_id: int | None) -> tuple[int, int]:
    """Whose request it is: a customer files for its own organisation; staff on behalf of one."""
    if caller.is_customer:
        if organization_id is not None and organization_id != caller.organization_id:
            raise NotFound(_("This organisation does not exist."))
        if requester_id is not None and requester_id != caller.id:
            raise InvalidInput(_("Customers file requests in their own name."), field="requester")
        return caller.organization_id, caller.id
    if organization_id is None:
        raise InvalidInput(_("Please choose the customer organisation."), field="organization")
    if not await Organization.exists().where(Organization.id == organization_id):
        raise InvalidInput(_("Unknown organisation."), field="organization")
    if requester_id is None:
        raise InvalidInput(_("Please choose who the request is from."), field="requester")
    requester = await User.select(User.organization, User.is_active).where(User.id == requester_id).first()
    if requester is None or requester["organization"] != organization_id or not requester["is_active"]:
        raise InvalidInput(_("The requester must be an active member of the organisation."), field="requester")
    return organization_id, requester_id


async def create_ticket(
    caller: Caller,
    *,
    subject: str,
    body: str,
    request_type_code: str,
    priority: str = "normal",
    category: str = "question",
    custom_fields: Mapping[str, Any] | None = None,
    organization_id: int | None = None,
    requester_id: int | None = None,
    attachments: Sequence[Upload] = (),
) -> TicketSummary:
    """File a request and return it.

    Customers file for their own organisation (`organization_id` may be omitted); staff file on
    behalf of `organization_id` and `requester_id` (an active customer of it). The number comes
    from the year's counter; department and assignee from the organisation's routing; due dates
    from the per-priority targets in settings. Writes the history line, the search document and
    the notification (outbox) in the same transaction.
    """
    values = await _prepare_filing(
        caller, subject=subject, body=body, request_type_code=request_type_code, priority=priority,
        category=category, custom_fields=custom_fields, organization_id=organization_id, requester_id=requester_id,
    )
    stored = await store_uploads(caller, attachments)
    try:
        async with db.write_transaction():
            ticket_id = await _insert_ticket(caller, values, stored)
    except BaseException:
        discard(stored)
        raise
    return await ticket_summary(caller, ticket_id)


async def _prepare_filing(
    caller: Caller, *, subject, body, request_type_code, priority, category, custom_fields, organization_id,
    requester_id,
) -> dict[str, Any]:
    subject = clean_subject(subject)
    body = clean_body(body)
    if priority not in PRIORITIES:
        raise InvalidInput(_("Unknown priority: {value}.", value=priority), field="priority")
    if category not in CATEGORIES:
        raise InvalidInput(_("Unknown category: {value}.", value=category), field="category")
    organization_id, requester_id = await _filer(caller, organization_id, requester_id)
    if not isinstance(request_type_code, str) or not request_type_code.strip():
        raise InvalidInput(_("Please choose a request type."), field="request_type")
    # Priced by the point table in force now; the request keeps this version and quote forever.
    priced = await points.quote_for_filing(request_type_code.strip(), priority)
    request_type_id = await _request_type_id(request_type_code)
    cleaned = validate_custom_fields(await _custom_field_definitions(), custom_fields, customer=caller.is_customer)
    return {
        "subject": subject, "body": body, "priority": priority, "category": category,
        "organization": organization_id, "requester": requester_id, "request_type": request_type_id,
        "custom_fields": cleaned, "follow_up_of": None,
        "price_version": priced.version_id, "quoted_points": priced.points, "extra_minutes": 0,
    }


async def _insert_ticket(caller: Caller, values: dict[str, Any], stored: Sequence[StoredFile]) -> int:
    """Inside a write transaction: the request row and everything that goes with it.

    The two rows every filing must lock — the organisation's points account and the year's number
    counter — are taken last, just before COMMIT, so that concurrent filings queue on them for
    moments, not for the whole filing: the request is written under a provisional number first,
    and after the counter only the new-request mails are written (their recipients read before).
    Every await between a lock and COMMIT lets the event loop serve other requests first, so each
    statement there lengthens the queue of every other filing."""
    now = _now()
    routing = await OrganizationRouting.select(OrganizationRouting.department, OrganizationRouting.assignee).where(
        OrganizationRouting.organization == values["organization"]
    ).first()
    first_due, resolution_due = _due_dates(values["priority"], now)
    ticket = Ticket(
        number=f"~{uuid.uuid4().hex[:15]}",
        status="new",
        department=routing["department"] if routing else None,
        assignee=routing["assignee"] if routing else None,
        first_response_due_at=first_due,
        resolution_due_at=resolution_due,
        version=1,
        created_at=now,
        updated_at=now,
        **values,
    )
    await ticket.save()
    detail: dict[str, Any] = {"follow_up_of": values["follow_up_of"]} if values["follow_up_of"] else {}
    await _record(ticket.id, caller.id, "created", detail, now)
    await record_files(caller, stored, ticket_id=ticket.id, message_id=None, now=now)
    await refresh_search_document(ticket.id)
    mail = await notify.ticket_created_mail(ticket.id)
    # The quote is held in the same transaction: not enough points undoes the whole filing.
    await points.hold_for_new_ticket(
        ticket_id=ticket.id, organization_id=values["organization"], points=values.get("quoted_points") or 0,
        actor_id=caller.id,
    )
    number = await _number_ticket(ticket.id, now)
    await notify.enqueue_ticket_created(mail, number)
    return ticket.id


async def find_likely_duplicates(
    caller: Caller, subject: str, *, organization_id: int | None = None, limit: int = 5
) -> list[TicketSummary]:
    """Open requests (new/open/waiting) of the organisation filed in the last
    settings.duplicate_window_days days whose subject matches `subject` (see subjects_match),
    newest first. Customers always search their own organisation; staff name one."""
    wanted = normalise_subject(subject or "")
    target = caller.organization_id if caller.is_customer else organization_id
    if not wanted or target is None:
        return []
    since = _now() - timedelta(days=get_settings().duplicate_window_days)
    rows = await Ticket.select(*_summary_columns()).where(
        (Ticket.organization == target) & Ticket.status.is_in(list(OPEN_STATUSES)) & (Ticket.created_at >= since)
    ).order_by(Ticket.id, ascending=False).limit(200)
    found = [
        TicketSummary(**_summary_values(r)) for r in rows if subjects_match(wanted, normalise_subject(r["subject"]))
    ]
    return found[:limit]


# ---------------------------------------------------------------------------------------------
# Changing a request: lock, check the version, save with a bumped version, record history


_LOCK_COLUMNS = (
    Ticket.id, Ticket.number, Ticket.organization, Ticket.requester, Ticket.subject, Ticket.body, Ticket.status,
    Ticket.priority, Ticket.category, Ticket.request_type, Ticket.department, Ticket.assignee,
    Ticket.custom_fields, Ticket.first_responded_at, Ticket.created_at, Ticket.version, Ticket.price_version,
    Ticket.quoted_points, Ticket.extra_minutes,
)


async def _lock(caller: Caller, ticket_id: int, seen_version: int | None) -> dict[str, Any]:
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


async def _save(row: dict[str, Any], changes: Mapping[Any, Any], now: datetime) -> int:
    """Write the changes with version+1 and updated_at, guarded by the version read under lock."""
    values = {**changes, Ticket.version: row["version"] + 1, Ticket.updated_at: now}
    saved = await Ticket.update(values).where(
        (Ticket.id == row["id"]) & (Ticket.version == row["version"])
    ).returning(Ticket.version)
    if not saved:
        raise _stale(row["version"])
    row["version"] = saved[0]["version"]
    return row["version"]


async def _record(ticket_id: int, actor_id: int | None, kind: str, detail: dict[str, Any], now: datetime) -> None:
    await TicketEvent.insert(TicketEvent(ticket=ticket_id, actor=actor_id, kind=kind, detail=detail, created_at=now))


def _status_changes(old: str, new: str, now: datetime) -> dict[Any, Any]:
    changes: dict[Any, Any] = {Ticket.status: new}
    if new == "resolved":
        changes[Ticket.resolved_at] = now
    elif new == "closed":
        changes[Ticket.closed_at] = now
    elif old == "resolved":
        changes[Ticket.resolved_at] = None
    return changes


async def change_status(caller: Caller, ticket_id: int, status: str, *, version: int | None = None) -> TicketSummary:
    """Move a request to `status` under the rules of the status machine (module docstring).

    `version` is the one the caller saw (None: do not check). Records the change in the
    history and tells the requester (outbox) unless the requester made it.
    """
    now = _now()
    async with db.write_transaction():
        row = await _lock(caller, ticket_id, version)
        old = row["status"]
        check_transition(old, status, staff=caller.is_staff, work_started=row["first_responded_at"] is not None)
        await _save(row, _status_changes(old, status, now), now)
        await points.settle_for_status(row, old, status, caller.id)
        await _record(ticket_id, caller.id, "status_changed", {"from": old, "to": status}, now)
        await notify.status_changed(ticket_id, old, status, caller.id)
    return await ticket_summary(caller, ticket_id)


# ---------------------------------------------------------------------------------------------
# The thread


async def add_message(
    caller: Caller,
    ticket_id: int,
    body: str,
    *,
    internal: bool = False,
    minutes_spent: int | None = 0,
    then_status: str | None = None,
    version: int | None = None,
    attachments: Sequence[Upload] = (),
) -> ReplyOutcome:
    """Add a public reply or (staff only) an internal note, with optional files.

    - customers cannot post notes or log time (NotAllowed);
    - the first public staff reply sets first_responded_at and moves new→open;
    - a customer's public reply moves a waiting or resolved request back to open;
    - `then_status` (e.g. "waiting" or "resolved") is applied after the reply, by the same rules
      as change_status;
    - a customer's reply to a closed request starts a follow-up request (same organisation,
      subject, request type and priority; `follow_up_of` links it) and lands there;
      staff cannot write on a closed request, nobody on a cancelled one (IllegalTransition);
    - `version`, when given, must be the one the caller saw (StaleVersion otherwise).
    """
    body = clean_body(body)
    minutes = _minutes(minutes_spent)
    if caller.is_customer and internal:
        raise NotAllowed(_("Only our staff can write internal notes."))
    if caller.is_customer and minutes:
        raise NotAllowed(_("Only our staff log time spent."))
    if then_status is not None and then_status not in STATUSES:
        raise InvalidInput(_("Unknown status: {status}.", status=then_status), field="status")
    stored = await store_uploads(caller, attachments)
    try:
        async with db.write_transaction():
            return await _add_message(caller, ticket_id, body, internal, minutes, then_status, version, stored)
    except BaseException:
        discard(stored)
        raise


async def _add_message(
    caller: Caller, ticket_id: int, body: str, internal: bool, minutes: int, then_status: str | None,
    version: int | None, stored: Sequence[StoredFile],
) -> ReplyOutcome:
    now = _now()
    row = await _lock(caller, ticket_id, version)
    status = row["status"]
    if status == "cancelled":
        raise IllegalTransition(_("This request was cancelled. Please file a new request."), current=status)
    if status == "closed":
        if caller.is_staff:
            raise IllegalTransition(
                _("This request is closed. The customer can reply to start a follow-up request."), current=status
            )
        return await _start_follow_up(caller, row, body, stored, now)

    message = TicketMessage(
        ticket=ticket_id, author=caller.id, body=body, internal=internal, minutes_spent=minutes, created_at=now
    )
    await message.save()
    await record_files(caller, stored, ticket_id=ticket_id, message_id=message.id, now=now)

    changes: dict[Any, Any] = {}
    moves: list[tuple[str, str, bool]] = []  # (from, to, tell the requester)
    if caller.is_staff and not internal:
        if row["first_responded_at"] is None:
            changes[Ticket.first_responded_at] = now
        if status == "new":
            moves.append(("new", "open", False))
    if caller.is_customer and status in ("waiting", "resolved"):
        moves.append((status, "open", True))
    current = moves[-1][1] if moves else status
    if then_status is not None and then_status != current:
        work_started = row["first_responded_at"] is not None or Ticket.first_responded_at in changes
        check_transition(current, then_status, staff=caller.is_staff, work_started=work_started)
        moves.append((current, then_status, True))
    for old, new, _tell in moves:
        changes.update(_status_changes(old, new, now))
    new_version = await _save(row, changes, now)
    for old, new, _tell in moves:
        await points.settle_for_status(row, old, new, caller.id)
        await _record(ticket_id, caller.id, "status_changed", {"from": old, "to": new}, now)
    await refresh_search_document(ticket_id)
    if not internal:
        await notify.public_reply_added(ticket_id, message.id)
    for old, new, tell in moves:
        if tell:
            await notify.status_changed(ticket_id, old, new, caller.id)
    return ReplyOutcome(
        ticket_id=ticket_id, number=row["number"], message_id=message.id,
        status=moves[-1][1] if moves else status, version=new_version,
    )


async def _start_follow_up(
    caller: Caller, original: dict[str, Any], body: str, stored: Sequence[StoredFile], now: datetime
) -> ReplyOutcome:
    # A follow-up is a new request: quoted by the table in force and holding its own points.
    code = await RequestType.select(RequestType.code).where(RequestType.id == original["request_type"]).first()
    priced = await points.quote_for_filing(code["code"], original["priority"])
    values = {
        "subject": original["subject"], "body": body, "priority": original["priority"],
        "category": original["category"], "organization": original["organization"], "requester": caller.id,
        "request_type": original["request_type"], "custom_fields": original["custom_fields"] or {},
        "follow_up_of": original["id"],
        "price_version": priced.version_id, "quoted_points": priced.points, "extra_minutes": 0,
    }
    follow_up_id = await _insert_ticket(caller, values, stored)
    number = (await Ticket.select(Ticket.number).where(Ticket.id == follow_up_id).first())["number"]
    await _record(original["id"], caller.id, "follow_up_created", {"ticket_id": follow_up_id, "number": number}, now)
    return ReplyOutcome(
        ticket_id=follow_up_id, number=number, message_id=None, status="new", version=1,
        follow_up_of=original["id"],
    )


# ---------------------------------------------------------------------------------------------
# Ownership and classification (staff)


def _require_staff(caller: Caller) -> None:
    if not caller.is_staff:
        raise NotAllowed(_("Only our staff can do this."))


async def take(caller: Caller, ticket_id: int, *, version: int) -> TicketSummary:
    """The calling staff member takes the request (becomes its assignee)."""
    return await assign(caller, ticket_id, caller.id, version=version)


async def assign(caller: Caller, ticket_id: int, assignee_id: int | None, *, version: int) -> TicketSummary:
    """Give the request to an active staff member (None: to nobody)."""
    _require_staff(caller)
    if assignee_id is not None:
        person = await User.select(User.name, User.role, User.is_active).where(User.id == assignee_id).first()
        if person is None or person["role"] not in STAFF_ROLES or not person["is_active"]:
            raise InvalidInput(_("The assignee must be an active staff member."), field="assignee")
    now = _now()
    async with db.write_transaction():
        row = await _lock(caller, ticket_id, version)
        if row["assignee"] != assignee_id:
            names = await _user_names([i for i in (row["assignee"], assignee_id) if i is not None])
            await _save(row, {Ticket.assignee: assignee_id}, now)
            await _record(ticket_id, caller.id, "field_changed", {
                "field": "assignee", "from": row["assignee"], "to": assignee_id,
                "from_label": names.get(row["assignee"]), "to_label": names.get(assignee_id),
            }, now)
    return await ticket_summary(caller, ticket_id)


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
    _require_staff(caller)
    reason = points.clean_reason(reason, required=False)
    if priority is not None and priority not in PRIORITIES:
        raise InvalidInput(_("Unknown priority: {value}.", value=priority), field="priority")
    if category is not None and category not in CATEGORIES:
        raise InvalidInput(_("Unknown category: {value}.", value=category), field="category")
    request_type_id = await _request_type_id(request_type_code) if request_type_code is not None else None
    department_name = None
    if department_id is not _KEEP and department_id is not None:
        department = await Department.select(Department.name).where(Department.id == department_id).first()
        if department is None:
            raise InvalidInput(_("Unknown department."), field="department")
        department_name = department["name"]
    now = _now()
    async with db.write_transaction():
        row = await _lock(caller, ticket_id, version)
        changes: dict[Any, Any] = {}
        events: list[dict[str, Any]] = []
        to_priority = priority if priority is not None else row["priority"]
        to_type = request_type_id if request_type_id is not None else row["request_type"]
        asked_customer = False
        if (to_priority, to_type) != (row["priority"], row["request_type"]):
            code = await RequestType.select(RequestType.code).where(RequestType.id == to_type).first()
            outcome = await points.requote(
                caller, row, kind="reclassify", to_code=code["code"], to_priority=to_priority,
                to_extra_minutes=row["extra_minutes"], reason=reason, now=now,
            )
            if not outcome.applied:
                # The customer answers first; the request keeps its type and priority until then.
                priority = request_type_id = None
                asked_customer = True
            elif outcome.to_points != row["quoted_points"]:
                changes[Ticket.quoted_points] = outcome.to_points
        if priority is not None and priority != row["priority"]:
            first_due, resolution_due = _due_dates(priority, row["created_at"])
            changes.update({Ticket.priority: priority, Ticket.resolution_due_at: resolution_due,
                            Ticket.first_response_due_at: first_due})
            events.append({"field": "priority", "from": row["priority"], "to": priority})
        if category is not None and category != row["category"]:
            changes[Ticket.category] = category
            events.append({"field": "category", "from": row["category"], "to": category})
        if request_type_id is not None and request_type_id != row["request_type"]:
            codes = {
                r["id"]: r["code"]
                for r in await RequestType.select(RequestType.id, RequestType.code).where(
                    RequestType.id.is_in([row["request_type"], request_type_id])
                )
            }
            changes[Ticket.request_type] = request_type_id
            events.append({"field": "request_type", "from": codes.get(row["request_type"]),
                           "to": codes.get(request_type_id)})
        if department_id is not _KEEP and department_id != row["department"]:
            old_name = None
            if row["department"] is not None:
                old = await Department.select(Department.name).where(Department.id == row["department"]).first()
                old_name = old["name"] if old else None
            changes[Ticket.department] = department_id
            events.append({"field": "department", "from": row["department"], "to": department_id,
                           "from_label": old_name, "to_label": department_name})
        if changes:
            await _save(row, changes, now)
            for detail in events:
                await _record(ticket_id, caller.id, "field_changed", detail, now)
        elif asked_customer:
            await _save(row, {}, now)
    return await ticket_summary(caller, ticket_id)


# ---------------------------------------------------------------------------------------------
# For app/tickets/points.py (changes of a request's points under the same lock and version)


async def lock_ticket(caller: Caller, ticket_id: int, version: int | None = None) -> dict[str, Any]:
    """Inside a write transaction: the request row, locked, visible to the caller."""
    return await _lock(caller, ticket_id, version)


async def touch(row: dict[str, Any], now: datetime) -> int:
    """Bump the version of a locked request (its points changed, so open views are stale)."""
    return await _save(row, {}, now)


async def request_type_id(code: str, *, active_only: bool = True) -> int:
    if active_only:
        return await _request_type_id(code)
    row = await RequestType.select(RequestType.id).where(RequestType.code == code).first()
    if row is None:
        raise InvalidInput(_("Unknown request type: {code}.", code=code[:40]), field="request_type")
    return row["id"]


async def apply_classification(
    caller: Caller, row: dict[str, Any], *, request_type_id: int, priority: str, extra_minutes: int,
    quoted_points: int, now: datetime,
) -> None:
    """Save a re-quote's classification and price on a locked request, with history lines."""
    changes: dict[Any, Any] = {Ticket.quoted_points: quoted_points, Ticket.extra_minutes: extra_minutes}
    events: list[dict[str, Any]] = []
    if priority != row["priority"]:
        first_due, resolution_due = _due_dates(priority, row["created_at"])
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
    await _save(row, changes, now)
    row.update(priority=priority, request_type=request_type_id, extra_minutes=extra_minutes, quoted_points=quoted_points)
    for detail in events:
        await _record(row["id"], caller.id, "field_changed", detail, now)


async def update_custom_fields(
    caller: Caller, ticket_id: int, values: Mapping[str, Any], *, version: int
) -> TicketSummary:
    """Replace the custom field values of a request (staff), validated like at filing."""
    _require_staff(caller)
    cleaned = validate_custom_fields(await _custom_field_definitions(), values, customer=False)
    now = _now()
    async with db.write_transaction():
        row = await _lock(caller, ticket_id, version)
        if cleaned != (row["custom_fields"] or {}):
            await _save(row, {Ticket.custom_fields: cleaned}, now)
            await _record(ticket_id, caller.id, "field_changed",
                          {"field": "custom_fields", "from": row["custom_fields"] or {}, "to": cleaned}, now)
    return await ticket_summary(caller, ticket_id)


async def _user_names(ids: Iterable[int]) -> dict[int, str]:
    ids = list(set(ids))
    if not ids:
        return {}
    return {r["id"]: r["name"] for r in await User.select(User.id, User.name).where(User.id.is_in(ids))}


# ---------------------------------------------------------------------------------------------
# Reading


async def get_ticket(caller: Caller, ticket_id: int) -> TicketDetail:
    """A request with its messages (internal notes only for staff), files, history and follow-ups.

    NotFound for another organisation's request. Customers see only custom fields visible to
    customers and the history lines in CUSTOMER_EVENT_KINDS.
    """
    query = Ticket.select(
        *_summary_columns(),
        Ticket.body,
        Ticket.custom_fields,
        Ticket.follow_up_of,
        Ticket.follow_up_of.number.as_alias("follow_up_of_number"),
        Ticket.resolved_at,
        Ticket.closed_at,
    ).where(Ticket.id == ticket_id).output(load_json=True)
    row = await _where_visible(query, caller).first()
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

    definitions = await _custom_field_definitions()
    shown = [d for d in definitions if caller.is_staff or d["visible_to_customers"]]
    stored_values = row["custom_fields"] or {}
    field_values = tuple(
        CustomFieldValue(key=d["key"], label=_localised(d["label_ja"], d["label_en"]), field_type=d["field_type"],
                         value=stored_values[d["key"]])
        for d in shown
        if d["key"] in stored_values
    )
    work_started = row["first_responded_at"] is not None
    return TicketDetail(
        **_summary_values(row),
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
        points=await points.points_story(caller, row["id"]),
    )


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


async def _filtered(query, caller: Caller, filters: TicketFilters):
    """Add the tenant condition and the filters to a query on `tickets`."""
    query = _where_visible(query, caller)
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
    return base64.urlsafe_b64encode(f"t:{ticket_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _sep, number = text.partition(":")
        if kind == "t" and number.isdecimal() and len(number) <= 10 and int(number) <= MAX_ID:
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidInput(_("This page link is not valid. Please start from the first page."), field="cursor")


async def list_tickets(
    caller: Caller, filters: TicketFilters | None = None, cursor: str | None = None, limit: int = 25
) -> TicketPage:
    """A page of requests, newest first, with the names of their organisation, requester, request
    type, department and assignee (one joined query). `next_cursor` (opaque) fetches the next
    page; None on the last one. Customers always see only their own organisation's requests."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_LIMIT_MAX:
        raise InvalidInput(_("The page size must be between 1 and {max}.", max=PAGE_LIMIT_MAX), field="limit")
    query = await _filtered(Ticket.select(*_summary_columns()), caller, filters or TicketFilters())
    if cursor:
        query = query.where(Ticket.id < decode_cursor(cursor))
    rows = await query.order_by(Ticket.id, ascending=False).limit(limit + 1)
    items = [TicketSummary(**_summary_values(r)) for r in rows[:limit]]
    return TicketPage(items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None)


async def counts_by_status(caller: Caller) -> dict[str, int]:
    """How many requests are in each status (every status present, zero when none)."""
    query = _where_visible(Ticket.select(Ticket.status, Count(alias="count")), caller).group_by(Ticket.status)
    counts = dict.fromkeys(STATUSES, 0)
    for row in await query:
        counts[row["status"]] = row["count"]
    return counts


async def urgent_tickets(caller: Caller, limit: int = 20) -> list[TicketSummary]:
    """Urgent requests still with the vendor or the customer (new/open/waiting), soonest due first."""
    query = _where_visible(
        Ticket.select(*_summary_columns()).where(
            (Ticket.priority == "urgent") & Ticket.status.is_in(list(OPEN_STATUSES))
        ),
        caller,
    ).order_by(Ticket.resolution_due_at).order_by(Ticket.id).limit(limit)
    return [TicketSummary(**_summary_values(r)) for r in await query]


async def overdue_tickets(caller: Caller, limit: int = 20, now: datetime | None = None) -> list[TicketSummary]:
    """New or open requests past their first-response or resolution due time, most overdue first.
    (A waiting request is with the customer, so its clock does not count here.)"""
    now = now or _now()
    late = (Ticket.resolution_due_at < now) | (
        Ticket.first_responded_at.is_null() & (Ticket.first_response_due_at < now)
    )
    query = _where_visible(
        Ticket.select(*_summary_columns()).where(Ticket.status.is_in(["new", "open"])).where(late), caller
    ).order_by(Ticket.resolution_due_at).order_by(Ticket.id).limit(limit)
    return [TicketSummary(**_summary_values(r)) for r in await query]


# ---------------------------------------------------------------------------------------------
# History lines in words


def describe_event(event: EventView) -> str:
    """One history line as a sentence in the current locale."""
    if event.kind in WATCH_EVENT_KINDS:
        return describe_watch_event(event.kind)
    detail = event.detail
    if event.kind == "created":
        if detail.get("follow_up_of"):
            return _("Filed as a follow-up request.")
        return _("Filed the request.")
    if event.kind == "status_changed":
        old, new = status_label(detail.get("from", "")), status_label(detail.get("to", ""))
        text = _("Status: {old} → {new}", old=old, new=new)
        if detail.get("reason") == "auto_close":
            text += " " + _("(closed automatically)")
        return text
    if event.kind == "follow_up_created":
        return _("Follow-up request {number} was filed.", number=detail.get("number", ""))
    if event.kind == "points_waived":
        points = detail.get("points", 0)
        return ngettext("The charge of {points} point was waived: {reason}",
                        "The charge of {points} points was waived: {reason}",
                        points, points=format_number(points), reason=detail.get("reason", ""))
    if event.kind in ("points_requoted", "points_change_requested", "points_change_approved",
                      "points_change_declined"):
        old, new = detail.get("from", 0), detail.get("to", 0)
        values = {"old": format_number(old), "new": format_number(new)}
        if event.kind == "points_requoted":
            text = ngettext("Price changed: {old} → {new} point", "Price changed: {old} → {new} points", new, **values)
        elif event.kind == "points_change_requested":
            text = ngettext("Price change asked: {old} → {new} point (waiting for approval)",
                            "Price change asked: {old} → {new} points (waiting for approval)", new, **values)
        elif event.kind == "points_change_approved":
            text = ngettext("Price change approved: {old} → {new} point", "Price change approved: {old} → {new} points",
                            new, **values)
        else:
            text = ngettext("Price change declined: stays at {old} point",
                            "Price change declined: stays at {old} points",
                            old, **values)
        return text + (f" ({detail['reason']})" if detail.get("reason") else "")
    if event.kind == "field_changed":
        name = detail.get("field")
        none = _("(none)")
        if name == "priority":
            old, new = priority_label(detail.get("from") or ""), priority_label(detail.get("to") or "")
        elif name == "category":
            old, new = category_label(detail.get("from") or ""), category_label(detail.get("to") or "")
        elif name == "custom_fields":
            return _("Custom fields were changed.")
        elif name in ("assignee", "department"):
            old, new = detail.get("from_label") or none, detail.get("to_label") or none
        else:
            old, new = detail.get("from") or none, detail.get("to") or none
        labels = {"priority": _("Priority"), "category": _("Category"), "request_type": _("Request type"),
                  "assignee": _("Assignee"), "department": _("Department")}
        return _("{field}: {old} → {new}", field=labels.get(name, name), old=old, new=new)
    return event.kind


# ---------------------------------------------------------------------------------------------
# Exports (exactly the filtered list, no page limit)


async def export_rows(
    caller: Caller, filters: TicketFilters | None = None, *, batch_size: int = EXPORT_BATCH
) -> AsyncIterator[TicketSummary]:
    """Every request the list with these filters shows, newest first, read in keyset batches."""
    cursor: str | None = None
    while True:
        query = await _filtered(Ticket.select(*_summary_columns()), caller, filters or TicketFilters())
        if cursor is not None:
            query = query.where(Ticket.id < decode_cursor(cursor))
        rows = await query.order_by(Ticket.id, ascending=False).limit(batch_size)
        for row in rows:
            yield TicketSummary(**_summary_values(row))
        if len(rows) < batch_size:
            return
        cursor = encode_cursor(rows[-1]["id"])


def export_header() -> list[str]:
    return [
        _("Number"), _("Subject"), _("Organisation"), _("Requester"), _("Status"), _("Priority"), _("Category"),
        _("Request type"), _("Department"), _("Assignee"), _("Filed"), _("Updated"), _("First response due"),
        _("Resolution due"), _("First response"),
    ]


def export_values(ticket: TicketSummary) -> list[str]:
    return [
        ticket.number, ticket.subject, ticket.organization_name, ticket.requester_name, status_label(ticket.status),
        priority_label(ticket.priority), category_label(ticket.category), ticket.request_type_name,
        ticket.department_name or "", ticket.assignee_name or "", format_datetime(ticket.created_at),
        format_datetime(ticket.updated_at), format_datetime(ticket.first_response_due_at),
        format_datetime(ticket.resolution_due_at), format_datetime(ticket.first_responded_at),
    ]


async def export_csv(caller: Caller, filters: TicketFilters | None = None) -> bytes:
    return exports.csv_bytes(export_header(), [export_values(t) async for t in export_rows(caller, filters)])


async def export_xlsx(caller: Caller, filters: TicketFilters | None = None) -> bytes:
    rows = [export_values(t) async for t in export_rows(caller, filters)]
    return exports.xlsx_bytes(_("Requests"), export_header(), rows)


__all__ = [
    "OPEN_STATUSES",
    "ReplyOutcome",
    "TicketDetail",
    "TicketFilters",
    "TicketPage",
    "TicketSummary",
    "add_message",
    "allowed_statuses",
    "assign",
    "change_status",
    "check_transition",
    "counts_by_status",
    "create_ticket",
    "export_csv",
    "export_rows",
    "export_xlsx",
    "find_likely_duplicates",
    "get_ticket",
    "list_tickets",
    "overdue_tickets",
    "take",
    "ticket_summary",
    "update_custom_fields",
    "update_fields",
    "urgent_tickets",
]


# ---------------------------------------------------------------------------------------------
# Choices for the forms of the portal and the console (small readers)


@dataclass(frozen=True, kw_only=True)
class RequestTypeChoice:
    code: str
    name: str  # in the current locale
    is_active: bool = True


@dataclass(frozen=True, kw_only=True)
class CustomFieldDefinition:
    key: str
    label: str
    field_type: str
    choices: tuple[str, ...]
    required: bool
    visible_to_customers: bool


async def request_type_choices(
    caller: Caller | None = None, *, include_inactive: bool = False
) -> list[RequestTypeChoice]:
    """Request types in their display order, named in the current locale.

    Only active ones, unless a staff caller asks for the inactive ones too (a queue filter
    wants them: old requests still carry them; filing and reclassifying do not)."""
    query = RequestType.select(RequestType.code, RequestType.name_ja, RequestType.name_en, RequestType.is_active)
    if not (include_inactive and caller is not None and caller.is_staff):
        query = query.where(RequestType.is_active == True)  # noqa: E712
    rows = await query.order_by(RequestType.sort_order).order_by(RequestType.id)
    return [
        RequestTypeChoice(code=r["code"], name=_localised(r["name_ja"], r["name_en"]), is_active=r["is_active"])
        for r in rows
    ]


async def custom_field_definitions(caller: Caller) -> list[CustomFieldDefinition]:
    """The active custom fields a staff member fills on a request, in display order."""
    _require_staff(caller)
    return [
        CustomFieldDefinition(
            key=d["key"], label=_localised(d["label_ja"], d["label_en"]), field_type=d["field_type"],
            choices=tuple(_choice_values(d["choices"])), required=d["required"],
            visible_to_customers=d["visible_to_customers"],
        )
        for d in await _custom_field_definitions()
    ]


@dataclass(frozen=True, kw_only=True)
class CustomFieldInput:
    """A custom field as a form shows it; `choices` are the allowed values of a choice field."""

    key: str
    label: str
    field_type: str
    choices: tuple[str, ...]
    required: bool


@dataclass(frozen=True, kw_only=True)
class PersonChoice:
    id: int
    name: str


async def custom_field_inputs(caller: Caller) -> list[CustomFieldInput]:
    """The active custom fields the caller fills when filing (customers: those visible to them)."""
    return [
        CustomFieldInput(
            key=d["key"], label=_localised(d["label_ja"], d["label_en"]), field_type=d["field_type"],
            choices=tuple(_choice_values(d["choices"])), required=d["required"],
        )
        for d in await _custom_field_definitions()
        if d["visible_to_customers"] or caller.is_staff
    ]


async def requester_choices(caller: Caller, organization_id: int | None = None) -> list[PersonChoice]:
    """People who can be the requester of an organisation's requests (a list filter's options).

    Customers get their own organisation's users; staff name the organisation."""
    target = caller.organization_id if caller.is_customer else organization_id
    if target is None:
        return []
    rows = await User.select(User.id, User.name).where(User.organization == target).order_by(User.name).order_by(
        User.id
    )
    return [PersonChoice(id=r["id"], name=r["name"]) for r in rows]


# ---------------------------------------------------------------------------------------------
# Counts for the console's home screen that stay cheap at any size (added for app/console/pages.py)


STATUS_COUNT_CAP = 9999


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


# ---------------------------------------------------------------------------------------------
# Watchers: people who get the public-reply mails of a request besides its requester and
# assignee (app/notifications/services.public_reply_added mails them).
#
# Anyone who can see a request may watch it: staff any request, a customer its own company's
# (another company's request does not exist: NotFound). Watching and stopping are idempotent and
# recorded in the history ("watch_started" / "watch_stopped") only when something changed.
# Customers see only their own company's watchers; staff see everyone watching.

from typing import NamedTuple  # noqa: E402

from app.tickets.tables import TicketWatcher  # noqa: E402

WATCH_EVENT_KINDS = ("watch_started", "watch_stopped")


class WatcherView(NamedTuple):
    user_id: int
    name: str


async def _set_watching(caller: Caller, ticket_id: int, watching: bool) -> bool:
    """Start or stop watching; True when this changed anything. The request row is locked, so
    two clicks at once make one row and one history line."""
    async with db.write_transaction():
        await _lock(caller, ticket_id, None)
        mine = (TicketWatcher.ticket == ticket_id) & (TicketWatcher.user == caller.id)
        present = await TicketWatcher.exists().where(mine)
        if present == watching:
            return False
        if watching:
            await TicketWatcher.insert(TicketWatcher(ticket=ticket_id, user=caller.id))
        else:
            await TicketWatcher.delete().where(mine)
        await _record(ticket_id, caller.id, "watch_started" if watching else "watch_stopped", {}, _now())
    return True


async def watch(caller: Caller, ticket_id: int) -> bool:
    """The caller watches the request (gets its public replies by mail). True if newly watching."""
    return await _set_watching(caller, ticket_id, True)


async def unwatch(caller: Caller, ticket_id: int) -> bool:
    """The caller stops watching the request. True if it was watching."""
    return await _set_watching(caller, ticket_id, False)


async def watchers(caller: Caller, ticket_id: int) -> list[WatcherView]:
    """Who watches the request, by name; NotFound when the caller may not see the request."""
    await ticket_summary(caller, ticket_id)
    query = TicketWatcher.select(
        TicketWatcher.user, TicketWatcher.user.name.as_alias("name"),
        TicketWatcher.user.organization.as_alias("organization"),
    ).where(TicketWatcher.ticket == ticket_id).order_by(TicketWatcher.id)
    return [
        WatcherView(user_id=row["user"], name=row["name"] or "")
        for row in await query
        if caller.is_staff or row["organization"] == caller.organization_id
    ]


def describe_watch_event(kind: str) -> str:
    """The history line of a watch event (the actor's name is shown next to it)."""
    return _("started watching this request") if kind == "watch_started" else _("stopped watching this request")
