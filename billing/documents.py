"""PDF documents from HTML: the price table, invoices (適格請求書), receipts, credit notes and
monthly usage statements.

A document is rendered from a Jinja template in templates/documents/ (the same template is what
the browser shows as HTML) with one of the plain values below, and laid out by WeasyPrint with the
fonts the template's CSS names (a Japanese font such as IPAexGothic or Noto Sans CJK JP, so no
tofu), subset by HarfBuzz, which keeps a Japanese page at a fraction of a second. Rendering is CPU
work: call it off the event loop (`await asyncio.to_thread(render_pdf, html)`).

Points and yen are integers; tax rates are whole percents (10, 8).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from weasyprint import HTML

DocumentKind = Literal["invoice", "receipt", "credit_note"]


@dataclass(frozen=True)
class Issuer:
    """The vendor as it appears on its documents (発行者)."""

    name: str
    registration_number: str  # 登録番号: "T" and 13 digits
    address: str = ""
    phone: str = ""
    email: str = ""
    bank_account: str = ""  # 振込先, one or more lines (invoices paid by bank transfer)


@dataclass(frozen=True)
class Line:
    """One line of a document: `quantity` × `unit_price_jpy` (tax-exclusive) = `amount_jpy`."""

    description: str
    quantity: int
    unit_price_jpy: int
    amount_jpy: int
    tax_rate: int


@dataclass(frozen=True)
class TaxTotal:
    """The lines at one tax rate: their tax-exclusive total and its tax, rounded once."""

    rate: int
    base_jpy: int
    tax_jpy: int


@dataclass(frozen=True)
class Document:
    """An invoice, a receipt or a credit note as issued (an issued document never changes).

    A credit note (適格返還請求書) and a corrected invoice name the document they correct in
    `original_number`; amounts are always positive (a credit note's are what is given back).
    """

    kind: DocumentKind
    number: str
    issued_on: date
    transaction_on: date  # 取引年月日: the sale, the payment or the refund
    recipient_name: str
    issuer: Issuer
    lines: tuple[Line, ...]
    taxes: tuple[TaxTotal, ...]
    subtotal_jpy: int
    tax_jpy: int
    total_jpy: int
    due_on: date | None = None  # invoices: the payment deadline
    paid_on: date | None = None  # receipts: the day the payment was received
    payment_method: str = ""  # receipts: "card" or "bank_transfer"
    original_number: str | None = None
    original_issued_on: date | None = None
    note: str = ""


@dataclass(frozen=True)
class StatementLine:
    """One change of the points the organisation owns (available + held) during the month.

    `points` is signed: purchases and grants add, consumption, expiry and refunds take away.
    Holds and releases move points between available and held and are not lines.
    """

    on: date
    kind: Literal["purchase", "grant", "capture", "expire", "refund", "adjustment"]
    description: str
    points: int
    ticket_number: str | None = None
    subject: str | None = None
    request_type: str | None = None


@dataclass(frozen=True)
class ExpiringLot:
    expires_on: date
    points: int


@dataclass(frozen=True)
class Statement:
    """A monthly usage statement (利用明細書) of one organisation.

    closing_points = opening_points + purchased_points + granted_points + adjusted_points
                     - consumed_points - expired_points - refunded_points
    (adjusted_points is signed; the others are positive). `held_points` is the part of the
    closing balance held by open requests at the end of the month.
    """

    organization_name: str
    month: str  # "2026-10"
    period_start: date
    period_end: date  # the month's last day
    issued_on: date
    issuer: Issuer
    opening_points: int
    purchased_points: int
    granted_points: int
    adjusted_points: int
    consumed_points: int
    expired_points: int
    refunded_points: int
    closing_points: int
    held_points: int
    lines: tuple[StatementLine, ...]
    expiring_soon: tuple[ExpiringLot, ...]  # lots with points expiring in the 90 days after period_end


def render_pdf(html: str, *, base_url: str | None = None, created: datetime | None = None) -> bytes:
    """The PDF of an HTML document. `created` fixes the PDF's creation date, so re-rendering a
    stored document gives the same bytes (without it the document carries no date)."""
    document = HTML(string=html, base_url=base_url).render()
    document.metadata.created = created.isoformat() if created else None
    document.metadata.modified = document.metadata.created
    return document.write_pdf()
