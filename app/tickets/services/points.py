"""A request's points as people see them: its points story (the quote and what became of it, line
by line), the change of price waiting for the customer, the point table version that priced it;
and the customer admin's approval limit for rises of price.

What moves the points, and when, is app/tickets/services/charges.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app import db
from app.accounts.caller import Caller
from app.errors import InvalidInput, NotAllowed, NotFound
from app.i18n import _, format_number, ngettext
from app.tickets.services.charges import approval_limit_of, may_decide, pending_change
from app.tickets.services.results import ChangeView, PointsLine, PointsStory
from app.tickets.tables import PointChangeRequest, PointsPolicy, Ticket
from billing import ledger
from billing.tables import LedgerEntry

APPROVAL_LIMIT_MAX = 100000


# ---------------------------------------------------------------------------------------------
# The points story of a request


async def points_story(caller: Caller, ticket_id: int) -> PointsStory:
    """The points story of a request the caller can see."""
    row = await Ticket.select(
        Ticket.price_version, Ticket.price_version.number.as_alias("version_number"), Ticket.quoted_points,
        Ticket.extra_minutes, Ticket.organization, Ticket.requester,
    ).where(Ticket.id == ticket_id).first()
    if row is None or not caller.can_see_organization(row["organization"]):
        raise NotFound(_("This request does not exist."))
    holds = await ledger.holds_of_ticket(ticket_id)
    # Joined here: billing's entries keep only the actor's id (billing does not know app's users).
    entries = await LedgerEntry.raw(
        "SELECT e.kind, e.points, e.reason, e.idempotency_key, e.created_at, u.name AS actor_name "
        "FROM ledger_entries e LEFT JOIN users u ON u.id = e.actor WHERE e.ticket_id = {} ORDER BY e.id",
        ticket_id,
    )
    changes = await _changes(ticket_id)
    lines: list[PointsLine] = []
    waive_reason = ""
    waived = False
    for e in entries:
        reason = ""
        if e["idempotency_key"].endswith(":waive"):
            waived = True
            reason = e["reason"].split("(", 1)[-1].rstrip(")") if "(" in e["reason"] else ""
            waive_reason = reason
        lines.append(PointsLine(
            at=e["created_at"], actor_name=e["actor_name"], text=_entry_text(e["kind"], e["idempotency_key"], e["points"]),
            reason=reason,
        ))
    for c in changes:
        lines.append(PointsLine(at=c.requested_at, actor_name=c.requested_by_name, text=_change_text(c), reason=c.reason))
        if c.status in ("approved", "declined"):
            lines.append(PointsLine(at=c.decided_at, actor_name=c.decided_by_name,
                                    text=_change_text(c) + " · " + _decision_text(c)))
    lines.sort(key=lambda line: line.at)
    pending = next((c for c in changes if c.status == "pending"), None)
    return PointsStory(
        priced=row["price_version"] is not None,
        version_number=row["version_number"],
        quoted=row["quoted_points"],
        extra_minutes=row["extra_minutes"],
        held=sum(h["points"] for h in holds),
        captured=sum(h["captured"] for h in holds),
        released=sum(h["released"] for h in holds),
        waived=waived,
        waive_reason=waive_reason,
        pending_change=pending,
        changes=tuple(changes),
        lines=tuple(lines),
        can_decide=pending is not None and may_decide(caller, row),
    )


async def _changes(ticket_id: int, change_id: int | None = None) -> list[ChangeView]:
    query = PointChangeRequest.select(
        *PointChangeRequest.all_columns(),
        PointChangeRequest.requested_by.name.as_alias("requested_by_name"),
        PointChangeRequest.decided_by.name.as_alias("decided_by_name"),
    ).where(PointChangeRequest.ticket == ticket_id).order_by(PointChangeRequest.id)
    if change_id is not None:
        query = query.where(PointChangeRequest.id == change_id)
    return [
        ChangeView(
            id=c["id"], kind=c["kind"], status=c["status"], from_points=c["from_points"], to_points=c["to_points"],
            from_request_type=c["from_request_type"], to_request_type=c["to_request_type"],
            from_priority=c["from_priority"], to_priority=c["to_priority"],
            from_extra_minutes=c["from_extra_minutes"], to_extra_minutes=c["to_extra_minutes"], reason=c["reason"],
            requested_by_name=c["requested_by_name"] or "", requested_at=c["requested_at"],
            decided_by_name=c["decided_by_name"], decided_at=c["decided_at"],
        )
        for c in await query
    ]


def _entry_text(kind: str, key: str, points: int) -> str:
    what = key.rsplit(":", 1)[-1] if not key.startswith("~") else ""
    n, shown = points, format_number(points)
    if kind == "hold":
        if ":change:" in key:
            return ngettext("{points} more point held (re-quote)",
                            "{points} more points held (re-quote)", n, points=shown)
        return ngettext("{points} point held for the quote", "{points} points held for the quote", n, points=shown)
    if kind == "capture":
        return ngettext("{points} point charged (resolved)", "{points} points charged (resolved)", n, points=shown)
    if kind == "release":
        if what == "waive":
            return ngettext("{points} point released: the charge was waived",
                            "{points} points released: the charge was waived", n, points=shown)
        if what == "release":
            return ngettext("{points} point released (cancelled)",
                            "{points} points released (cancelled)", n, points=shown)
        if ":change:" in key:
            return ngettext("{points} point released (lower re-quote)", "{points} points released (lower re-quote)", n,
                            points=shown)
        return ngettext("{points} point released", "{points} points released", n, points=shown)
    if kind == "expire":
        return ngettext("{points} released point expired with its lot",
                        "{points} released points expired with their lot", n, points=shown)
    return f"{kind} {points}"


def _change_text(change: ChangeView) -> str:
    if change.kind == "overage":
        return ngettext("Extra time {minutes} min: {old} → {new} point",
                        "Extra time {minutes} min: {old} → {new} points",
                        change.to_points, minutes=change.to_extra_minutes - change.from_extra_minutes,
                        old=format_number(change.from_points), new=format_number(change.to_points))
    return ngettext("Re-quote: {old} → {new} point", "Re-quote: {old} → {new} points", change.to_points,
                    old=format_number(change.from_points), new=format_number(change.to_points))


def _decision_text(change: ChangeView) -> str:
    return {
        "pending": _("waiting for the customer's approval"),
        "approved": _("approved by the customer"),
        "declined": _("declined"),
        "applied": _("applied at once"),
    }.get(change.status, change.status)


async def change_view(ticket_id: int, change_id: int) -> ChangeView:
    """One change of price of a request, as its story shows it."""
    return (await _changes(ticket_id, change_id))[0]


async def pending_change_of(ticket_id: int) -> ChangeView | None:
    pending = await pending_change(ticket_id)
    return await change_view(ticket_id, pending["id"]) if pending else None


async def price_version_of(ticket_id: int) -> int | None:
    row = await Ticket.select(Ticket.price_version).where(Ticket.id == ticket_id).first()
    return row["price_version"] if row else None


# ---------------------------------------------------------------------------------------------
# Approval limit (customer admin)


async def set_approval_limit(caller: Caller, limit: Any) -> int:
    """The customer admin's limit: price rises up to this many points apply without asking."""
    if not caller.is_customer_admin or caller.organization_id is None:
        raise NotAllowed(_("Only a customer administrator can change the approval limit."))
    text = str(limit if limit is not None else "").strip()
    if not text.isascii() or not text.isdecimal() or len(text) > 7 or int(text) > APPROVAL_LIMIT_MAX:
        raise InvalidInput(
            _("The approval limit must be a whole number of points between 0 and {max}.", max=APPROVAL_LIMIT_MAX),
            field="approval_limit",
        )
    value, now = int(text), datetime.now(UTC)
    async with db.write_transaction():
        updated = await PointsPolicy.update({
            PointsPolicy.approval_limit: value, PointsPolicy.updated_by: caller.id, PointsPolicy.updated_at: now,
        }).where(PointsPolicy.organization == caller.organization_id).returning(PointsPolicy.id)
        if not updated:
            await PointsPolicy.insert(PointsPolicy(
                organization=caller.organization_id, approval_limit=value, updated_by=caller.id, updated_at=now,
            ))
    return value


async def approval_limit(caller: Caller) -> int:
    if caller.organization_id is None:
        raise NotFound(_("This page does not exist."))
    return await approval_limit_of(caller.organization_id)
