"""The staff console's request pages: the console's home (/console/), the queue with its filters
and exports, and the request page where an agent takes, assigns, reclassifies, answers and notes
a request, asks for extra time or waives its charge.

Handlers parse the form, call one service of app/tickets/services/ and render. Every change
carries the `version` the agent saw; a change refused by the service (a stale view, a status the
machine does not allow, a bad value) shows the request page again, reloaded, with the message,
and keeps what the agent typed into the reply box.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import File, Redirect, Template

from app.accounts import services as people
from app.accounts.caller import Caller
from app.accounts.guards import caller_of, requires_staff
from app.accounts.pages import flash, pop_flash
from app.errors import Conflict, InsufficientPoints, InvalidInput, KippuError, NotAllowed
from app.i18n import _, format_number, ngettext
from app.points.services import day
from app.schema import MAX_ID
from app.settings import get_settings
from app.tickets.attachments import Upload, upload_body_max_bytes
from app.tickets.pages.common import LABELS, download, set_watching
from app.tickets.services import (
    choices,
    classification,
    exports,
    points,
    quotes,
    reading,
    thread,
    watchers,
    workflow,
)
from app.tickets.services.results import Requote, TicketFilters
from app.tickets.services.rules import OPEN_STATUSES, status_label
from app.tickets.tables import CATEGORIES, PRIORITIES, STATUSES

QUEUE_PAGE_SIZE = 50
HOME_LIST_LIMIT = 20
# What the request page shows again (reloaded) with the message instead of failing.
REFUSED = (InvalidInput, Conflict, NotAllowed, InsufficientPoints)
# The query parameters of the queue; export links and the next page carry the same ones.
FILTER_KEYS = (
    "q", "status", "priority", "organization", "department", "assignee", "request_type",
    "created_from", "created_to", "updated_from", "updated_to",
)


# ---------------------------------------------------------------------------------------------
# Parsing what a form or a query string sends (every value arrives as text)


def _id(value: str | None, field_name: str) -> int | None:
    text = (value or "").strip()
    if not text:
        return None
    if not text.isdecimal() or len(text) > 10 or int(text) > MAX_ID:
        raise InvalidInput(_("Choose one of the listed options."), field=field_name)
    return int(text)


def _version(form: Mapping[str, Any]) -> int:
    text = str(form.get("version") or "").strip()
    if not text.isdecimal() or len(text) > 9:
        raise InvalidInput(_("The form is missing the version of the request. Reload the page."), field="version")
    return int(text)


def _minutes(value: Any) -> int:
    text = str(value or "").strip()
    if not text:
        return 0
    if not text.isdecimal() or len(text) > 6:
        raise InvalidInput(_("Enter the minutes spent as a whole number."), field="minutes_spent")
    return int(text)


@dataclass
class QueueQuery:
    """The queue's filters as typed (to show them again) and as the service takes them."""

    values: dict[str, str] = field(default_factory=dict)
    statuses: list[str] = field(default_factory=list)
    cursor: str = ""

    @classmethod
    def from_params(cls, params) -> QueueQuery:
        values = {key: (params.get(key) or "").strip() for key in FILTER_KEYS if key != "status"}
        statuses = [s.strip() for item in params.getall("status", []) for s in item.split(",") if s.strip()]
        return cls(values=values, statuses=statuses, cursor=(params.get("cursor") or "").strip())

    def filters(self) -> TicketFilters:
        v = self.values
        return TicketFilters(
            q=v["q"] or None,
            status=self.statuses or None,
            priority=v["priority"] or None,
            organization_id=_id(v["organization"], "organization"),
            department_id=_id(v["department"], "department"),
            assignee=v["assignee"] or None,
            request_type=v["request_type"] or None,
            created_from=day(v["created_from"], "created_from"),
            created_to=day(v["created_to"], "created_to"),
            updated_from=day(v["updated_from"], "updated_from"),
            updated_to=day(v["updated_to"], "updated_to"),
        )

    def query_string(self, **extra: str) -> str:
        """The filters as a query string (no cursor): the same list, exported or paged on."""
        pairs = [("status", s) for s in self.statuses]
        pairs += [(k, v) for k, v in self.values.items() if v]
        pairs += [(k, v) for k, v in extra.items() if v]
        return urlencode(pairs)

    @property
    def is_filtered(self) -> bool:
        return bool(self.statuses or any(self.values.values()))


