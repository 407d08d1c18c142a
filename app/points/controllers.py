"""The points JSON API: the price table, an organisation's balance and ledger, adjustments."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from app.accounts.guards import caller_of, requires_login
from app.errors import InsufficientPoints, InvalidInput, NotAllowed
from app.idempotency import IdempotencyKey, respond_once
from app.openapi import CURSOR, errors
from app.points import services
from app.points.schemas import (
    AdjustmentCreate,
    AdjustmentRead,
    BalanceRead,
    LedgerEntryRead,
    LedgerPage,
    PriceTableRead,
)


class PriceTableController(Controller):
    path = "/api/v1/price-table"
    guards = [requires_login]
    tags = ["points"]

    @get("/", operation_id="GetPriceTable", summary="The point table in force and the bundles on sale")
    async def get_price_table(self) -> PriceTableRead:
        prices = await services.price_list()
        return PriceTableRead.of(prices, [] if prices else await services.bundles_on_sale())


class OrganizationPointsController(Controller):
    path = "/api/v1/organizations/{organization_id:int}"
    guards = [requires_login]
    tags = ["points"]

    @get("/balance", operation_id="GetBalance", summary="Available and held points, lots, points expiring soon")
    async def get_balance(self, request: Request, organization_id: FromPath[int]) -> BalanceRead:
        return BalanceRead.of(await services.balance(caller_of(request), organization_id))

    @get("/ledger", operation_id="ListLedgerEntries", summary="The organisation's ledger entries, newest first",
         responses=errors(InvalidInput))
    async def list_ledger_entries(
        self,
        request: Request,
        organization_id: FromPath[int],
        cursor: Annotated[str | None, QueryParameter(description=CURSOR)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = services.HISTORY_PAGE_SIZE,
    ) -> LedgerPage:
        page = await services.history(caller_of(request), organization_id, cursor=cursor, limit=limit)
        return LedgerPage(items=[LedgerEntryRead.of(e) for e in page.items], next_cursor=page.next_cursor)

    @post("/adjustments", operation_id="CreateAdjustment", status_code=201,
          summary="Add or take away points with a reason (finance, admin)",
          responses=errors(NotAllowed, InsufficientPoints, InvalidInput))
    async def create_adjustment(
        self, request: Request, organization_id: FromPath[int], data: JSONBody[AdjustmentCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[AdjustmentRead]:
        caller = caller_of(request)

        async def run() -> AdjustmentRead:
            posted = await services.adjust(
                caller, organization_id, points=data.points, reason=data.reason, expires_on=data.expires_on,
                key=idempotency_key,
            )
            return AdjustmentRead.of(posted, data.points)

        return await respond_once(request, caller, run, key=idempotency_key, status_code=201)
