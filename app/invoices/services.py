"""Documents as people use them: finance's invoices, receipts and credit notes (lists, payments,
voids, corrections, refunds, the month's ZIP and the accountant's CSV), the customer admin's own
documents, and the monthly usage statements.

Finance and administrators see every organisation's documents; a customer admin only its own
company's (another company's do not exist: 404); members and agents have no documents.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from app import exports
from app.accounts import services as people
from app.accounts.caller import Caller
from app.accounts.tables import Organization, User
from app.errors import Conflict, InvalidInput, NotAllowed, NotFound, from_domain
from app.i18n import N_, _
from app.points.services import day, text, whole_number
from app.purchases.services import request_key, stripe_settings
from app.tickets.tables import Ticket
from billing import card_payments, clock, documents, invoicing, ledger, purchases, statements
from billing.errors import LedgerError
from billing.invoicing import DocumentPage, IssuedDocument
from billing.issuer import IssuerSettings, current_issuer, issuer_in_force
from billing.issuer import save_issuer as store_issuer
from billing.purchases import REASON_MAX, PurchasePage, PurchaseView
from billing.statements import TicketDetail
from billing.tables import DOCUMENT_KINDS, DOCUMENT_STATUSES, InvoicePayment, IssuerProfile
from pricing.rules import tax_by_rate

KINDS = {"invoice": N_("Invoice"), "receipt": N_("Receipt"), "credit_note": N_("Credit note")}
# "Paid in full", not "Paid": the catalogue has one Japanese per English text, and "Paid" is a lot's source.
STATUSES = {"issued": N_("Issued"), "paid": N_("Paid in full"), "void": N_("Void"),
            "replaced": N_("Replaced by a corrected invoice")}


def kind_label(kind: str) -> str:
    return _(KINDS.get(kind, kind))


def status_label(status: str) -> str:
    return _(STATUSES.get(status, status))


def refused(exc: Exception) -> Exception:
    return from_domain(exc)


# --- who may see what ----------------------------------------------------------------------------

def _may_see_documents_of(caller: Caller, organization_id: int) -> None:
    if not caller.can_see_organization(organization_id):
        raise NotFound(_("This document does not exist."))
    if not (caller.is_finance or caller.is_customer_admin):
        raise NotAllowed(_("Only finance staff and your company's administrator can see invoices and statements."))


def _requires_finance(caller: Caller) -> None:
    if not caller.is_finance:
        raise NotAllowed(_("This page is for finance staff."))


def parse_month(value: Any, field: str = "month") -> str | None:
    """A month typed as YYYY-MM (or YYYY/MM); empty means none."""
    typed = str(value or "").strip().replace("/", "-")
    if not typed:
        return None
    try:
        statements.month_period(typed)
    except LedgerError:
        raise InvalidInput(_("Give a month as YYYY-MM (e.g. 2026-10)."), field=field) from None
    return typed


def required_month(value: Any, field: str = "month") -> str:
    month = parse_month(value, field)
    if month is None:
        raise InvalidInput(_("Give a month as YYYY-MM (e.g. 2026-10)."), field=field)
    return month


def month_range(month: str) -> tuple[date, date]:
    first, last = statements.month_period(month)
    return first, last + timedelta(days=1)


# --- documents -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DocumentFilters:
    organization_id: int | None = None
    kind: str | None = None
    status: str | None = None
    month: str | None = None
    overdue: bool = False


def document_filters(*, organization: Any = None, kind: Any = None, status: Any = None, month: Any = None,
                     overdue: Any = None) -> DocumentFilters:
    kind = (kind or "").strip() or None
    if kind is not None and kind not in DOCUMENT_KINDS:
        raise InvalidInput(_("Choose a kind of document from the list."), field="kind")
    status = (status or "").strip() or None
    if status is not None and status not in DOCUMENT_STATUSES:
        raise InvalidInput(_("Choose a status from the list."), field="status")
    organization_id = whole_number(organization, "organization", minimum=1, maximum=2**31 - 1, required=False)
    return DocumentFilters(
        organization_id=organization_id, kind=kind, status=status, month=parse_month(month),
        overdue=str(overdue or "").strip() in ("1", "true", "on"),
    )


async def list_documents(caller: Caller, filters: DocumentFilters, cursor: str | None = None,
                         limit: int = invoicing.PAGE_SIZE) -> DocumentPage:
    """Documents newest first: finance sees every organisation's, a customer admin its own."""
    organization_id = filters.organization_id
    if caller.is_customer:
        if organization_id not in (None, caller.organization_id):
            raise NotFound(_("This organisation does not exist."))
        organization_id = caller.organization_id
        _may_see_documents_of(caller, organization_id)
    else:
        _requires_finance(caller)
    if cursor and not (cursor.isascii() and cursor.isdecimal() and len(cursor) <= 10):
        raise InvalidInput(_("This page link is not valid. Please start from the first page."), field="cursor")
    return await invoicing.list_documents(
        organization_id=organization_id, kind=filters.kind, status=filters.status,
        month=month_range(filters.month) if filters.month else None,
        overdue_on=clock.today() if filters.overdue else None, cursor=int(cursor) if cursor else None,
        limit=max(1, min(int(limit), 200)),
    )


