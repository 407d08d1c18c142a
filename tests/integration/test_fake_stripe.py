"""The real Stripe SDK against the local fake, and its webhooks verified as the app will verify them."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import stripe

from tests.fake_stripe import FakeStripe, fake_stripe  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
PURCHASE_PAGE = "http://127.0.0.1:9/portal/purchases/123"


def checkout_params(**changes: object) -> dict:
    """What the app sends for purchase 123: one ¥55,000 pack of 10 points."""
    params = {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": "jpy", "unit_amount": 55000,
            "product_data": {"name": "10ポイントパック × 1", "description": "有効期限 12か月"},
        }}],
        "client_reference_id": "123",
        "metadata": {"purchase_id": "123", "organization_id": "5"},
        "payment_intent_data": {"metadata": {"purchase_id": "123"}, "description": "Kippu 10ポイント"},
        "customer_email": "tanaka@sakura-shoji.example",
        "success_url": PURCHASE_PAGE + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": PURCHASE_PAGE,
        "expires_at": int(time.time()) + 3600,
        "locale": "ja",
    }
    return {**params, **changes}


@dataclass
class Received:
    body: bytes
    signature: str | None


@dataclass
class WebhookReceiver:
    """A webhook endpoint on loopback: keeps each POST, answers `answers` in turn, then 200."""

    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(Received(body, self.headers.get("Stripe-Signature")))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verified(received: Received, secret: str) -> stripe.Event:
    return stripe.Webhook.construct_event(received.body, received.signature, secret)


@pytest.fixture
def receiver(fake_stripe: FakeStripe) -> Iterator[WebhookReceiver]:
    endpoint = WebhookReceiver()
    fake_stripe.webhook_url = endpoint.url
    yield endpoint
    endpoint.close()


@pytest.fixture
async def stripe_client(fake_stripe: FakeStripe) -> AsyncIterator[stripe.StripeClient]:
    """Built as the app builds it: async httpx, no retries, the API base pointed at the fake."""
    http_client = stripe.HTTPXClient()
    yield stripe.StripeClient(fake_stripe.api_key, base_addresses={"api": fake_stripe.api_base},
                              http_client=http_client, max_network_retries=0)
    await http_client.close_async()


@pytest.fixture(params=["requests", "httpx"])
def sync_client(fake_stripe: FakeStripe, request: pytest.FixtureRequest) -> stripe.StripeClient:
    """A synchronous client (the app's `HTTPXClient()` is async-only unless `allow_sync_methods`)."""
    http_client = (stripe.HTTPXClient(allow_sync_methods=True) if request.param == "httpx"
                   else stripe.RequestsClient())
    return stripe.StripeClient(fake_stripe.api_key, base_addresses={"api": fake_stripe.api_base},
                               http_client=http_client, max_network_retries=0)


async def paid_session(client: stripe.StripeClient, fake: FakeStripe) -> stripe.checkout.Session:
    session = await client.v1.checkout.sessions.create_async(params=checkout_params())
    fake.pay(session.id)
    return await client.v1.checkout.sessions.retrieve_async(session.id)


async def test_a_checkout_session_is_open_and_unpaid_with_what_the_app_sent(stripe_client, fake_stripe):
    params = checkout_params()
    session = await stripe_client.v1.checkout.sessions.create_async(
        params=params, options={"idempotency_key": "purchase-123"})

    assert session.object == "checkout.session"
    assert session.id.startswith("cs_test_")
    assert session.url.startswith(fake_stripe.api_base)
    assert (session.status, session.payment_status, session.payment_intent) == ("open", "unpaid", None)
    assert (session.amount_subtotal, session.amount_total, session.currency) == (55000, 55000, "jpy")
    assert session.client_reference_id == "123"
    assert session.metadata.to_dict() == {"purchase_id": "123", "organization_id": "5"}
    assert session.expires_at == params["expires_at"]
    assert session.customer_email == "tanaka@sakura-shoji.example"
    assert session.livemode is False
    [item] = fake_stripe.line_items[session.id]
    assert (item["description"], item["quantity"], item["price"]["unit_amount"]) == ("10ポイントパック × 1", 1, 55000)
    [call] = fake_stripe.requests
    assert (call.idempotency_key, call.stripe_version) == ("purchase-123", stripe.api_version)
    again = await stripe_client.v1.checkout.sessions.retrieve_async(session.id)
    assert again.to_dict() == session.to_dict()


def test_the_synchronous_client_creates_retrieves_and_expires_a_session(sync_client):
    session = sync_client.v1.checkout.sessions.create(params=checkout_params())

    expired = sync_client.v1.checkout.sessions.expire(session.id)

    assert expired.status == "expired"
    assert sync_client.v1.checkout.sessions.retrieve(session.id).status == "expired"


async def test_expiring_a_session_delivers_checkout_session_expired(stripe_client, fake_stripe, receiver):
    session = await stripe_client.v1.checkout.sessions.create_async(params=checkout_params())

    await stripe_client.v1.checkout.sessions.expire_async(session.id, options={"idempotency_key": "expire-123"})
    fake_stripe.settle()

    [received] = receiver.received
    event = verified(received, fake_stripe.webhook_secret)
    assert event.type == "checkout.session.expired"
    assert (event.data.object.id, event.data.object.status) == (session.id, "expired")
    assert event.request.idempotency_key == "expire-123"


async def test_an_expired_session_cannot_be_expired_or_paid(stripe_client, fake_stripe):
    session = await stripe_client.v1.checkout.sessions.create_async(params=checkout_params())
    fake_stripe.expire(session.id)

    with pytest.raises(stripe.InvalidRequestError, match='status of "expired"'):
        await stripe_client.v1.checkout.sessions.expire_async(session.id)
    assert httpx.post(session.url, data={"method": "card"}).status_code == 400


async def test_the_same_idempotency_key_and_params_replay_the_same_session(stripe_client, fake_stripe):
    options = {"idempotency_key": "purchase-123"}
    params = checkout_params()

    first = await stripe_client.v1.checkout.sessions.create_async(params=params, options=options)
    second = await stripe_client.v1.checkout.sessions.create_async(params=params, options=options)

    assert second.id == first.id
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert list(fake_stripe.sessions) == [first.id]


async def test_the_same_idempotency_key_with_other_params_is_refused(stripe_client, fake_stripe):
    options = {"idempotency_key": "purchase-123"}
    await stripe_client.v1.checkout.sessions.create_async(params=checkout_params(), options=options)

    with pytest.raises(stripe.IdempotencyError, match="same parameters") as refused:
        await stripe_client.v1.checkout.sessions.create_async(
            params=checkout_params(client_reference_id="124"), options=options)

    assert refused.value.http_status == 400
    assert len(fake_stripe.sessions) == 1


def line_item(**price_changes: object) -> list[dict]:
    price = {"currency": "jpy", "unit_amount": 55000, "product_data": {"name": "10ポイントパック × 1"}}
    return [{"quantity": 1, "price_data": {**price, **price_changes}}]


@pytest.mark.parametrize(("changes", "param", "code"), [
    ({"line_items": None}, "line_items", "parameter_missing"),
    ({"mode": None}, "mode", "parameter_missing"),
    ({"line_items": line_item(product_data={"description": "…"})},
     "line_items[0][price_data][product_data][name]",
     "parameter_missing"),
    ({"line_items": line_item(unit_amount=550.5)}, "line_items[0][price_data][unit_amount]",
     "parameter_invalid_integer"),
    ({"line_items": line_item(unit_amount=49)}, "line_items", "amount_too_small"),
    ({"metadata": {"purchase_id": "x" * 501}}, "metadata[purchase_id]", None),
    ({"expires_at": int(time.time()) + 600}, "expires_at", None),
    ({"automatic_tax": {"enabled": True}}, "automatic_tax", "parameter_unknown"),
    ({"payment_intent_data": {"capture_method": "manual"}}, "payment_intent_data[capture_method]",
     "parameter_unknown"),
])
async def test_invalid_params_are_refused_naming_the_param(stripe_client, fake_stripe, changes, param, code):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await stripe_client.v1.checkout.sessions.create_async(params=checkout_params(**changes))

    assert (refused.value.http_status, refused.value.param, refused.value.code) == (400, param, code)
    assert refused.value.error.type == "invalid_request_error"
    assert fake_stripe.sessions == {}


async def test_an_unknown_session_or_payment_intent_is_resource_missing(stripe_client):
    with pytest.raises(stripe.InvalidRequestError, match="No such checkout.session") as session:
        await stripe_client.v1.checkout.sessions.retrieve_async("cs_test_unknown")
    with pytest.raises(stripe.InvalidRequestError, match="No such payment_intent") as intent:
        await stripe_client.v1.payment_intents.retrieve_async("pi_unknown")

    assert (session.value.http_status, session.value.code, session.value.param) == (404, "resource_missing", "session")
    assert (intent.value.http_status, intent.value.param) == (404, "intent")


@pytest.mark.parametrize(("api_key", "message"), [("sk_test_wrong_key_1234", "Invalid API Key provided: sk_test_"),
                                                  ("", "You did not provide an API key")])
def test_a_wrong_or_missing_api_key_is_refused(fake_stripe, api_key, message):
    # requests, not httpx: httpx will not send the bare "Bearer " header that an empty key makes.
    client = stripe.StripeClient(api_key, base_addresses={"api": fake_stripe.api_base},
                                 http_client=stripe.RequestsClient(), max_network_retries=0)

    with pytest.raises(stripe.AuthenticationError, match=message) as refused:
        client.v1.checkout.sessions.create(params=checkout_params())

    assert refused.value.http_status == 401
    assert fake_stripe.sessions == {}


async def test_paying_on_the_hosted_page_redirects_to_success_url_and_delivers_completed(
        stripe_client, fake_stripe, receiver):
    session = await stripe_client.v1.checkout.sessions.create_async(params=checkout_params())

    page = httpx.get(session.url)
    paid = httpx.post(session.url, data={"method": "card"})

    assert page.status_code == 200
    assert "¥55,000" in page.text and "10ポイントパック × 1" in page.text and 'id="pay"' in page.text
    assert f'href="{PURCHASE_PAGE}"' in page.text
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"{PURCHASE_PAGE}?session_id={session.id}"
    [received] = receiver.received
    event = verified(received, fake_stripe.webhook_secret)
    assert (event.type, event.object, event.api_version, event.livemode) == (
        "checkout.session.completed", "event", stripe.api_version, False)
    assert event.id.startswith("evt_") and event.pending_webhooks == 1
    assert event.request.id is None
    completed = event.data.object
    assert (completed.id, completed.status, completed.payment_status) == (session.id, "complete", "paid")
    assert completed.metadata.purchase_id == "123"
    assert completed.customer_details.email == "tanaka@sakura-shoji.example"
    after = await stripe_client.v1.checkout.sessions.retrieve_async(session.id)
    assert (after.status, after.payment_status, after.payment_intent) == ("complete", "paid", completed.payment_intent)


async def test_a_paid_session_has_a_payment_intent_with_the_apps_metadata(stripe_client, fake_stripe):
    session = await paid_session(stripe_client, fake_stripe)

    intent = await stripe_client.v1.payment_intents.retrieve_async(session.payment_intent)

    assert intent.object == "payment_intent" and intent.id.startswith("pi_")
    assert (intent.amount, intent.currency, intent.status) == (55000, "jpy", "succeeded")
    assert intent.metadata.to_dict() == {"purchase_id": "123"}
    assert intent.description == "Kippu 10ポイント"
    charge = await stripe_client.v1.charges.retrieve_async(intent.latest_charge)
    assert (charge.amount, charge.amount_refunded, charge.refunded, charge.paid) == (55000, 0, False, True)
    assert charge.payment_intent == intent.id


async def test_each_event_can_be_delivered_several_times(stripe_client, fake_stripe, receiver):
    fake_stripe.repeat = 3
    session = await stripe_client.v1.checkout.sessions.create_async(params=checkout_params())

    fake_stripe.pay(session.id)

    events = [verified(received, fake_stripe.webhook_secret) for received in receiver.received]
    assert [event.type for event in events] == ["checkout.session.completed"] * 3
    assert len({event.id for event in events}) == 1
    assert [delivery.status for delivery in fake_stripe.deliveries] == [200, 200, 200]


async def test_a_konbini_payment_completes_unpaid_and_is_paid_later(stripe_client, fake_stripe, receiver):
    session = await stripe_client.v1.checkout.sessions.create_async(params=checkout_params())

    assert httpx.post(session.url, data={"method": "konbini"}).status_code == 303
    waiting = await stripe_client.v1.payment_intents.retrieve_async(
        (await stripe_client.v1.checkout.sessions.retrieve_async(session.id)).payment_intent)
    fake_stripe.async_succeed(session.id)

    completed, succeeded = (verified(r, fake_stripe.webhook_secret) for r in receiver.received)
    assert (completed.type, completed.data.object.payment_status) == ("checkout.session.completed", "unpaid")
    assert (waiting.status, waiting.latest_charge) == ("requires_action", None)
    assert (succeeded.type, succeeded.data.object.payment_status) == (
        "checkout.session.async_payment_succeeded", "paid")
    intent = await stripe_client.v1.payment_intents.retrieve_async(waiting.id)
    assert intent.status == "succeeded" and intent.latest_charge.startswith("ch_")


async def test_a_lapsed_konbini_payment_fails(stripe_client, fake_stripe, receiver):
    session = await stripe_client.v1.checkout.sessions.create_async(params=checkout_params())
    fake_stripe.pay(session.id, method="konbini")

    fake_stripe.async_fail(session.id)

    failed = verified(receiver.received[-1], fake_stripe.webhook_secret)
    assert (failed.type, failed.data.object.payment_status) == ("checkout.session.async_payment_failed", "unpaid")
    after = await stripe_client.v1.checkout.sessions.retrieve_async(session.id)
    assert (after.status, after.payment_status) == ("complete", "unpaid")


async def test_held_events_arrive_in_the_order_they_are_released(stripe_client, fake_stripe, receiver):
    fake_stripe.hold = True
    session = await stripe_client.v1.checkout.sessions.create_async(params=checkout_params())
    fake_stripe.pay(session.id, method="konbini")
    fake_stripe.async_succeed(session.id)
    assert receiver.received == []

    fake_stripe.release(list(reversed(fake_stripe.held)))

    events = [verified(received, fake_stripe.webhook_secret) for received in receiver.received]
    assert [event.type for event in events] == ["checkout.session.async_payment_succeeded",
                                                "checkout.session.completed"]
    assert fake_stripe.held == []


async def test_deliveries_record_the_apps_answer_and_an_event_can_be_sent_again(stripe_client, fake_stripe, receiver):
    receiver.answers = [500]
    session = await stripe_client.v1.checkout.sessions.create_async(params=checkout_params())
    fake_stripe.pay(session.id)
    [failed] = fake_stripe.deliveries

    fake_stripe.deliver(failed.event)

    assert [delivery.status for delivery in fake_stripe.deliveries] == [500, 200]
    first, second = (verified(received, fake_stripe.webhook_secret) for received in receiver.received)
    assert first.id == second.id == failed.event_id


async def test_a_forged_or_stale_signature_is_refused_by_construct_event(stripe_client, fake_stripe, receiver):
    session = await stripe_client.v1.checkout.sessions.create_async(params=checkout_params())
    fake_stripe.pay(session.id)
    [event] = fake_stripe.events

    fake_stripe.deliver(event, secret="whsec_forged")
    fake_stripe.deliver(event, timestamp=int(time.time()) - 600)

    fresh, forged, stale = receiver.received
    assert verified(fresh, fake_stripe.webhook_secret).id == event["id"]
    with pytest.raises(stripe.SignatureVerificationError, match="No signatures found matching"):
        verified(forged, fake_stripe.webhook_secret)
    with pytest.raises(stripe.SignatureVerificationError, match="Timestamp outside the tolerance zone"):
        verified(stale, fake_stripe.webhook_secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(fresh.body.replace(b"55000", b"5500"), fresh.signature,
                                       fake_stripe.webhook_secret)


async def test_a_refund_updates_the_charge_and_delivers_charge_refunded(stripe_client, fake_stripe, receiver):
    session = await paid_session(stripe_client, fake_stripe)
    refund_params = {"payment_intent": session.payment_intent, "amount": 27500, "metadata": {"purchase_id": "123"}}
    options = {"idempotency_key": "refund-123-1"}

    refund = await stripe_client.v1.refunds.create_async(params=refund_params, options=options)
    replayed = await stripe_client.v1.refunds.create_async(params=refund_params, options=options)
    fake_stripe.settle()

    assert (refund.object, refund.amount, refund.status, refund.payment_intent) == (
        "refund", 27500, "succeeded", session.payment_intent)
    assert refund.metadata.purchase_id == "123"
    assert replayed.id == refund.id
    completed, refunded = (verified(received, fake_stripe.webhook_secret) for received in receiver.received)
    assert refunded.type == "charge.refunded"
    assert refunded.request.idempotency_key == "refund-123-1"
    charge = refunded.data.object
    assert (charge.payment_intent, charge.amount, charge.amount_refunded, charge.refunded, charge.currency) == (
        session.payment_intent, 55000, 27500, False, "jpy")
    assert charge.metadata.purchase_id == "123"
    await stripe_client.v1.refunds.create_async(params={"payment_intent": session.payment_intent})
    after = await stripe_client.v1.charges.retrieve_async(charge.id)
    assert (after.amount_refunded, after.refunded) == (55000, True)


async def test_refunding_more_than_is_left_is_refused(stripe_client, fake_stripe):
    session = await paid_session(stripe_client, fake_stripe)
    intent = session.payment_intent
    await stripe_client.v1.refunds.create_async(params={"payment_intent": intent, "amount": 27500})

    with pytest.raises(stripe.InvalidRequestError, match=r"\(¥30,000\) is greater than .* \(¥27,500\)") as too_much:
        await stripe_client.v1.refunds.create_async(params={"payment_intent": intent, "amount": 30000})
    fake_stripe.refund(intent)
    with pytest.raises(stripe.InvalidRequestError) as nothing_left:
        await stripe_client.v1.refunds.create_async(params={"payment_intent": intent, "amount": 1})

    assert (too_much.value.http_status, too_much.value.param) == (400, "amount")
    assert nothing_left.value.code == "charge_already_refunded"
    assert sum(refund["amount"] for refund in fake_stripe.refunds.values()) == 55000


async def test_a_payment_not_yet_made_cannot_be_refunded(stripe_client, fake_stripe):
    session = await stripe_client.v1.checkout.sessions.create_async(params=checkout_params())
    fake_stripe.pay(session.id, method="konbini")
    intent = fake_stripe.sessions[session.id]["payment_intent"]

    with pytest.raises(stripe.InvalidRequestError, match="does not have a successful charge") as refused:
        await stripe_client.v1.refunds.create_async(params={"payment_intent": intent})

    assert refused.value.param == "payment_intent"
    assert fake_stripe.refunds == {}


async def test_events_can_be_delivered_through_an_asgi_client(stripe_client, fake_stripe):
    answers: list[str] = []

    async def webhook_app(scope, receive, send) -> None:
        message = await receive()
        signature = dict(scope["headers"])[b"stripe-signature"].decode()
        event = stripe.Webhook.construct_event(message["body"], signature, fake_stripe.webhook_secret)
        answers.append(event.type)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    fake_stripe.hold = True
    fake_stripe.webhook_url = "/webhooks/stripe"
    session = await stripe_client.v1.checkout.sessions.create_async(params=checkout_params())
    fake_stripe.pay(session.id)
    transport = httpx.ASGITransport(app=webhook_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kippu.test") as app_client:
        [delivery] = await fake_stripe.deliver_async(fake_stripe.held[0], app_client)

    assert answers == ["checkout.session.completed"]
    assert delivery.status == 204


def test_the_fake_runs_in_its_own_process_beside_an_app():
    secret = "whsec_beside_the_app"
    receiver = WebhookReceiver()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_stripe", "--webhook-url", receiver.url, "--secret", secret],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        # A deadline on the banner: a fake that never starts fails the test instead of hanging it.
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "the fake Stripe printed nothing within 60 s"
        banner = process.stdout.readline()
        api_base = banner.split()[4]
        client = stripe.StripeClient("sk_test_kippu_fake", base_addresses={"api": api_base},
                                     http_client=stripe.RequestsClient(), max_network_retries=0)
        session = client.v1.checkout.sessions.create(params=checkout_params())

        paid = httpx.post(session.url, data={"method": "card"})
    finally:
        process.kill()
        process.wait(timeout=10)
        receiver.close()

    assert paid.status_code == 303
    [received] = receiver.received
    assert verified(received, secret).data.object.id == session.id
