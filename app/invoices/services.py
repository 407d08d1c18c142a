"""Documents as people use them: finance's invoices, receipts and credit notes (lists, payments,
voids, corrections, refunds, the month's ZIP and the accountant's CSV), the customer admin's own
documents, and the monthly usage statements.

Finance and administrators see every organisation's documents; a customer admin only its own
company's (another company's do not exist: 404); members and agents have no documents.
"""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from app.accounts.caller import Caller
from app.accounts.tables import Organization
from app.errors import InvalidInput, NotAllowed, NotFound, from_domain
from app.i18n import _
from app.points.services import day, text, whole_number
from app.purchases.services import stripe_settings
from app.tickets.tables import RequestType, Ticket
from billing import card_payments, clock, documents, invoicing, purchases, statements
from billing.errors import LedgerError
from billing.invoicing import DocumentPage, IssuedDocument
from billing.issuer import issuer_in_force
from billing.purchases import REASON_MAX, PurchaseView
from billing.statements import TicketDetail
from billing.tables import DOCUMENT_KINDS, DOCUMENT_STATUSES, InvoicePayment

KINDS = {"invoice": "Invoice", "receipt": "Receipt", "credit_note": "Credit note"}
STATUSES = {"issued": "Issued", "paid": "Paid", "void": "Void", "replaced": "Replaced by a corrected invoice"}


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


async def organization_names(items: list[IssuedDocument]) -> dict[int, dict[str, Any]]:
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
    """The document as HTML, from the template of its PDF, with its status stamped on it."""
    document = await get_document(caller, document_id)
    return documents.render_document_html(document.document, status=document.status)


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
            note=text(note, "note", max_length=REASON_MAX), request_key=f"{caller.id}:{key}" if key else None,
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


async def month_csv(caller: Caller, month: str) -> str:
    """Every document issued in the month, oldest first, for the accountant (UTF-8 with a BOM,
    which Excel needs to read Japanese)."""
    _requires_finance(caller)
    found = await _month_documents(month)
    names = await organization_names(found)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    kinds = {"invoice": "請求書", "receipt": "領収書", "credit_note": "返還請求書"}
    states = {"issued": "発行済", "paid": "入金済", "void": "無効", "replaced": "訂正済"}
    for issued in found:
        d = issued.document
        organization = names.get(issued.organization_id, {})
        writer.writerow([
            kinds[d.kind], d.number, states[issued.status], d.issued_on.isoformat(), d.transaction_on.isoformat(),
            d.due_on.isoformat() if d.due_on else "", organization.get("code", ""), organization.get("name", ""),
            d.recipient_name, *_by_rate(issued, 10), *_by_rate(issued, 8), d.subtotal_jpy, d.tax_jpy, d.total_jpy,
            issued.paid_jpy if d.kind == "invoice" else "", d.paid_on.isoformat() if d.paid_on else "",
            d.original_number or "", issued.void_reason,
        ])
    return "\ufeff" + out.getvalue()


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
            archive.writestr(f"{month}/documents-{month}.csv", listing.encode("utf-8"))
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
    for _ in range(count + 1):
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
