"""Card payments through Stripe: a Checkout Session per purchase, the webhook events that say what
became of it, and card refunds.

Points are granted by the webhook (`checkout.session.completed` with the payment made, or
`checkout.session.async_payment_succeeded`), never by the customer's return to the site. Each
event is recorded in the transaction that applies it, so an event delivered twice, or three
times, applies once; events are handled whatever order they arrive in (money received wins over
an earlier expiry or failure notice; a refund notice before the payment notice settles the
payment first). Without a secret key (the embedded development default) no Stripe call is made:
the checkout is the app's own test-payment page, which completes the purchase through the same
signed-webhook path (`sign_payload`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe

from billing import clock, purchases
from billing.errors import N_, DocumentLocked, PaymentUnavailable, UnknownPurchase, WebhookRefused
from billing.purchases import PurchaseView
from billing.tables import StripeEvent
from billing.transactions import write_transaction

# Stripe keeps a Checkout Session open for at most 24 hours; ours close after one.
CHECKOUT_OPEN_SECONDS = 60 * 60
SIGNATURE_TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class StripeSettings:
    secret_key: str | None
    webhook_secret: str
    api_base: str | None = None  # a local fake of the Stripe API in tests

    @property
    def live(self) -> bool:
        """Whether card payments go to Stripe (False: the development test-payment page)."""
        return bool(self.secret_key)


def client(settings: StripeSettings) -> stripe.StripeClient:
    base = {"api": settings.api_base} if settings.api_base else None
    return stripe.StripeClient(
        settings.secret_key, base_addresses=base, http_client=stripe.HTTPXClient(), max_network_retries=1,
    )


def _unavailable(exc: stripe.StripeError) -> PaymentUnavailable:
    return PaymentUnavailable(
        N_("The card payment service could not be reached ({error}). Nothing was charged; try again, "
           "or pay by invoice."),
        error=getattr(exc, "user_message", None) or type(exc).__name__,
    )


async def open_checkout(
    purchase: PurchaseView,
    settings: StripeSettings,
    *,
    success_url: str,
    cancel_url: str,
    test_payment_url: str,
    customer_email: str | None = None,
) -> PurchaseView:
    """Open the card checkout of a pending purchase and record it on the purchase. When Stripe
    cannot be reached the purchase is forgotten (nothing was bought) and PaymentUnavailable says so."""
    if not settings.live:
        return await purchases.attach_checkout(purchase.id, f"cs_kippu_test_{purchase.id}", test_payment_url)
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{
            "quantity": 1,
            "price_data": {
                "currency": "jpy",
                "unit_amount": purchase.total_jpy,
                "product_data": {
                    "name": f"{purchase.bundle_name_ja} × {purchase.quantity}",
                    "description": (
                        f"{purchase.points:,}ポイント（税抜 {purchase.price_jpy:,}円・消費税 {purchase.tax_rate}% "
                        f"{purchase.tax_jpy:,}円）"
                    ),
                },
            },
        }],
        "client_reference_id": str(purchase.id),
        "metadata": {"purchase_id": str(purchase.id), "organization_id": str(purchase.organization_id)},
        "payment_intent_data": {
            "metadata": {"purchase_id": str(purchase.id)},
            "description": f"Kippu purchase {purchase.id}",
        },
        "success_url": success_url,
        "cancel_url": cancel_url,
        "expires_at": int(time.time()) + CHECKOUT_OPEN_SECONDS,
        "locale": "ja",
    }
    if customer_email:
        params["customer_email"] = customer_email
    try:
        session = await client(settings).v1.checkout.sessions.create_async(
            params=params, options={"idempotency_key": f"kippu-purchase-{purchase.id}"}
        )
    except stripe.StripeError as exc:
        await purchases.discard_unopened(purchase.id)
        raise _unavailable(exc) from exc
    return await purchases.attach_checkout(purchase.id, session.id, session.url)


async def refund_card_payment(purchase: PurchaseView, amount_jpy: int, settings: StripeSettings) -> str:
    """Give `amount_jpy` of a card payment back through Stripe (once per purchase); returns the
    refund's id. The points and the credit note are the ledger's side (purchases.refund_purchase)."""
    if not settings.live:
        refund_id = f"re_kippu_test_{purchase.id}"
    else:
        if not purchase.stripe_payment_intent:
            raise DocumentLocked(N_("Purchase {id} has no card payment to refund."), id=purchase.id)
        try:
            refund = await client(settings).v1.refunds.create_async(
                params={
                    "payment_intent": purchase.stripe_payment_intent, "amount": amount_jpy,
                    "metadata": {"purchase_id": str(purchase.id)},
                },
                options={"idempotency_key": f"kippu-refund-{purchase.id}"},
            )
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        refund_id = refund.id
    await purchases.record_card_refund(purchase.id, refund_id)
    return refund_id


# --- webhooks ------------------------------------------------------------------------------------

def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header for `payload`, made as Stripe makes it (for the development
    test-payment page, which goes through the same verification as Stripe's own events)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verified_event(payload: bytes, signature: str | None, settings: StripeSettings) -> dict[str, Any]:
    """The event in a webhook request, once its signature is verified; WebhookRefused otherwise."""
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature or "", settings.webhook_secret, SIGNATURE_TOLERANCE_SECONDS
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
        raise WebhookRefused(N_("The webhook signature does not verify.")) from exc
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("data"), dict):
        raise WebhookRefused(N_("The webhook body is not a Stripe event."))
    return event


def _purchase_id(obj: dict[str, Any]) -> int | None:
    metadata = obj.get("metadata") or {}
    for value in (metadata.get("purchase_id"), obj.get("client_reference_id")):
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
            return int(value)
    return None


async def _refunded_purchase(charge: dict[str, Any], settings: StripeSettings) -> int | None:
    """The purchase a refunded charge paid for: by its payment intent, by its metadata, or —
    when the payment notice has not arrived yet — by asking Stripe for the payment intent's."""
    intent = charge.get("payment_intent")
    if isinstance(intent, str):
        found = await purchases.purchase_of_payment_intent(intent)
        if found is not None:
            return found
    found = _purchase_id(charge)
    if found is None and isinstance(intent, str) and settings.live:
        try:
            payment_intent = await client(settings).v1.payment_intents.retrieve_async(intent)
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        found = _purchase_id({"metadata": dict(payment_intent.metadata or {})})
    return found


