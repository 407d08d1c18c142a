"""The points API's shapes: the price table, a balance, the ledger, an adjustment."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.openapi import json_int
from app.points.services import HistoryEntry
from billing.ledger import Balance, Posted
from pricing.rules import Bundle, PriceList, RequestTypePrice


class LocalizedText(BaseModel):
    ja: str
    en: str


class OverageRead(BaseModel):
    """Work beyond what one request covers: each further block (or part) costs `points_per_block`."""

    included_minutes: int
    block_minutes: int
    points_per_block: int


class RequestTypePriceRead(BaseModel):
    code: str
    name: LocalizedText
    points: int
    scope: LocalizedText
    overage: OverageRead | None

    @classmethod
    def of(cls, price: RequestTypePrice) -> RequestTypePriceRead:
        overage = None
        if price.has_overage:
            overage = OverageRead(
                included_minutes=price.included_minutes, block_minutes=price.block_minutes,
                points_per_block=price.points_per_block,
            )
        return cls(
            code=price.code, name=LocalizedText(ja=price.name_ja, en=price.name_en), points=price.points,
            scope=LocalizedText(ja=price.scope_ja, en=price.scope_en), overage=overage,
        )


class PrioritySurchargeRead(BaseModel):
    priority: str
    points: int


class BundleRead(BaseModel):
    code: str
    name: LocalizedText
    points: int
    price_jpy: int = Field(description="Price of one bundle in yen, tax-exclusive")
    tax_rate: int = Field(description="Consumption tax rate in percent")
    validity_months: int
    min_quantity: int
    max_quantity: int | None

    @classmethod
    def of(cls, bundle: Bundle) -> BundleRead:
        return cls(
            code=bundle.code, name=LocalizedText(ja=bundle.name_ja, en=bundle.name_en), points=bundle.points,
            price_jpy=bundle.price_jpy, tax_rate=bundle.tax_rate, validity_months=bundle.validity_months,
            min_quantity=bundle.min_quantity, max_quantity=bundle.max_quantity,
        )


class PriceTableRead(BaseModel):
    """The point table in force (version null before any is published) and the bundles on sale."""

    version: int | None
    effective_from: datetime | None
    request_types: list[RequestTypePriceRead]
    priority_surcharges: list[PrioritySurchargeRead]
    bundles: list[BundleRead]

    @classmethod
    def of(cls, prices: PriceList | None, bundles: list[Bundle]) -> PriceTableRead:
        table = prices.table if prices else None
        return cls(
            version=table.version if table else None,
            effective_from=table.effective_from if table else None,
            request_types=[RequestTypePriceRead.of(p) for p in table.request_types] if table else [],
            priority_surcharges=[
                PrioritySurchargeRead(priority=s.priority, points=s.points) for s in table.surcharges
            ] if table else [],
            bundles=[BundleRead.of(b) for b in (prices.bundles if prices else bundles)],
        )


class LotRead(BaseModel):
    points_remaining: int
    points_held: int
    expires_on: date | None
    paid: bool


class BalanceRead(BaseModel):
    available: int
    held: int
    lots: list[LotRead]
    expiring: dict[str, int] = Field(
        description="Available points whose lot's last day falls within 30, 60 and 90 days"
    )

    @classmethod
    def of(cls, balance: Balance) -> BalanceRead:
        return cls(
            available=balance.available,
            held=balance.held,
            lots=[
                LotRead(points_remaining=lot.remaining, points_held=lot.held, expires_on=lot.expires_on, paid=lot.paid)
                for lot in balance.lots
            ],
            expiring={str(days): points for days, points in balance.expiring_within.items()},
        )


# billing.tables.ENTRY_KINDS
EntryKind = Literal["grant", "purchase", "hold", "capture", "release", "expire", "refund", "adjustment"]


class LedgerEntryRead(BaseModel):
    id: int
    kind: EntryKind
    points: int = Field(description="Change of the available balance (negative: points left it)")
    held: int = Field(description="Change of the held points")
    available_after: int
    held_after: int
    ticket_id: int | None
    ticket_number: str | None
    reason: str
    created_at: datetime

    @classmethod
    def of(cls, entry: HistoryEntry) -> LedgerEntryRead:
        return cls(
            id=entry.id, kind=entry.kind, points=entry.available_delta, held=entry.held_delta,
            available_after=entry.available_after, held_after=entry.held_after, ticket_id=entry.ticket_id,
            ticket_number=entry.ticket_number, reason=entry.reason, created_at=entry.created_at,
        )


class LedgerPage(BaseModel):
    items: list[LedgerEntryRead]
    next_cursor: str | None


class AdjustmentCreate(BaseModel):
    # Unknown fields are refused by name, and `true` or "5" is not a number of points (3.0 is).
    model_config = ConfigDict(extra="forbid")

    points: json_int(description="Points to add (positive) or take away (negative); not 0")
    reason: str = Field(default="", description="Why; mandatory, shown in the history")
    expires_on: date | None = Field(default=None, description="Last day the added points can be spent")


class AdjustmentRead(BaseModel):
    entry_id: int
    points: int
    available: int
    held: int

    @classmethod
    def of(cls, posted: Posted, points: int) -> AdjustmentRead:
        return cls(entry_id=posted.entry_id, points=points, available=posted.available, held=posted.held)