async def organization_names(items: list[Any]) -> dict[int, dict[str, Any]]:
    """Code and name of the organisation of each item (documents, purchases), in one query."""
    ids = list({d.organization_id for d in items})
    if not ids:
        return {}
    rows = await Organization.select(Organization.id, Organization.code, Organization.name).where(
        Organization.id.is_in(ids)
    )
    return {r["id"]: r for r in rows}


async def get_document(caller: Caller, document_id: int) -> IssuedDocument:
    try:
        document = await invoicing.get_document(document_id)
    except LedgerError:
        raise NotFound(_("This document does not exist.")) from None
    _may_see_documents_of(caller, document.organization_id)
    return document


async def document_pdf(caller: Caller, document_id: int) -> tuple[IssuedDocument, bytes]:
    """The stored PDF (rendered and stored the first time): every download is byte-identical."""
    await get_document(caller, document_id)
    return await invoicing.pdf_of(document_id)


async def document_html(caller: Caller, document_id: int) -> str:
    """The document as HTML, from the template of its PDF, with what became of it (paid, void,
    replaced) stamped on it; a document just issued carries no stamp."""
    document = await get_document(caller, document_id)
    return documents.render_document_html(
        document.document, status=document.status if document.status != "issued" else None
    )


async def related_documents(caller: Caller, document: IssuedDocument) -> list[IssuedDocument]:
    """The other documents of the same purchase (the invoice and its corrections, the receipt,
    the credit note)."""
    if document.purchase_id is None:
        return []
    return [d for d in await invoicing.documents_of_purchase(document.purchase_id) if d.id != document.id]


async def payments_of(caller: Caller, document: IssuedDocument) -> list[dict[str, Any]]:
    _may_see_documents_of(caller, document.organization_id)
    return await purchases.payments_of(document.id)


async def purchase_of(caller: Caller, document: IssuedDocument) -> PurchaseView | None:
    if document.purchase_id is None:
        return None
    return await purchases.get_purchase(document.purchase_id)


# --- finance's actions ---------------------------------------------------------------------------

async def record_payment(caller: Caller, document_id: int, *, paid_on: Any, amount_jpy: Any, note: Any = "",
                         key: str | None = None) -> IssuedDocument:
    _requires_finance(caller)
    document = await get_document(caller, document_id)
    when = day(paid_on, "paid_on")
    if when is None:
        raise InvalidInput(_("Enter the day the transfer arrived (YYYY/MM/DD)."), field="paid_on")
    amount = whole_number(amount_jpy, "amount_jpy", minimum=1, maximum=purchases.PAYMENT_MAX_JPY)
    try:
        return await purchases.record_payment(
            document.id, paid_on=when, amount_jpy=amount, actor_id=caller.id,
            note=text(note, "note", max_length=REASON_MAX), request_key=request_key(caller, "payment", key),
        )
    except LedgerError as exc:
        raise refused(exc) from exc


