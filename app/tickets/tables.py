from piccolo.columns import (
    JSON,
    Array,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from app.accounts.tables import Department, Organization, User
from pricing.tables import PointTableVersion

STATUSES = ("new", "open", "waiting", "resolved", "closed", "cancelled")
PRIORITIES = ("urgent", "normal", "low")
CATEGORIES = ("question", "incident", "change_request", "notice", "other")


class RequestType(Table, tablename="request_types"):
    """The stable registry of request type codes that requests point to.

    What can be filed, its names, scope and price come from the point table version in force
    (pricing/); filing a code that table prices registers it here with the table's names. See
    app/tickets/services/quotes.py for the whole rule. `is_active = False` withdraws a code from filing."""

    code = Varchar(length=32, unique=True)
    name_ja = Varchar(length=100)
    name_en = Varchar(length=100)
    is_active = Boolean(default=True)
    sort_order = Integer(default=0)


class TicketCounter(Table, tablename="ticket_counters"):
    """The last request number handed out in a year; numbers are never reused."""

    year = Integer(unique=True)
    last_number = Integer(default=0)


class Ticket(Table, tablename="tickets"):
    number = Varchar(length=16, unique=True)
    organization = ForeignKey(Organization, null=False, on_delete=OnDelete.restrict)
    requester = ForeignKey(User, null=False, on_delete=OnDelete.restrict)
    subject = Varchar(length=200)
    body = Text()
    request_type = ForeignKey(RequestType, null=False, on_delete=OnDelete.restrict)
    priority = Varchar(length=10, default="normal")
    category = Varchar(length=20, default="question")
    status = Varchar(length=10, default="new")
    department = ForeignKey(Department, null=True, on_delete=OnDelete.set_null)
    assignee = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    follow_up_of = ForeignKey("self", null=True, on_delete=OnDelete.set_null)
    custom_fields = JSON(default={})
    first_response_due_at = Timestamptz(null=True, default=None)
    resolution_due_at = Timestamptz(null=True, default=None)
    first_responded_at = Timestamptz(null=True, default=None)
    resolved_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    # Its price (app/tickets/services/quotes.py): the point table version in force when it was filed (kept
    # forever), the points it costs now (re-quotes change this) and the extra minutes of work
    # beyond what its type includes that are priced in. NULL version: filed before pricing.
    price_version = ForeignKey(PointTableVersion, null=True, on_delete=OnDelete.restrict)
    quoted_points = Integer(default=0)
    extra_minutes = Integer(default=0)
    # Optimistic lock: every change increments it; a change made on a stale view is refused.
    version = Integer(default=1)
    created_at = Timestamptz()
    updated_at = Timestamptz()

    checks = {
        "known_status": "status IN ('new', 'open', 'waiting', 'resolved', 'closed', 'cancelled')",
        "known_priority": "priority IN ('urgent', 'normal', 'low')",
        "known_category": (
            "category IN ('question', 'incident', 'change_request', 'notice', 'other')"
        ),
        "version_positive": "version >= 1",
        "quoted_points_not_negative": "quoted_points >= 0",
        "extra_minutes_not_negative": "extra_minutes >= 0",
    }
    # Every list is newest first and pages by id, so each filter has an index ending in id.
    composite_indexes = {
        "tickets_organization_id": ("organization", "id"),
        "tickets_status_id": ("status", "id"),
        "tickets_assignee_id": ("assignee", "id"),
        "tickets_department_id": ("department", "id"),
        "tickets_priority_id": ("priority", "id"),
        "tickets_requester_id": ("requester", "id"),
        "tickets_updated_at": ("updated_at",),
        # The console's overdue and urgent lists: open statuses, soonest due first.
        "tickets_status_resolution_due": ("status", "resolution_due_at"),
        # A request page lists the follow-ups of the request.
        "tickets_follow_up_of": ("follow_up_of",),
    }


class TicketMessage(Table, tablename="ticket_messages"):
    """A public reply or an internal note (staff only), with the minutes spent on it."""

    ticket = ForeignKey(Ticket, null=False, on_delete=OnDelete.cascade, index=True)
    author = ForeignKey(User, null=False, on_delete=OnDelete.restrict)
    body = Text()
    internal = Boolean(default=False)
    minutes_spent = Integer(default=0)
    created_at = Timestamptz()

    checks = {"minutes_not_negative": "minutes_spent >= 0"}


class Attachment(Table, tablename="attachments"):
    """A file kept outside the web root under `storage_key`, served only to those allowed."""

    ticket = ForeignKey(Ticket, null=False, on_delete=OnDelete.cascade, index=True)
    message = ForeignKey(TicketMessage, null=True, on_delete=OnDelete.set_null)
    uploaded_by = ForeignKey(User, null=False, on_delete=OnDelete.restrict)
    filename = Varchar(length=255)
    content_type = Varchar(length=100)
    size_bytes = Integer()
    sha256 = Varchar(length=64)
    storage_key = Varchar(length=100, unique=True)
    created_at = Timestamptz()


class TicketEvent(Table, tablename="ticket_events"):
    """One line of a request's history: who changed what, when."""

    ticket = ForeignKey(Ticket, null=False, on_delete=OnDelete.cascade, index=True)
    actor = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    kind = Varchar(length=32)
    detail = JSON(default={})
    created_at = Timestamptz()


class TicketWatcher(Table, tablename="ticket_watchers"):
    ticket = ForeignKey(Ticket, null=False, on_delete=OnDelete.cascade, index=True)
    user = ForeignKey(User, null=False, on_delete=OnDelete.cascade)

    unique_together = {"one_watch_per_user": ("ticket", "user")}


class CustomField(Table, tablename="custom_fields"):
    """An admin-defined request field; values live in Ticket.custom_fields by `key`."""

    key = Varchar(length=40, unique=True)
    label_ja = Varchar(length=100)
    label_en = Varchar(length=100)
    field_type = Varchar(length=10)
    choices = JSON(default=[])
    required = Boolean(default=False)
    visible_to_customers = Boolean(default=True)
    is_active = Boolean(default=True)
    sort_order = Integer(default=0)

    checks = {"known_type": "field_type IN ('text', 'number', 'date', 'choice')"}


class TicketSearch(Table, tablename="ticket_search"):
    """The searchable text of a request, kept by app/tickets/search.py.

    `public_text` (subject, body, public replies) and `internal_text` (internal notes, staff
    only) are normalised (NFKC, case-folded). On PostgreSQL `grams` holds the distinct 1- and
    2-character n-grams of both, so 1- and 2-character Japanese queries are answered by an index.
    """

    ticket = ForeignKey(Ticket, null=False, unique=True, on_delete=OnDelete.cascade)
    public_text = Text(default="")
    internal_text = Text(default="")
    grams = Array(base_column=Text(), default=[])

    postgres_ddl = [
        # array_ops: exact element matching, independent of the database's locale.
        "CREATE INDEX ticket_search_grams ON ticket_search USING gin (grams)",
        # The grams are read only through the index: keep them out of the row, so walking the
        # newest requests reads only the texts.
        "ALTER TABLE ticket_search ALTER COLUMN grams SET STORAGE EXTERNAL",
    ]


CHANGE_KINDS = ("reclassify", "overage")
CHANGE_STATUSES = ("pending", "approved", "declined", "applied")


class PointChangeRequest(Table, tablename="point_change_requests"):
    """A re-quote of a request: another request type or priority (reclassify) or extra work
    beyond the included minutes (overage). A decrease, or an increase within the organisation's
    approval limit, is `applied` at once; a larger increase is `pending` until the customer
    `approved` (the hold grows) or `declined` it (nothing changes)."""

    ticket = ForeignKey(Ticket, null=False, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=12)
    from_points = Integer()
    to_points = Integer()
    from_request_type = Varchar(length=32)
    to_request_type = Varchar(length=32)
    from_priority = Varchar(length=10)
    to_priority = Varchar(length=10)
    from_extra_minutes = Integer(default=0)
    to_extra_minutes = Integer(default=0)
    reason = Text(default="")
    status = Varchar(length=10, default="pending")
    requested_by = ForeignKey(User, null=False, on_delete=OnDelete.restrict)
    requested_at = Timestamptz()
    decided_by = ForeignKey(User, null=True, on_delete=OnDelete.restrict)
    decided_at = Timestamptz(null=True, default=None)

    checks = {
        "point_change_known_kind": "kind IN ('reclassify', 'overage')",
        "point_change_known_status": "status IN ('pending', 'approved', 'declined', 'applied')",
        "point_change_points_not_negative": "from_points >= 0 AND to_points >= 0",
        "point_change_decided": "status = 'pending' OR decided_at IS NOT NULL",
    }
    composite_indexes = {"point_change_requests_ticket_status": ("ticket", "status")}


class PointsPolicy(Table, tablename="points_policies"):
    """What a customer admin decided about spending points: an increase of a request's price by
    at most `approval_limit` points applies without asking (0: every increase asks)."""

    organization = ForeignKey(Organization, null=False, unique=True, on_delete=OnDelete.cascade)
    approval_limit = Integer(default=0)
    updated_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    updated_at = Timestamptz()

    checks = {"approval_limit_not_negative": "approval_limit >= 0"}
