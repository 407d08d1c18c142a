"""Scheduled work on requests. Each job is idempotent: running it twice changes nothing more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.settings import get_settings
from app.tickets.services.workflow import auto_close
from app.tickets.tables import Ticket

BATCH = 200


async def auto_close_resolved(now: datetime | None = None) -> int:
    """Close requests resolved more than settings.auto_close_after_days ago; return how many.

    Each request is closed in its own short transaction (app/tickets/services/workflow.py,
    `auto_close`), so a customer reopening it at the same moment wins or loses cleanly, and a
    second run finds nothing left to close.
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
            if await auto_close(row["id"], resolved_before=cutoff, now=now):
                closed += 1
