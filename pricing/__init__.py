"""The point table and bundles: pure pricing rules (no HTTP; the rules need no database).

`pricing.rules` quotes requests, validates purchases and computes lot expiry from plain values;
`pricing.tables` and `pricing.services` keep the versioned point table and the bundles.
"""

from pricing.errors import (
    InvalidPointTable,
    NoPointTableInForce,
    PricingError,
    PurchaseRefused,
    UnknownRequestType,
)
from pricing.rules import (
    Bundle,
    PointTable,
    PriceList,
    PrioritySurcharge,
    PurchaseQuote,
    Quote,
    RequestTypePrice,
    TaxLine,
    add_months,
    lot_expiry,
    quote,
    tax_by_rate,
    validate_purchase,
)

__all__ = [
    "Bundle", "InvalidPointTable", "NoPointTableInForce", "PointTable", "PriceList", "PricingError",
    "PrioritySurcharge", "PurchaseQuote", "PurchaseRefused", "Quote", "RequestTypePrice", "TaxLine",
    "UnknownRequestType", "add_months", "lot_expiry", "quote", "tax_by_rate", "validate_purchase",
]
