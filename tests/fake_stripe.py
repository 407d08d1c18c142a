"""A local fake of the Stripe API that the real `stripe` SDK talks to over loopback, for tests.

It serves what Kippu calls (Checkout Sessions, PaymentIntents, Charges, Refunds) with Stripe's
form encoding, JSON objects, error bodies, API-key check and idempotency; a hosted checkout page a
browser can pay on; and it POSTs Stripe-shaped events to `webhook_url`, signed exactly as Stripe
signs them. Tests play the customer and Stripe (`pay`, `async_succeed`, `async_fail`, `expire`,
`refund`) and decide how events arrive: `repeat` each one, `hold` them and `release` them in any
order, `deliver` an old one again or with a stale or forged signature; `deliveries` records what
the app answered.

    with FakeStripe(webhook_url="http://127.0.0.1:8000/webhooks/stripe") as fake:
        client = stripe.StripeClient(fake.api_key, base_addresses={"api": fake.api_base})

Beside an app in another process: `python -m tests.fake_stripe --port P --webhook-url U --secret S`
(the hosted page then pays sessions and delivers their events; the test controls need the object).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import hmac
import html
import json
import re
import secrets
import signal
import string
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import stripe

API_KEY = "sk_test_kippu_fake"
JPY_MINIMUM = 50
METADATA = "metadata"  # a shape marker: string keys and values within Stripe's limits
_ALPHANUMERIC = string.ascii_letters + string.digits
_NO_REQUEST = {"id": None, "idempotency_key": None}

# The parameters the fake understands, with their types. Anything else is refused as Stripe
# refuses unknown parameters, so the app cannot send something the fake would silently ignore.
SESSION_PARAMS: dict[str, Any] = {
    "mode": str,
    "line_items": [{
        "quantity": int,
        "price_data": {"currency": str, "unit_amount": int,
                       "product_data": {"name": str, "description": str}},
    }],
    "client_reference_id": str,
    "metadata": METADATA,
    "payment_intent_data": {"metadata": METADATA, "description": str},
    "customer_email": str,
    "success_url": str,
    "cancel_url": str,
    "expires_at": int,
    "locale": str,
    "payment_method_types": [str],
}
REFUND_PARAMS: dict[str, Any] = {
    "payment_intent": str, "charge": str, "amount": int, "metadata": METADATA, "reason": str,
}
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
# API path segment → (the attribute holding the objects, their `object` name, the 404's `param`).
RESOURCES = {
    "checkout/sessions": ("sessions", "checkout.session", "session"),
    "payment_intents": ("payment_intents", "payment_intent", "intent"),
    "charges": ("charges", "charge", "charge"),
    "refunds": ("refunds", "refund", "refund"),
}


class StripeError(Exception):
    """An API error, answered as Stripe answers it: `{"error": {...}}` with a 4xx status."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.error = {"type": type, "message": message, "param": param, "code": code}


def missing(param: str) -> StripeError:
    return StripeError(400, f"Missing required param: {param}.", param=param, code="parameter_missing")


def invalid(param: str, message: str, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code)


@dataclass
class ApiRequest:
    """One API call as the fake received it, for asserting what the app sent."""

    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    stripe_version: str | None


@dataclass
class Delivery:
    """One POST of an event to the webhook URL and what the app answered (None: no answer)."""

    event: dict[str, Any]
    status: int | None
    answer: str
    payload: bytes
    signature: str

    @property
    def event_id(self) -> str:
        return self.event["id"]

    @property
    def type(self) -> str:
        return self.event["type"]


def _new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def _yen(amount: int) -> str:
    return f"¥{amount:,}"


def _hmac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def decode_params(encoded: str) -> dict[str, Any]:
    """`a[b][0][c]=1` as the SDK sends it → {"a": {"b": [{"c": "1"}]}} (values stay strings)."""
    params: dict[str, Any] = {}
    for key, value in parse_qsl(encoded, keep_blank_values=True):
        name, *path = re.findall(r"[^\[\]]+|(?<=\[)(?=\])", key)
        node = params
        for step in [name, *path][:-1]:
            node = node.setdefault(step, {})
        node[[name, *path][-1]] = value
    return _lists(params)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_lists(node[key]) for key in sorted(node, key=int)]
    return {key: _lists(value) for key, value in node.items()}


