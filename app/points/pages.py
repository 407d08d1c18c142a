"""Points as people see them: the portal's balance and price pages, the console's balances and
adjustments, and the price table as a document (HTML in the browser, PDF to hand out).

Handlers parse, call one service of app/points/services.py and render. A refused adjustment
shows the page again with the message next to its field and what was typed kept.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from pydantic import BaseModel

from app.accounts import services as people
from app.accounts.guards import caller_of, requires_customer, requires_staff
from app.accounts.pages import FORM, flash, form_errors, pop_flash
from app.errors import Conflict, InsufficientPoints, InvalidInput, NotAllowed
from app.i18n import _, current_locale, format_number, format_signed_points, ngettext
from app.points import services
from billing.documents import render_pdf
from pricing.rules import Bundle, PointTable

DOCUMENT = "documents/price_table.html.jinja2"
REFUSED = (InvalidInput, Conflict, InsufficientPoints, NotAllowed)


def helpers() -> dict[str, Any]:
    return {
        "entry_kind_label": services.entry_kind_label,
        "lot_source_label": services.lot_source_label,
        "priority_label": services.priority_label,
        "locale": current_locale(),
    }


def wants_fragment(request: HTMXRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


# ------------------------------------------------------------------------------ the price document


def document_context(table: PointTable | None, bundles: list[Bundle] | tuple[Bundle, ...]) -> dict[str, Any]:
    return {"table": table, "bundles": list(bundles), "issued_on": services.today(), **helpers()}


def document_html(request: Request, context: Mapping[str, Any]) -> str:
    """The price table document as HTML text, from the same template the browser is shown."""
    return request.app.template_engine.get_template(DOCUMENT).render(**context)


async def document_pdf(request: Request, context: Mapping[str, Any], filename: str) -> Response:
    html = document_html(request, context)
    pdf = await asyncio.to_thread(render_pdf, html)
    return Response(
        content=pdf, media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


# ------------------------------------------------------------------------------ the portal


async def portal_page(request: HTMXRequest, name: str, status_code: int = 200, **context: Any) -> Template:
    """A portal page of the points area, with what the portal's layout shows on every page."""
    caller = caller_of(request)
    company = await people.get_organization(caller, caller.organization_id)
    return Template(
        f"points/{name}.html.jinja2",
        context={
            "company": company, "flash": pop_flash(request), "section": name,
            "points_balance": await services.own_balance(caller), **helpers(), **context,
        },
        status_code=status_code,
    )


class PortalPointsController(Controller):
    path = "/portal"
    guards = [requires_customer]
    include_in_schema = False

    @get("/points")
    async def points_page(self, request: HTMXRequest, cursor: FromQuery[str] = "") -> Template:
        caller = caller_of(request)
        history = await services.history(caller, caller.organization_id, cursor=cursor or None)
        if wants_fragment(request):
            return Template(
                "points/partials/history_rows.html.jinja2",
                context={"history": history, "next_url": "/portal/points", "ticket_url": "/portal/tickets/",
                         **helpers()},
            )
        return await portal_page(
            request, "portal_points", balance=await services.balance(caller, caller.organization_id),
            history=history, windows=services.expiring_label_days(), first_page=not cursor,
        )

    @get("/price-table")
    async def price_table_page(self, request: HTMXRequest) -> Template:
        prices = await services.price_list()
        return await portal_page(request, "portal_price_table", prices=prices)

    @get("/price-table.html")
    async def price_table_document(self) -> Template:
        prices = await services.price_list()
        return Template(DOCUMENT, context=document_context(prices.table if prices else None,
                                                           prices.bundles if prices else []))

    @get("/price-table.pdf")
    async def price_table_pdf(self, request: Request) -> Response:
        prices = await services.price_list()
        context = document_context(prices.table if prices else None, prices.bundles if prices else [])
        number = prices.table.version if prices else 0
        return await document_pdf(request, context, f"point-table-v{number}.pdf")


# ------------------------------------------------------------------------------ the console


class AdjustmentForm(BaseModel):
    kind: str = "adjustment"
    points: str = ""
    reason: str = ""
    expires_on: str = ""
    token: str = ""


async def console_page(request: Request, name: str, status_code: int = 200, **context: Any) -> Template:
    return Template(
        f"points/{name}.html.jinja2",
        context={"flash": pop_flash(request), "section": "points", **helpers(), **context},
        status_code=status_code,
    )


class ConsolePointsController(Controller):
    path = "/console/organizations"
    guards = [requires_staff]
    include_in_schema = False

    @get("/")
    async def organization_balances(self, request: Request, cursor: FromQuery[str] = "", q: FromQuery[str] = "") -> Template:
        page = await services.organizations_with_balances(caller_of(request), cursor=cursor or None, q=q)
        return await console_page(request, "console_organizations", organizations=page, q=q)

    async def _organization(self, request: HTMXRequest, organization_id: int, status_code: int = 200, *,
                            cursor: str = "", values: Mapping[str, str] | None = None,
                            errors: Mapping[str, str] | None = None) -> Template:
        caller = caller_of(request)
        organization = await services.organization_name(caller, organization_id)
        history = await services.history(caller, organization_id, cursor=cursor or None)
        next_url = f"/console/organizations/{organization_id}/points"
        if wants_fragment(request) and status_code == 200:
            return Template(
                "points/partials/history_rows.html.jinja2",
                context={"history": history, "next_url": next_url, "ticket_url": "/console/tickets/",
                         "staff": True, **helpers()},
            )
        return await console_page(
            request, "console_organization", status_code, organization=organization,
            balance=await services.balance(caller, organization_id), history=history,
            windows=services.expiring_label_days(), first_page=not cursor, next_url=next_url,
            may_adjust=caller.is_finance,
            values={"kind": "adjustment", "token": uuid.uuid4().hex, **(values or {})},
            errors=dict(errors or {}),
        )

    @get("/{organization_id:int}/points")
    async def organization_points(self, request: HTMXRequest, organization_id: FromPath[int],
                                  cursor: FromQuery[str] = "") -> Template:
        return await self._organization(request, organization_id, cursor=cursor)

    @post("/{organization_id:int}/points/adjustments")
    async def create_adjustment(
        self, request: HTMXRequest, organization_id: FromPath[int], data: Annotated[AdjustmentForm, FORM]
    ) -> Template | Redirect:
        caller = caller_of(request)
        grant = data.kind == "grant"
        try:
            posted = await services.adjust(
                caller, organization_id, points=data.points, reason=data.reason, expires_on=data.expires_on,
                key=data.token or None, grant=grant,
            )
        except REFUSED as exc:
            return await self._organization(
                request, organization_id, exc.status_code, values=data.model_dump(), errors=form_errors(exc)
            )
        if grant:
            message = ngettext("{points} point was granted.", "{points} points were granted.", posted.points,
                               points=format_number(posted.points))
        else:
            change = services.whole_number(data.points, "points")
            # −1 point, not −1 points: the sign does not make a point plural.
            message = ngettext("The balance was adjusted by {points} point.",
                               "The balance was adjusted by {points} points.",
                               abs(change), points=format_signed_points(change))
        flash(request, message)
        return Redirect(path=f"/console/organizations/{organization_id}/points")
