"""What things cost: the point table (ポイント表), bundles, consumption tax and lot expiry.

Everything here works on plain values and needs no database, so the same rules price a request in
the portal, the API, the PDF of the price table and the tests. Points and yen are integers.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from pricing.errors import N_, InvalidPointTable, PricingError, PurchaseRefused, UnknownRequestType

RoundingMode = Literal["down", "up", "half_up"]
ROUNDING_MODES: tuple[str, ...] = ("down", "up", "half_up")
PRIORITIES: tuple[str, ...] = ("urgent", "normal", "low")


def _whole(value: object, name: str, *, minimum: int) -> int:
    # bool is an int in Python; a price of True points is a bug, not a price.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidPointTable(
            N_("{name} must be a whole number of at least {minimum}."), field=name, name=name, minimum=minimum
        )
    return value


@dataclass(frozen=True)
class RequestTypePrice:
    """One line of the point table: what one request of this type covers and costs.

    With `included_minutes`, the request covers that much work; each further block of
    `block_minutes` (or part of one) costs `points_per_block` more.
    """

    code: str
    name_ja: str
    name_en: str
    points: int
    scope_ja: str = ""
    scope_en: str = ""
    included_minutes: int | None = None
    block_minutes: int | None = None
    points_per_block: int | None = None

    def __post_init__(self) -> None:
        if not self.code.strip():
            raise InvalidPointTable(N_("A request type needs a code."), field="code")
        _whole(self.points, "points", minimum=0)
        overage = (self.included_minutes, self.block_minutes, self.points_per_block)
        if any(v is not None for v in overage):
            if any(v is None for v in overage):
                raise InvalidPointTable(
                    N_("Included minutes, block minutes and points per block go together: give all three or none."),
                    field="included_minutes",
                )
            _whole(self.included_minutes, "included_minutes", minimum=0)
            _whole(self.block_minutes, "block_minutes", minimum=1)
            _whole(self.points_per_block, "points_per_block", minimum=1)

    @property
    def has_overage(self) -> bool:
        return self.block_minutes is not None

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_ja

    def scope(self, locale: str) -> str:
        return self.scope_en if locale == "en" else self.scope_ja


@dataclass(frozen=True)
class PrioritySurcharge:
    """Points added to a request of this priority (e.g. urgent +1)."""

    priority: str
    points: int

    def __post_init__(self) -> None:
        if self.priority not in PRIORITIES:
            raise InvalidPointTable(N_("Unknown priority {priority}."), field="priority", priority=self.priority)
        _whole(self.points, "points", minimum=0)


@dataclass(frozen=True)
class Quote:
    """The price of one request, with its parts (shown to the customer before filing)."""

    code: str
    priority: str
    base_points: int
    surcharge_points: int
    extra_minutes: int
    extra_blocks: int
    extra_points: int

    @property
    def points(self) -> int:
        return self.base_points + self.surcharge_points + self.extra_points


def quote(request_type: RequestTypePrice, priority: PrioritySurcharge | None = None, extra_minutes: int = 0) -> Quote:
    """The points one request costs: the type's cost, the priority's surcharge, and each further
    block (or part of a block) of work beyond the included minutes."""
    if not isinstance(extra_minutes, int) or isinstance(extra_minutes, bool) or extra_minutes < 0:
        raise PricingError(N_("Extra minutes must be a whole number of at least 0."), field="extra_minutes")
    blocks = 0
    if extra_minutes:
        if not request_type.has_overage:
            raise PricingError(
                N_("Request type {code} has no price for work beyond what it covers."),
                field="extra_minutes", code=request_type.code,
            )
        blocks = -(-extra_minutes // request_type.block_minutes)  # a started block counts whole
    extra_points = blocks * (request_type.points_per_block or 0)
    return Quote(
        code=request_type.code,
        priority=priority.priority if priority else "normal",
        base_points=request_type.points,
        surcharge_points=priority.points if priority else 0,
        extra_minutes=extra_minutes,
        extra_blocks=blocks,
        extra_points=extra_points,
    )


@dataclass(frozen=True)
class PointTable:
    """One version of the point table: its request types and priority surcharges."""

    version: int
    request_types: tuple[RequestTypePrice, ...]
    surcharges: tuple[PrioritySurcharge, ...] = ()
    effective_from: datetime | None = None
    id: int | None = None

    def request_type(self, code: str) -> RequestTypePrice:
        for request_type in self.request_types:
            if request_type.code == code:
                return request_type
        raise UnknownRequestType(
            N_("There is no request type {code} in the point table."), field="request_type", code=code
        )

    def surcharge(self, priority: str) -> PrioritySurcharge:
        if priority not in PRIORITIES:
            raise PricingError(N_("Unknown priority {priority}."), field="priority", priority=priority)
        for surcharge in self.surcharges:
            if surcharge.priority == priority:
                return surcharge
        return PrioritySurcharge(priority=priority, points=0)

    def quote(self, code: str, priority: str = "normal", extra_minutes: int = 0) -> Quote:
        return quote(self.request_type(code), self.surcharge(priority), extra_minutes)


@dataclass(frozen=True)
class Bundle:
    """What customers buy: `points` for `price_jpy` (tax-exclusive) each, valid `validity_months`."""

    code: str
    name_ja: str
    name_en: str
    points: int
    price_jpy: int
    tax_rate: int
    validity_months: int
    min_quantity: int = 1
    max_quantity: int | None = None
    active: bool = True

    def __post_init__(self) -> None:
        if not self.code.strip():
            raise InvalidPointTable(N_("A bundle needs a code."), field="code")
        _whole(self.points, "points", minimum=1)
        _whole(self.price_jpy, "price_jpy", minimum=0)
        _whole(self.tax_rate, "tax_rate", minimum=0)
        _whole(self.validity_months, "validity_months", minimum=1)
        _whole(self.min_quantity, "min_quantity", minimum=1)
        if self.max_quantity is not None:
            _whole(self.max_quantity, "max_quantity", minimum=self.min_quantity)
        # Each point of a lot carries its share of the price in whole yen (revenue when it is used,
        # breakage when it expires, the amount given back when it is refunded).
        if self.price_jpy % self.points:
            raise InvalidPointTable(
                N_("The price must be a whole number of yen per point: ¥{price:,} for {points} points is not."),
                field="price_jpy", price=self.price_jpy, points=self.points,
            )

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_ja


@dataclass(frozen=True)
class TaxLine:
    """Consumption tax for one rate: the tax-exclusive total at that rate and its tax."""

    rate: int
    base_jpy: int
    tax_jpy: int


def round_tax(amount_times_rate: int, mode: RoundingMode = "down") -> int:
    """Yen of tax for `base × rate` (percent), rounded to a whole yen by `mode`."""
    if mode == "down":
        return amount_times_rate // 100
    if mode == "up":
        return -(-amount_times_rate // 100)
    if mode == "half_up":
        return (amount_times_rate + 50) // 100
    raise ValueError(f"unknown rounding mode {mode!r}; expected one of {ROUNDING_MODES}")


def tax_by_rate(lines: Iterable[tuple[int, int]], rounding: RoundingMode = "down") -> dict[int, TaxLine]:
    """Consumption tax of a document: lines of (rate %, tax-exclusive yen) are totalled per rate
    and each rate's tax is rounded once (消費税法施行令70条の10), never per line."""
    totals: dict[int, int] = {}
    for rate, amount in lines:
        totals[rate] = totals.get(rate, 0) + amount
    return {rate: TaxLine(rate, base, round_tax(base * rate, rounding)) for rate, base in sorted(totals.items())}