def _join(parent: str, key: str) -> str:
    return f"{parent}[{key}]" if parent else key


def conform(value: Any, shape: Any, param: str = "") -> Any:
    """Check `value` against `shape` like Stripe does: unknown parameters, integers, metadata."""
    if shape == METADATA:
        return _metadata(value, param)
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise invalid(param, f"Invalid object: {param}")
        for key in value:
            if key not in shape:
                raise invalid(_join(param, key), f"Received unknown parameter: {_join(param, key)}",
                              "parameter_unknown")
        return {key: conform(item, shape[key], _join(param, key)) for key, item in value.items()}
    if isinstance(shape, list):
        if not isinstance(value, list):
            raise invalid(param, f"Invalid array: {param}")
        return [conform(item, shape[0], f"{param}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, str):
        raise invalid(param, f"Invalid string: {param}")
    if shape is int:
        if not re.fullmatch(r"-?\d+", value):
            raise invalid(param, f"Invalid integer: {value}", "parameter_invalid_integer")
        return int(value)
    return value


def _metadata(value: Any, param: str) -> dict[str, str]:
    """Stripe's limits: 50 keys, keys up to 40 characters, values up to 500."""
    if not isinstance(value, dict) or any(not isinstance(v, str) for v in value.values()):
        raise invalid(param, f"Invalid {param}: must be a hash of strings")
    if len(value) > 50:
        raise invalid(param, "Metadata can have up to 50 keys.")
    for key, item in value.items():
        for what, text, limit in (("key", key, 40), ("value", item, 500)):
            if len(text) > limit:
                raise invalid(_join(param, key), f"Metadata {what}s can have up to {limit} characters, "
                                                 f"but you passed in a {what} that is {len(text)} characters.")
    return value


def _required(params: dict[str, Any], key: str, parent: str = "") -> Any:
    if params.get(key) in (None, "", [], {}):
        raise missing(_join(parent, key))
    return params[key]


def _one_of(value: str, choices: tuple[str, ...], param: str) -> str:
    if value not in choices:
        raise invalid(param, f"Invalid {param}: must be one of {', '.join(choices)}")
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeStripe


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.fake._serve(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._serve(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test output stays readable; `FakeStripe.requests` keeps the calls

    def answer(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@dataclass
class FakeStripe:
    """The fake Stripe account: its API on loopback, its objects, and its webhook endpoint.

    Read `sessions`, `payment_intents`, `charges`, `refunds` (id → object), `line_items`
    (session id → items), `events`, `requests` and `deliveries`; change them only through the
    methods. Controls wait until their events are delivered; events caused by an API call go out
    just after its response (as Stripe's do), so call `settle()` before looking at them.
    """

    webhook_url: str | None = None
    webhook_secret: str = field(default_factory=lambda: _new_id("whsec_", 32))
    api_key: str = API_KEY
    port: int = 0
    repeat: int = 1  # times each new event is POSTed: Stripe may deliver an event more than once
    hold: bool = False  # keep new events in `held` until `release`, to deliver them out of order
    sessions: dict[str, dict] = field(default_factory=dict)
    line_items: dict[str, list[dict]] = field(default_factory=dict)
    payment_intents: dict[str, dict] = field(default_factory=dict)
    charges: dict[str, dict] = field(default_factory=dict)
    refunds: dict[str, dict] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    held: list[dict] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    requests: list[ApiRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._idempotent: dict[str, tuple[str, str, dict, bytes]] = {}
        # `payment_intent_data` per session: Stripe keeps it for the intent it makes at payment.
        self._intent_data: dict[str, dict] = {}
        self._server: _Server | None = None
        self._outbox: ThreadPoolExecutor | None = None
        self._http: httpx.Client | None = None
        # API calls answered whose events are not yet in the outbox (they follow the response).
        self._announcing = 0
        self._announced = threading.Condition()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeStripe:
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        # One worker: events leave in the order they were sent, and `settle` can wait for them.
        self._outbox = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fake-stripe-webhooks")
        self._http = httpx.Client(timeout=10)
        # A short poll keeps `stop` (which waits for the serving loop to notice) quick per test.
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-stripe",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._outbox:
            self._outbox.shutdown(wait=True)
        if self._http:
            self._http.close()

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # The customer and Stripe, played by the test.

    def pay(self, session_id: str, method: str = "card") -> dict:
        """The customer pays on the hosted page: by "card" (paid at once) or "konbini" (later)."""
        return self._act(self._complete, session_id, method)

    def async_succeed(self, session_id: str) -> dict:
        """The customer pays the konbini voucher: the delayed payment succeeds."""
        return self._act(self._settle_delayed, session_id, True)

    def async_fail(self, session_id: str) -> dict:
        """The konbini voucher lapses unpaid: the delayed payment fails."""
        return self._act(self._settle_delayed, session_id, False)

    def expire(self, session_id: str) -> dict:
        """The session reaches its `expires_at` unpaid (Stripe expires it by itself)."""
        return self._act(self._expire, session_id, _NO_REQUEST)

    def refund(self, payment_intent_id: str, amount: int | None = None,
               metadata: dict[str, str] | None = None) -> dict:
        """A refund made outside the app, e.g. from the Stripe dashboard."""
        params = {"payment_intent": payment_intent_id, "amount": amount, "metadata": metadata}
        return self._act(self._refund, {k: v for k, v in params.items() if v is not None}, _NO_REQUEST)

    # Delivery, controlled by the test.

    def events_of(self, event_type: str) -> list[dict]:
        return [event for event in self.events if event["type"] == event_type]

    def deliver(self, event: dict, times: int = 1, *, timestamp: int | None = None,
                secret: str | None = None) -> list[Delivery]:
        """POST `event` (new or old) `times` times; `timestamp` or `secret` sign it stale or forged."""
        return self._send(event, times, timestamp, secret).result()

    def release(self, events: list[dict] | None = None) -> list[Delivery]:
        """Deliver held events in the order given (all of them, oldest first, by default)."""
        with self._lock:
            chosen = list(self.held) if events is None else events
            self.held = [event for event in self.held if event not in chosen]
        return [delivery for event in chosen for delivery in self.deliver(event, self.repeat)]

    async def deliver_async(self, event: dict, client: httpx.AsyncClient, times: int = 1, *,
                            timestamp: int | None = None, secret: str | None = None) -> list[Delivery]:
        """Deliver through `client`, e.g. httpx on the app's ASGI transport (with `hold` set, so
        nothing is POSTed to a server that is not listening); `webhook_url` may be a path there."""
        if not self.webhook_url:
            raise ValueError("set webhook_url first")
        deliveries = []
        for _ in range(times):
            payload, headers = self.signed(event, timestamp=timestamp, secret=secret)
            response = await client.post(self.webhook_url, content=payload, headers=headers)
            deliveries.append(self._record(event, payload, headers, response.status_code, response.text))
        return deliveries

    def settle(self) -> None:
        """Wait until every event of the calls answered so far has been delivered."""
        with self._announced:
            self._announced.wait_for(lambda: self._announcing == 0, timeout=10)
        if self._outbox:
            self._outbox.submit(lambda: None).result()

    def signed(self, event: dict, *, timestamp: int | None = None,
               secret: str | None = None) -> tuple[bytes, dict[str, str]]:
        """The body and headers Stripe would POST: `Stripe-Signature: t=…,v1=HMAC(t.body)`."""
        payload = json.dumps(event, indent=2, ensure_ascii=False)
        signed_at = int(time.time()) if timestamp is None else timestamp
        signature = _hmac(secret or self.webhook_secret, f"{signed_at}.{payload}")
        # Test-mode events also carry a signature under the unused scheme v0, which verifiers ignore.
        decoy = _hmac("whsec_v0_test_mode", f"{signed_at}.{payload}")
        return payload.encode(), {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": f"t={signed_at},v1={signature},v0={decoy}",
        }

    def _act(self, change: Callable[..., tuple[dict, list[dict]]], *args: Any) -> dict:
        with self._lock:
            result, events = change(*args)
        for sent in self._announce(events):
            sent.result()
        return copy.deepcopy(result)

    def _announce(self, events: list[dict]) -> list[Future]:
        if self.hold:
            with self._lock:
                self.held.extend(events)
            return []
        return [self._send(event, self.repeat) for event in events]

    def _send(self, event: dict, times: int, timestamp: int | None = None,
              secret: str | None = None) -> Future:
        assert self._outbox, "start the fake first"
        return self._outbox.submit(self._post, event, times, timestamp, secret)

    def _post(self, event: dict, times: int, timestamp: int | None, secret: str | None) -> list[Delivery]:
        deliveries = []
        # Without an endpoint Stripe keeps the event and sends nothing.
        for _ in range(times if self.webhook_url and self._http else 0):
            payload, headers = self.signed(event, timestamp=timestamp, secret=secret)
            try:
                response = self._http.post(self.webhook_url, content=payload, headers=headers)
                status, answer = response.status_code, response.text
            except httpx.HTTPError as error:
                status, answer = None, f"{type(error).__name__}: {error}"
            deliveries.append(self._record(event, payload, headers, status, answer))
        return deliveries

    def _record(self, event: dict, payload: bytes, headers: dict[str, str], status: int | None,
                answer: str) -> Delivery:
        delivery = Delivery(event, status, answer, payload, headers["Stripe-Signature"])
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    def _event(self, event_type: str, obj: dict, request: dict) -> dict:
        event = {
            "id": _new_id("evt_"), "object": "event", "api_version": stripe.api_version,
            "created": int(time.time()), "data": {"object": copy.deepcopy(obj)}, "livemode": False,
            "pending_webhooks": 1, "request": dict(request), "type": event_type,
        }
        self.events.append(event)
        return event

    # What Stripe does to its objects (called with the lock held; each returns the changed
    # object and the events it caused).

    def _create_session(self, params: dict[str, Any]) -> tuple[dict, list[dict]]:
        params = conform(params, SESSION_PARAMS)
        _one_of(_required(params, "mode"), ("payment",), "mode")  # the only mode the fake has
        items = [self._line_item(item, f"line_items[{index}]")
                 for index, item in enumerate(_required(params, "line_items"))]
        total = sum(item["amount_total"] for item in items)
        if total < JPY_MINIMUM:
            raise invalid("line_items", "The Checkout Session's total amount due must add up to at "
                                        f"least {_yen(JPY_MINIMUM)}", "amount_too_small")
        created = int(time.time())
        expires_at = params.get("expires_at", created + 24 * 3600)
        if not 30 * 60 <= expires_at - created <= 24 * 3600:
            raise invalid("expires_at", "The `expires_at` timestamp must be between 30 minutes and "
                                        "24 hours from Checkout Session creation.")
        session_id = _new_id("cs_test_", 58)
        session = {
            "id": session_id, "object": "checkout.session", "amount_subtotal": total,
            "amount_total": total, "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"), "created": created,
            "currency": "jpy", "customer": None, "customer_details": None,
            "customer_email": params.get("customer_email"), "expires_at": expires_at,
            "livemode": False, "locale": params.get("locale"), "metadata": params.get("metadata", {}),
            "mode": "payment", "payment_intent": None,
            "payment_method_types": params.get("payment_method_types", ["card", "konbini"]),
            "payment_status": "unpaid", "status": "open", "success_url": params.get("success_url"),
            "url": f"{self.api_base}/c/pay/{session_id}",
        }
        self.sessions[session_id] = session
        self.line_items[session_id] = items
        self._intent_data[session_id] = params.get("payment_intent_data", {})
        return session, []

    def _line_item(self, item: dict[str, Any], param: str) -> dict:
        quantity = _required(item, "quantity", param)
        price = _required(item, "price_data", param)
        price_param = f"{param}[price_data]"
        if _required(price, "currency", price_param).lower() != "jpy":
            raise invalid(f"{price_param}[currency]", "The fake Stripe API charges in jpy only.")
        unit_amount = _required(price, "unit_amount", price_param)
        product = _required(price, "product_data", price_param)
        name = _required(product, "name", f"{price_param}[product_data]")
        if quantity < 1:
            raise invalid(f"{param}[quantity]", "Quantity must be at least 1.")
        if unit_amount < 0:
            raise invalid(f"{price_param}[unit_amount]", "Invalid non-negative integer",
                          "parameter_invalid_integer")
        return {
            "id": _new_id("li_"), "object": "item", "amount_subtotal": quantity * unit_amount,
            "amount_total": quantity * unit_amount, "currency": "jpy", "description": name,
            "quantity": quantity,
            "price": {"object": "price", "currency": "jpy", "unit_amount": unit_amount,
                      "product": {"object": "product", "name": name,
                                  "description": product.get("description")}},
        }

    def _find(self, resource: str, object_id: str, param: str | None = None) -> dict:
        attribute, name, default_param = RESOURCES[resource]
        found = getattr(self, attribute).get(object_id)
        if found is None:
            raise StripeError(404, f"No such {name}: '{object_id}'", param=param or default_param,
                              code="resource_missing")
        return found

    def _open_session(self, session_id: str, action: str) -> dict:
        session = self._find("checkout/sessions", session_id)
        if session["status"] != "open":
            raise StripeError(400, f'Only Checkout Sessions with a status in ["open"] can be {action}. '
                                   f'This Checkout Session has a status of "{session["status"]}".')
        return session

    def _complete(self, session_id: str, method: str) -> tuple[dict, list[dict]]:
        session = self._open_session(session_id, "paid")
        _one_of(method, tuple(session["payment_method_types"]), "payment_method_types")
        intent_data = self._intent_data.get(session_id, {})
        intent = {
            "id": _new_id("pi_"), "object": "payment_intent", "amount": session["amount_total"],
            "amount_received": 0, "created": int(time.time()), "currency": "jpy",
            "description": intent_data.get("description"), "latest_charge": None,
            "livemode": False, "metadata": intent_data.get("metadata", {}),
            "payment_method_types": [method], "status": "requires_action",
        }
        self.payment_intents[intent["id"]] = intent
        session.update(status="complete", payment_intent=intent["id"],
                       customer_details={"email": session["customer_email"], "name": None,
                                         "phone": None, "address": None, "tax_exempt": "none",
                                         "tax_ids": []})
        if method == "card":
            self._charge(session, intent)
        return session, [self._event("checkout.session.completed", session, _NO_REQUEST)]

    def _charge(self, session: dict, intent: dict) -> None:
        charge = {
            "id": _new_id("ch_"), "object": "charge", "amount": intent["amount"],
            "amount_captured": intent["amount"], "amount_refunded": 0,
            "billing_details": {"email": session["customer_email"]}, "captured": True,
            "created": int(time.time()), "currency": "jpy", "description": intent["description"],
            "livemode": False, "metadata": dict(intent["metadata"]), "paid": True,
            "payment_intent": intent["id"],
            "payment_method_details": {"type": intent["payment_method_types"][0]},
            "refunded": False, "status": "succeeded",
        }
        self.charges[charge["id"]] = charge
        intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=charge["id"])
        session["payment_status"] = "paid"

    def _settle_delayed(self, session_id: str, paid: bool) -> tuple[dict, list[dict]]:
        session = self._find("checkout/sessions", session_id)
        intent = self.payment_intents.get(session["payment_intent"] or "")
        if not intent or intent["status"] != "requires_action":
            raise ValueError(f"{session_id} has no delayed payment waiting (pay it by konbini first)")
        if paid:
            self._charge(session, intent)
        else:
            intent["status"] = "requires_payment_method"
        outcome = "succeeded" if paid else "failed"
        return session, [self._event(f"checkout.session.async_payment_{outcome}", session, _NO_REQUEST)]

    def _expire(self, session_id: str, request: dict) -> tuple[dict, list[dict]]:
        session = self._open_session(session_id, "expired")
        session["status"] = "expired"
        return session, [self._event("checkout.session.expired", session, request)]

    def _refund(self, params: dict[str, Any], request: dict) -> tuple[dict, list[dict]]:
        if "reason" in params:
            _one_of(params["reason"], REFUND_REASONS, "reason")
        charge = self._charge_to_refund(params)
        left = charge["amount"] - charge["amount_refunded"]
        if left == 0:
            raise StripeError(400, f"Charge {charge['id']} has already been refunded.",
                              code="charge_already_refunded")
        amount = params.get("amount", left)
        if amount <= 0:
            raise invalid("amount", "Invalid positive integer", "parameter_invalid_integer")
        if amount > left:
            raise invalid("amount", f"Refund amount ({_yen(amount)}) is greater than unrefunded "
                                    f"amount on charge ({_yen(left)})")
        refund = {
            "id": _new_id("re_"), "object": "refund", "amount": amount, "charge": charge["id"],
            "created": int(time.time()), "currency": "jpy", "metadata": params.get("metadata", {}),
            "payment_intent": charge["payment_intent"], "reason": params.get("reason"),
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        return refund, [self._event("charge.refunded", charge, request)]

    def _charge_to_refund(self, params: dict[str, Any]) -> dict:
        if "charge" in params:
            return self._find("charges", params["charge"], "charge")
        if "payment_intent" not in params:
            raise StripeError(400, "One of the following params should be provided for this "
                                   "request: payment_intent or charge.", code="parameter_missing")
        intent = self._find("payment_intents", params["payment_intent"], "payment_intent")
        if intent["status"] != "succeeded":
            raise invalid("payment_intent", "This PaymentIntent does not have a successful charge to refund.")
        return self.charges[intent["latest_charge"]]

    # HTTP.

    def _serve(self, handler: _Handler, method: str) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        if url.path.startswith("/c/pay/"):
            self._serve_checkout_page(handler, method, url.path.removeprefix("/c/pay/"), body)
        else:
            self._serve_api(handler, method, url.path, decode_params(body if method == "POST" else url.query))

    def _serve_api(self, handler: _Handler, method: str, path: str, params: dict[str, Any]) -> None:
        key = handler.headers.get("Idempotency-Key") if method == "POST" else None
        request = {"id": _new_id("req_", 14), "idempotency_key": key}
        with self._lock:
            self.requests.append(ApiRequest(method, path, params, key, handler.headers.get("Stripe-Version")))
            status, body, events, replayed = self._answer(
                handler.headers.get("Authorization", ""), method, path, params, request)
        headers = {"Request-Id": request["id"], **({"Idempotency-Key": key} if key else {}),
                   **({"Idempotent-Replayed": "true"} if replayed else {})}
        with self._announced:
            self._announcing += 1
        try:
            handler.answer(status, body, "application/json", headers)
            self._announce(events)  # after the response: Stripe's events follow the API call
        finally:
            with self._announced:
                self._announcing -= 1
                self._announced.notify_all()

    def _answer(self, authorization: str, method: str, path: str, params: dict[str, Any],
                request: dict) -> tuple[int, bytes, list[dict], bool]:
        key = request["idempotency_key"]
        try:
            self._authenticate(authorization)
            if key in self._idempotent:
                return 200, self._replay(key, method, path, params), [], True
            result, events = self._route(method, path, params, request)
        except StripeError as error:
            return error.status, json.dumps({"error": error.error}).encode(), [], False
        body = json.dumps(result).encode()
        if key:  # Stripe saves the result for the key; a failed validation saves nothing
            self._idempotent[key] = (method, path, params, body)
        return 200, body, events, False

    def _authenticate(self, authorization: str) -> None:
        api_key = authorization.removeprefix("Bearer ").strip()
        if not api_key:
            raise StripeError(401, "You did not provide an API key. You need to provide your API "
                                   "key in the Authorization header, using Bearer auth.")
        if api_key != self.api_key:
            masked = api_key[:8] + "*" * max(len(api_key) - 12, 0) + api_key[-4:]
            raise StripeError(401, f"Invalid API Key provided: {masked}")

    def _replay(self, key: str, method: str, path: str, params: dict[str, Any]) -> bytes:
        first_method, first_path, first_params, body = self._idempotent[key]
        retry = f"Try using a key other than '{key}' if you meant to execute a different request."
        if (first_method, first_path) != (method, path):
            raise StripeError(400, "Keys for idempotent requests can only be used for the same "
                                   f"endpoint they were first used for ('{path}' vs '{first_path}'). "
                                   f"{retry}", type="idempotency_error")
        if first_params != params:
            raise StripeError(400, "Keys for idempotent requests can only be used with the same "
                                   f"parameters they were first used with. {retry}",
                              type="idempotency_error")
        return body

    def _route(self, method: str, path: str, params: dict[str, Any],
               request: dict) -> tuple[dict, list[dict]]:
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._create_session(params)
        if method == "POST" and path == "/v1/refunds":
            return self._refund(conform(params, REFUND_PARAMS), request)
        if method == "POST" and (match := re.fullmatch(r"/v1/checkout/sessions/([^/]+)/expire", path)):
            conform(params, {})
            return self._expire(match[1], request)
        resources = "|".join(RESOURCES)
        if method == "GET" and (match := re.fullmatch(rf"/v1/({resources})/([^/]+)", path)):
            conform(params, {})
            return self._find(match[1], match[2]), []
        raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")

    def _serve_checkout_page(self, handler: _Handler, method: str, session_id: str, body: str) -> None:
        """Stripe's hosted payment page: a Pay button (card), a konbini button, a Cancel link."""
        if method == "POST":
            paid_by = dict(parse_qsl(body)).get("method", "card")
            try:
                session = self._act(self._complete, session_id, paid_by)
            except StripeError as error:
                return handler.answer(error.status, _page(str(error)), "text/html; charset=utf-8", {})
            if session["success_url"]:
                location = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
                return handler.answer(303, b"", "text/html; charset=utf-8", {"Location": location})
            return handler.answer(200, _page("お支払いが完了しました / Payment complete"),
                                  "text/html; charset=utf-8", {})
        with self._lock:
            session = copy.deepcopy(self.sessions.get(session_id))
            items = copy.deepcopy(self.line_items.get(session_id, []))
        if session is None:
            return handler.answer(404, _page("このページは存在しません / Not found"), "text/html; charset=utf-8", {})
        handler.answer(200, _checkout_page(session, items), "text/html; charset=utf-8", {})


def _page(message: str, content: str = "") -> bytes:
    """A page of the hosted checkout: an escaped message, then `content` (already HTML)."""
    return (f'<!doctype html><html lang="ja"><meta charset="utf-8"><title>Stripe Checkout (fake)</title>'
            f'<main><p class="message">{html.escape(message)}</p>{content}</main></html>').encode()


def _checkout_page(session: dict, items: list[dict]) -> bytes:
    lines = "".join(
        f'<li><span class="product">{html.escape(item["description"])}</span> × {item["quantity"]}'
        f'<p class="description">{html.escape(item["price"]["product"]["description"] or "")}</p></li>'
        for item in items
    )
    summary = f'<ul>{lines}</ul><p id="amount">{_yen(session["amount_total"])}</p>'
    if session["status"] != "open":
        return _page(f"このお支払いは受け付けていません / This session is {session['status']}", summary)
    konbini = ('<button id="pay-konbini" name="method" value="konbini">コンビニ決済 / Konbini</button>'
               if "konbini" in session["payment_method_types"] else "")
    cancel = (f'<a id="cancel" href="{html.escape(session["cancel_url"])}">キャンセル / Cancel</a>'
              if session["cancel_url"] else "")
    form = (f'<form method="post" action="/c/pay/{session["id"]}">'
            f'<button id="pay" name="method" value="card">支払う / Pay</button>{konbini}</form>{cancel}')
    return _page(f"お支払い / Pay {session['customer_email'] or ''}", summary + form)


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    """A fake Stripe API on a free loopback port; set its `webhook_url` to receive its events."""
    with FakeStripe() as fake:
        yield fake


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fake Stripe API beside an app under test.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--webhook-url")
    parser.add_argument("--secret", help="the webhook signing secret (whsec_…); made up if absent")
    parser.add_argument("--api-key", default=API_KEY)
    parser.add_argument("--repeat", type=int, default=1, help="times each event is delivered")
    args = parser.parse_args(argv)
    fake = FakeStripe(webhook_url=args.webhook_url, api_key=args.api_key, port=args.port,
                      repeat=args.repeat, **({"webhook_secret": args.secret} if args.secret else {}))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with fake:
        print(f"fake Stripe API on {fake.api_base} api_key={fake.api_key} "
              f"webhook_url={fake.webhook_url} webhook_secret={fake.webhook_secret}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