async def void_invoice(caller: Caller, document_id: int, *, reason: Any) -> IssuedDocument:
    _requires_finance(caller)
    document = await get_document(caller, document_id)
    try:
        return await purchases.void_invoice(
            document.id, text(reason, "reason", max_length=REASON_MAX, required=True), actor_id=caller.id
        )
    except LedgerError as exc:
        raise refused(exc) from exc


async def correct_invoice(caller: Caller, document_id: int, *, recipient_name: Any, due_on: Any,
                          note: Any = "") -> IssuedDocument:
    _requires_finance(caller)
    document = await get_document(caller, document_id)
    due = day(due_on, "due_on")
    if due is None:
        raise InvalidInput(_("Enter the new due date (YYYY/MM/DD)."), field="due_on")
    try:
        return await purchases.correct_invoice(
            document.id, recipient_name=text(recipient_name, "recipient_name", max_length=200, required=True),
            due_on=due, note=text(note, "note", max_length=REASON_MAX), actor_id=caller.id,
        )
    except LedgerError as exc:
        raise refused(exc) from exc


async def refund_purchase(caller: Caller, purchase_id: int, *, reason: Any) -> purchases.Refund:
    """Take back a paid purchase's unspent points with a credit note; a card payment is then
    refunded through Stripe for the credit note's total (retried with the same key if it fails)."""
    _requires_finance(caller)
    why = text(reason, "reason", max_length=REASON_MAX, required=True)
    try:
        refund = await purchases.refund_purchase(purchase_id, why, actor_id=caller.id)
        purchase = refund.purchase
        if purchase.method == "card" and refund.credit_note is not None and purchase.stripe_refund_id is None:
            await card_payments.refund_card_payment(purchase, refund.credit_note.document.total_jpy, stripe_settings())
    except LedgerError as exc:
        raise refused(exc) from exc
    return refund


# --- the month for the accountant ----------------------------------------------------------------

CSV_COLUMNS = (
    "種別", "番号", "状態", "発行日", "取引日", "支払期日", "得意先コード", "得意先名", "宛名",
    "税抜金額(10%)", "消費税(10%)", "税抜金額(8%)", "消費税(8%)", "税抜合計", "消費税合計", "合計",
    "入金額", "入金日", "訂正・返還元", "無効理由",
)


async def _month_documents(month: str) -> list[IssuedDocument]:
    found, cursor = [], None
    while True:
        page = await invoicing.list_documents(month=month_range(month), cursor=cursor, limit=200)
        found += page.items
        if page.next_cursor is None:
            return list(reversed(found))
        cursor = int(page.next_cursor)


def _by_rate(document: IssuedDocument, rate: int) -> tuple[int | str, int | str]:
    for tax in document.document.taxes:
        if tax.rate == rate:
            return tax.base_jpy, tax.tax_jpy
    return "", ""


async def month_csv(caller: Caller, month: str) -> bytes:
    """Every document issued in the month, oldest first, for the accountant (app/exports.py:
    UTF-8 with a BOM, text that could be a formula defused)."""
    _requires_finance(caller)
    found = await _month_documents(month)
    names = await organization_names(found)
    kinds = {"invoice": "請求書", "receipt": "領収書", "credit_note": "返還請求書"}
    states = {"issued": "発行済", "paid": "入金済", "void": "無効", "replaced": "訂正済"}
    rows = []
    for issued in found:
        d = issued.document
        organization = names.get(issued.organization_id, {})
        rows.append([
            kinds[d.kind], d.number, states[issued.status], d.issued_on.isoformat(), d.transaction_on.isoformat(),
            d.due_on.isoformat() if d.due_on else "", organization.get("code", ""), organization.get("name", ""),
            d.recipient_name, *_by_rate(issued, 10), *_by_rate(issued, 8), d.subtotal_jpy, d.tax_jpy, d.total_jpy,
            issued.paid_jpy if d.kind == "invoice" else "", d.paid_on.isoformat() if d.paid_on else "",
            d.original_number or "", issued.void_reason,
        ])
    return exports.csv_bytes(CSV_COLUMNS, rows)