@dataclass(frozen=True)
class PurchaseQuote:
    """A valid purchase of `quantity` bundles: the points it gives and what it costs."""

    bundle_code: str
    quantity: int
    points: int
    price_jpy: int
    tax_rate: int
    tax_jpy: int
    validity_months: int

    @property
    def total_jpy(self) -> int:
        return self.price_jpy + self.tax_jpy


def validate_purchase(bundle: Bundle, quantity: int, rounding: RoundingMode = "down") -> PurchaseQuote:
    """The points, price and tax of buying `quantity` of `bundle`, or PurchaseRefused saying why."""
    if not bundle.active:
        raise PurchaseRefused(N_("Bundle {code} is no longer on sale."), field="bundle", code=bundle.code)
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        raise PurchaseRefused(N_("The quantity must be a whole number of at least 1."), field="quantity")
    if quantity < bundle.min_quantity:
        raise PurchaseRefused(N_("The minimum purchase is {minimum}."), field="quantity", minimum=bundle.min_quantity)
    if bundle.max_quantity is not None and quantity > bundle.max_quantity:
        raise PurchaseRefused(N_("The maximum purchase is {maximum}."), field="quantity", maximum=bundle.max_quantity)
    price = bundle.price_jpy * quantity
    tax = tax_by_rate([(bundle.tax_rate, price)], rounding)[bundle.tax_rate]
    return PurchaseQuote(
        bundle_code=bundle.code,
        quantity=quantity,
        points=bundle.points * quantity,
        price_jpy=price,
        tax_rate=bundle.tax_rate,
        tax_jpy=tax.tax_jpy,
        validity_months=bundle.validity_months,
    )


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or that month's last day when it has no such day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def lot_expiry(paid_on: date, validity_months: int) -> date:
    """The last day a lot paid (or granted) on `paid_on` can be spent.

    Validity ends the day before the same day `validity_months` later (paid 2026/01/15 for 12
    months → valid through 2027/01/14). When that later month has no such day, the lot is valid
    through that month's last day (paid 2026/01/31 for 1 month → through 2026/02/28; paid
    2028/02/29 for 12 months → through 2029/02/28).
    """
    _whole(validity_months, "validity_months", minimum=1)
    index = paid_on.month - 1 + validity_months
    year, month = paid_on.year + index // 12, index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    if paid_on.day > last_day:
        return date(year, month, last_day)
    return date(year, month, paid_on.day) - timedelta(days=1)


@dataclass(frozen=True)
class PriceList:
    """What the customer-facing price page, the API and the PDF show: a table and the bundles."""

    table: PointTable
    bundles: tuple[Bundle, ...] = field(default_factory=tuple)

    def bundle(self, code: str) -> Bundle:
        for bundle in self.bundles:
            if bundle.code == code:
                return bundle
        raise PurchaseRefused(N_("There is no bundle {code}."), field="bundle", code=code)


def surcharges_from(mapping: Mapping[str, int]) -> tuple[PrioritySurcharge, ...]:
    """Surcharges from a {priority: points} mapping, in the order of PRIORITIES."""
    return tuple(PrioritySurcharge(p, mapping[p]) for p in PRIORITIES if p in mapping)
