"""The customer portal's request pages: the portal's home (/portal/: the caller's open requests,
the company's latest, how many are in each status), filing a request, a request with its thread
and points, the company's request history, attachment downloads; and the approval limit for rises
of a request's price (/portal/points/approval-limit).

Every page calls the ticket services (app/tickets/services/, app/tickets/attachments.py), which
authorise by organisation: another company's request does not exist for a customer (404). A
refused form is shown again with the message next to its field and what was typed kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import File, Redirect, Template

from app.accounts.guards import caller_of, requires_customer
from app.accounts.pages import flash, form_errors
from app.errors import InsufficientPoints, InvalidInput, KippuError, NotAuthenticated, NotFound
from app.i18n import _, format_number, format_size, ngettext
from app.points.services import day
from app.portal.layout import page, wants_fragment
from app.settings import get_settings
from app.tickets.attachments import MAX_FILES_PER_MESSAGE, Upload, upload_body_max_bytes
from app.tickets.pages.common import LABELS, download, set_watching
from app.tickets.services import (
    choices,
    classification,
    filing,
    quotes,
    reading,
    thread,
    watchers,
    workflow,
)
from app.tickets.services import points as ticket_points
from app.tickets.services.results import TicketFilters
from app.tickets.services.rules import OPEN_STATUSES, priority_label, status_label
from app.tickets.services.validation import SUBJECT_MAX
from app.tickets.tables import CATEGORIES, PRIORITIES, STATUSES

PAGE_SIZE = 25
RECENT_SIZE = 10
MY_OPEN_SIZE = 20
OPEN_FILTER = ",".join(OPEN_STATUSES)
CUSTOM_FIELD_PREFIX = "custom_fields."
# Where a customer short of points goes to buy more (members are told to ask their admin there).
BALANCE_PATH = "/portal/purchase"


# ------------------------------------------------------------------------------ helpers


def _refused(exc: KippuError) -> bool:
    """Whether a service error is something to show on the form (not a missing page or sign-in)."""
    return not isinstance(exc, (NotFound, NotAuthenticated))


def limits_text() -> str:
    settings = get_settings()
    return ngettext(
        "Up to {count} file, at most {size}. Allowed types: {types}.",
        "Up to {count} files, each at most {size}. Allowed types: {types}.",
        MAX_FILES_PER_MESSAGE,
        count=MAX_FILES_PER_MESSAGE,
        size=format_size(settings.upload_max_bytes),
        types=", ".join(sorted(e.lower().lstrip(".") for e in settings.upload_allowed_extensions)),
    )


def accept_attribute() -> str:
    return ",".join("." + e.lower().lstrip(".") for e in get_settings().upload_allowed_extensions)


async def read_form(request: HTMXRequest) -> tuple[dict[str, str], list[Upload]]:
    """The text fields (last value of each) and the chosen files of a form (empty file inputs skipped)."""
    form = await request.form()
    values: dict[str, str] = {}
    uploads: list[Upload] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key == "attachments" and value.filename:
                uploads.append(Upload(filename=value.filename, file=value.file))
        elif isinstance(value, str):
            values[key] = value
    return values, uploads


def parse_version(value: str) -> int | None:
    text = value.strip()
    return int(text) if text.isdecimal() and len(text) < 10 else None


async def ticket_page(request: HTMXRequest, name: str, status_code: int = 200, **context: Any) -> Template:
    """A whole portal page about requests (the portal's layout, with the words for their statuses)."""
    return await page(request, name, status_code, **LABELS, **context)


def fragment(name: str, status_code: int = 200, **context: Any) -> Template:
    return Template(
        f"portal/partials/{name}.html.jinja2", context={**LABELS, **context}, status_code=status_code
    )


# ------------------------------------------------------------------------------ the pages


class PortalTicketsController(Controller):
    path = "/portal"
    guards = [requires_customer]
    include_in_schema = False

    @get("/")
    async def portal_home(self, request: HTMXRequest) -> Template:
        caller = caller_of(request)
        mine = await reading.list_tickets(
            caller, TicketFilters(requester="me", status=OPEN_STATUSES), limit=MY_OPEN_SIZE
        )
        recent = await reading.list_tickets(caller, TicketFilters(), limit=RECENT_SIZE)
        counts = await reading.counts_by_status(caller)
        return await ticket_page(
            request, "home", my_open=mine.items, my_open_more=mine.next_cursor is not None,
            recent=recent.items, counts=counts, open_count=sum(counts[s] for s in OPEN_STATUSES),
            open_filter=OPEN_FILTER,
        )

    # -------------------------------------------------------------------- filing a request

    async def _new_form(
        self, request: HTMXRequest, status_code: int = 200, *, values: Mapping[str, str] | None = None,
        errors: Mapping[str, str] | None = None, duplicates: list | None = None, files_dropped: bool = False,
        shortfall: InsufficientPoints | None = None,
    ) -> Template:
        caller = caller_of(request)
        values = {"priority": "normal", "category": "question", **(values or {})}
        return await ticket_page(
            request, "new_ticket", status_code,
            values=values,
            errors=dict(errors or {}),
            duplicates=duplicates or [],
            files_dropped=files_dropped,
            shortfall=shortfall.extra if shortfall else None,
            price=await quotes.filing_price(caller, values.get("request_type"), values["priority"]),
            balance_path=BALANCE_PATH,
            request_types=await quotes.fileable_types(),
            custom_fields=await choices.custom_field_inputs(caller),
            priorities=PRIORITIES,
            categories=CATEGORIES,
            limits=limits_text(),
            accept=accept_attribute(),
            max_files=MAX_FILES_PER_MESSAGE,
        )

    @get("/tickets/new")
    async def new_ticket_page(self, request: HTMXRequest) -> Template:
        return await self._new_form(request)

    @get("/tickets/price")
    async def filing_price(
        self, request: HTMXRequest, request_type: FromQuery[str] = "", priority: FromQuery[str] = "normal"
    ) -> Template:
        """The price of the request being written and the balance, refreshed as type and priority change."""
        price = await quotes.filing_price(caller_of(request), request_type[:40], priority[:10])
        return fragment("filing_price", price=price, balance_path=BALANCE_PATH)

    @get("/tickets/duplicates")
    async def duplicate_warning(self, request: HTMXRequest, subject: FromQuery[str] = "") -> Template:
        """The "a similar open request exists" notice under the subject, refreshed as it is typed."""
        found = await filing.find_likely_duplicates(caller_of(request), subject[: SUBJECT_MAX * 2])
        return fragment("duplicates", duplicates=found, confirm=False)

    @post("/tickets", request_max_body_size=upload_body_max_bytes())
    async def create_ticket(self, request: HTMXRequest) -> Template | Redirect:
        caller = caller_of(request)
        values, uploads = await read_form(request)
        if values.get("confirm_duplicate") != "1":
            duplicates = await filing.find_likely_duplicates(caller, values.get("subject", "")[: SUBJECT_MAX * 2])
            if duplicates:
                return await self._new_form(
                    request, 409, values=values, duplicates=duplicates, files_dropped=bool(uploads)
                )
        custom = {
            key.removeprefix(CUSTOM_FIELD_PREFIX): value
            for key, value in values.items()
            if key.startswith(CUSTOM_FIELD_PREFIX)
        }
        try:
            ticket = await filing.create_ticket(
                caller,
                subject=values.get("subject", ""),
                body=values.get("body", ""),
                request_type_code=values.get("request_type", ""),
                priority=values.get("priority") or "normal",
                category=values.get("category") or "question",
                custom_fields=custom,
                attachments=uploads,
            )
        except KippuError as exc:
            if not _refused(exc):
                raise
            return await self._new_form(
                request, exc.status_code, values=values, files_dropped=bool(uploads),
                errors={} if isinstance(exc, InsufficientPoints) else form_errors(exc),
                shortfall=exc if isinstance(exc, InsufficientPoints) else None,
            )
        flash(request, _("Your request {number} was received.", number=ticket.number))
        return Redirect(path=f"/portal/tickets/{ticket.id}")

    # -------------------------------------------------------------------- one request

    async def _ticket_page(
        self, request: HTMXRequest, ticket_id: int, status_code: int = 200, *,
        reply_errors: Mapping[str, str] | None = None, reply_body: str = "", status_error: str | None = None,
        points_error: str | None = None,
    ) -> Template:
        detail = await reading.get_ticket(caller_of(request), ticket_id)
        return await ticket_page(
            request, "ticket", status_code,
            ticket=detail,
            request_files=[f for f in detail.attachments if f.message_id is None],
            reply_errors=dict(reply_errors or {}),
            reply_body=reply_body,
            status_error=status_error,
            points_error=points_error,
            balance_path=BALANCE_PATH,
            limits=limits_text(),
            accept=accept_attribute(),
            watchers=await watchers.watchers(caller_of(request), ticket_id),
            watch_base=f"/portal/tickets/{ticket_id}",
        )

    @get("/tickets/{ticket_id:int}")
    async def ticket_page(self, request: HTMXRequest, ticket_id: FromPath[int]) -> Template:
        return await self._ticket_page(request, ticket_id)

    @post("/tickets/{ticket_id:int}/messages", request_max_body_size=upload_body_max_bytes())
    async def reply(self, request: HTMXRequest, ticket_id: FromPath[int]) -> Template | Redirect:
        values, uploads = await read_form(request)
        body = values.get("body", "")
        try:
            # No version check: a customer's reply adds to the thread and never overwrites anything.
            outcome = await thread.add_message(caller_of(request), ticket_id, body, attachments=uploads)
        except KippuError as exc:
            if not _refused(exc):
                raise
            return await self._ticket_page(
                request, ticket_id, exc.status_code, reply_errors=form_errors(exc), reply_body=body
            )
        if outcome.follow_up_of is not None:
            flash(request, _("This request was closed, so your reply started the follow-up request {number}.",
                             number=outcome.number))
        elif values.get("was") == "resolved" and outcome.status == "open":
            flash(request, _("Your reply was sent and the request was reopened."))
        else:
            flash(request, _("Your reply was sent."))
        return Redirect(path=f"/portal/tickets/{outcome.ticket_id}")

    @post("/tickets/{ticket_id:int}/status")
    async def change_status(self, request: HTMXRequest, ticket_id: FromPath[int]) -> Template | Redirect:
        values, _files = await read_form(request)
        status = values.get("status", "").strip()
        try:
            ticket = await workflow.change_status(
                caller_of(request), ticket_id, status, version=parse_version(values.get("version", ""))
            )
        except KippuError as exc:
            if not _refused(exc):
                raise
            return await self._ticket_page(request, ticket_id, exc.status_code, status_error=exc.message)
        if ticket.status == "resolved":
            flash(request, _("Thank you. The request is marked as solved."))
        elif ticket.status == "cancelled":
            flash(request, _("The request was cancelled."))
        else:
            flash(request, _("The status is now {status}.", status=status_label(ticket.status)))
        return Redirect(path=f"/portal/tickets/{ticket_id}")

    @post("/tickets/{ticket_id:int}/watch")
    async def watch(self, request: HTMXRequest, ticket_id: FromPath[int]) -> Template | Redirect:
        return await set_watching(request, caller_of(request), ticket_id, True,
                                  watch_base=f"/portal/tickets/{ticket_id}", redirect_status=302)

    @post("/tickets/{ticket_id:int}/unwatch")
    async def unwatch(self, request: HTMXRequest, ticket_id: FromPath[int]) -> Template | Redirect:
        return await set_watching(request, caller_of(request), ticket_id, False,
                                  watch_base=f"/portal/tickets/{ticket_id}", redirect_status=302)

    @post("/tickets/{ticket_id:int}/point-changes/{change_id:int}/{answer:str}")
    async def answer_point_change(
        self, request: HTMXRequest, ticket_id: FromPath[int], change_id: FromPath[int], answer: FromPath[str]
    ) -> Template | Redirect:
        """The requester or a customer admin approves or declines a rise of the request's price."""
        if answer not in ("approve", "decline"):
            raise NotFound(_("This page does not exist."))
        try:
            change = await classification.decide_change(
                caller_of(request), ticket_id, change_id, approve=answer == "approve"
            )
        except KippuError as exc:
            if not _refused(exc):
                raise
            return await self._ticket_page(request, ticket_id, exc.status_code, points_error=exc.message)
        if change.status == "approved":
            flash(request, ngettext("You approved the new price: {points} point.",
                                    "You approved the new price: {points} points.",
                                    change.to_points, points=format_number(change.to_points)))
        else:
            flash(request, ngettext("You declined the change; the price stays {points} point.",
                                    "You declined the change; the price stays {points} points.",
                                    change.from_points, points=format_number(change.from_points)))
        return Redirect(path=f"/portal/tickets/{ticket_id}")

    @get("/points/approval-limit")
    async def approval_limit_page(self, request: HTMXRequest) -> Template:
        caller = caller_of(request)
        return await ticket_page(request, "approval_limit", limit=await ticket_points.approval_limit(caller),
                                 errors={})

    @post("/points/approval-limit")
    async def set_approval_limit(self, request: HTMXRequest) -> Template | Redirect:
        caller = caller_of(request)
        values, _files = await read_form(request)
        try:
            limit = await ticket_points.set_approval_limit(caller, values.get("approval_limit", ""))
        except KippuError as exc:
            if not _refused(exc):
                raise
            # An administrator's form shows again what was typed; a member has no form and is shown
            # the limit in force (a number: the page counts its points).
            shown = (values.get("approval_limit", "") if caller.is_customer_admin
                     else await ticket_points.approval_limit(caller))
            return await ticket_page(request, "approval_limit", exc.status_code, limit=shown,
                                     errors=form_errors(exc))
        flash(request, ngettext("Price rises of up to {points} point now apply without asking.",
                                "Price rises of up to {points} points now apply without asking.", limit,
                                points=format_number(limit))
              if limit else _("Every price rise now asks for approval."))
        return Redirect(path="/portal/points/approval-limit")

    @get("/tickets/{ticket_id:int}/attachments/{attachment_id:int}")
    async def download_attachment(
        self, request: HTMXRequest, ticket_id: FromPath[int], attachment_id: FromPath[int]
    ) -> File:
        return await download(caller_of(request), ticket_id, attachment_id)

    # -------------------------------------------------------------------- the company's history

    @get("/tickets")
    async def ticket_history(
        self,
        request: HTMXRequest,
        q: FromQuery[str] = "",
        status: FromQuery[str] = "",
        priority: FromQuery[str] = "",
        request_type: FromQuery[str] = "",
        requester: FromQuery[str] = "",
        created_from: FromQuery[str] = "",
        created_to: FromQuery[str] = "",
        cursor: FromQuery[str] = "",
    ) -> Template:
        caller = caller_of(request)
        chosen = {
            "q": q, "status": status, "priority": priority, "request_type": request_type, "requester": requester,
            "created_from": created_from, "created_to": created_to,
        }
        errors: dict[str, str] = {}
        items: list = []
        next_cursor = None
        try:
            filters = TicketFilters(
                q=q.strip() or None, status=status or None, priority=priority or None,
                request_type=request_type.strip() or None, requester=requester.strip() or None,
                created_from=day(created_from, "created_from"), created_to=day(created_to, "created_to"),
            )
            result = await reading.list_tickets(caller, filters, cursor.strip() or None, PAGE_SIZE)
            items, next_cursor = result.items, result.next_cursor
        except InvalidInput as exc:
            errors = form_errors(exc)
        kept = {k: v for k, v in chosen.items() if v}
        results = {
            "items": items,
            "errors": errors,
            "next_query": urlencode({**kept, "cursor": next_cursor}) if next_cursor else None,
            "first_query": urlencode(kept) if cursor else None,
        }
        if wants_fragment(request):
            return fragment("ticket_results", **results)
        return await ticket_page(
            request, "tickets", 422 if errors else 200,
            filters=chosen,
            status_options=[(OPEN_FILTER, _("Not finished (new, open, waiting)"))]
            + [(s, status_label(s)) for s in STATUSES],
            priority_options=[(p, priority_label(p)) for p in PRIORITIES],
            request_type_options=[(t.code, t.name) for t in await choices.request_type_choices()],
            requester_options=[("me", _("Me"))]
            + [(str(p.id), p.name) for p in await choices.requester_choices(caller)],
            **results,
        )
