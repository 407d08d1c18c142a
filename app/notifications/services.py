"""Who is told what, written to the outbox inside the caller's transaction.

Each mail is rendered from `templates/mail/<kind>.txt.jinja2` in the recipient's own locale
(Japanese or English): the template's `subject` block is the subject, the rest is the body.
The sender (app/notifications/sender.py) delivers the outbox over SMTP later, with retries.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from app.accounts.tables import STAFF_ROLES, User
from app.i18n import LOCALES, N_, TEMPLATE_FILTERS, _, ngettext, set_locale
from app.notifications.tables import OutboxMessage
from app.settings import ROOT, get_settings
from app.tickets.tables import Ticket, TicketMessage, TicketWatcher

# English source text, the same words as the pages use (translated where shown).
STATUS_LABELS = {
    "new": N_("New"),
    "open": N_("Open"),
    "waiting": N_("Waiting on customer"),
    "resolved": N_("Resolved"),
    "closed": N_("Closed"),
    "cancelled": N_("Cancelled"),
}
PRIORITY_LABELS = {"urgent": N_("Urgent"), "normal": N_("Normal"), "low": N_("Low")}
EXCERPT_CHARS = 2000


@lru_cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(ROOT / "templates" / "mail"),
        autoescape=False,  # plain-text mail
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(_=_, ngettext=ngettext, status_label=lambda s: _(STATUS_LABELS[s]),
                       priority_label=lambda p: _(PRIORITY_LABELS[p]))
    env.filters.update(TEMPLATE_FILTERS)
    return env


def render_mail(kind: str, locale: str, **context: Any) -> tuple[str, str]:
    """Subject and body of `templates/mail/<kind>.txt.jinja2` in `locale` ("ja" or "en")."""
    template = _environment().get_template(f"{kind}.txt.jinja2")
    context = {"settings": get_settings(), **context}

    def render() -> tuple[str, str]:
        # In a copied context, so the caller's own locale (e.g. the request being served) stays.
        set_locale(locale)
        subject = "".join(template.blocks["subject"](template.new_context(context)))
        return " ".join(subject.split()), template.render(context)

    return contextvars.copy_context().run(render)


async def enqueue(to_address: str, locale: str, kind: str, *, send_after: datetime | None = None,
                  **context: Any) -> None:
    """Put one mail in the outbox (call it inside the transaction of the change that causes it)."""
    await OutboxMessage.insert(_outbox_message(to_address, locale, kind, send_after, context))


def _outbox_message(to_address: str, locale: str, kind: str, send_after: datetime | None,
                    context: dict[str, Any]) -> OutboxMessage:
    subject, body = render_mail(kind, locale if locale in LOCALES else "ja", **context)
    now = datetime.now(UTC)
    return OutboxMessage(
        to_address=to_address, subject=subject[:300], body=body, kind=kind, send_after=send_after or now,
        created_at=now,
    )


async def _ticket(ticket_id: int) -> dict:
    return await Ticket.select(
        Ticket.id, Ticket.number, Ticket.subject, Ticket.body, Ticket.status, Ticket.priority,
        Ticket.organization, Ticket.requester, Ticket.department, Ticket.assignee, Ticket.created_at,
        Ticket.organization.name.as_alias("organization_name"),
        Ticket.requester.name.as_alias("requester_name"),
        Ticket.request_type.name_ja.as_alias("request_type_ja"),
        Ticket.request_type.name_en.as_alias("request_type_en"),
    ).where(Ticket.id == ticket_id).first()


async def _recipients(ticket: dict, user_ids: set[int]) -> list[dict]:
    """Active users among `user_ids`; customers only if they belong to the ticket's organisation."""
    if not user_ids:
        return []
    users = await User.select(
        User.id, User.email, User.name, User.locale, User.role, User.organization
    ).where(User.id.is_in(sorted(user_ids)) & (User.is_active == True))  # noqa: E712
    return [u for u in users if u["role"] in STAFF_ROLES or u["organization"] == ticket["organization"]]


