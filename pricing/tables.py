"""The point table's versions and the bundles, as stored.

A version is a draft until published with the moment it takes effect; from then on its rows are
never changed (pricing.services refuses), so a request priced by it keeps its price forever.
"""

from piccolo.columns import Boolean, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.table import Table

_OVERAGE_ALL_OR_NONE = (
    "(included_minutes IS NULL AND block_minutes IS NULL AND points_per_block IS NULL) OR "
    "(included_minutes >= 0 AND block_minutes > 0 AND points_per_block > 0)"
)


class PointTableVersion(Table, tablename="point_table_versions"):
    number = Integer(unique=True)
    status = Varchar(length=10, default="draft")
    effective_from = Timestamptz(null=True, default=None)
    note = Text(default="")
    created_at = Timestamptz()
    published_at = Timestamptz(null=True, default=None)

    checks = {
        "point_table_known_status": "status IN ('draft', 'published')",
        "published_tables_have_a_start": (
            "status = 'draft' OR (effective_from IS NOT NULL AND published_at IS NOT NULL)"
        ),
    }
    composite_indexes = {"point_table_versions_in_force": ("status", "effective_from")}


class PointTableRequestType(Table, tablename="point_table_request_types"):
    """One request type's price in one version (ポイント表の一行)."""

    version = ForeignKey(PointTableVersion, null=False, on_delete=OnDelete.cascade, index=True)
    code = Varchar(length=32)
    name_ja = Varchar(length=100)
    name_en = Varchar(length=100)
    scope_ja = Text(default="")
    scope_en = Text(default="")
    points = Integer()
    included_minutes = Integer(null=True, default=None)
    block_minutes = Integer(null=True, default=None)
    points_per_block = Integer(null=True, default=None)
    sort_order = Integer(default=0)

    checks = {
        "request_type_points_not_negative": "points >= 0",
        "request_type_overage_all_or_none": _OVERAGE_ALL_OR_NONE,
    }
    unique_together = {"one_price_per_code_per_version": ("version", "code")}


class PointTableSurcharge(Table, tablename="point_table_surcharges"):
    version = ForeignKey(PointTableVersion, null=False, on_delete=OnDelete.cascade, index=True)
    priority = Varchar(length=10)
    points = Integer()

    checks = {
        "surcharge_known_priority": "priority IN ('urgent', 'normal', 'low')",
        "surcharge_points_not_negative": "points >= 0",
    }
    unique_together = {"one_surcharge_per_priority_per_version": ("version", "priority")}


class PointBundle(Table, tablename="point_bundles"):
    """A bundle on the price list: `points` for `price_jpy` (tax-exclusive) per unit bought."""

    code = Varchar(length=32, unique=True)
    name_ja = Varchar(length=100)
    name_en = Varchar(length=100)
    points = Integer()
    price_jpy = Integer()
    tax_rate = Integer(default=10)
    validity_months = Integer(default=12)
    min_quantity = Integer(default=1)
    max_quantity = Integer(null=True, default=None)
    active = Boolean(default=True)
    sort_order = Integer(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()

    checks = {
        "bundle_points_positive": "points > 0",
        "bundle_price_not_negative": "price_jpy >= 0",
        "bundle_tax_rate_not_negative": "tax_rate >= 0",
        "bundle_validity_positive": "validity_months > 0",
        "bundle_min_quantity_positive": "min_quantity > 0",
        "bundle_max_not_below_min": "max_quantity IS NULL OR max_quantity >= min_quantity",
    }


PRICING_TABLES = [PointTableVersion, PointTableRequestType, PointTableSurcharge, PointBundle]
