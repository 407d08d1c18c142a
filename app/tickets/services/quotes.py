"""A request's price: the point table as the request forms see it, and the quote of a filing.

Where a request's price comes from (the single source of truth):

- The **point table version in force** (pricing/) says which request types can be filed and what
  each is called, covers (its scope) and costs. The portal's form, the console's reclassify list
  and the price shown next to a request all read it through this module.
- **RequestType** (app/tickets/tables.py) is only the stable registry of codes that requests
  point to, so that a request keeps its type when a later table drops it. Filing a code that the
  table in force prices but the registry does not know yet registers it, and its names follow the
  table in force (`register_request_types`). An administrator who deactivates a code in the
  registry withdraws it from filing even while a table still prices it.
- A filed request keeps the **version that priced it** (`Ticket.price_version`) forever and its
  **current price** in `Ticket.quoted_points`: re-quotes (another type or priority, extra work)
  are priced by that same version, so publishing a new table never changes a filed request
  (app/tickets/services/charges.py).
"""

from __future__ import annotations

from app.accounts.caller import Caller
from app.errors import from_domain
from app.tickets.services.results import FilingPrice, PricedType
from app.tickets.tables import RequestType
from billing import ledger
from pricing import services as pricing
from pricing.errors import PricingError
from pricing.rules import PointTable


async def fileable_types() -> list[PricedType]:
    """The request types a customer can file now: priced by the table in force and not withdrawn
    in the registry. Empty when no table is in force."""
    try:
        table = await pricing.table_in_force()
    except PricingError:
        return []
    withdrawn = {
        r["code"] for r in await RequestType.select(RequestType.code).where(RequestType.is_active == False)  # noqa: E712
    }
    return [PricedType.of(t) for t in table.request_types if t.code not in withdrawn]


async def types_of_version(version_id: int | None) -> list[PricedType]:
    """The request types a filed request can be reclassified to: those of its own version."""
    if version_id is None:
        return await fileable_types()
    try:
        table = await pricing.table_version(version_id)
    except PricingError as exc:
        raise from_domain(exc) from exc
    return [PricedType.of(t) for t in table.request_types]


async def register_request_types(table: PointTable) -> None:
    """Make the registry know every code of `table`, named as the table names it (idempotent)."""
    known = {
        r["code"]: r
        for r in await RequestType.select(RequestType.code, RequestType.name_ja, RequestType.name_en).where(
            RequestType.code.is_in([t.code for t in table.request_types] or ["-"])
        )
    }
    for order, price in enumerate(table.request_types, start=1):
        row = known.get(price.code)
        if row is None:
            await RequestType.insert(
                RequestType(code=price.code, name_ja=price.name_ja, name_en=price.name_en, sort_order=order * 10)
            ).on_conflict(target=RequestType.code, action="DO NOTHING")
        elif (row["name_ja"], row["name_en"]) != (price.name_ja, price.name_en):
            await RequestType.update({RequestType.name_ja: price.name_ja, RequestType.name_en: price.name_en}).where(
                RequestType.code == price.code
            )


async def filing_price(caller: Caller, code: str | None, priority: str = "normal") -> FilingPrice:
    """The price of a request about to be filed and the organisation's balance (for the form)."""
    organization_id = caller.organization_id
    balance = await ledger.balance(organization_id) if organization_id else None
    available, held = (balance.available, balance.held) if balance else (0, 0)
    if not code:
        return FilingPrice(request_type=None, quote=None, available=available, held=held)
    try:
        table = await pricing.table_in_force()
        price = table.request_type(code)
        quote = table.quote(code, priority if priority in ("urgent", "normal", "low") else "normal")
    except PricingError:
        return FilingPrice(request_type=None, quote=None, available=available, held=held)
    return FilingPrice(request_type=PricedType.of(price), quote=quote, available=available, held=held)


async def quote_for_filing(code: str, priority: str) -> pricing.PricedRequest:
    """Quote a request by the table in force (and keep the registry in step with that table)."""
    try:
        table = await pricing.table_in_force()
        quote = table.quote(code, priority)
    except PricingError as exc:
        raise from_domain(exc) from exc
    await register_request_types(table)
    return pricing.PricedRequest(quote=quote, version_id=table.id)
