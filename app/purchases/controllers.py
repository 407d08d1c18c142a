"""The purchases JSON API and Stripe's webhook."""

from __future__ import annotations

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.params import FromPath, JSONBody

from app.accounts.guards import caller_of, requires_login
from app.errors import Conflict, InvalidInput, NotAllowed, ServiceUnavailable
from app.idempotency import IdempotencyKey, respond_once
from app.openapi import errors
from app.purchases import services
from app.purchases.schemas import PurchaseCreate, PurchaseCreated, PurchaseRead
from billing.invoicing import documents_of_purchase


class PurchaseController(Controller):
    path = "/api/v1"
    guards = [requires_login]
    tags = ["purchases"]

    # 422: an unknown bundle, a quantity outside its minimum and maximum, cards not offered;
    # 409: no issuer set up yet; 503: the card payment service cannot be reached.
    @post("/organizations/{organization_id:int}/purchases", operation_id="CreatePurchase", status_code=201,
          summary="Buy bundles: by card (a checkout URL) or by invoice (issued at once)",
          responses=errors(NotAllowed, Conflict, InvalidInput, ServiceUnavailable))
    async def create_purchase(
        self, request: Request, organization_id: FromPath[int], data: JSONBody[PurchaseCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[PurchaseCreated]:
        caller = caller_of(request)

        async def run() -> PurchaseCreated:
            purchase = await services.buy(
                caller, organization_id, bundle_code=data.bundle, quantity=data.quantity, method=data.method,
                recipient_name=data.recipient_name, key=idempotency_key,
            )
            invoices = [d.id for d in await documents_of_purchase(purchase.id) if d.kind == "invoice"]
            return PurchaseCreated(
                purchase_id=purchase.id, status=purchase.status, points=purchase.points,
                total_jpy=purchase.total_jpy, checkout_url=purchase.checkout_url or None,
                invoice_id=invoices[0] if invoices else None,
            )

        return await respond_once(request, caller, run, key=idempotency_key, status_code=201)

    @get("/purchases/{purchase_id:int}", operation_id="GetPurchase", summary="A purchase and what became of it")
    async def get_purchase(self, request: Request, purchase_id: FromPath[int]) -> PurchaseRead:
        caller = caller_of(request)
        purchase = await services.get_purchase(caller, purchase_id)
        documents = await services.purchase_documents(caller, purchase)
        return PurchaseRead.of(purchase, [d.id for d in documents])


class StripeWebhookController(Controller):
    path = "/webhooks/stripe"
    include_in_schema = False

    @post("/", status_code=200)
    async def receive_stripe_event(self, request: Request) -> Response:
        outcome = await services.receive_stripe_webhook(await request.body(), request.headers.get("Stripe-Signature"))
        return Response({"received": True, "outcome": outcome}, media_type=MediaType.JSON)
