"""What the invoices API returns (and accepts for a payment)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.openapi import json_int
from billing.invoicing import IssuedDocument
from billing.purchases import PAYMENT_MAX_JPY, REASON_MAX


DocumentKind = Literal["invoice", "receipt", "credit_note"]  # billing.tables.DOCUMENT_KINDS
DocumentStatus = Literal["issued", "paid", "void", "replaced"]  # billing.tables.DOCUMENT_STATUSES


class DocumentLineRead(BaseModel):
    description: str
    quantity: int
    unit_price_jpy: int = Field(description="Tax-exclusive")
    amount_jpy: int
    tax_rate: int


class TaxRead(BaseModel):
    rate: int = Field(description="Consumption tax rate in percent")
    base_jpy: int = Field(description="Tax-exclusive total of the lines at this rate")
    tax_jpy: int = Field(description="Consumption tax at this rate, rounded once")


class DocumentRead(BaseModel):
    id: int
    kind: DocumentKind
    number: str
    status: DocumentStatus
    organization: int
    purchase: int | None
    recipient_name: str
    issued_on: date
    transaction_on: date
    due_on: date | None
    paid_on: date | None
    issuer_name: str
    registration_number: str
    lines: list[DocumentLineRead]
    taxes: list[TaxRead]
    subtotal_jpy: int
    tax_jpy: int
    total_jpy: int
    paid_jpy: int
    original_number: str | None
    void_reason: str
    pdf_sha256: str | None = Field(description="SHA-256 of the stored PDF (null until first downloaded)")

    @classmethod
    def of(cls, issued: IssuedDocument, sha256: str | None = None) -> DocumentRead:
        d = issued.document
        return cls(
            id=issued.id, kind=d.kind, number=d.number, status=issued.status, organization=issued.organization_id,
            purchase=issued.purchase_id, recipient_name=d.recipient_name, issued_on=d.issued_on,
            transaction_on=d.transaction_on, due_on=d.due_on, paid_on=d.paid_on, issuer_name=d.issuer.name,
            registration_number=d.issuer.registration_number,
            lines=[DocumentLineRead(description=line.description, quantity=line.quantity,
                                    unit_price_jpy=line.unit_price_jpy, amount_jpy=line.amount_jpy,
                                    tax_rate=line.tax_rate) for line in d.lines],
            taxes=[TaxRead(rate=t.rate, base_jpy=t.base_jpy, tax_jpy=t.tax_jpy) for t in d.taxes],
            subtotal_jpy=d.subtotal_jpy, tax_jpy=d.tax_jpy, total_jpy=d.total_jpy, paid_jpy=issued.paid_jpy,
            original_number=d.original_number, void_reason=issued.void_reason, pdf_sha256=sha256,
        )


class DocumentPageRead(BaseModel):
    items: list[DocumentRead]
    next_cursor: str | None


class PaymentCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    # A date arrives in JSON as text (YYYY-MM-DD): strict for everything else, not for it.
    paid_on: Annotated[date, Field(strict=False, description="The day the transfer arrived (YYYY-MM-DD)")]
    amount_jpy: json_int(ge=1, le=PAYMENT_MAX_JPY)
    note: Annotated[str, Field(max_length=REASON_MAX)] = ""