def _uploads(files: list[Any]) -> list[Upload]:
    """The files of a multipart form; a file input left empty sends a part without a name."""
    return [Upload(filename=item.filename, file=item.file) for item in files
            if isinstance(item, UploadFile) and item.filename]


# ---------------------------------------------------------------------------------------------
# Choices shown in the forms


async def _organizations(caller: Caller) -> list[Any]:
    found: list[Any] = []
    cursor = None
    while True:
        page = await people.list_organizations(caller, cursor=cursor, limit=people.MAX_PAGE_SIZE)
        found.extend(page.items)
        if not page.next_cursor:
            return sorted(found, key=lambda o: o.code)
        cursor = page.next_cursor


async def _queue_choices(caller: Caller) -> dict[str, Any]:
    return {
        "organizations": await _organizations(caller),
        "departments": await people.list_departments(caller),
        "staff": await people.list_staff(caller, include_inactive=False),
        "request_types": await choices.request_type_choices(caller, include_inactive=True),
        "statuses": STATUSES,
        "priorities": PRIORITIES,
    }


# ---------------------------------------------------------------------------------------------
# The pages


class ConsoleTicketsController(Controller):
    path = "/console"
    guards = [requires_staff]
    include_in_schema = False

    # ----------------------------------------------------------------------------- home

    @get("/")
    async def home(self, request: Request) -> Template:
        """Like e2-support's TOP screen: counts by status, urgent and overdue first, then mine."""
        caller = caller_of(request)
        mine = await reading.list_tickets(
            caller, TicketFilters(assignee="me", status=OPEN_STATUSES), limit=HOME_LIST_LIMIT
        )
        return Template(
            "console/home.html.jinja2",
            context={
                "section": "home",
                # Capped, so the screen costs the same with a million closed requests.
                "counts": await reading.status_counts_capped(caller),
                "count_cap": reading.STATUS_COUNT_CAP,
                "urgent": await reading.urgent_tickets(caller, limit=HOME_LIST_LIMIT),
                "overdue": await reading.overdue_tickets(caller, limit=HOME_LIST_LIMIT),
                "mine": mine.items,
                "mine_more": mine.next_cursor is not None,
                "now": datetime.now(UTC),
                "flash": pop_flash(request),
                **LABELS,
            },
        )

    # ----------------------------------------------------------------------------- queue

    @get("/tickets")
    async def queue(self, request: HTMXRequest) -> Template:
        """Newest first, a page at a time; an HTMX request gets only the results."""
        caller = caller_of(request)
        query = QueueQuery.from_params(request.query_params)
        page, error = None, None
        try:
            page = await reading.list_tickets(caller, query.filters(), query.cursor or None, QUEUE_PAGE_SIZE)
        except InvalidInput as exc:
            error = exc.message
        context = {
            "section": "queue",
            "query": query,
            "page": page,
            "error": error,
            "now": datetime.now(UTC),
            **LABELS,
        }
        if request.htmx and not request.htmx.history_restore_request:
            return Template("console/partials/queue_results.html.jinja2", context=context)
        context.update(await _queue_choices(caller))
        return Template("console/queue.html.jinja2", context=context, status_code=422 if error else 200)

    async def _export(self, request: Request, extension: str) -> Response:
        caller = caller_of(request)
        filters = QueueQuery.from_params(request.query_params).filters()
        if extension == "csv":
            content = await exports.export_csv(caller, filters)
            media_type = "text/csv; charset=utf-8"
        else:
            content = await exports.export_xlsx(caller, filters)
            media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        name = f"requests-{datetime.now(get_settings().zone):%Y%m%d-%H%M}.{extension}"
        return Response(
            content,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"},
        )

    @get("/tickets/export.csv")
    async def export_csv(self, request: Request) -> Response:
        """Exactly the requests the queue shows with the same query string, every page of them."""
        return await self._export(request, "csv")

    @get("/tickets/export.xlsx")
    async def export_xlsx(self, request: Request) -> Response:
        return await self._export(request, "xlsx")

    # ----------------------------------------------------------------------------- one request

    async def _ticket_page(
        self, request: Request, ticket_id: int, *, status_code: int = 200, error: KippuError | None = None,
        reply: Mapping[str, Any] | None = None,
    ) -> Template:
        caller = caller_of(request)
        ticket = await reading.get_ticket(caller, ticket_id)
        return Template(
            "console/ticket.html.jinja2",
            context={
                "section": "queue",
                "ticket": ticket,
                "staff": await people.list_staff(caller, include_inactive=False),
                "departments": await people.list_departments(caller),
                # Reclassifying prices by the request's own point table version: its types.
                "request_types": await quotes.types_of_version(await points.price_version_of(ticket.id)),
                "custom_fields": await choices.custom_field_definitions(caller),
                "categories": CATEGORIES,
                "priorities": PRIORITIES,
                "error": error.message if error else None,
                "error_field": (error.extra.get("field") if error else None),
                "stale": error is not None and error.code == "stale_version",
                "reply": dict(reply or {}),
                "now": datetime.now(UTC),
                "flash": pop_flash(request),
                "watchers": await watchers.watchers(caller, ticket_id),
                "watch_base": f"/console/tickets/{ticket_id}",
                **LABELS,
            },
            status_code=status_code,
        )

    @get("/tickets/{ticket_id:int}")
    async def ticket_page(self, request: Request, ticket_id: FromPath[int]) -> Template:
        return await self._ticket_page(request, ticket_id)

    async def _change(self, request: Request, ticket_id: int, change, done,
                      reply: Mapping[str, Any] | None = None) -> Template | Redirect:
        """Run one change; on success back to the request page with `done` (text, or an async
        function giving it), else the page with why."""
        try:
            await change()
        except REFUSED as exc:
            return await self._ticket_page(request, ticket_id, status_code=exc.status_code, error=exc, reply=reply)
        flash(request, done if isinstance(done, str) else await done())
        return Redirect(path=f"/console/tickets/{ticket_id}", status_code=303)

    @post("/tickets/{ticket_id:int}/watch")
    async def watch(self, request: HTMXRequest, ticket_id: FromPath[int]) -> Template | Redirect:
        return await set_watching(request, caller_of(request), ticket_id, True,
                                  watch_base=f"/console/tickets/{ticket_id}", redirect_status=303)

    @post("/tickets/{ticket_id:int}/unwatch")
    async def unwatch(self, request: HTMXRequest, ticket_id: FromPath[int]) -> Template | Redirect:
        return await set_watching(request, caller_of(request), ticket_id, False,
                                  watch_base=f"/console/tickets/{ticket_id}", redirect_status=303)

    @post("/tickets/{ticket_id:int}/take")
    async def take(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        caller, form = caller_of(request), await request.form()

        async def change():
            await workflow.take(caller, ticket_id, version=_version(form))

        return await self._change(request, ticket_id, change, _("You now hold this request."))

    @post("/tickets/{ticket_id:int}/assign")
    async def assign(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        caller, form = caller_of(request), await request.form()

        async def change():
            await workflow.assign(caller, ticket_id, _id(form.get("assignee"), "assignee"), version=_version(form))

        return await self._change(request, ticket_id, change, _("The assignee was changed."))

    @post("/tickets/{ticket_id:int}/status")
    async def change_status(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        caller, form = caller_of(request), await request.form()
        status = str(form.get("status") or "")

        async def change():
            await workflow.change_status(caller, ticket_id, status, version=_version(form))

        return await self._change(
            request, ticket_id, change, _("The status is now {status}.", status=status_label(status))
        )

    @post("/tickets/{ticket_id:int}/fields")
    async def update_fields(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        caller, form = caller_of(request), await request.form()

        async def change():
            await classification.update_fields(
                caller, ticket_id, version=_version(form),
                priority=str(form.get("priority") or "") or None,
                category=str(form.get("category") or "") or None,
                request_type_code=str(form.get("request_type") or "") or None,
                department_id=_id(form.get("department"), "department"),
                reason=str(form.get("reason") or ""),
            )

        async def done() -> str:
            pending = await points.pending_change_of(ticket_id)
            if pending is not None and pending.requested_at >= started:
                return ngettext("The new price ({points} point) waits for the customer's approval; "
                                "the classification changes when it is approved.",
                                "The new price ({points} points) waits for the customer's approval; "
                                "the classification changes when it is approved.",
                                pending.to_points, points=format_number(pending.to_points))
            return _("The request was reclassified.")

        started = datetime.now(UTC)
        return await self._change(request, ticket_id, change, done)

    @post("/tickets/{ticket_id:int}/waive")
    async def waive(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        """Waive the charge (the vendor's fault, goodwill): the held points go back, with a reason."""
        caller, form = caller_of(request), await request.form()

        async def change():
            await workflow.waive(caller, ticket_id, str(form.get("reason") or ""), version=_version(form))

        return await self._change(request, ticket_id, change, _("The charge was waived; the points went back."))

    @post("/tickets/{ticket_id:int}/overage")
    async def overage(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        """Ask for extra time beyond what the request type includes (priced by its point table)."""
        caller, form = caller_of(request), await request.form()
        outcome: list[Requote] = []

        async def change():
            outcome.append(await classification.request_overage(
                caller, ticket_id, form.get("extra_minutes"), str(form.get("reason") or ""), version=_version(form),
            ))

        async def done() -> str:
            result = outcome[0]
            if result.applied:
                return ngettext("The extra time was priced in: {old} → {new} point.",
                                "The extra time was priced in: {old} → {new} points.", result.to_points,
                                old=format_number(result.from_points), new=format_number(result.to_points))
            return ngettext("The customer was asked to approve {old} → {new} point.",
                            "The customer was asked to approve {old} → {new} points.", result.to_points,
                            old=format_number(result.from_points), new=format_number(result.to_points))

        return await self._change(request, ticket_id, change, done)

    @post("/tickets/{ticket_id:int}/custom-fields")
    async def update_custom_fields(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        caller, form = caller_of(request), await request.form()
        values = {key[3:]: value for key, value in form.items() if key.startswith("cf.")}

        async def change():
            await classification.update_custom_fields(caller, ticket_id, values, version=_version(form))

        return await self._change(request, ticket_id, change, _("The custom fields were saved."))

    @post("/tickets/{ticket_id:int}/messages", request_max_body_size=upload_body_max_bytes())
    async def add_message(self, request: Request, ticket_id: FromPath[int]) -> Template | Redirect:
        """A public reply or an internal note, with minutes spent, files and an optional status."""
        caller, form = caller_of(request), await request.form()
        internal = str(form.get("internal") or "") not in ("", "0", "off", "false")
        reply = {
            "body": str(form.get("body") or ""),
            "internal": internal,
            "minutes_spent": str(form.get("minutes_spent") or ""),
            "then_status": str(form.get("then_status") or ""),
        }

        async def change():
            await thread.add_message(
                caller, ticket_id, reply["body"], internal=internal, minutes_spent=_minutes(reply["minutes_spent"]),
                then_status=reply["then_status"] or None, version=_version(form),
                attachments=_uploads(form.getall("attachments", [])),
            )

        done = _("Your internal note was added.") if internal else _("Your reply was sent.")
        return await self._change(request, ticket_id, change, done, reply=reply)

    @get("/tickets/{ticket_id:int}/attachments/{attachment_id:int}")
    async def download_attachment(
        self, request: Request, ticket_id: FromPath[int], attachment_id: FromPath[int]
    ) -> File:
        return await download(caller_of(request), ticket_id, attachment_id)