async def month_zip(caller: Caller, month: str) -> bytes:
    """The PDFs of every document issued in the month, and the month's CSV, in one ZIP."""
    _requires_finance(caller)
    found = await _month_documents(month)
    pdfs = [(issued.number, (await invoicing.pdf_of(issued.id))[1]) for issued in found]
    listing = await month_csv(caller, month)

    def pack() -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for number, pdf in pdfs:
                archive.writestr(f"{month}/{number}.pdf", pdf)
            archive.writestr(f"{month}/documents-{month}.csv", listing)
        return buffer.getvalue()

    return await asyncio.to_thread(pack)


async def payment_count(document_id: int) -> int:
    return await InvoicePayment.count().where(InvoicePayment.document == document_id)


# --- usage statements ----------------------------------------------------------------------------

async def ticket_details(ticket_ids: list[int]) -> dict[int, TicketDetail]:
    """Number, subject and request type of the requests a statement lists (one query)."""
    if not ticket_ids:
        return {}
    rows = await Ticket.select(
        Ticket.id, Ticket.number, Ticket.subject, Ticket.request_type.name_ja.as_alias("request_type")
    ).where(Ticket.id.is_in(ticket_ids))
    return {r["id"]: TicketDetail(number=r["number"], subject=r["subject"], request_type=r["request_type"] or "")
            for r in rows}


async def _statement_organization(caller: Caller, organization_id: int) -> dict[str, Any]:
    _may_see_documents_of(caller, organization_id)
    row = await Organization.select(Organization.id, Organization.name).where(Organization.id == organization_id).first()
    if row is None:
        raise NotFound(_("This organisation does not exist."))
    return row


async def statement_pdf(caller: Caller, organization_id: int, month: str) -> bytes:
    """The usage statement of a month that has ended (issued and stored the first time)."""
    organization = await _statement_organization(caller, organization_id)
    try:
        issuer = await issuer_in_force()
        return await statements.statement_pdf_of(
            organization_id, organization["name"], month, issuer=issuer.issuer, ticket_details=ticket_details
        )
    except LedgerError as exc:
        raise refused(exc) from exc


async def statement_html(caller: Caller, organization_id: int, month: str) -> str:
    """The usage statement as HTML; for the month under way, the figures so far."""
    organization = await _statement_organization(caller, organization_id)
    try:
        issuer = await issuer_in_force()
        statement = await statements.build_statement(
            organization_id, organization["name"], month, issuer=issuer.issuer, ticket_details=ticket_details,
            issued_on=clock.today(),
        )
    except LedgerError as exc:
        raise refused(exc) from exc
    return documents.render_statement_html(statement)


def statement_months(today: date | None = None, count: int = 12) -> list[str]:
    """The months a statement can be asked for, newest first: the month under way and the
    `count` before it."""
    today = today or clock.today()
    months, year, month = [], today.year, today.month
    while len(months) <= count:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months


async def issue_month_statements(month: str, *, workers: int | None = None,
                                 progress=lambda _done, _total: None) -> statements.MonthRun:
    """`kippu statements --month`: every organisation's statement of an ended month, once."""
    organizations = [(r["id"], r["name"]) for r in await Organization.select(Organization.id, Organization.name)
                     .order_by(Organization.id)]
    try:
        issuer = await issuer_in_force()
        return await statements.issue_month(
            month, organizations, issuer=issuer.issuer, ticket_details=ticket_details, workers=workers,
            progress=progress,
        )
    except LedgerError as exc:
        raise refused(exc) from exc


# --- the finance console -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Overdue:
    """Unpaid invoices past their due date, and what is still open on them."""

    invoices: int
    open_jpy: int


