"""Keeping the point table and bundles: drafts, publishing, the version in force, the price list.

The rules themselves are in pricing.rules; this module only stores and loads them. A published
version is never changed, and the version in force at a moment is the published one with the
latest start at or before it, so a request filed then is priced by it forever (the request keeps
the version id and its quote).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from pricing.errors import (
    N_,
    InvalidPointTable,
    NoPointTableInForce,
    PointTableLocked,
    PurchaseRefused,
    UnknownPointTableVersion,
)
from pricing.rules import (
    PRIORITIES,
    Bundle,
    PointTable,
    PriceList,
    PrioritySurcharge,
    Quote,
    RequestTypePrice,
)
from pricing.tables import PointBundle, PointTableRequestType, PointTableSurcharge, PointTableVersion

_PRICE_FIELDS = (
    "code", "name_ja", "name_en", "scope_ja", "scope_en", "points",
    "included_minutes", "block_minutes", "points_per_block",
)
_BUNDLE_FIELDS = (
    "code", "name_ja", "name_en", "points", "price_jpy", "tax_rate", "validity_months",
    "min_quantity", "max_quantity", "active",
)


@dataclass(frozen=True)
class PricedRequest:
    """A request's price and the version that set it (store both on the request)."""

    quote: Quote
    version_id: int

    @property
    def points(self) -> int:
        return self.quote.points


def _transaction():
    """One write transaction (BEGIN IMMEDIATE on SQLite so concurrent editors queue)."""
    engine = PointTableVersion._meta.db
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate, allow_nested=True)
    return engine.transaction(allow_nested=True)


async def _version_row(version_id: int) -> dict[str, Any]:
    row = await PointTableVersion.select().where(PointTableVersion.id == version_id).first()
    if row is None:
        raise UnknownPointTableVersion(N_("There is no point table version {id}."), field="version", id=version_id)
    return row


async def _draft(version_id: int) -> dict[str, Any]:
    row = await _version_row(version_id)
    if row["status"] != "draft":
        raise PointTableLocked(
            N_("Version {number} of the point table is published and can no longer be changed; "
            "make a new draft."), field="version", number=row["number"],
        )
    return row


async def create_draft(note: str = "", copy_from: int | None = None) -> int:
    """A new draft version, starting as a copy of `copy_from` (default: the latest published)."""
    async with _transaction():
        last = await PointTableVersion.select(PointTableVersion.number).order_by(
            PointTableVersion.number, ascending=False
        ).first()
        if copy_from is None:
            latest = await PointTableVersion.select(PointTableVersion.id).where(
                PointTableVersion.status == "published"
            ).order_by(PointTableVersion.effective_from, ascending=False).first()
            copy_from = latest["id"] if latest else None
        elif copy_from is not None:
            await _version_row(copy_from)
        rows = await PointTableVersion.insert(
            PointTableVersion(
                number=(last["number"] if last else 0) + 1, status="draft", note=note,
                created_at=datetime.now(UTC),
            )
        )
        version_id = rows[0]["id"]
        if copy_from is not None:
            prices = await PointTableRequestType.select().where(PointTableRequestType.version == copy_from)
            if prices:
                await PointTableRequestType.insert(
                    *[PointTableRequestType(**{**_without_id(p), "version": version_id}) for p in prices]
                )
            surcharges = await PointTableSurcharge.select().where(PointTableSurcharge.version == copy_from)
            if surcharges:
                await PointTableSurcharge.insert(
                    *[PointTableSurcharge(**{**_without_id(s), "version": version_id}) for s in surcharges]
                )
        return version_id


def _without_id(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("id", "version")}


async def set_request_type(version_id: int, price: RequestTypePrice, sort_order: int = 0) -> None:
    """Add or change one request type's line in a draft (the dataclass has validated it)."""
    async with _transaction():
        await _draft(version_id)
        values = {name: getattr(price, name) for name in _PRICE_FIELDS}
        existing = await PointTableRequestType.select(PointTableRequestType.id).where(
            (PointTableRequestType.version == version_id) & (PointTableRequestType.code == price.code)
        ).first()
        if existing:
            await PointTableRequestType.update(
                {**{getattr(PointTableRequestType, k): v for k, v in values.items()},
                 PointTableRequestType.sort_order: sort_order}
            ).where(PointTableRequestType.id == existing["id"])
        else:
            await PointTableRequestType.insert(
                PointTableRequestType(version=version_id, sort_order=sort_order, **values)
            )


async def remove_request_type(version_id: int, code: str) -> None:
    async with _transaction():
        await _draft(version_id)
        await PointTableRequestType.delete().where(
            (PointTableRequestType.version == version_id) & (PointTableRequestType.code == code)
        )


async def set_surcharge(version_id: int, surcharge: PrioritySurcharge) -> None:
    async with _transaction():
        await _draft(version_id)
        await PointTableSurcharge.delete().where(
            (PointTableSurcharge.version == version_id) & (PointTableSurcharge.priority == surcharge.priority)
        )
        await PointTableSurcharge.insert(
            PointTableSurcharge(version=version_id, priority=surcharge.priority, points=surcharge.points)
        )


