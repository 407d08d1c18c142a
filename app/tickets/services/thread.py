"""The thread of a request: public replies and internal notes, with files and time spent, the
status moves a reply makes, and the follow-up request a reply to a closed request starts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app import db
from app.accounts.caller import Caller
from app.errors import IllegalTransition, InvalidInput, NotAllowed
from app.i18n import _
from app.notifications import services as notify
from app.tickets.attachments import StoredFile, Upload, discard, record_files, store_uploads
from app.tickets.search import refresh_search_document
from app.tickets.services import charges
from app.tickets.services._rows import lock, record, save, status_changes, utcnow
from app.tickets.services.filing import insert_ticket
from app.tickets.services.quotes import quote_for_filing
from app.tickets.services.results import ReplyOutcome
from app.tickets.services.rules import check_transition
from app.tickets.services.validation import clean_body, clean_minutes
from app.tickets.tables import STATUSES, RequestType, Ticket, TicketMessage


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
    minutes = clean_minutes(minutes_spent)
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
    now = utcnow()
    row = await lock(caller, ticket_id, version)
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
        changes.update(status_changes(old, new, now))
    new_version = await save(row, changes, now)
    for old, new, _tell in moves:
        await charges.carry_out(await charges.settlement(row, new), caller.id)
        await record(ticket_id, caller.id, "status_changed", {"from": old, "to": new}, now)
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
    priced = await quote_for_filing(code["code"], original["priority"])
    values = {
        "subject": original["subject"], "body": body, "priority": original["priority"],
        "category": original["category"], "organization": original["organization"], "requester": caller.id,
        "request_type": original["request_type"], "custom_fields": original["custom_fields"] or {},
        "follow_up_of": original["id"],
        "price_version": priced.version_id, "quoted_points": priced.points, "extra_minutes": 0,
    }
    follow_up_id = await insert_ticket(caller, values, stored)
    number = (await Ticket.select(Ticket.number).where(Ticket.id == follow_up_id).first())["number"]
    await record(original["id"], caller.id, "follow_up_created", {"ticket_id": follow_up_id, "number": number}, now)
    return ReplyOutcome(
        ticket_id=follow_up_id, number=number, message_id=None, status="new", version=1,
        follow_up_of=original["id"],
    )