async def overdue_invoices(caller: Caller) -> Overdue:
    _requires_finance(caller)
    count, open_jpy = await invoicing.overdue_totals(clock.today())
    return Overdue(invoices=count, open_jpy=open_jpy)


async def organization_choices(caller: Caller) -> list[dict[str, Any]]:
    """Every organisation (id, code, name) by code, for finance's filters."""
    _requires_finance(caller)
    return await Organization.select(Organization.id, Organization.code, Organization.name).order_by(
        Organization.code
    )


@dataclass(frozen=True, slots=True)
class DocumentActions:
    """What finance may do with a document in its present state."""

    record_payment: bool = False
    void: bool = False
    correct: bool = False
    refund: bool = False

    @property
    def any(self) -> bool:
        return self.record_payment or self.void or self.correct or self.refund


def card_refund_pending(purchase: PurchaseView) -> bool:
    """The points of a card purchase were taken back but Stripe has not refunded the money yet
    (it could not be reached): refunding again retries the card refund alone."""
    return purchase.method == "card" and purchase.refunded_points > 0 and purchase.stripe_refund_id is None


def document_actions(document: IssuedDocument, purchase: PurchaseView | None) -> DocumentActions:
    """An unpaid invoice takes payments; with none recorded yet it can also be voided or corrected.
    A paid purchase's unspent points are refunded from its paid invoice or its receipt, once."""
    open_invoice = document.kind == "invoice" and document.status == "issued"
    untouched = open_invoice and document.paid_jpy == 0
    refundable = (
        purchase is not None and purchase.status == "paid"
        and (purchase.refunded_at is None or card_refund_pending(purchase))
        and document.kind in ("invoice", "receipt") and document.status in ("issued", "paid")
    )
    return DocumentActions(record_payment=open_invoice, void=untouched, correct=untouched, refund=refundable)


def relation_label(document: IssuedDocument, other: IssuedDocument) -> str:
    """How another document of the same purchase stands to this one."""
    if other.id == document.original_id:
        if document.kind == "credit_note":
            return _("The document this one credits")
        return _("The invoice this one corrects")
    if other.original_id == document.id:
        return _("Its credit note") if other.kind == "credit_note" else _("Its corrected invoice")
    return _("Of the same purchase")


async def payments_with_names(caller: Caller, document: IssuedDocument) -> list[dict[str, Any]]:
    """The payments recorded against a document, each with the name of who recorded it."""
    rows = await payments_of(caller, document)
    ids = list({r["recorded_by"] for r in rows if r["recorded_by"]})
    names = {}
    if ids:
        names = {u["id"]: u["name"] for u in await User.select(User.id, User.name).where(User.id.is_in(ids))}
    return [{**r, "paid_on": invoicing.as_date(r["paid_on"]), "recorded_by_name": names.get(r["recorded_by"], "")}
            for r in rows]


@dataclass(frozen=True, slots=True)
class RefundPreview:
    """What refunding a paid purchase would do now: the lot's unspent points come back and the
    credit note gives back their price with its tax; held points stay with their requests."""

    points: int
    held_points: int
    credit_jpy: int
    by_card: bool
    card_refund_pending: bool = False


async def refund_preview(caller: Caller, purchase: PurchaseView | None) -> RefundPreview | None:
    """None when the purchase cannot be refunded (not paid, or refunded already)."""
    _requires_finance(caller)
    if purchase is None or purchase.status != "paid" or purchase.lot_id is None:
        return None
    pending = card_refund_pending(purchase)
    if purchase.refunded_at is not None and not pending:
        return None
    today = clock.today()
    if pending:
        points, held = purchase.refunded_points, 0
    else:
        balance = await ledger.balance(purchase.organization_id, today=today)
        lot = next((lot for lot in balance.lots if lot.id == purchase.lot_id), None)
        lapsed = lot is not None and lot.expires_on is not None and lot.expires_on < today
        points = lot.remaining if lot is not None and not lapsed else 0
        held = lot.held if lot is not None else 0
    settings = await current_issuer()
    base = points * purchase.yen_per_point
    # The credit note's tax, rounded as billing.invoicing will round it.
    taxes = tax_by_rate([(purchase.tax_rate, base)], settings.tax_rounding if settings else "down")
    return RefundPreview(
        points=points, held_points=held, credit_jpy=base + sum(t.tax_jpy for t in taxes.values()),
        by_card=purchase.method == "card", card_refund_pending=pending,
    )


