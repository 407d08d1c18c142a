"""Buying points, as people do it: who may buy for which organisation, the price shown before
paying, the card checkout or the invoice, the purchase's page, the Stripe webhook and the
development test-payment page.

The work is in billing.purchases and billing.card_payments; this layer authorises the `Caller`
(another organisation's purchases do not exist for a customer: 404), reads what was typed into
the plain values those take, and turns their refusals into app errors naming the field.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from app.accounts.caller import Caller
from app.accounts.tables import Organization, User
from app.errors import InvalidInput, NotAllowed, NotFound, from_domain
from app.i18n import N_, _
from app.points.services import parse_code, whole_number
from app.settings import get_settings
from billing import card_payments, purchases
from billing.card_payments import StripeSettings
from billing.errors import LedgerError
from billing.invoicing import IssuedDocument, documents_of_purchase
from billing.issuer import current_issuer
from billing.purchases import PurchaseView
from pricing import services as pricing
from pricing.errors import PricingError
from pricing.rules import Bundle, PurchaseQuote, validate_purchase

QUANTITY_MAX = 10_000
PURCHASE_STATUSES = {
    "pending": N_("Waiting for the card payment"),
    "processing": N_("Payment being confirmed"),
    "awaiting_payment": N_("Waiting for the bank transfer"),
    "paid": N_("Payment received"),
    "failed": N_("Payment failed"),
    "expired": N_("Checkout expired"),
    "cancelled": N_("Cancelled"),
}
METHODS = {"card": N_("Card"), "invoice": N_("Invoice (bank transfer)")}


def purchase_status_label(status: str) -> str:
    return _(PURCHASE_STATUSES.get(status, status))


def method_label(method: str) -> str:
    return _(METHODS.get(method, method))


def request_key(caller: Caller, purpose: str, key: str | None) -> str | None:
    """The stored key of a form's one-time token or an Idempotency-Key: hashed with the caller, so
    whatever text a client sends fits the column (PostgreSQL refuses a NUL; the column holds 255
    characters) and two callers never share one."""
    return f"{purpose}:{hashlib.sha256(f'{caller.id}:{key}'.encode()).hexdigest()}" if key else None


def stripe_settings() -> StripeSettings:
    settings = get_settings()
    return StripeSettings(
        secret_key=settings.stripe_secret_key, webhook_secret=settings.stripe_webhook_secret,
        api_base=settings.stripe_api_base,
    )


def _may_buy(caller: Caller, organization_id: int) -> None:
    """A customer admin buys for its own company; finance and admins for any company."""
    if not caller.can_see_organization(organization_id):
        raise NotFound(_("This organisation does not exist."))
    if not (caller.is_finance or (caller.is_customer_admin and caller.organization_id == organization_id)):
        raise NotAllowed(_("Only your company's administrator can buy points."))


async def _organization(organization_id: int) -> dict[str, Any]:
    row = await Organization.select(Organization.id, Organization.name, Organization.billing_email).where(
        Organization.id == organization_id
    ).first()
    if row is None:
        raise NotFound(_("This organisation does not exist."))
    return row


@dataclass(frozen=True, slots=True)
class BuyingOptions:
    """What the purchase page offers: the bundles on sale and the ways to pay."""

    bundles: list[Bundle]
    card: bool
    issuer_ready: bool
    recipient_name: str


async def buying_options(caller: Caller, organization_id: int) -> BuyingOptions:
    _may_buy(caller, organization_id)
    organization = await _organization(organization_id)
    return BuyingOptions(
        bundles=await pricing.bundles(), card=get_settings().card_payments,
        issuer_ready=await current_issuer() is not None, recipient_name=organization["name"],
    )


def parse_quantity(value: Any) -> int:
    return whole_number(value, "quantity", minimum=1, maximum=QUANTITY_MAX)


async def quote(bundle_code: str, quantity: Any) -> tuple[Bundle, PurchaseQuote]:
    """The points, price, tax and total of buying `quantity` of a bundle, or why it cannot be bought."""
    try:
        bundle = await pricing.bundle(parse_code(bundle_code, "bundle"))
        issuer = await current_issuer()
        return bundle, validate_purchase(bundle, parse_quantity(quantity), issuer.tax_rounding if issuer else "down")
    except (PricingError, LedgerError) as exc:
        raise from_domain(exc) from exc


async def buy(
    caller: Caller,
    organization_id: int,
    *,
    bundle_code: str,
    quantity: Any,
    method: str,
    recipient_name: str | None = None,
    key: str | None = None,
) -> PurchaseView:
    """Buy bundles for an organisation. By invoice: the invoice is issued now. By card: the
    checkout is opened (the purchase's `checkout_url` is where to send the customer); the points
    arrive when Stripe says the payment was made. The same `key` again returns the first purchase."""
    _may_buy(caller, organization_id)
    organization = await _organization(organization_id)
    if method == "card" and not get_settings().card_payments:
        raise InvalidInput(_("Card payments are not available; please choose to pay by invoice."), field="method")
    settings = get_settings()
    try:
        purchase = await purchases.start_purchase(
            organization_id, parse_code(bundle_code, "bundle"), parse_quantity(quantity), method,
            recipient_name=recipient_name if recipient_name is not None else organization["name"],
            requested_by=caller.id, request_key=request_key(caller, "purchase", key),
        )
        if purchase.method == "card" and purchase.stripe_session_id is None:
            base = settings.base_url.rstrip("/")
            page = f"{base}/portal/purchases/{purchase.id}"
            purchase = await card_payments.open_checkout(
                purchase, stripe_settings(), success_url=f"{page}?checkout=done",
                cancel_url=f"{page}?checkout=cancelled", test_payment_url=f"{base}/test-payments/{purchase.id}",
                customer_email=organization["billing_email"] or caller.email,
            )
    except (PricingError, LedgerError) as exc:
        raise from_domain(exc) from exc
    return purchase


async def get_purchase(caller: Caller, purchase_id: int) -> PurchaseView:
    """A purchase, for its organisation's members and for staff (404 for anyone else)."""
    try:
        purchase = await purchases.get_purchase(purchase_id)
    except LedgerError as exc:
        raise from_domain(exc) from exc
    if not caller.can_see_organization(purchase.organization_id):
        raise NotFound(_("This purchase does not exist."))
    return purchase


async def purchase_documents(caller: Caller, purchase: PurchaseView) -> list[IssuedDocument]:
    """The documents of a purchase, for those who may download documents (finance, the customer admin)."""
    if not (caller.is_finance or (caller.is_customer_admin and caller.organization_id == purchase.organization_id)):
        return []
    return await documents_of_purchase(purchase.id)


async def purchases_of(caller: Caller, organization_id: int) -> list[PurchaseView]:
    if not caller.can_see_organization(organization_id):
        raise NotFound(_("This organisation does not exist."))
    return await purchases.purchases_of(organization_id)


async def requester_names(items: list[PurchaseView]) -> dict[int, str]:
    ids = list({p.requested_by for p in items if p.requested_by})
    if not ids:
        return {}
    return {r["id"]: r["name"] for r in await User.select(User.id, User.name).where(User.id.is_in(ids))}


# --- Stripe ------------------------------------------------------------------------------------

async def receive_stripe_webhook(payload: bytes, signature: str | None) -> str:
    if not get_settings().accepts_webhooks:
        raise NotFound(_("Webhooks are not accepted: this installation has no Stripe webhook secret."))
    try:
        return await card_payments.receive_webhook(payload, signature, stripe_settings())
    except LedgerError as exc:
        raise from_domain(exc) from exc


# --- the development test-payment page ---------------------------------------------------------

TEST_OUTCOMES = ("paid", "delayed", "delayed_paid", "failed", "expired")


async def test_payment(caller: Caller, purchase_id: int, outcome: str) -> str:
    """Pretend to be Stripe for a card purchase (development only): the event Stripe would send
    for `outcome` is signed with the webhook secret and goes through the webhook's own
    verification and handling. Refused in production or when real Stripe keys are set."""
    if not get_settings().test_payments:
        raise NotFound(_("This page does not exist."))
    purchase = await get_purchase(caller, purchase_id)
    if purchase.method != "card" or purchase.stripe_session_id is None:
        raise NotFound(_("This purchase does not exist."))
    if outcome not in TEST_OUTCOMES:
        raise InvalidInput(_("Choose what the test payment does."), field="outcome")
    kind, payment_status = {
        "paid": ("checkout.session.completed", "paid"),
        "delayed": ("checkout.session.completed", "unpaid"),
        "delayed_paid": ("checkout.session.async_payment_succeeded", "paid"),
        "failed": ("checkout.session.async_payment_failed", "unpaid"),
        "expired": ("checkout.session.expired", "unpaid"),
    }[outcome]
    event = {
        "id": f"evt_kippu_test_{uuid.uuid4().hex}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {
            "id": purchase.stripe_session_id, "object": "checkout.session", "mode": "payment",
            "payment_status": payment_status, "status": "expired" if outcome == "expired" else "complete",
            "amount_total": purchase.total_jpy, "currency": "jpy", "client_reference_id": str(purchase.id),
            "metadata": {"purchase_id": str(purchase.id), "organization_id": str(purchase.organization_id)},
            "payment_intent": f"pi_kippu_test_{purchase.id}" if payment_status == "paid" else None,
        }},
    }
    payload = json.dumps(event).encode()
    signature = card_payments.sign_payload(payload, get_settings().stripe_webhook_secret)
    return await receive_stripe_webhook(payload, signature)
