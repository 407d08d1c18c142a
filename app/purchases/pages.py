"""Buying points in the portal, the company's documents (invoices, receipts, credit notes) and
usage statements, and the development test-payment page.

The customer admin chooses a bundle and a quantity, sees the points, price, tax and total before
paying, and pays by card (sent to the card checkout; the points arrive when the payment is
confirmed) or by invoice (issued at once, paid by bank transfer). Handlers parse, call one
service (app/purchases/services.py, app/invoices/services.py) and render.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from pydantic import BaseModel

from app.accounts.guards import caller_of, requires_customer, requires_login
from app.accounts.pages import FORM, flash, form_errors
from app.errors import Conflict, InvalidInput, NotAllowed, NotFound, ServiceUnavailable
from app.i18n import _
from app.invoices import services as documents
from app.invoices.controllers import pdf_response
from app.portal.layout import page, wants_fragment
from app.purchases import services
from app.settings import get_settings
from app.tickets.attachments import storage_use

REFUSED = (InvalidInput, Conflict, NotAllowed, ServiceUnavailable)


def helpers() -> dict[str, Any]:
    return {
        "purchase_status_label": services.purchase_status_label,
        "method_label": services.method_label,
        "kind_label": documents.kind_label,
        "document_status_label": documents.status_label,
    }


class PurchaseForm(BaseModel):
    bundle: str = ""
    quantity: str = "1"
    method: str = ""
    recipient_name: str = ""
    token: str = ""


class PortalPurchaseController(Controller):
    path = "/portal"
    guards = [requires_customer]
    include_in_schema = False

    async def _form(self, request: HTMXRequest, status_code: int = 200, *, values: Mapping[str, str] | None = None,
                    errors: Mapping[str, str] | None = None) -> Template:
        caller = caller_of(request)
        if not caller.is_customer_admin:
            return await page(request, "purchase_not_allowed", 403, **helpers())
        options = await services.buying_options(caller, caller.organization_id)
        values = {"quantity": "1", "method": "invoice", "recipient_name": options.recipient_name,
                  "bundle": options.bundles[0].code if options.bundles else "", "token": uuid.uuid4().hex,
                  **(values or {})}
        return await page(
            request, "purchase", status_code, options=options, values=values, errors=dict(errors or {}),
            quote=await self._quote(values["bundle"], values["quantity"]), **helpers(),
        )

    async def _quote(self, bundle: str, quantity: str) -> dict[str, Any]:
        """What the chosen bundles cost, or why they cannot be bought (shown before paying)."""
        if not bundle:
            return {"error": None, "quote": None}
        try:
            chosen, quote = await services.quote(bundle, quantity)
        except InvalidInput as exc:
            return {"error": exc.message, "field": exc.extra.get("field"), "quote": None}
        return {"error": None, "quote": quote, "bundle": chosen}

    @get("/purchase")
    async def purchase_page(self, request: HTMXRequest) -> Template:
        return await self._form(request)

    @get("/purchase/quote")
    async def purchase_quote(self, request: HTMXRequest, bundle: FromQuery[str] = "",
                             quantity: FromQuery[str] = "") -> Template:
        """The price of the bundles being chosen, refreshed as bundle and quantity change."""
        caller = caller_of(request)
        if not caller.is_customer_admin:
            raise NotAllowed(_("Only your company's administrator can buy points."))
        return Template("purchases/partials/quote.html.jinja2",
                        context={"quote": await self._quote(bundle[:40], quantity[:20]), **helpers()})

    @post("/purchase")
    async def buy(self, request: HTMXRequest, data: Annotated[PurchaseForm, FORM]) -> Template | Redirect:
        caller = caller_of(request)
        try:
            purchase = await services.buy(
                caller, caller.organization_id, bundle_code=data.bundle, quantity=data.quantity,
                method=data.method, recipient_name=data.recipient_name, key=data.token or None,
            )
        except REFUSED as exc:
            if isinstance(exc, NotAllowed):
                raise
            return await self._form(request, exc.status_code, values=data.model_dump(), errors=form_errors(exc))
        if purchase.method == "card" and purchase.status == "pending":
            return Redirect(path=purchase.checkout_url)
        flash(request, _("Thank you. Invoice issued: the points arrive once the transfer is confirmed.")
              if purchase.method == "invoice" else _("Thank you for your purchase."))
        return Redirect(path=f"/portal/purchases/{purchase.id}")

    @get("/purchases/{purchase_id:int}")
    async def purchase_status(self, request: HTMXRequest, purchase_id: FromPath[int],
                              checkout: FromQuery[str] = "") -> Template:
        """A purchase and what became of it; while a card payment is being confirmed the status
        refreshes itself."""
        caller = caller_of(request)
        purchase = await services.get_purchase(caller, purchase_id)
        context = {"purchase": purchase, "documents": await services.purchase_documents(caller, purchase),
                   "checkout": checkout, **helpers()}
        if wants_fragment(request):
            return Template("purchases/partials/purchase_status.html.jinja2", context=context)
        return await page(request, "purchase_status", **context)

    @get("/billing")
    async def billing_page(self, request: HTMXRequest, cursor: FromQuery[str] = "") -> Template:
        """The company's purchases, documents and monthly statements (customer admins)."""
        caller = caller_of(request)
        if not caller.is_customer_admin:
            return await page(request, "purchase_not_allowed", 403, **helpers())
        found = await documents.list_documents(caller, documents.DocumentFilters(), cursor or None)
        return await page(
            request, "billing", purchases=await services.purchases_of(caller, caller.organization_id),
            documents=found, months=documents.statement_months(), first_page=not cursor,
            storage=await storage_use(caller, caller.organization_id), **helpers(),
        )

    @get("/documents/{document_id:int}", media_type=MediaType.HTML)
    async def document_view(self, request: Request, document_id: FromPath[int]) -> Response:
        html = await documents.document_html(caller_of(request), document_id)
        return Response(html, media_type=MediaType.HTML)

    @get("/documents/{document_id:int}/pdf", media_type="application/pdf")
    async def document_pdf(self, request: Request, document_id: FromPath[int]) -> Response:
        document, pdf = await documents.document_pdf(caller_of(request), document_id)
        return pdf_response(pdf, f"{document.number}.pdf")

    @get("/statements/{month:str}", media_type=MediaType.HTML)
    async def statement_view(self, request: Request, month: FromPath[str]) -> Response:
        caller = caller_of(request)
        html = await documents.statement_html(caller, caller.organization_id, documents.required_month(month))
        return Response(html, media_type=MediaType.HTML)

    @get("/statements/{month:str}/pdf", media_type="application/pdf")
    async def statement_pdf(self, request: Request, month: FromPath[str]) -> Response:
        caller = caller_of(request)
        month = documents.required_month(month)
        return pdf_response(await documents.statement_pdf(caller, caller.organization_id, month),
                            f"statement-{month}.pdf")