async def refund_purchase_of(caller: Caller, document_id: int, *, reason: Any) -> purchases.Refund:
    """Refund the purchase a document belongs to (from its invoice's or receipt's page)."""
    _requires_finance(caller)
    document = await get_document(caller, document_id)
    if document.purchase_id is None:
        raise Conflict(_("{number} belongs to no purchase, so there is nothing to refund.", number=document.number))
    return await refund_purchase(caller, document.purchase_id, reason=reason)


@dataclass(frozen=True, slots=True)
class DocumentRows:
    """A page of the documents list with the organisation (code, name) of each document."""

    page: DocumentPage
    organizations: dict[int, dict[str, Any]]


async def document_rows(caller: Caller, filters: DocumentFilters, cursor: str | None = None) -> DocumentRows:
    _requires_finance(caller)
    page = await list_documents(caller, filters, cursor)
    return DocumentRows(page=page, organizations=await organization_names(list(page.items)))


@dataclass(frozen=True, slots=True)
class DocumentDetails:
    """Everything a document's page shows: the document, its organisation, the other documents
    of its purchase (with how each relates to it), its payments, its purchase, what finance may
    do with it, and what a refund would give back."""

    document: IssuedDocument
    organization: dict[str, Any]
    related: list[tuple[str, IssuedDocument]]
    payments: list[dict[str, Any]]
    purchase: PurchaseView | None
    actions: DocumentActions
    refund: RefundPreview | None


async def document_details(caller: Caller, document_id: int) -> DocumentDetails:
    _requires_finance(caller)
    document = await get_document(caller, document_id)
    purchase = await purchase_of(caller, document)
    names = await organization_names([document])
    return DocumentDetails(
        document=document, organization=names.get(document.organization_id, {}),
        related=[(relation_label(document, other), other) for other in await related_documents(caller, document)],
        payments=await payments_with_names(caller, document), purchase=purchase,
        actions=document_actions(document, purchase), refund=await refund_preview(caller, purchase),
    )


# Purchases by what finance looks for (English source text, translated where shown).
PURCHASE_FILTERS = {
    "pending": N_("Card checkouts not paid yet"),
    "awaiting_payment": N_("Waiting for the bank transfer"),
    "paid": N_("Paid, not refunded"),
    "refunded": N_("Refunded"),
    "closed": N_("Failed, expired or cancelled"),
}
_PURCHASE_QUERIES: dict[str, dict[str, Any]] = {
    "pending": {"statuses": ("pending", "processing")},
    "awaiting_payment": {"statuses": ("awaiting_payment",)},
    "paid": {"statuses": ("paid",), "refunded": False},
    "refunded": {"refunded": True},
    "closed": {"statuses": ("failed", "expired", "cancelled")},
}


def purchase_filter(value: Any) -> str | None:
    chosen = str(value or "").strip() or None
    if chosen is not None and chosen not in PURCHASE_FILTERS:
        raise InvalidInput(_("Choose a status from the list."), field="status")
    return chosen


def _cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    if not (cursor.isascii() and cursor.isdecimal() and len(cursor) <= 10):
        raise InvalidInput(_("This page link is not valid. Please start from the first page."), field="cursor")
    return int(cursor)


async def list_purchases(caller: Caller, status: str | None, cursor: str | None = None,
                         limit: int = invoicing.PAGE_SIZE) -> PurchasePage:
    """Every organisation's purchases, newest first, filtered by what became of them."""
    _requires_finance(caller)
    return await purchases.list_purchases(
        **_PURCHASE_QUERIES.get(status or "", {}), cursor=_cursor(cursor), limit=max(1, min(int(limit), 200))
    )


