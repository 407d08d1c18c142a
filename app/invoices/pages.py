"""Finance's console (/console/finance) and the administrator's issuer page (/admin/issuer).

Finance lists and filters the documents, opens one to see what it says and what became of it,
records a bank transfer, voids or corrects an unpaid invoice, refunds a paid purchase's unspent
points with a credit note, downloads a document's PDF, the month's ZIP and the accountant's CSV,
follows purchases, and opens each organisation's monthly usage statement.

Handlers parse, call one service of app/invoices/services.py and render. A refused form shows
the page again with the message next to its field and what was typed kept; a change that worked
redirects back with a one-time message (post/redirect/get).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from pydantic import BaseModel

from app.accounts.guards import caller_of, requires_admin, requires_finance
from app.accounts.pages import FORM, flash, form_errors, pop_flash
from app.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from app.i18n import _, format_number, format_yen, ngettext
from app.invoices import services
from app.purchases.services import method_label, purchase_status_label
from app.schema import MAX_ID
from billing import clock
from billing.tables import DOCUMENT_KINDS, DOCUMENT_STATUSES

# What a form shows again with its message instead of failing.
REFUSED = (InvalidInput, Conflict, ServiceUnavailable)
FILTER_KEYS = ("organization", "kind", "status", "month", "overdue")
# /console/finance/documents/12 is the document's page, /console/finance/documents/12.pdf its PDF.
DOCUMENT_REF = re.compile(r"(\d{1,10})(\.pdf)?")
STATEMENT_FILE = re.compile(r"(\d{4}-\d{2})\.(pdf|html)")


def helpers() -> dict[str, Any]:
    return {
        "kind_label": services.kind_label,
        "status_label": services.status_label,
        "purchase_status_label": purchase_status_label,
        "purchase_filter_label": lambda key: _(services.PURCHASE_FILTERS[key]),
        "method_label": method_label,
        "relation_label": services.relation_label,
        "rounding_label": services.rounding_label,
    }


def wants_fragment(request: HTMXRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Template:
    return Template(
        f"finance/{name}.html.jinja2",
        context={"flash": pop_flash(request), "section": "finance", "finance_section": name, **helpers(), **context},
        status_code=status_code,
    )


def download(content: bytes | str, media_type: str, filename: str, *, attachment: bool = True) -> Response:
    disposition = "attachment" if attachment else "inline"
    return Response(
        content=content, media_type=media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"', "X-Content-Type-Options": "nosniff"},
    )


def document_id_of(ref: str) -> tuple[int, bool]:
    """The id in /documents/{ref} and whether the PDF is asked for; anything else names nothing."""
    match = DOCUMENT_REF.fullmatch(ref)
    if not match or int(match[1]) > MAX_ID:
        raise NotFound(_("This document does not exist."))
    return int(match[1]), bool(match[2])


@dataclass
class DocumentQuery:
    """The document filters as typed (to show them again and to page on) and the cursor."""

    values: dict[str, str] = field(default_factory=dict)
    cursor: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DocumentQuery:
        values = {key: str(params.get(key) or "").strip() for key in FILTER_KEYS}
        return cls(values=values, cursor=str(params.get("cursor") or "").strip())

    def filters(self) -> services.DocumentFilters:
        return services.document_filters(**self.values)

    def query_string(self, **extra: str) -> str:
        pairs = [(k, v) for k, v in self.values.items() if v] + [(k, v) for k, v in extra.items() if v]
        return urlencode(pairs)

    @property
    def is_filtered(self) -> bool:
        return any(self.values.values())


# ---------------------------------------------------------------------------------------------
# The forms of a document's page (every value arrives as text)


class PaymentForm(BaseModel):
    paid_on: str = ""
    amount_jpy: str = ""
    note: str = ""
    token: str = ""


class VoidForm(BaseModel):
    reason: str = ""


class CorrectionForm(BaseModel):
    recipient_name: str = ""
    due_on: str = ""
    note: str = ""


class RefundForm(BaseModel):
    reason: str = ""


class IssuerForm(BaseModel):
    name: str = ""
    registration_number: str = ""
    address: str = ""
    phone: str = ""
    email: str = ""
    bank_account: str = ""
    payment_terms_days: str = "30"
    tax_rounding: str = "down"


def form_defaults(details: services.DocumentDetails) -> dict[str, dict[str, str]]:
    """What each form of a document's page starts with: a payment of the open amount today, the
    invoice's recipient and a due date not in the past for a correction."""
    document, today = details.document, clock.today()
    due = document.document.due_on
    return {
        "payment": {"paid_on": today.isoformat(), "amount_jpy": str(document.open_jpy), "note": "",
                    "token": uuid.uuid4().hex},
        "void": {"reason": ""},
        "correct": {"recipient_name": document.document.recipient_name,
                    "due_on": (due if due and due >= today else today + timedelta(days=30)).isoformat(), "note": ""},
        "refund": {"reason": ""},
    }


