"""Who is told what, written to the outbox inside the caller's transaction.

The senders (app/notifications/sender.py) deliver the outbox over SMTP later, with retries.
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.accounts.tables import User
from app.notifications.tables import OutboxMessage
from app.settings import get_settings
from app.tickets.tables import Ticket, TicketMessage, TicketWatcher

SUBJECTS = {
    "ticket_created": {
        "ja": "[{number}] 新しいお問い合わせ: {subject}",
        "en": "[{number}] New request: {subject}",
    },
    "public_reply": {
        "ja": "[{number}] 返信があります: {subject}",
        "en": "[{number}] New reply: {subject}",
    },
    "status_changed": {
        "ja": "[{number}] ステータスが変わりました: {subject}",
        "en": "[{number}] Status changed: {subject}",
    },
}
STATUS_NAMES = {
    "ja": {"new": "新規", "open": "対応中", "waiting": "お客様回答待ち", "resolved": "解決済み",
           "closed": "完了", "cancelled": "取消"},
    "en": {"new": "New", "open": "Open", "waiting": "Waiting on you", "resolved": "Resolved",
           "closed": "Closed", "cancelled": "Cancelled"},
}


async def _ticket(ticket_id: int) -> dict:
    return await Ticket.select(
        Ticket.id, Ticket.number, Ticket.subject, Ticket.requester, Ticket.department,
        Ticket.organization, Ticket.status,
    ).where(Ticket.id == ticket_id).first()


def _link(ticket: dict, staff: bool) -> str:
    base = get_settings().base_url.rstrip("/")
    return f"{base}/console/tickets/{ticket['id']}" if staff else f"{base}/portal/tickets/{ticket['id']}"


async def _enqueue(user: dict, kind: str, ticket: dict, body: str) -> None:
    locale = user["locale"] if user["locale"] in ("ja", "en") else "ja"
    now = datetime.now(UTC)
    await OutboxMessage.insert(
        OutboxMessage(
            to_address=user["email"],
            subject=SUBJECTS[kind][locale].format(number=ticket["number"], subject=ticket["subject"])[:300],
            body=body,
            kind=kind,
            send_after=now,
            created_at=now,
        )
    )


async def ticket_created(ticket_id: int) -> None:
    """A new request: every active agent of its department (all agents when it has none)."""
    ticket = await _ticket(ticket_id)
    agents = User.select(User.email, User.locale).where(
        (User.role.is_in(["agent", "admin"])) & (User.is_active == True)  # noqa: E712
    )
    if ticket["department"] is not None:
        agents = agents.where(User.department == ticket["department"])
    for agent in await agents:
        body = f"{ticket['number']} {ticket['subject']}\n\n{_link(ticket, staff=True)}\n"
        await _enqueue(agent, "ticket_created", ticket, body)


async def public_reply_added(ticket_id: int, message_id: int) -> None:
    """A public reply: the requester and the watchers, except whoever wrote it."""
    ticket = await _ticket(ticket_id)
    message = await TicketMessage.select(TicketMessage.author, TicketMessage.body).where(
        TicketMessage.id == message_id
    ).first()
    watcher_ids = [w["user"] for w in await TicketWatcher.select(TicketWatcher.user).where(TicketWatcher.ticket == ticket_id)]
    recipient_ids = {ticket["requester"], *watcher_ids} - {message["author"]}
    if not recipient_ids:
        return
    users = await User.select(User.id, User.email, User.locale, User.role).where(
        User.id.is_in(list(recipient_ids)) & (User.is_active == True)  # noqa: E712
    )
    for user in users:
        staff = user["role"] in ("admin", "agent", "finance")
        body = f"{message['body']}\n\n---\n{ticket['number']} {ticket['subject']}\n{_link(ticket, staff)}\n"
        await _enqueue(user, "public_reply", ticket, body)


async def status_changed(ticket_id: int, old: str, new: str, actor_id: int | None) -> None:
    """A status change: the requester, unless the requester made it."""
    ticket = await _ticket(ticket_id)
    if ticket["requester"] == actor_id:
        return
    user = await User.select(User.email, User.locale).where(
        (User.id == ticket["requester"]) & (User.is_active == True)  # noqa: E712
    ).first()
    if user is None:
        return
    names = STATUS_NAMES[user["locale"] if user["locale"] in STATUS_NAMES else "ja"]
    body = f"{ticket['number']} {ticket['subject']}\n{names[old]} → {names[new]}\n\n{_link(ticket, staff=False)}\n"
    await _enqueue(user, "status_changed", ticket, body)