@dataclass(frozen=True, slots=True)
class PurchaseRows:
    """A page of the purchases list with each purchase's organisation and documents."""

    page: PurchasePage
    organizations: dict[int, dict[str, Any]]
    documents: dict[int, list[IssuedDocument]]


async def purchase_rows(caller: Caller, status: str | None, cursor: str | None = None) -> PurchaseRows:
    page = await list_purchases(caller, status, cursor)
    return PurchaseRows(
        page=page, organizations=await organization_names(list(page.items)),
        documents=await invoicing.documents_of_purchases([p.id for p in page.items]),
    )


# --- statements for finance ----------------------------------------------------------------------

def last_ended_month(today: date | None = None) -> str:
    """The month before this one: the newest whose statements can be issued."""
    first = (today or clock.today()).replace(day=1) - timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


def month_has_ended(month: str) -> bool:
    return statements.has_ended(month, clock.today())


async def statement_organizations(caller: Caller, cursor: str | None = None) -> people.Page:
    """The organisations whose statements finance can open, newest first, a page at a time."""
    _requires_finance(caller)
    return await people.list_organizations(caller, cursor=cursor or None)


# --- the issuer (administration) -----------------------------------------------------------------

ROUNDING = {"down": N_("Round down"), "up": N_("Round up"), "half_up": N_("Round half up")}


def rounding_label(mode: str) -> str:
    return _(ROUNDING.get(mode, mode))


@dataclass(frozen=True, slots=True)
class IssuerProfileView:
    """The issuer in force and when and by whom it was last changed."""

    settings: IssuerSettings
    changed_at: datetime | None
    changed_by: str | None


def _requires_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise NotAllowed(_("This page is for administrators."))


async def issuer_ready() -> bool:
    """Whether points can be sold: documents need the issuer's name and registration number."""
    return await current_issuer() is not None


async def issuer_profile(caller: Caller) -> IssuerProfileView | None:
    _requires_admin(caller)
    # Joined here: billing's issuer profile keeps only the user's id (billing does not know app's users).
    rows = await IssuerProfile.raw(
        "SELECT p.*, u.name AS changed_by FROM issuer_profiles p LEFT JOIN users u ON u.id = p.updated_by "
        "ORDER BY p.id DESC LIMIT 1"
    )
    if not rows:
        return None
    row = rows[0]
    return IssuerProfileView(
        settings=IssuerSettings(
            name=row["name"], registration_number=row["registration_number"], address=row["address"],
            phone=row["phone"], email=row["email"], bank_account=row["bank_account"],
            payment_terms_days=row["payment_terms_days"], tax_rounding=row["tax_rounding"],
        ),
        changed_at=invoicing.as_datetime(row["created_at"]), changed_by=row["changed_by"],
    )


async def save_issuer(caller: Caller, values: Mapping[str, Any]) -> IssuerSettings:
    """Check and save the issuer as typed into the form (a new version: earlier documents keep
    the issuer they were issued with)."""
    _requires_admin(caller)
    email = str(values.get("email") or "").strip()
    rounding = str(values.get("tax_rounding") or "").strip() or "down"
    if rounding not in ROUNDING:
        raise InvalidInput(_("Choose how consumption tax is rounded."), field="tax_rounding")
    settings = IssuerSettings(
        name=str(values.get("name") or ""), registration_number=str(values.get("registration_number") or ""),
        address=str(values.get("address") or ""), phone=str(values.get("phone") or ""),
        email=people.normalize_email(email) if email else "", bank_account=str(values.get("bank_account") or ""),
        payment_terms_days=whole_number(values.get("payment_terms_days"), "payment_terms_days"),
        tax_rounding=rounding,
    )
    try:
        return await store_issuer(settings, actor_id=caller.id)
    except LedgerError as exc:
        raise refused(exc) from exc
