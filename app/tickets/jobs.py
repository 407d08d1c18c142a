"""Scheduled work on requests. Each job is idempotent: running it twice changes nothing more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app import db
from app.notifications import services as notify
from app.settings import get_settings
from app.tickets.tables import Ticket, TicketEvent

BATCH = 200


async def auto_close_resolved(now: datetime | None = None) -> int:
    """Close requests resolved more than settings.auto_close_after_days ago; return how many.

    Each request is closed in its own short transaction by a guarded UPDATE (status still
    'resolved'), so a customer reopening it at the same moment wins or loses cleanly, and a
    second run finds nothing left to close. Writes a history line (no actor, reason
    "auto_close") and tells the requester.
    """
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=get_settings().auto_close_after_days)
    closed = 0
    after_id = 0
    while True:
        due = await Ticket.select(Ticket.id).where(
            (Ticket.status == "resolved") & (Ticket.resolved_at < cutoff) & (Ticket.id > after_id)
        ).order_by(Ticket.id).limit(BATCH)
        if not due:
            return closed
        for row in due:
            after_id = row["id"]
            async with db.write_transaction():
                updated = await Ticket.update(
                    {
                        Ticket.status: "closed",
                        Ticket.closed_at: now,
                        Ticket.updated_at: now,
                        Ticket.version: Ticket.version + 1,
                    }
                ).where(
                    (Ticket.id == row["id"]) & (Ticket.status == "resolved") & (Ticket.resolved_at < cutoff)
                ).returning(Ticket.id)
                if not updated:
                    continue
                await TicketEvent.insert(
                    TicketEvent(
                        ticket=row["id"],
                        actor=None,
                        kind="status_changed",
                        detail={"from": "resolved", "to": "closed", "reason": "auto_close"},
                        created_at=now,
                    )
                )
                await notify.status_changed(row["id"], "resolved", "closed", None)
            closed += 1