# ---------------------------------------------------------------------------------------------
# The finance console


class FinanceController(Controller):
    path = "/console/finance"
    guards = [requires_finance]
    include_in_schema = False

    @get("/")
    async def finance_home(self, request: Request) -> Template:
        """How many invoices are overdue (with a link to them), and the way to each list."""
        overdue = await services.overdue_invoices(caller_of(request))
        return page(request, "index", overdue=overdue, this_month=services.statement_months(count=0)[0],
                    last_month=services.last_ended_month())

    # ----------------------------------------------------------------------------- documents

    @get("/documents")
    async def list_documents(self, request: HTMXRequest) -> Template:
        """Newest first, a page at a time; an HTMX request gets only the results."""
        caller = caller_of(request)
        query = DocumentQuery.from_params(request.query_params)
        rows, error = None, None
        try:
            rows = await services.document_rows(caller, query.filters(), query.cursor or None)
        except InvalidInput as exc:
            error = exc.message
        context = {"query": query, "rows": rows, "error": error, "today": clock.today(), **helpers()}
        if wants_fragment(request):
            # 200 even with a message: HTMX swaps only successful answers into the page.
            return Template("finance/partials/document_results.html.jinja2", context=context)
        return page(request, "documents", 422 if error else 200,
                    organizations=await services.organization_choices(caller), kinds=DOCUMENT_KINDS,
                    statuses=DOCUMENT_STATUSES, **context)

    @get("/documents.csv")
    async def month_csv(self, request: Request, month: FromQuery[str] = "") -> Response:
        """Every document issued in the month, for the accountant (UTF-8 with a BOM for Excel)."""
        month = services.required_month(month)
        content = await services.month_csv(caller_of(request), month)
        return download(content, "text/csv; charset=utf-8", f"documents-{month}.csv")

    @get("/documents.zip")
    async def month_zip(self, request: Request, month: FromQuery[str] = "") -> Response:
        """Every PDF issued in the month, each named by its number, and the month's CSV."""
        month = services.required_month(month)
        content = await services.month_zip(caller_of(request), month)
        return download(content, "application/zip", f"documents-{month}.zip")

    async def _document(self, request: Request, document_id: int, status_code: int = 200, *,
                        action: str | None = None, values: Mapping[str, str] | None = None,
                        errors: Mapping[str, str] | None = None) -> Template:
        details = await services.document_details(caller_of(request), document_id)
        forms = form_defaults(details)
        if action is not None:
            forms[action] = {**forms[action], **(values or {})}
        return page(request, "document", status_code, details=details, document=details.document, form_values=forms,
                    action=action, errors={action: dict(errors or {})} if action else {}, today=clock.today())

    @get("/documents/{ref:str}")
    async def get_document(self, request: Request, ref: FromPath[str]) -> Template | Response:
        """The document's page, or with ".pdf" its PDF (the stored bytes, the same every time)."""
        document_id, wants_pdf = document_id_of(ref)
        if not wants_pdf:
            return await self._document(request, document_id)
        document, pdf = await services.document_pdf(caller_of(request), document_id)
        return download(pdf, "application/pdf", f"{document.number}.pdf")

    @get("/documents/{document_id:int}/view")
    async def view_document(self, request: Request, document_id: FromPath[int]) -> Response:
        """The document as the browser shows it: the HTML of its PDF, its status stamped on it."""
        html = await services.document_html(caller_of(request), document_id)
        return Response(content=html, media_type="text/html; charset=utf-8")

    @post("/documents/{document_id:int}/payments")
    async def record_payment(
        self, request: Request, document_id: FromPath[int], data: Annotated[PaymentForm, FORM]
    ) -> Template | Redirect:
        try:
            document = await services.record_payment(
                caller_of(request), document_id, paid_on=data.paid_on, amount_jpy=data.amount_jpy, note=data.note,
                key=data.token or None,
            )
        except REFUSED as exc:
            return await self._document(request, document_id, exc.status_code, action="payment",
                                        values=data.model_dump(), errors=form_errors(exc))
        if document.status == "paid":
            flash(request, _("Invoice {number} is paid in full; the points were granted.", number=document.number))
        else:
            flash(request, _("The payment was recorded; {amount} is still open on invoice {number}.",
                             amount=format_yen(document.open_jpy), number=document.number))
        return Redirect(path=f"/console/finance/documents/{document_id}", status_code=303)

    @post("/documents/{document_id:int}/void")
    async def void_invoice(
        self, request: Request, document_id: FromPath[int], data: Annotated[VoidForm, FORM]
    ) -> Template | Redirect:
        try:
            document = await services.void_invoice(caller_of(request), document_id, reason=data.reason)
        except REFUSED as exc:
            return await self._document(request, document_id, exc.status_code, action="void",
                                        values=data.model_dump(), errors=form_errors(exc))
        flash(request, _("Invoice {number} was voided; its number is never used again.", number=document.number))
        return Redirect(path=f"/console/finance/documents/{document_id}", status_code=303)

    @post("/documents/{document_id:int}/correct")
    async def correct_invoice(
        self, request: Request, document_id: FromPath[int], data: Annotated[CorrectionForm, FORM]
    ) -> Template | Redirect:
        try:
            corrected = await services.correct_invoice(
                caller_of(request), document_id, recipient_name=data.recipient_name, due_on=data.due_on,
                note=data.note,
            )
        except REFUSED as exc:
            return await self._document(request, document_id, exc.status_code, action="correct",
                                        values=data.model_dump(), errors=form_errors(exc))
        flash(request, _("The corrected invoice {number} was issued and replaces {original}.",
                         number=corrected.number, original=corrected.document.original_number))
        return Redirect(path=f"/console/finance/documents/{corrected.id}", status_code=303)

    @post("/documents/{document_id:int}/refund")
    async def refund_purchase(
        self, request: Request, document_id: FromPath[int], data: Annotated[RefundForm, FORM]
    ) -> Template | Redirect:
        try:
            refund = await services.refund_purchase_of(caller_of(request), document_id, reason=data.reason)
        except REFUSED as exc:
            return await self._document(request, document_id, exc.status_code, action="refund",
                                        values=data.model_dump(), errors=form_errors(exc))
        if refund.credit_note is None:
            flash(request, _("No unspent points were left on this purchase, so nothing was refunded."))
            return Redirect(path=f"/console/finance/documents/{document_id}", status_code=303)
        if refund.purchase.method == "card":
            flash(request, ngettext(
                "{points} unspent point was taken back, credit note {number} was issued and {amount} "
                "was refunded to the card through Stripe.",
                "{points} unspent points were taken back, credit note {number} was issued and {amount} "
                "was refunded to the card through Stripe.",
                refund.points, points=format_number(refund.points), number=refund.credit_note.number,
                amount=format_yen(refund.credit_note.document.total_jpy)))
        else:
            flash(request, ngettext("{points} unspent point was taken back and credit note {number} was issued.",
                                    "{points} unspent points were taken back and credit note {number} was issued.",
                                    refund.points, points=format_number(refund.points),
                                    number=refund.credit_note.number))
        return Redirect(path=f"/console/finance/documents/{refund.credit_note.id}", status_code=303)

    # ----------------------------------------------------------------------------- purchases

    @get("/purchases")
    async def list_purchases(self, request: HTMXRequest, status: FromQuery[str] = "",
                             cursor: FromQuery[str] = "") -> Template:
        caller = caller_of(request)
        rows, error = None, None
        try:
            rows = await services.purchase_rows(caller, services.purchase_filter(status), cursor or None)
        except InvalidInput as exc:
            error = exc.message
        context = {"status": status.strip(), "rows": rows, "error": error, "filters": services.PURCHASE_FILTERS,
                   "cursor": cursor}
        if wants_fragment(request):
            return Template("finance/partials/purchase_results.html.jinja2", context={**helpers(), **context})
        return page(request, "purchases", 422 if error else 200, **context)

    # ----------------------------------------------------------------------------- statements

    @get("/statements")
    async def list_statements(self, request: Request, month: FromQuery[str] = "",
                              cursor: FromQuery[str] = "") -> Template:
        """Each organisation's usage statement of a month (the month before this one at first)."""
        caller = caller_of(request)
        try:
            chosen = services.parse_month(month) or services.last_ended_month()
            organizations = await services.statement_organizations(caller, cursor or None)
        except InvalidInput as exc:
            return page(request, "statements", exc.status_code, error=exc.message, month=month.strip(),
                        months=services.statement_months(), organizations=None, ended=False)
        months = services.statement_months()
        return page(request, "statements", month=chosen, months=months if chosen in months else [chosen, *months],
                    organizations=organizations, ended=services.month_has_ended(chosen), error=None, cursor=cursor)

    @get("/statements/{organization_id:int}/{file:str}")
    async def get_statement(self, request: Request, organization_id: FromPath[int], file: FromPath[str]) -> Response:
        """YYYY-MM.pdf: the statement of a month that has ended; YYYY-MM.html: as HTML, for the
        month under way the figures so far."""
        match = STATEMENT_FILE.fullmatch(file)
        if not match:
            raise NotFound(_("This page does not exist."))
        month = services.required_month(match[1])
        if match[2] == "html":
            html = await services.statement_html(caller_of(request), organization_id, month)
            return Response(content=html, media_type="text/html; charset=utf-8")
        pdf = await services.statement_pdf(caller_of(request), organization_id, month)
        return download(pdf, "application/pdf", f"statement-{month}-{organization_id}.pdf")


