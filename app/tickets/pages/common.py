"""What the portal's and the console's request pages share: the words for a request's statuses,
priorities and categories in their templates, watching a request and a file download."""

from __future__ import annotations

from litestar.plugins.htmx import HTMXRequest
from litestar.response import File, Redirect, Template

from app.accounts.caller import Caller
from app.accounts.pages import flash
from app.i18n import _
from app.tickets.attachments import attachment_download
from app.tickets.services import watchers
from app.tickets.services.rules import category_label, priority_label, status_label

LABELS = {"status_label": status_label, "priority_label": priority_label, "category_label": category_label}


async def set_watching(
    request: HTMXRequest, caller: Caller, ticket_id: int, watching: bool, *, watch_base: str, redirect_status: int
) -> Template | Redirect:
    """Watch or stop watching; then the watchers box for an HTMX swap, else back to the request page."""
    if watching:
        await watchers.watch(caller, ticket_id)
        done = _("You are now watching this request.")
    else:
        await watchers.unwatch(caller, ticket_id)
        done = _("You stopped watching this request.")
    if request.htmx and not request.htmx.history_restore_request:
        return Template("portal/partials/watchers.html.jinja2", context={
            "ticket_id": ticket_id, "watch_base": watch_base,
            "watchers": await watchers.watchers(caller, ticket_id),
        }, status_code=200)
    flash(request, done)
    return Redirect(path=watch_base, status_code=redirect_status)


async def download(caller: Caller, ticket_id: int, attachment_id: int) -> File:
    """A file of a request the caller may see, as a download (never shown inline)."""
    found = await attachment_download(caller, attachment_id, ticket_id=ticket_id)
    return File(
        path=found.path, filename=found.filename, media_type=found.content_type,
        content_disposition_type="attachment", headers={"X-Content-Type-Options": "nosniff"},
    )
