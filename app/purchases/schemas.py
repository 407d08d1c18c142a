"""What the purchases API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.openapi import json_int
from app.purchases.services import QUANTITY_MAX
from billing.purchases import RECIPIENT_MAX, PurchaseView


class PurchaseCreate(BaseModel):
    # Strict: "5" is not a quantity; unknown fields are refused by name.
    model_config = ConfigDict(strict=True, extra="forbid")

    bundle: Annotated[str, Field(min_length=1, max_length=32, description="A bundle code from the price table")]
    quantity: json_int(ge=1, le=QUANTITY_MAX, description="How many bundles")
    method: Literal["card", "invoice"]
    recipient_name: Annotated[str, Field(min_length=1, max_length=RECIPIENT_MAX,
                                         description="Whom the documents are addressed to (default: the organisation)")] | None = None


class PurchaseCreated(BaseModel):
    purchase_id: int
    status: str
    points: int
    total_jpy: int
    checkout_url: str | None = Field(default=None, description="Card: where the customer pays")
    invoice_id: int | None = Field(default=None, description="Invoice: the invoice issued for the purchase")


class PurchaseRead(BaseModel):
    id: int
    organization: int
    bundle: str
    quantity: int
    points: int
    price_jpy: int = Field(description="Tax-exclusive")
    tax_rate: int
    tax_jpy: int
    total_jpy: int
    method: str
    status: str
    checkout_url: str | None
    paid_at: datetime | None
    refunded_points: int
    created_at: datetime
    documents: list[int] = Field(description="Ids of the purchase's invoices, receipts and credit notes")

    @classmethod
    def of(cls, purchase: PurchaseView, document_ids: list[int]) -> PurchaseRead:
        return cls(
            id=purchase.id, organization=purchase.organization_id, bundle=purchase.bundle_code,
            quantity=purchase.quantity, points=purchase.points, price_jpy=purchase.price_jpy,
            tax_rate=purchase.tax_rate, tax_jpy=purchase.tax_jpy, total_jpy=purchase.total_jpy,
            method=purchase.method, status=purchase.status,
            checkout_url=purchase.checkout_url if purchase.status == "pending" and purchase.checkout_url else None,
            paid_at=purchase.paid_at, refunded_points=purchase.refunded_points, created_at=purchase.created_at,
            documents=document_ids,
        )