def _view(ticket: dict, user: dict) -> dict:
    """The ticket as this recipient reads it: names in their language, the link to their side."""
    staff = user["role"] in STAFF_ROLES
    base = get_settings().base_url.rstrip("/")
    return {
        **ticket,
        "request_type": ticket["request_type_en"] if user["locale"] == "en" else ticket["request_type_ja"],
        "link": f"{base}/{'console' if staff else 'portal'}/tickets/{ticket['id']}",
    }


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS].rstrip() + " …"


@dataclass(frozen=True)
class TicketCreatedMail:
    """The "new request" mail of a request being filed, its recipients already read, waiting for
    the request's number (`enqueue_ticket_created`)."""

    ticket: dict
    recipients: list[dict]


async def ticket_created_mail(ticket_id: int) -> TicketCreatedMail:
    """Who is told of a new request: the active agents of its department (every agent when it has
    none) and its assignee, if routing gave it one."""
    ticket = await _ticket(ticket_id)
    agents = User.select(User.id).where(
        User.role.is_in(["agent", "admin"]) & (User.is_active == True)  # noqa: E712
    )
    if ticket["department"] is not None:
        agents = agents.where(User.department == ticket["department"])
    else:
        agents = agents.where(User.role == "agent")
    ids = {row["id"] for row in await agents}
    if ticket["assignee"] is not None:
        ids.add(ticket["assignee"])
    return TicketCreatedMail(ticket=ticket, recipients=await _recipients(ticket, ids))


async def enqueue_ticket_created(mail: TicketCreatedMail, number: str) -> None:
    """The new request's mails, with its number, in the outbox: one statement. Filing calls this
    while it holds the year's number counter, so it reads nothing."""
    ticket = {**mail.ticket, "number": number}
    messages = [
        _outbox_message(user["email"], user["locale"], "ticket_created", None,
                        {"recipient": user, "ticket": _view(ticket, user), "body": _excerpt(ticket["body"])})
        for user in mail.recipients
    ]
    if messages:
        await OutboxMessage.insert(*messages)


async def public_reply_added(ticket_id: int, message_id: int) -> None:
    """A public reply: the requester, the assignee and the watchers, except whoever wrote it.
    Internal notes are never mailed."""
    message = await TicketMessage.select(
        TicketMessage.author, TicketMessage.body, TicketMessage.internal, TicketMessage.created_at,
        TicketMessage.author.name.as_alias("author_name"),
        TicketMessage.author.role.as_alias("author_role"),
    ).where((TicketMessage.id == message_id) & (TicketMessage.ticket == ticket_id)).first()
    if message is None or message["internal"]:
        return
    ticket = await _ticket(ticket_id)
    watchers = await TicketWatcher.select(TicketWatcher.user).where(TicketWatcher.ticket == ticket_id)
    ids = {ticket["requester"], ticket["assignee"], *(w["user"] for w in watchers)} - {None, message["author"]}
    for user in await _recipients(ticket, ids):
        await enqueue(
            user["email"], user["locale"], "public_reply",
            recipient=user, ticket=_view(ticket, user), message=message,
            author_is_staff=message["author_role"] in STAFF_ROLES, body=_excerpt(message["body"]),
        )


async def status_changed(ticket_id: int, old: str, new: str, actor_id: int | None) -> None:
    """A status change: the requester, unless the requester made it."""
    ticket = await _ticket(ticket_id)
    if ticket["requester"] == actor_id:
        return
    for user in await _recipients(ticket, {ticket["requester"]}):
        await enqueue(
            user["email"], user["locale"], "status_changed",
            recipient=user, ticket=_view(ticket, user), old=old, new=new,
        )


async def point_change_pending(ticket_id: int, change_id: int) -> None:
    """A rise of a request's price waits for the customer: the requester and the organisation's
    customer admins (who may approve or decline it in the portal)."""
    from app.tickets.tables import PointChangeRequest

    ticket = await _ticket(ticket_id)
    change = await PointChangeRequest.select().where(PointChangeRequest.id == change_id).first()
    admins = await User.select(User.id).where(
        (User.organization == ticket["organization"]) & (User.role == "customer_admin")
    )
    ids = {ticket["requester"], *(a["id"] for a in admins)}
    for user in await _recipients(ticket, ids):
        await enqueue(
            user["email"], user["locale"], "point_change_pending",
            recipient=user, ticket=_view(ticket, user), change=change,
        )