class TestPaymentForm(BaseModel):
    outcome: str = "paid"


class TestPaymentController(Controller):
    """Stands in for Stripe's checkout while no Stripe keys are set (development only): what the
    customer chooses here is sent as the event Stripe would send, signed, through the webhook's
    own verification. Every route answers 404 in production or beside real Stripe keys."""

    path = "/test-payments"
    guards = [requires_login]
    include_in_schema = False

    @get("/{purchase_id:int}")
    async def test_payment_page(self, request: HTMXRequest, purchase_id: FromPath[int]) -> Template:
        if not get_settings().test_payments:
            raise NotFound(_("This page does not exist."))
        purchase = await services.get_purchase(caller_of(request), purchase_id)
        return Template("purchases/test_payment.html.jinja2", context={"purchase": purchase, **helpers()})

    @post("/{purchase_id:int}")
    async def complete_test_payment(self, request: HTMXRequest, purchase_id: FromPath[int],
                                    data: Annotated[TestPaymentForm, FORM]) -> Redirect:
        caller = caller_of(request)
        await services.test_payment(caller, purchase_id, data.outcome)
        page_path = f"/portal/purchases/{purchase_id}" if caller.is_customer else "/console/finance/purchases"
        return Redirect(path=f"{page_path}?checkout=done" if caller.is_customer else page_path)