# ---------------------------------------------------------------------------------------------
# The issuer (administration)


class IssuerAdminController(Controller):
    path = "/admin/issuer"
    guards = [requires_admin]
    include_in_schema = False

    async def _issuer(self, request: Request, status_code: int = 200, *, values: Mapping[str, str] | None = None,
                      errors: Mapping[str, str] | None = None) -> Template:
        profile = await services.issuer_profile(caller_of(request))
        if values is None:
            values = IssuerForm().model_dump()
            if profile is not None:
                values = {**values, **{k: str(getattr(profile.settings, k)) for k in IssuerForm.model_fields}}
        return Template(
            "admin/issuer.html.jinja2",
            context={"flash": pop_flash(request), "section": "issuer", "profile": profile, "values": dict(values),
                     "errors": dict(errors or {}),
                     "rounding_options": [(mode, services.rounding_label(mode)) for mode in services.ROUNDING],
                     **helpers()},
            status_code=status_code,
        )

    @get("/")
    async def issuer_page(self, request: Request) -> Template:
        return await self._issuer(request)

    @post("/")
    async def save_issuer(self, request: Request, data: Annotated[IssuerForm, FORM]) -> Template | Redirect:
        try:
            await services.save_issuer(caller_of(request), data.model_dump())
        except REFUSED as exc:
            return await self._issuer(request, exc.status_code, values=data.model_dump(), errors=form_errors(exc))
        flash(request, _("The issuer was saved; documents issued from now on carry it."))
        return Redirect(path="/admin/issuer", status_code=303)
