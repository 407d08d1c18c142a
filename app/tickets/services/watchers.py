"""Watchers: people who get the public-reply mails of a request besides its requester and assignee
(app/notifications/services.public_reply_added mails them).

Anyone who can see a request may watch it: staff any request, a customer its own company's
(another company's request does not exist: NotFound). Watching and stopping are idempotent and
recorded in the history ("watch_started" / "watch_stopped") only when something changed.
Customers see only their own company's watchers; staff see everyone watching.
"""

from __future__ import annotations

from app import db
from app.accounts.caller import Caller
from app.tickets.services._rows import lock, record, utcnow
from app.tickets.services.reading import ticket_summary
from app.tickets.services.results import WatcherView
from app.tickets.tables import TicketWatcher


async def _set_watching(caller: Caller, ticket_id: int, watching: bool) -> bool:
    """Start or stop watching; True when this changed anything. The request row is locked, so
    two clicks at once make one row and one history line."""
    async with db.write_transaction():
        await lock(caller, ticket_id, None)
        mine = (TicketWatcher.ticket == ticket_id) & (TicketWatcher.user == caller.id)
        present = await TicketWatcher.exists().where(mine)
        if present == watching:
            return False
        if watching:
            await TicketWatcher.insert(TicketWatcher(ticket=ticket_id, user=caller.id))
        else:
            await TicketWatcher.delete().where(mine)
        await record(ticket_id, caller.id, "watch_started" if watching else "watch_stopped", {}, utcnow())
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
