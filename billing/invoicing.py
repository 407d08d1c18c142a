"""Issuing documents: invoices (適格請求書), receipts (領収書) and credit notes (適格返還請求書).

A document gets the next number of its kind and year (INV-2026-000001, RCT-…, CRN-…) from a
counter row locked in the issuing transaction, so numbers are sequential, unique and never
reused (a voided invoice keeps its number). Consumption tax is computed per document and per
rate, rounded once per rate by the issuer's rounding mode. What a document says never changes
after it is issued (database triggers refuse it); its PDF is rendered once, stored with its
SHA-256, and every later download sends those same bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from billing import clock
from billing.documents import Document, Issuer, Line, TaxTotal, document_pdf
from billing.errors import N_, InvalidValue, UnknownDocument
from billing.issuer import IssuerSettings
from billing.tables import BillingDocument, DocumentCounter, DocumentLine, DocumentTax
from billing.transactions import for_update, write_transaction
from pricing.rules import tax_by_rate

PREFIX = {"invoice": "INV", "receipt": "RCT", "credit_note": "CRN"}
PAGE_SIZE = 50


@dataclass(frozen=True)
class IssuedDocument:
    """A document as stored: what it says (`document`) and what has become of it since."""

    id: int
    organization_id: int
    purchase_id: int | None
    original_id: int | None
    status: str
    paid_jpy: int
    void_reason: str
    voided_at: datetime | None
    created_at: datetime
    has_pdf: bool
    document: Document

    @property
    def kind(self) -> str:
        return self.document.kind

    @property
    def number(self) -> str:
        return self.document.number

    @property
    def open_jpy(self) -> int:
        """What is still to be paid on an invoice."""
        return self.document.total_jpy - self.paid_jpy if self.kind == "invoice" else 0

    def overdue(self, today: date) -> bool:
        due = self.document.due_on
        return self.kind == "invoice" and self.status == "issued" and due is not None and due < today


@dataclass(frozen=True)
class DocumentPage:
    items: tuple[IssuedDocument, ...]
    next_cursor: str | None


def document_number(kind: str, year: int, sequence: int) -> str:
    return f"{PREFIX[kind]}-{year}-{sequence:06d}"


async def _next_sequence(kind: str, year: int) -> int:
    """The next number of `kind` in `year`, in the caller's transaction (the counter row stays
    locked until it commits, so two issuers never get the same number and a rollback gives the
    number back unused)."""
    await DocumentCounter.raw(
        "INSERT INTO billing_document_counters (kind, year, last_sequence) VALUES ({}, {}, 0) "
        "ON CONFLICT (kind, year) DO NOTHING", kind, year,
    )
    rows = await DocumentCounter.raw(
        "UPDATE billing_document_counters SET last_sequence = last_sequence + 1 "
        "WHERE kind = {} AND year = {} RETURNING last_sequence", kind, year,
    )
    return rows[0]["last_sequence"]


def taxes_of(lines: Sequence[Line], rounding: str) -> tuple[TaxTotal, ...]:
    return tuple(
        TaxTotal(rate=t.rate, base_jpy=t.base_jpy, tax_jpy=t.tax_jpy)
        for t in tax_by_rate([(line.tax_rate, line.amount_jpy) for line in lines], rounding).values()
    )


async def issue(
    kind: str,
    *,
    organization_id: int,
    recipient_name: str,
    issuer: IssuerSettings,
    lines: Sequence[Line],
    issued_on: date,
    transaction_on: date,
    purchase_id: int | None = None,
    original_id: int | None = None,
    due_on: date | None = None,
    paid_on: date | None = None,
    payment_method: str = "",
    note: str = "",
    issued_by: int | None = None,
) -> int:
    """Issue a document (in the caller's transaction, if any); returns its id."""
    if not lines:
        raise InvalidValue(N_("A document needs at least one line."), field="lines")
    taxes = taxes_of(lines, issuer.tax_rounding)
    subtotal = sum(line.amount_jpy for line in lines)
    tax = sum(t.tax_jpy for t in taxes)
    async with write_transaction():
        sequence = await _next_sequence(kind, issued_on.year)
        rows = await BillingDocument.insert(
            BillingDocument(
                kind=kind, number=document_number(kind, issued_on.year, sequence), year=issued_on.year,
                sequence=sequence, organization=organization_id, purchase=purchase_id, original=original_id,
                status="issued", issued_on=issued_on, transaction_on=transaction_on, due_on=due_on,
                paid_on=paid_on, payment_method=payment_method, recipient_name=recipient_name,
                issuer_name=issuer.name, issuer_registration_number=issuer.registration_number,
                issuer_address=issuer.address, issuer_phone=issuer.phone, issuer_email=issuer.email,
                issuer_bank_account=issuer.bank_account if kind == "invoice" else "",
                subtotal_jpy=subtotal, tax_jpy=tax, total_jpy=subtotal + tax, paid_jpy=0, note=note,
                issued_by=issued_by, created_at=clock.now(),
            )
        )
        document_id = rows[0]["id"]
        await DocumentLine.insert(*[
            DocumentLine(
                document=document_id, position=position, description=line.description, quantity=line.quantity,
                unit_price_jpy=line.unit_price_jpy, amount_jpy=line.amount_jpy, tax_rate=line.tax_rate,
            )
            for position, line in enumerate(lines, start=1)
        ])
        await DocumentTax.insert(*[
            DocumentTax(document=document_id, tax_rate=t.rate, base_jpy=t.base_jpy, tax_jpy=t.tax_jpy) for t in taxes
        ])
    return document_id


# --- reading ---------------------------------------------------------------------------------

_COLUMNS = (
    "d.id, d.kind, d.number, d.organization, d.purchase, d.original, d.status, d.issued_on, d.transaction_on, "
    "d.due_on, d.paid_on, d.payment_method, d.recipient_name, d.issuer_name, d.issuer_registration_number, "
    "d.issuer_address, d.issuer_phone, d.issuer_email, d.issuer_bank_account, d.subtotal_jpy, d.tax_jpy, "
    "d.total_jpy, d.paid_jpy, d.note, d.void_reason, d.voided_at, d.created_at, "
    "d.pdf_sha256 IS NOT NULL AS has_pdf, o.number AS original_number, o.issued_on AS original_issued_on"
)


def as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _details(ids: list[int]) -> tuple[dict[int, list[Line]], dict[int, list[TaxTotal]]]:
    lines: dict[int, list[Line]] = {i: [] for i in ids}
    taxes: dict[int, list[TaxTotal]] = {i: [] for i in ids}
    if not ids:
        return lines, taxes
    for row in await DocumentLine.select().where(DocumentLine.document.is_in(ids)).order_by(DocumentLine.position):
        lines[row["document"]].append(Line(
            description=row["description"], quantity=row["quantity"], unit_price_jpy=row["unit_price_jpy"],
            amount_jpy=row["amount_jpy"], tax_rate=row["tax_rate"],
        ))
    for row in await DocumentTax.select().where(DocumentTax.document.is_in(ids)).order_by(DocumentTax.tax_rate):
        taxes[row["document"]].append(TaxTotal(rate=row["tax_rate"], base_jpy=row["base_jpy"], tax_jpy=row["tax_jpy"]))
    return lines, taxes


async def _documents(where: str, args: Sequence[Any], limit: int | None = None) -> list[IssuedDocument]:
    sql = (
        f"SELECT {_COLUMNS} FROM billing_documents d LEFT JOIN billing_documents o ON o.id = d.original "
        f"WHERE {where} ORDER BY d.id DESC" + (f" LIMIT {int(limit)}" if limit else "")
    )
    rows = await BillingDocument.raw(sql, *args)
    lines, taxes = await _details([r["id"] for r in rows])
    return [
        IssuedDocument(
            id=r["id"], organization_id=r["organization"], purchase_id=r["purchase"], original_id=r["original"],
            status=r["status"], paid_jpy=r["paid_jpy"], void_reason=r["void_reason"],
            voided_at=as_datetime(r["voided_at"]), created_at=as_datetime(r["created_at"]),
            has_pdf=bool(r["has_pdf"]),
            document=Document(
                kind=r["kind"], number=r["number"], issued_on=as_date(r["issued_on"]),
                transaction_on=as_date(r["transaction_on"]), recipient_name=r["recipient_name"],
                issuer=Issuer(
                    name=r["issuer_name"], registration_number=r["issuer_registration_number"],
                    address=r["issuer_address"], phone=r["issuer_phone"], email=r["issuer_email"],
                    bank_account=r["issuer_bank_account"],
                ),
                lines=tuple(lines[r["id"]]), taxes=tuple(taxes[r["id"]]), subtotal_jpy=r["subtotal_jpy"],
                tax_jpy=r["tax_jpy"], total_jpy=r["total_jpy"], due_on=as_date(r["due_on"]),
                paid_on=as_date(r["paid_on"]), payment_method=r["payment_method"],
                original_number=r["original_number"], original_issued_on=as_date(r["original_issued_on"]),
                note=r["note"],
            ),
        )
        for r in rows
    ]


async def get_document(document_id: int, *, lock: bool = False) -> IssuedDocument:
    """One document; with `lock`, its row is locked for the caller's transaction."""
    if lock:
        rows = await BillingDocument.raw("SELECT id FROM billing_documents WHERE id = {}" + for_update(), document_id)
        if not rows:
            raise UnknownDocument(N_("There is no document {id}."), id=document_id)
    found = await _documents("d.id = {}", [document_id])
    if not found:
        raise UnknownDocument(N_("There is no document {id}."), id=document_id)
    return found[0]


async def documents_of_purchase(purchase_id: int) -> list[IssuedDocument]:
    """The documents of a purchase, newest first."""
    return await _documents("d.purchase = {}", [purchase_id])


async def documents_of_purchases(purchase_ids: Sequence[int]) -> dict[int, list[IssuedDocument]]:
    """The documents of each of several purchases (newest first), in one query."""
    ids = list(dict.fromkeys(purchase_ids))
    found: dict[int, list[IssuedDocument]] = {i: [] for i in ids}
    if not ids:
        return found
    for document in await _documents(f"d.purchase IN ({', '.join('{}' for _ in ids)})", ids):
        found[document.purchase_id].append(document)
    return found


async def list_documents(
    *,
    organization_id: int | None = None,
    kind: str | None = None,
    status: str | None = None,
    month: tuple[date, date] | None = None,
    overdue_on: date | None = None,
    cursor: int | None = None,
    limit: int = PAGE_SIZE,
) -> DocumentPage:
    """Documents newest first, a page at a time. `month` is (first day, first day of the next
    month) of the issue date; `overdue_on` keeps the unpaid invoices due before that day."""
    conditions, args = ["1 = 1"], []
    if organization_id is not None:
        conditions.append("d.organization = {}")
        args.append(organization_id)
    if kind:
        conditions.append("d.kind = {}")
        args.append(kind)
    if status:
        conditions.append("d.status = {}")
        args.append(status)
    if month:
        conditions.append("d.issued_on >= {} AND d.issued_on < {}")
        args += list(month)
    if overdue_on:
        conditions.append("d.kind = 'invoice' AND d.status = 'issued' AND d.due_on < {}")
        args.append(overdue_on)
    if cursor is not None:
        conditions.append("d.id < {}")
        args.append(cursor)
    found = await _documents(" AND ".join(conditions), args, limit=limit + 1)
    items = tuple(found[:limit])
    return DocumentPage(items=items, next_cursor=str(items[-1].id) if len(found) > limit else None)


async def overdue_totals(today: date) -> tuple[int, int]:
    """How many invoices are unpaid past their due date on `today`, and how much is open on them."""
    rows = await BillingDocument.raw(
        "SELECT COUNT(*) AS invoices, COALESCE(SUM(total_jpy - paid_jpy), 0) AS open_jpy FROM billing_documents "
        "WHERE kind = 'invoice' AND status = 'issued' AND due_on < {}", today,
    )
    return int(rows[0]["invoices"]), int(rows[0]["open_jpy"])


# --- the stored PDF ----------------------------------------------------------------------------

async def pdf_of(document_id: int) -> tuple[IssuedDocument, bytes]:
    """The document and its PDF: the stored bytes, or — the first time — rendered, stored with
    their SHA-256 and returned. Two first downloads at once store one PDF (the second keeps the
    first's bytes), so every download of a document is byte-identical."""
    issued = await get_document(document_id)
    rows = await BillingDocument.raw("SELECT pdf FROM billing_documents WHERE id = {}", document_id)
    if rows[0]["pdf"] is not None:
        return issued, bytes(rows[0]["pdf"])
    pdf = await asyncio.to_thread(document_pdf, issued.document, issued.created_at)
    await BillingDocument.raw(
        "UPDATE billing_documents SET pdf = {}, pdf_sha256 = {} WHERE id = {} AND pdf IS NULL",
        pdf, hashlib.sha256(pdf).hexdigest(), document_id,
    )
    rows = await BillingDocument.raw("SELECT pdf FROM billing_documents WHERE id = {}", document_id)
    return issued, bytes(rows[0]["pdf"])


async def stored_sha256(document_id: int) -> str | None:
    rows = await BillingDocument.raw("SELECT pdf_sha256 FROM billing_documents WHERE id = {}", document_id)
    if not rows:
        raise UnknownDocument(N_("There is no document {id}."), id=document_id)
    return rows[0]["pdf_sha256"]
