"""Moving a request along: a status change under the status machine (app/tickets/services/rules.py),
which settles its points when it is resolved or cancelled, and the close of a request resolved
long enough ago (app/tickets/jobs.py); its owner (take, assign); and the vendor waiving its charge."""

from __future__ import annotations

from datetime import datetime

from app import db
from app.accounts.caller import Caller
from app.accounts.tables import STAFF_ROLES, User
from app.errors import InvalidInput, NotAllowed
from app.i18n import _
from app.notifications import services as notify
from app.tickets.services import charges
from app.tickets.services._rows import lock, record, require_staff, save, status_changes, touch, user_names, utcnow
from app.tickets.services.reading import ticket_summary
from app.tickets.services.results import TicketSummary
from app.tickets.services.rules import check_transition
from app.tickets.services.validation import clean_reason
from app.tickets.tables import Ticket


async def change_status(caller: Caller, ticket_id: int, status: str, *, version: int | None = None) -> TicketSummary:
    """Move a request to `status` under the rules of the status machine.

    `version` is the one the caller saw (None: do not check). Records the change in the
    history and tells the requester (outbox) unless the requester made it.
    """
    now = utcnow()
    async with db.write_transaction():
        row = await lock(caller, ticket_id, version)
        old = row["status"]
        check_transition(old, status, staff=caller.is_staff, work_started=row["first_responded_at"] is not None)
        await save(row, status_changes(old, status, now), now)
        await charges.carry_out(await charges.settlement(row, status), caller.id)
        await record(ticket_id, caller.id, "status_changed", {"from": old, "to": status}, now)
        await notify.status_changed(ticket_id, old, status, caller.id)
    return await ticket_summary(caller, ticket_id)


async def auto_close(ticket_id: int, *, resolved_before: datetime, now: datetime) -> bool:
    """Close the request if it is still resolved and was resolved before `resolved_before`; True if
    it was. One short transaction with a guarded UPDATE (a customer reopening it at the same moment
    wins or loses cleanly). Writes a history line (no actor, reason "auto_close") and tells the
    requester."""
    async with db.write_transaction():
        updated = await Ticket.update({
            Ticket.status: "closed", Ticket.closed_at: now, Ticket.updated_at: now, Ticket.version: Ticket.version + 1,
        }).where(
            (Ticket.id == ticket_id) & (Ticket.status == "resolved") & (Ticket.resolved_at < resolved_before)
        ).returning(Ticket.id)
        if not updated:
            return False
        await record(ticket_id, None, "status_changed", {"from": "resolved", "to": "closed", "reason": "auto_close"},
                     now)
        await notify.status_changed(ticket_id, "resolved", "closed", None)
    return True


async def take(caller: Caller, ticket_id: int, *, version: int) -> TicketSummary:
    """The calling staff member takes the request (becomes its assignee)."""
    return await assign(caller, ticket_id, caller.id, version=version)


async def assign(caller: Caller, ticket_id: int, assignee_id: int | None, *, version: int) -> TicketSummary:
    """Give the request to an active staff member (None: to nobody)."""
    require_staff(caller)
    if assignee_id is not None:
        person = await User.select(User.name, User.role, User.is_active).where(User.id == assignee_id).first()
        if person is None or person["role"] not in STAFF_ROLES or not person["is_active"]:
            raise InvalidInput(_("The assignee must be an active staff member."), field="assignee")
    now = utcnow()
    async with db.write_transaction():
        row = await lock(caller, ticket_id, version)
        if row["assignee"] != assignee_id:
            names = await user_names([i for i in (row["assignee"], assignee_id) if i is not None])
            await save(row, {Ticket.assignee: assignee_id}, now)
            await record(ticket_id, caller.id, "field_changed", {
                "field": "assignee", "from": row["assignee"], "to": assignee_id,
                "from_label": names.get(row["assignee"]), "to_label": names.get(assignee_id),
            }, now)
    return await ticket_summary(caller, ticket_id)


async def waive(caller: Caller, ticket_id: int, reason: str, *, version: int | None = None) -> None:
    """Release the request's held points (the vendor does not charge it), with a reason; a change
    of price waiting for the customer is declined with it."""
    if not caller.is_staff:
        raise NotAllowed(_("Only our staff can waive the charge of a request."))
    reason = clean_reason(reason, required=True)
    now = utcnow()
    async with db.write_transaction():
        row = await lock(caller, ticket_id, version)
        waiver = await charges.waiver(row, reason)
        if waiver.declines is not None:
            await charges.answer_change(waiver.declines, "declined", by=caller.id, now=now)
        await charges.carry_out(waiver.release, caller.id)
        await touch(row, now)
        await record(ticket_id, caller.id, "points_waived", {"points": waiver.points, "reason": reason}, now)
