"""Filing a request: who files for whom, its price and hold, its number, routing and due dates;
and the "a similar open request exists" check that comes before."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from app import db
from app.accounts.caller import Caller
from app.accounts.tables import Organization, OrganizationRouting, User
from app.errors import InvalidInput, NotFound
from app.i18n import _
from app.notifications import services as notify
from app.settings import get_settings
from app.tickets.attachments import StoredFile, Upload, discard, record_files, store_uploads
from app.tickets.search import refresh_search_document
from app.tickets.services import charges
from app.tickets.services._rows import (
    active_custom_fields,
    due_dates,
    record,
    request_type_id,
    summary_columns,
    summary_values,
    utcnow,
)
from app.tickets.services.quotes import quote_for_filing
from app.tickets.services.reading import ticket_summary
from app.tickets.services.results import TicketSummary
from app.tickets.services.rules import OPEN_STATUSES
from app.tickets.services.validation import clean_body, clean_subject, validate_custom_fields
from app.tickets.tables import CATEGORIES, PRIORITIES, Ticket, TicketCounter


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
            ticket_id = await insert_ticket(caller, values, stored)
    except BaseException:
        discard(stored)
        raise
    return await ticket_summary(caller, ticket_id)


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
    priced = await quote_for_filing(request_type_code.strip(), priority)
    type_id = await request_type_id(request_type_code)
    cleaned = validate_custom_fields(await active_custom_fields(), custom_fields, customer=caller.is_customer)
    return {
        "subject": subject, "body": body, "priority": priority, "category": category,
        "organization": organization_id, "requester": requester_id, "request_type": type_id,
        "custom_fields": cleaned, "follow_up_of": None,
        "price_version": priced.version_id, "quoted_points": priced.points, "extra_minutes": 0,
    }


async def insert_ticket(caller: Caller, values: dict[str, Any], stored: Sequence[StoredFile]) -> int:
    """Inside a write transaction: the request row and everything that goes with it.

    The two rows every filing must lock — the organisation's points account and the year's number
    counter — are taken last, just before COMMIT, so that concurrent filings queue on them for
    moments, not for the whole filing: the request is written under a provisional number first,
    and after the counter only the new-request mails are written (their recipients read before).
    Every await between a lock and COMMIT lets the event loop serve other requests first, so each
    statement there lengthens the queue of every other filing."""
    now = utcnow()
    routing = await OrganizationRouting.select(OrganizationRouting.department, OrganizationRouting.assignee).where(
        OrganizationRouting.organization == values["organization"]
    ).first()
    first_due, resolution_due = due_dates(values["priority"], now)
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
    await record(ticket.id, caller.id, "created", detail, now)
    await record_files(caller, stored, ticket_id=ticket.id, message_id=None, now=now)
    await refresh_search_document(ticket.id)
    mail = await notify.ticket_created_mail(ticket.id)
    # The quote is held in the same transaction: not enough points undoes the whole filing.
    hold = charges.filing_hold(ticket.id, values["organization"], values.get("quoted_points") or 0)
    await charges.carry_out(hold, caller.id)
    number = await _number_ticket(ticket.id, now)
    await notify.enqueue_ticket_created(mail, number)
    return ticket.id


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


# ---------------------------------------------------------------------------------------------
# Likely duplicates


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
    since = utcnow() - timedelta(days=get_settings().duplicate_window_days)
    rows = await Ticket.select(*summary_columns()).where(
        (Ticket.organization == target) & Ticket.status.is_in(list(OPEN_STATUSES)) & (Ticket.created_at >= since)
    ).order_by(Ticket.id, ascending=False).limit(200)
    found = [
        TicketSummary(**summary_values(r)) for r in rows if subjects_match(wanted, normalise_subject(r["subject"]))
    ]
    return found[:limit]