async def publish(version_id: int, effective_from: datetime | None = None) -> PointTable:
    """Publish a draft, in force from `effective_from` (now by default; never in the past, so
    no request already filed changes its version)."""
    now = datetime.now(UTC)
    effective_from = effective_from or now
    if effective_from.tzinfo is None:
        raise InvalidPointTable(N_("The start of a point table needs a time zone."), field="effective_from")
    if effective_from < now.replace(microsecond=0):
        raise InvalidPointTable(N_("A point table cannot take effect in the past."), field="effective_from")
    async with _transaction():
        await _draft(version_id)
        if not await PointTableRequestType.exists().where(PointTableRequestType.version == version_id):
            raise InvalidPointTable(N_("A point table needs at least one request type."), field="request_types")
        await PointTableVersion.update(
            {PointTableVersion.status: "published", PointTableVersion.effective_from: effective_from,
             PointTableVersion.published_at: now}
        ).where((PointTableVersion.id == version_id) & (PointTableVersion.status == "draft"))
    return await table_version(version_id)


async def table_version(version_id: int) -> PointTable:
    """One version (draft or published) as the pure PointTable the rules work on."""
    row = await _version_row(version_id)
    prices = await PointTableRequestType.select().where(PointTableRequestType.version == version_id).order_by(
        PointTableRequestType.sort_order
    ).order_by(PointTableRequestType.id)
    surcharges = await PointTableSurcharge.select().where(PointTableSurcharge.version == version_id)
    return PointTable(
        id=row["id"],
        version=row["number"],
        effective_from=row["effective_from"],
        request_types=tuple(RequestTypePrice(**{k: p[k] for k in _PRICE_FIELDS}) for p in prices),
        surcharges=tuple(
            sorted((PrioritySurcharge(s["priority"], s["points"]) for s in surcharges),
                   key=lambda s: PRIORITIES.index(s.priority))
        ),
    )


async def table_in_force(at: datetime | None = None) -> PointTable:
    """The published version in force at `at` (now by default)."""
    at = at or datetime.now(UTC)
    row = await PointTableVersion.select(PointTableVersion.id).where(
        (PointTableVersion.status == "published") & (PointTableVersion.effective_from <= at)
    ).order_by(PointTableVersion.effective_from, ascending=False).order_by(
        PointTableVersion.number, ascending=False
    ).first()
    if row is None:
        raise NoPointTableInForce(N_("No point table is in force yet."), field="request_type")
    return await table_version(row["id"])


async def quote_request(
    code: str, priority: str = "normal", extra_minutes: int = 0, *, at: datetime | None = None,
    version_id: int | None = None,
) -> PricedRequest:
    """Price a request by the version in force at `at`, or by `version_id` (the version a filed
    request was priced by, for overage and re-quotes later)."""
    table = await (table_version(version_id) if version_id is not None else table_in_force(at))
    return PricedRequest(quote=table.quote(code, priority, extra_minutes), version_id=table.id)


async def versions() -> list[dict[str, Any]]:
    return await PointTableVersion.select().order_by(PointTableVersion.number, ascending=False)


async def save_bundle(bundle: Bundle, sort_order: int = 0) -> int:
    """Add or change a bundle by its code (the dataclass has validated it)."""
    now = datetime.now(UTC)
    values = {name: getattr(bundle, name) for name in _BUNDLE_FIELDS}
    async with _transaction():
        existing = await PointBundle.select(PointBundle.id).where(PointBundle.code == bundle.code).first()
        if existing:
            await PointBundle.update(
                {**{getattr(PointBundle, k): v for k, v in values.items()},
                 PointBundle.sort_order: sort_order, PointBundle.updated_at: now}
            ).where(PointBundle.id == existing["id"])
            return existing["id"]
        rows = await PointBundle.insert(
            PointBundle(sort_order=sort_order, created_at=now, updated_at=now, **values)
        )
        return rows[0]["id"]


async def bundles(*, active_only: bool = True) -> list[Bundle]:
    query = PointBundle.select().order_by(PointBundle.sort_order).order_by(PointBundle.id)
    if active_only:
        query = query.where(PointBundle.active == True)  # noqa: E712
    return [Bundle(**{k: row[k] for k in _BUNDLE_FIELDS}) for row in await query]


async def bundle(code: str) -> Bundle:
    row = await PointBundle.select().where(PointBundle.code == code).first()
    if row is None:
        raise PurchaseRefused(N_("There is no bundle {code}."), field="bundle", code=code)
    return Bundle(**{k: row[k] for k in _BUNDLE_FIELDS})


async def price_list(at: datetime | None = None) -> PriceList:
    """What customers see in advance: the table in force and the bundles on sale."""
    return PriceList(table=await table_in_force(at), bundles=tuple(await bundles()))