def _when(event: dict[str, Any]) -> datetime:
    created = event.get("created")
    return datetime.fromtimestamp(created, UTC) if isinstance(created, int) else clock.now()


async def _settle(purchase_id: int, session: dict[str, Any], event: dict[str, Any]) -> str:
    purchase = await purchases.get_purchase(purchase_id)
    if purchase.method != "card":
        return f"ignored: purchase {purchase_id} is paid by invoice"
    if purchase.stripe_session_id and session.get("id") != purchase.stripe_session_id:
        return f"ignored: session {session.get('id')} is not purchase {purchase_id}'s"
    if session.get("currency", "jpy") != "jpy" or session.get("amount_total", purchase.total_jpy) != purchase.total_jpy:
        return f"refused: the session's amount is not purchase {purchase_id}'s total ¥{purchase.total_jpy:,}"
    intent = session.get("payment_intent")
    _, settled = await purchases.settle_card_payment(
        purchase_id, paid_at=_when(event), payment_intent=intent if isinstance(intent, str) else None
    )
    return f"purchase {purchase_id} paid" if settled else f"purchase {purchase_id} was paid already"


async def _apply(event: dict[str, Any], refunded_purchase: int | None) -> str:
    kind, obj = event.get("type"), event["data"].get("object") or {}
    if kind == "charge.refunded":
        if refunded_purchase is None:
            return "ignored: not a purchase of ours"
        purchase = await purchases.get_purchase(refunded_purchase)
        if purchase.method != "card":
            return f"ignored: purchase {refunded_purchase} is paid by invoice"
        if purchase.status != "paid":
            # The refund notice came first: the charge it refunds was paid.
            await purchases.settle_card_payment(refunded_purchase, paid_at=_when(event),
                                                payment_intent=obj.get("payment_intent"))
        # The money already went back: the credit note states no more than Stripe returned.
        returned = obj.get("amount_refunded")
        if not isinstance(returned, int) or isinstance(returned, bool) or returned < 0:
            returned = purchase.total_jpy
        refund = await purchases.refund_purchase(refunded_purchase, "カード決済の返金", returned_jpy=returned)
        if isinstance(obj.get("id"), str) and refund.refunded_now:
            await purchases.record_card_refund(refunded_purchase, str(obj.get("id")))
        outcome = f"purchase {refunded_purchase}: {refund.points} unspent points refunded"
        if refund.refunded_now:
            credited = refund.credit_note.document.total_jpy if refund.credit_note else 0
            if credited < returned:
                outcome += f" (¥{returned:,} returned, credit note ¥{credited:,}: the rest paid for points used)"
        return outcome
    purchase_id = _purchase_id(obj)
    if purchase_id is None:
        return "ignored: not a purchase of ours"
    if kind == "checkout.session.completed":
        if obj.get("payment_status") in ("paid", "no_payment_required"):
            return await _settle(purchase_id, obj, event)
        await purchases.mark_processing(purchase_id)
        return f"purchase {purchase_id} waits for its payment"
    if kind == "checkout.session.async_payment_succeeded":
        return await _settle(purchase_id, obj, event)
    if kind == "checkout.session.async_payment_failed":
        await purchases.mark_unpaid(purchase_id, "failed", "The payment did not go through.")
        return f"purchase {purchase_id} payment failed"
    if kind == "checkout.session.expired":
        await purchases.mark_unpaid(purchase_id, "expired", "The checkout expired before payment.")
        return f"purchase {purchase_id} checkout expired"
    return f"ignored: {kind}"


async def receive_event(event: dict[str, Any], settings: StripeSettings) -> str:
    """Apply a verified event once; what it did is returned and kept with the event's id."""
    refunded = (
        await _refunded_purchase(event["data"].get("object") or {}, settings)
        if event.get("type") == "charge.refunded" else None
    )
    async with write_transaction():
        first = await StripeEvent.raw(
            "INSERT INTO stripe_events (event_id, type, outcome, received_at) VALUES ({}, {}, '', {}) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING id",
            event["id"], str(event.get("type", ""))[:100], clock.now(),
        )
        if not first:
            return "duplicate: applied before"
        try:
            outcome = await _apply(event, refunded)
        except UnknownPurchase:
            outcome = "ignored: no such purchase"
        await StripeEvent.update({StripeEvent.outcome: outcome}).where(StripeEvent.id == first[0]["id"])
        return outcome


async def receive_webhook(payload: bytes, signature: str | None, settings: StripeSettings) -> str:
    """POST /webhooks/stripe: verify, then apply once."""
    return await receive_event(verified_event(payload, signature, settings), settings)
