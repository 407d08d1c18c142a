"""Nothing a person or a program can type makes the app fail: every JSON API body that is wrong
(wrong types, missing fields, nulls, overlong text, huge numbers, NUL characters, unknown fields
and values, bodies that are not JSON) gets 400/422 with a `code` and the field named, and no HTML
form or query string gets a 500 whatever it holds.

The JSON API routes and the HTML forms are read from the app itself: a new POST route without a
case here makes `test_every_post_route_has_bad_input_cases` fail.

Like tests/integration/test_tenant_isolation.py, the module builds one small world and keeps it
(the refused calls must change nothing; the forms may change the throwaway rows made for them).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from functools import cache
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote_from_bytes, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from app import db
from app.accounts.tokens import create_token
from app.server import create_app
from app.tickets.services import classification, filing, points, thread
from app.tickets.tables import Ticket
from billing import clock, purchases
from billing.invoicing import documents_of_purchase
from pricing import services as pricing
from pricing.rules import Bundle
from pricing.tables import PointTableVersion
from tests.factories import (
    PASSWORD,
    caller,
    give_points,
    make_custom_field,
    make_department,
    make_issuer,
    make_organization,
    make_request_type,
    make_user,
    price_request_type,
    sign_in,
)
from tests.integration.test_tenant_isolation import changed_tables, snapshot

LONG = "あ" * 100_000
# The bodyless API calls (approve, decline) aim at a change that does not exist: they must not
# change anything while their bodies are tried.
NO_SUCH_CHANGE = 987654
HUGE = 10**30
NUL = "ab\x00cd"


@pytest.fixture(autouse=True)
async def empty_database(database):
    """Replaces tests/conftest.py's fixture: the tests of this module share `world`."""
    yield


@pytest.fixture(scope="module")
async def world(database):
    await db.delete_all_rows()
    department = await make_department("入力検査部")
    request_type = await make_request_type("general")
    await price_request_type("general", points=1, included_minutes=30, block_minutes=30, points_per_block=1)
    for key, kind, choices in (("site", "text", []), ("count", "number", []), ("visit", "date", []),
                               ("plan", "choice", ["basic", "premium"])):
        await make_custom_field(key, kind, choices=choices, visible_to_customers=True)
    org = await make_organization("株式会社入力", code="BAD-A")
    await give_points(org, 100_000)
    w = SimpleNamespace(
        department=department.id, request_type=request_type.id, org=org.id,
        customer=await make_user("customer_admin", organization=org, email="bad-customer@example.jp"),
        member=await make_user("customer_member", organization=org, email="bad-member@example.jp"),
        agent=await make_user("agent", department=department, email="bad-agent@example.jp"),
        admin=await make_user("admin", email="bad-admin@example.jp"),
        # Throwaway rows the admin and account forms act on (they may change them).
        victim=await make_user("customer_member", organization=org, email="bad-victim@example.jp"),
        staff_victim=await make_user("agent", email="bad-staff-victim@example.jp"),
        field_id=(await make_custom_field("spare", "text")).id,
    )
    ticket = await filing.create_ticket(
        caller(w.customer), subject="入力検査の依頼", body="本文", request_type_code="general"
    )
    await thread.add_message(caller(w.agent), ticket.id, "回答します")
    w.ticket = ticket.id
    await classification.request_overage(caller(w.agent), ticket.id, 60, "追加作業")
    w.change = (await points.pending_change_of(ticket.id)).id
    draft = await pricing.create_draft(note="入力検査")
    w.draft = (await PointTableVersion.select(PointTableVersion.number).where(PointTableVersion.id == draft).first())[
        "number"]
    await pricing.save_bundle(Bundle(code="basic", name_ja="基本", name_en="Basic", points=10, price_jpy=10000,
                                     tax_rate=10, validity_months=12))
    w.token_id = (await create_token(w.member.id, "spare"))[1]
    # Something bought: an invoice to pay, a card purchase at its (test) checkout.
    await make_issuer()
    invoiced = await purchases.start_purchase(org.id, "basic", 1, "invoice", recipient_name="株式会社入力")
    w.invoice = (await documents_of_purchase(invoiced.id))[0].id
    by_card = await purchases.start_purchase(org.id, "basic", 1, "card", recipient_name="株式会社入力")
    w.card_purchase = (await purchases.attach_checkout(by_card.id, f"cs_kippu_test_{by_card.id}", "/")).id
    # Invoices for finance's forms: one to pay, to void, to correct, and one paid (to refund).
    invoices = {}
    for use in ("pay", "void", "correct", "refund"):
        purchase = await purchases.start_purchase(org.id, "basic", 1, "invoice", recipient_name="株式会社入力")
        invoices[use] = (await documents_of_purchase(purchase.id))[0].id
    await purchases.record_payment(invoices["refund"], paid_on=clock.today(), amount_jpy=11_000)
    w.invoices = SimpleNamespace(**invoices)
    return w


@pytest.fixture(scope="module")
async def browsers(world):
    app = create_app()
    clients = {}
    for name in ("customer", "member", "agent", "admin", "anonymous"):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver.local")
        if name == "anonymous":
            await client.get("/login")  # the CSRF cookie
        else:
            await sign_in(client, getattr(world, name))
        clients[name] = client
    yield SimpleNamespace(**clients)
    for client in clients.values():
        await client.aclose()


@pytest.fixture(scope="module")
async def tokens(world):
    return SimpleNamespace(**{
        name: {"Authorization": f"Bearer {(await create_token(getattr(world, name).id, 'test'))[0]}"}
        for name in ("customer", "agent", "admin")
    })


@cache
def post_routes() -> dict[str, Any]:
    """Every POST route of the app: path → the type its JSON body is parsed into (None for forms)."""
    found = {}
    for route in create_app().routes:
        for handler in route.route_handlers:
            if "POST" in handler.http_methods:
                data = handler.parsed_fn_signature.parameters.get("data")
                found[route.path] = data.annotation if data is not None and route.path.startswith("/api/") else None
    return found


# ------------------------------------------------------------------------------------ JSON API


@dataclass(frozen=True)
class ApiCase:
    path: str  # the route, as the app names it
    who: str | None  # whose token (None: no token)
    url: str
    body: dict  # a body the route accepts
    # Besides 400/422: answers that are right for a body the schema accepts (bad credentials).
    also: tuple[int, ...] = ()


def api_cases(w) -> list[ApiCase]:
    ticket = f"/api/v1/tickets/{w.ticket}"
    return [
        ApiCase("/api/v1/auth/token", None, "/api/v1/auth/token",
                {"email": "bad-nobody@example.jp", "password": "whatever it is"}, also=(401,)),
        ApiCase("/api/v1/organizations", "admin", "/api/v1/organizations",
                {"code": "NEW-ORG", "name": "新しい会社", "address": "東京都", "billing_contact_name": "経理",
                 "billing_email": "bill@example.jp", "phone": "03-1234-5678"}),
        ApiCase("/api/v1/organizations/{organization_id:int}/users", "admin", f"/api/v1/organizations/{w.org}/users",
                {"email": "new-user@example.jp", "name": "新 人", "role": "customer_member",
                 "password": "correct horse battery", "locale": "ja"}),
        ApiCase("/api/v1/staff", "admin", "/api/v1/staff",
                {"email": "new-staff@example.jp", "name": "新 人", "role": "agent", "department": w.department,
                 "password": "correct horse battery", "locale": "en"}),
        ApiCase("/api/v1/tickets", "customer", "/api/v1/tickets",
                {"subject": "件名", "body": "本文", "request_type": "general", "priority": "normal",
                 "category": "question", "custom_fields": {"site": "本社", "count": 3, "visit": "2026/11/01",
                                                           "plan": "basic"}}),
        ApiCase("/api/v1/tickets", "agent", "/api/v1/tickets",
                {"subject": "件名", "body": "本文", "request_type": "general", "organization": w.org,
                 "requester": w.customer.id}),
        ApiCase("/api/v1/tickets/{ticket_id:int}/messages", "agent", f"{ticket}/messages",
                {"body": "返信", "internal": True, "minutes_spent": 5, "status": "waiting", "version": 2}),
        ApiCase("/api/v1/tickets/{ticket_id:int}/messages", "customer", f"{ticket}/messages", {"body": "返信"}),
        ApiCase("/api/v1/tickets/{ticket_id:int}/status", "agent", f"{ticket}/status",
                {"status": "waiting", "version": 2}),
        ApiCase("/api/v1/tickets/{ticket_id:int}/waive", "agent", f"{ticket}/waive",
                {"reason": "当社の不具合", "version": 1}),
        ApiCase("/api/v1/tickets/{ticket_id:int}/overage", "agent", f"{ticket}/overage",
                {"minutes": 30, "reason": "追加作業", "version": 1}),
        ApiCase("/api/v1/tickets/{ticket_id:int}/point-changes/{change_id:int}/approve", "customer",
                f"{ticket}/point-changes/{NO_SUCH_CHANGE}/approve", {}),
        ApiCase("/api/v1/tickets/{ticket_id:int}/point-changes/{change_id:int}/decline", "customer",
                f"{ticket}/point-changes/{NO_SUCH_CHANGE}/decline", {}),
        ApiCase("/api/v1/organizations/{organization_id:int}/adjustments", "admin",
                f"/api/v1/organizations/{w.org}/adjustments",
                {"points": 10, "reason": "調整", "expires_on": "2099-12-31"}),
        ApiCase("/api/v1/organizations/{organization_id:int}/purchases", "customer",
                f"/api/v1/organizations/{w.org}/purchases",
                {"bundle": "basic", "quantity": 1, "method": "invoice", "recipient_name": "株式会社入力"}),
        ApiCase("/api/v1/invoices/{document_id:int}/payments", "admin", f"/api/v1/invoices/{w.invoice}/payments",
                {"paid_on": "2026-12-01", "amount_jpy": 1, "note": "振込"}),
    ]


def _types(schema: dict, defs: dict) -> tuple[set[str], list | None, dict]:
    """The JSON types a property accepts, its enum (if any), and its constraints."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    options = schema.get("anyOf") or schema.get("oneOf") or [schema]
    types, enum, limits = set(), None, {}
    for option in options:
        if "$ref" in option:
            option = defs[option["$ref"].rsplit("/", 1)[-1]]
        if "const" in option:
            enum = [*(enum or []), option["const"]]
            types.add("string")
        if "enum" in option:
            enum = [*(enum or []), *option["enum"]]
            types.add("string")
        if "type" in option:
            types.add(option["type"])
        limits.update({k: v for k, v in option.items() if k in ("maxLength", "maximum", "pattern", "format")})
    if "number" in types:
        types.add("integer")
    return types, enum, limits


SAMPLES = {"string": "text", "integer": 12345, "boolean": True, "array": [1, 2], "object": {"a": 1}, "number": 1.5}


class EmptyBody(BaseModel):
    """Stands for a route that takes no body (only the body-level variations apply)."""


@dataclass
class Variation:
    label: str
    body: Any  # dict to send as JSON, or bytes as they are
    field: str | None  # the field the answer must name (None: the body as a whole)
    content_type: str = "application/json"


def variations(model, base: dict) -> list[Variation]:
    """Bodies that are wrong in exactly one way, each with the field at fault."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    found = []
    for name in schema.get("required", []):
        found.append(Variation(f"{name} missing", {k: v for k, v in base.items() if k != name}, name))
    for name, prop in schema["properties"].items():
        types, enum, limits = _types(prop, defs)
        if "null" not in types:
            found.append(Variation(f"{name} null", {**base, name: None}, name))
        for kind, sample in SAMPLES.items():
            if kind not in types:
                found.append(Variation(f"{name} as {kind}", {**base, name: sample}, name))
        if "string" in types:
            found.append(Variation(f"{name} overlong", {**base, name: LONG}, name))
            found.append(Variation(f"{name} with NUL", {**base, name: NUL}, name))
        if enum is not None:
            found.append(Variation(f"{name} not a choice", {**base, name: "teleport"}, name))
        if "integer" in types:
            found.append(Variation(f"{name} huge", {**base, name: HUGE}, name))
            found.append(Variation(f"{name} hugely negative", {**base, name: -HUGE}, name))
        if "object" in types:
            found.append(Variation(f"{name} with a NUL key", {**base, name: {"a\x00": "x"}}, name))
            found.append(Variation(f"{name} with an overlong key", {**base, name: {"k" * 1000: "x"}}, name))
            found.append(Variation(f"{name} with nested values", {**base, name: {"site": {"deep": [1]}}}, name))
    found.append(Variation("an unknown field", {**base, "surprise": 1}, "surprise"))
    found += [
        Variation("not JSON", b"subject=hello&body=world", None),
        Variation("broken JSON", b'{"subject": "hello",', None),
        Variation("an empty body", b"", None),
        Variation("a JSON array", b"[1, 2, 3]", None),
        Variation("a JSON string", b'"hello"', None),
        Variation("JSON null", b"null", None),
        Variation("NaN", json.dumps({**base, "x": float("nan")}).encode(), None),
        Variation("invalid UTF-8", b'{"subject": "\xff\xfe"}', None),
        Variation("deeply nested", b"[" * 100_000 + b"]" * 100_000, None),
        Variation("a form body", b"subject=a&body=b", None, "application/x-www-form-urlencoded"),
    ]
    return found


def named_fields(body: dict) -> set[str]:
    names = {body.get("field")} | {e.get("field") for e in body.get("errors", []) if isinstance(e, dict)}
    return {str(n) for n in names if n}


def names_field(names: set[str], wanted: str) -> bool:
    """`custom_fields.site` names `custom_fields`; `custom_fields` names `custom_fields.site`."""
    return any(n == wanted or n.startswith(wanted + ".") or wanted.startswith(n + ".") for n in names)


async def test_every_post_route_has_bad_input_cases(world):
    api = {c.path for c in api_cases(world)}
    forms = {c.path for c in form_cases(world)}
    missing = [p for p, model in post_routes().items() if p not in (api if p.startswith("/api/") else forms)]
    assert not missing, f"POST routes without bad-input cases here: {missing}"


async def test_every_wrong_json_body_gets_400_or_422_naming_the_field(world, browsers, tokens):
    before = await snapshot()
    failures = []
    for case in api_cases(world):
        model = post_routes()[case.path]
        headers = getattr(tokens, case.who) if case.who else {}
        if model is None:  # the route reads no body: whatever is sent, no failure
            for variation in variations(EmptyBody, {}):
                content = variation.body if isinstance(variation.body, bytes) else json.dumps(variation.body).encode()
                response = await browsers.anonymous.post(
                    case.url, content=content, headers={**headers, "Content-Type": variation.content_type}
                )
                if response.status_code >= 500 or (response.status_code >= 400 and not response.json().get("code")):
                    failures.append(f"{case.who}: POST {case.url} with {variation.label} answered "
                                    f"{response.status_code}: {response.text[:200]}")
            continue
        for variation in variations(model, case.body):
            content = variation.body if isinstance(variation.body, bytes) else json.dumps(variation.body).encode()
            response = await browsers.anonymous.post(
                case.url, content=content, headers={**headers, "Content-Type": variation.content_type}
            )
            where = f"{case.who or 'anonymous'}: POST {case.url} with {variation.label}"
            if response.status_code in case.also:
                continue
            if response.status_code not in (400, 422):
                failures.append(f"{where} answered {response.status_code}: {response.text[:200]}")
                continue
            body = response.json()
            if not body.get("code"):
                failures.append(f"{where}: no code in {body}")
            if variation.field and not names_field(named_fields(body), variation.field):
                failures.append(f"{where}: {variation.field} not named in {body}")
    after = await snapshot()
    assert not failures, f"{len(failures)} wrong answers:\n" + "\n".join(failures)
    assert after == before, f"refused bodies changed {changed_tables(before, after)}"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**25), max_value=10**25) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
ticket_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            key: st.one_of(json_values, st.just("general"), st.just("normal"))
            for key in ("subject", "body", "request_type", "priority", "category", "custom_fields", "organization",
                        "requester")
        },
    ),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=ticket_bodies)
async def test_random_json_to_file_a_request_never_fails_the_server(world, browsers, tokens, body):
    response = await browsers.anonymous.post("/api/v1/tickets", json=body, headers=tokens.customer)
    assert response.status_code in (201, 400, 404, 422), (body, response.status_code, response.text[:300])
    if response.status_code != 201:
        assert response.json().get("code"), response.text


# ------------------------------------------------------------------------------------ query strings


QUERY_PARAMS = {
    "/api/v1/tickets": ("q", "status", "priority", "organization", "department", "assignee", "requester",
                        "request_type", "created_from", "created_to", "updated_from", "updated_to", "cursor", "limit"),
    "/api/v1/tickets/duplicates": ("subject", "organization"),
    "/api/v1/organizations": ("cursor", "limit"),
    "/console/tickets": ("q", "status", "priority", "organization", "department", "assignee", "request_type",
                         "created_from", "created_to", "updated_from", "updated_to", "cursor"),
    "/console/tickets/export.csv": ("q", "status", "organization", "assignee", "created_from", "cursor"),
    "/console/tickets/export.xlsx": ("q", "status", "organization", "assignee", "created_from", "cursor"),
    "/portal/tickets": ("q", "status", "priority", "request_type", "requester", "created_from", "created_to",
                        "cursor"),
    "/portal/tickets/duplicates": ("subject",),
    "/admin/organizations": ("cursor",),
    "/login": ("next",),
    "/console/organizations": ("cursor", "q"),
    "/console/organizations/{organization_id}/points": ("cursor",),
    "/api/v1/organizations/{organization_id}/ledger": ("cursor", "limit"),
    "/admin/point-table/1": ("edit",),
    "/portal/purchase/quote": ("bundle", "quantity"),
    "/portal/billing": ("cursor",),
    "/api/v1/invoices": ("organization", "month", "kind", "status", "overdue", "cursor", "limit"),
    "/console/finance/documents": ("organization", "kind", "status", "month", "overdue", "cursor"),
    "/console/finance/documents.csv": ("month",),
    "/console/finance/documents.zip": ("month",),
    "/console/finance/purchases": ("status", "cursor"),
    "/console/finance/statements": ("month", "cursor"),
}
ODD_QUERY_VALUES = ["²", "9" * 12, "9" * 30, "abc\x00", "x" * 5000, "2026-13-45", "me,none"]


def _cursor(text: str) -> str:
    """A cursor as the lists write them (base64 of kind:id), holding an odd id."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_no_query_string_makes_a_list_or_search_fail(world, browsers, tokens):
    failures = []
    odd_cursors = [_cursor(f"{kind}:{number}") for kind in "to" for number in ("9" * 12, "9" * 30, "²", "-1")]
    for path, params in QUERY_PARAMS.items():
        who = ("customer" if path.startswith("/portal") else "admin" if path.startswith(("/admin", "/console/finance"))
               else "agent")
        browser = browsers.anonymous if path == "/login" else getattr(browsers, who)
        headers = getattr(tokens, who) if path.startswith("/api/") else {}
        url = path.format(organization_id=world.org)
        for param in params:
            for value in ODD_QUERY_VALUES + (odd_cursors if param == "cursor" else []):
                response = await browser.get(url, params={param: value}, headers=headers)
                if response.status_code >= 500:
                    failures.append(f"GET {path}?{param}={value[:20]!r} answered {response.status_code}")
                elif path.startswith("/api/") and response.status_code >= 400 and not response.json().get("code"):
                    failures.append(f"GET {path}?{param}={value[:20]!r}: no code")
    assert not failures, "\n".join(failures)


async def test_an_id_in_a_path_that_no_database_could_hold_is_a_404(world, browsers, tokens):
    failures = []
    for url in (f"/api/v1/tickets/{HUGE}", f"/api/v1/organizations/{HUGE}", f"/api/v1/organizations/{HUGE}/users",
                f"/api/v1/tickets/{world.ticket}/attachments/{HUGE}"):
        response = await browsers.agent.get(url, headers=tokens.agent)
        if response.status_code != 404:
            failures.append(f"GET {url} answered {response.status_code}")
    for browser, url in ((browsers.agent, f"/console/tickets/{HUGE}"), (browsers.customer, f"/portal/tickets/{HUGE}"),
                         (browsers.admin, f"/admin/organizations/{HUGE}"),
                         (browsers.admin, f"/console/finance/documents/{HUGE}"),
                         (browsers.admin, f"/console/finance/documents/{HUGE}.pdf"),
                         (browsers.admin, f"/console/finance/documents/{HUGE}/view"),
                         (browsers.admin, f"/console/finance/statements/{HUGE}/2026-01.html")):
        response = await browser.get(url)
        if response.status_code != 404:
            failures.append(f"GET {url} answered {response.status_code}")
    response = await browsers.agent.post(f"/api/v1/tickets/{HUGE}/status", json={"status": "open"},
                                         headers=tokens.agent)
    if response.status_code != 404:
        failures.append(f"POST /api/v1/tickets/{HUGE}/status answered {response.status_code}")
    # Text parameters in paths (a version number or a code typed into the address bar).
    for value in ("²", "9" * 12, "9" * 30, "%00", "x" * 3000, "..%2F..%2Fetc"):
        for url in (f"/admin/point-table/{value}", f"/admin/bundles/{value}"):
            response = await browsers.admin.get(url)
            if response.status_code != 404:
                failures.append(f"GET {url[:60]} answered {response.status_code}")
    # A month in a path is refused by name (422), whatever was typed.
    for value in ("²", "2026-13", "9" * 30, "%00", "x" * 3000, "2026-1"):
        for browser, url, headers in ((browsers.customer, f"/portal/statements/{value}", {}),
                                      (browsers.customer, f"/portal/statements/{value}/pdf", {}),
                                      (browsers.admin, f"/api/v1/organizations/{world.org}/statements/{value}/pdf",
                                       tokens.admin)):
            response = await browser.get(url, headers=headers)
            if response.status_code not in (404, 422):
                failures.append(f"GET {url[:60]} answered {response.status_code}")
    assert not failures, "\n".join(failures)


# ------------------------------------------------------------------------------------ HTML forms


@dataclass(frozen=True)
class FormCase:
    path: str
    who: str
    url: str
    form: dict = field(default_factory=dict)
    versioned: bool = False  # the form carries the request's current version (read before each post)


def form_cases(w) -> list[FormCase]:
    t = f"/console/tickets/{w.ticket}"
    return [
        FormCase("/login", "anonymous", "/login", {"email": "bad-nobody@example.jp", "password": "x", "next": "/"}),
        FormCase("/logout", "anonymous", "/logout"),
        # Stripe's notices (a form body is no more a signed event than any other)
        FormCase("/webhooks/stripe", "anonymous", "/webhooks/stripe", {"type": "checkout.session.completed"}),
        # the portal
        FormCase("/portal/tickets", "customer", "/portal/tickets",
                 {"subject": "フォーム件名", "body": "本文", "request_type": "general", "priority": "normal",
                  "category": "question", "custom_fields.site": "本社", "custom_fields.count": "3",
                  "custom_fields.visit": "2026/11/01", "custom_fields.plan": "basic", "confirm_duplicate": "1"}),
        FormCase("/portal/tickets/{ticket_id:int}/messages", "customer", f"/portal/tickets/{w.ticket}/messages",
                 {"body": "返信", "was": "resolved"}),
        FormCase("/portal/tickets/{ticket_id:int}/status", "customer", f"/portal/tickets/{w.ticket}/status",
                 {"status": "waiting"}, versioned=True),
        # the console
        FormCase("/console/tickets/{ticket_id:int}/take", "agent", f"{t}/take", versioned=True),
        FormCase("/console/tickets/{ticket_id:int}/assign", "agent", f"{t}/assign", {"assignee": str(w.agent.id)},
                 versioned=True),
        FormCase("/console/tickets/{ticket_id:int}/status", "agent", f"{t}/status", {"status": "waiting"},
                 versioned=True),
        FormCase("/console/tickets/{ticket_id:int}/fields", "agent", f"{t}/fields",
                 {"priority": "urgent", "category": "incident", "request_type": "general",
                  "department": str(w.department)}, versioned=True),
        FormCase("/console/tickets/{ticket_id:int}/custom-fields", "agent", f"{t}/custom-fields",
                 {"cf.site": "本社", "cf.count": "3", "cf.visit": "2026/11/01", "cf.plan": "basic"}, versioned=True),
        FormCase("/console/tickets/{ticket_id:int}/messages", "agent", f"{t}/messages",
                 {"body": "返信", "internal": "1", "minutes_spent": "15", "then_status": "waiting"}, versioned=True),
        FormCase("/console/tickets/{ticket_id:int}/overage", "agent", f"{t}/overage",
                 {"extra_minutes": "30", "reason": "追加作業"}, versioned=True),
        FormCase("/console/tickets/{ticket_id:int}/waive", "agent", f"{t}/waive", {"reason": "当社の不具合"},
                 versioned=True),
        FormCase("/portal/tickets/{ticket_id:int}/point-changes/{change_id:int}/{answer:str}", "customer",
                 f"/portal/tickets/{w.ticket}/point-changes/{w.change}/decline"),
        FormCase("/portal/points/approval-limit", "customer", "/portal/points/approval-limit",
                 {"approval_limit": "5"}),
        FormCase("/portal/purchase", "customer", "/portal/purchase",
                 {"bundle": "basic", "quantity": "1", "method": "invoice", "recipient_name": "株式会社入力", "token": ""}),
        FormCase("/test-payments/{purchase_id:int}", "customer", f"/test-payments/{w.card_purchase}",
                 {"outcome": "expired"}),
        FormCase("/portal/tickets/{ticket_id:int}/watch", "customer", f"/portal/tickets/{w.ticket}/watch"),
        FormCase("/portal/tickets/{ticket_id:int}/unwatch", "customer", f"/portal/tickets/{w.ticket}/unwatch"),
        FormCase("/console/tickets/{ticket_id:int}/watch", "agent", f"{t}/watch"),
        FormCase("/console/tickets/{ticket_id:int}/unwatch", "agent", f"{t}/unwatch"),
        # one's own account
        FormCase("/account/profile", "member", "/account/profile", {"name": "名前", "locale": "ja"}),
        FormCase("/account/password", "member", "/account/password",
                 {"current_password": PASSWORD, "new_password": PASSWORD, "confirm_password": PASSWORD}),
        FormCase("/account/tokens", "member", "/account/tokens", {"name": "トークン"}),
        FormCase("/account/tokens/{token_id:int}/revoke", "member", f"/account/tokens/{w.token_id}/revoke"),
        FormCase("/account/tokens/revoke-all", "member", "/account/tokens/revoke-all"),
        FormCase("/account/sessions/end-others", "member", "/account/sessions/end-others"),
        FormCase("/account/members", "customer", "/account/members",
                 {"email": "form-member@example.jp", "name": "名前", "role": "customer_member",
                  "password": "correct horse battery"}),
        FormCase("/account/members/{user_id:int}/active", "customer", f"/account/members/{w.victim.id}/active",
                 {"active": "1"}),
        # the administrator's pages
        FormCase("/admin/departments", "admin", "/admin/departments", {"name": "新部署"}),
        FormCase("/admin/departments/{department_id:int}", "admin", f"/admin/departments/{w.department}",
                 {"name": "入力検査部"}),
        FormCase("/admin/staff", "admin", "/admin/staff",
                 {"email": "form-staff@example.jp", "name": "名前", "role": "agent", "department": str(w.department),
                  "password": "correct horse battery"}),
        FormCase("/admin/staff/{user_id:int}/department", "admin", f"/admin/staff/{w.staff_victim.id}/department",
                 {"department": str(w.department)}),
        FormCase("/admin/users/{user_id:int}/active", "admin", f"/admin/users/{w.victim.id}/active",
                 {"active": "1", "back": "/admin/staff"}),
        FormCase("/admin/users/{user_id:int}/password", "admin", f"/admin/users/{w.victim.id}/password",
                 {"password": "correct horse battery", "back": "/admin/staff"}),
        FormCase("/admin/organizations", "admin", "/admin/organizations",
                 {"code": "FORM-ORG", "name": "会社", "address": "東京都", "billing_contact_name": "経理",
                  "billing_email": "bill@example.jp", "phone": "03-1234-5678"}),
        FormCase("/admin/organizations/{organization_id:int}", "admin", f"/admin/organizations/{w.org}",
                 {"name": "株式会社入力", "address": "東京都", "billing_contact_name": "経理",
                  "billing_email": "bill@example.jp", "phone": "03-1234-5678"}),
        FormCase("/admin/organizations/{organization_id:int}/routing", "admin",
                 f"/admin/organizations/{w.org}/routing", {"department": str(w.department), "assignee": str(w.agent.id)}),
        FormCase("/admin/organizations/{organization_id:int}/users", "admin", f"/admin/organizations/{w.org}/users",
                 {"email": "form-user@example.jp", "name": "名前", "role": "customer_member",
                  "password": "correct horse battery"}),
        FormCase("/admin/request-types", "admin", "/admin/request-types",
                 {"code": "form_type", "name_ja": "種別", "name_en": "Type", "sort_order": "1", "is_active": "1"}),
        FormCase("/admin/request-types/{request_type_id:int}", "admin", f"/admin/request-types/{w.request_type}",
                 {"name_ja": "一般", "name_en": "General", "sort_order": "1", "is_active": "1"}),
        FormCase("/admin/custom-fields", "admin", "/admin/custom-fields",
                 {"key": "form_field", "label_ja": "項目", "label_en": "Field", "field_type": "choice",
                  "choices": "a\nb", "required": "", "visible_to_customers": "1", "sort_order": "2"}),
        FormCase("/admin/custom-fields/{field_id:int}", "admin", f"/admin/custom-fields/{w.field_id}",
                 {"label_ja": "項目", "label_en": "Field", "field_type": "number", "choices": "", "required": "1",
                  "visible_to_customers": "", "sort_order": "2", "is_active": "1"}),
        # points
        FormCase("/portal/settings/points", "customer", "/portal/settings/points", {"low_balance_threshold": "10"}),
        FormCase("/console/organizations/{organization_id:int}/point-alerts", "admin",
                 f"/console/organizations/{w.org}/point-alerts", {"low_balance_threshold": "10"}),
        FormCase("/console/organizations/{organization_id:int}/points/adjustments", "admin",
                 f"/console/organizations/{w.org}/points/adjustments",
                 {"kind": "adjustment", "points": "5", "reason": "調整", "expires_on": "2099/12/31", "token": ""}),
        FormCase("/admin/bundles", "admin", "/admin/bundles",
                 {"code": "form_bundle", "name_ja": "束", "name_en": "Bundle", "points": "10", "price_jpy": "10000",
                  "tax_rate": "10", "validity_months": "12", "min_quantity": "1", "max_quantity": "5",
                  "sort_order": "0", "active": "1"}),
        FormCase("/admin/bundles/{code:str}", "admin", "/admin/bundles/basic",
                 {"name_ja": "基本", "name_en": "Basic", "points": "10", "price_jpy": "10000", "tax_rate": "10",
                  "validity_months": "12", "min_quantity": "1", "max_quantity": "", "sort_order": "0",
                  "active": "1"}),
        # finance
        FormCase("/console/finance/documents/{document_id:int}/payments", "admin",
                 f"/console/finance/documents/{w.invoices.pay}/payments",
                 {"paid_on": clock.today().isoformat(), "amount_jpy": "1000", "note": "振込", "token": ""}),
        FormCase("/console/finance/documents/{document_id:int}/void", "admin",
                 f"/console/finance/documents/{w.invoices.void}/void", {"reason": "入力検査"}),
        FormCase("/console/finance/documents/{document_id:int}/correct", "admin",
                 f"/console/finance/documents/{w.invoices.correct}/correct",
                 {"recipient_name": "株式会社入力 経理部", "due_on": "2099-01-31", "note": "宛名の訂正"}),
        FormCase("/console/finance/documents/{document_id:int}/refund", "admin",
                 f"/console/finance/documents/{w.invoices.refund}/refund", {"reason": "入力検査"}),
        FormCase("/admin/issuer", "admin", "/admin/issuer",
                 {"name": "株式会社入力検査", "registration_number": "T7123456789012", "address": "東京都",
                  "phone": "03-1234-5678", "email": "bill@example.jp", "bank_account": "みずほ銀行\n普通 1234567",
                  "payment_terms_days": "30", "tax_rounding": "down"}),
        # the point table last: publishing a draft changes what can be filed
        FormCase("/admin/point-table", "admin", "/admin/point-table", {"note": "下書き"}),
        FormCase("/admin/point-table/{number:int}/request-types", "admin",
                 f"/admin/point-table/{w.draft}/request-types",
                 {"code": "general", "name_ja": "一般", "name_en": "General", "scope_ja": "範囲", "scope_en": "Scope",
                  "points": "2", "included_minutes": "30", "block_minutes": "30", "points_per_block": "1",
                  "sort_order": "0"}),
        FormCase("/admin/point-table/{number:int}/surcharges", "admin", f"/admin/point-table/{w.draft}/surcharges",
                 {"urgent": "1", "normal": "0", "low": "0"}),
        FormCase("/admin/point-table/{number:int}/request-types/{code:str}/delete", "admin",
                 f"/admin/point-table/{w.draft}/request-types/general/delete"),
        FormCase("/admin/point-table/{number:int}/publish", "admin", f"/admin/point-table/{w.draft}/publish",
                 {"effective_on": "2099/01/01"}),
    ]


# Into every field at once: what no field should choke on.
ODD_EVERYWHERE = ["abc", "-1", "1.5", "9" * 30, "", " ", "١٢", "\x1b[31m", LONG, "<script>"]
# Field by field (the rest of the form valid): a field holding a number or an id gets odd numbers
# ("²" passes str.isdigit but not int(); "9" * 12 fits no INTEGER column), a text field odd text.
ODD_NUMBERS = ["²", "9" * 12]
ODD_TEXT = [NUL, "あ" * 2000]


def form_variations(form: dict) -> list[tuple[str, dict]]:
    found = [
        ("an empty form", {}),
        ("an unknown field", {**form, "surprise": "1"}),
        ("every field repeated", {k: [v or "x", "y"] for k, v in form.items()}),
    ]
    for value in ODD_EVERYWHERE:
        found.append((f"every field {value[:12]!r}", {k: value for k in form}))
    for name, valid in form.items():
        found.append((f"{name} missing", {k: v for k, v in form.items() if k != name}))
        for value in ODD_NUMBERS if valid.isdecimal() else ODD_TEXT:
            found.append((f"{name}={value[:12]!r}", {**form, name: value}))
    return found


async def _current_version(ticket_id: int) -> str:
    return str((await Ticket.select(Ticket.version).where(Ticket.id == ticket_id).first())["version"])


async def test_no_form_input_makes_a_page_fail(world, browsers):
    failures = []
    for case in form_cases(world):
        browser = getattr(browsers, case.who)
        base = dict(case.form)
        tries = form_variations(base)
        if case.versioned:
            tries += [(f"version={v[:12]!r}", {**base, "version": v}) for v in ODD_NUMBERS + ODD_EVERYWHERE]
        for label, form in tries:
            if case.versioned and "version" not in form and not label.startswith("version"):
                form = {**form, "version": await _current_version(world.ticket)}
            data = {**form, "_csrf_token": browser.cookies.get("kippu_csrf")}
            # Mostly URL-encoded (what the parsers see is the same); multipart for the whole-form cases.
            files = {"attachments": ("", b"")} if label.startswith(("every", "an empty")) else None
            response = await browser.post(case.url, data=data, files=files)
            if response.status_code >= 500:
                failures.append(f"{case.who}: POST {case.url} with {label} answered {response.status_code}")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)


# ------------------------------------------------------------------------------------ text that is not UTF-8


# "テスト" in Shift_JIS: what an old mail client or a script with the wrong encoding sends.
SHIFT_JIS = "テスト".encode("shift_jis")
UNREADABLE = "フォームに読み取れない文字が含まれています"


@pytest.mark.parametrize("encoding", ["multipart", "url-encoded"])
@pytest.mark.parametrize("route", ["new request", "reply"])
async def test_a_form_field_that_is_not_utf8_is_refused_with_a_message(world, browsers, route, encoding):
    browser = browsers.customer
    url = "/portal/tickets" if route == "new request" else f"/portal/tickets/{world.ticket}/messages"
    fields = {"subject": "件名", "body": SHIFT_JIS, "request_type": "general", "confirm_duplicate": "1"}
    before = await snapshot()
    if encoding == "multipart":
        response = await browser.post(url, data={**fields, "_csrf_token": browser.cookies.get("kippu_csrf")},
                                      files={"attachments": ("memo.txt", b"file")})
    else:
        body = urlencode({**fields, "body": "%BODY%", "_csrf_token": browser.cookies.get("kippu_csrf")})
        response = await browser.post(url, content=body.replace("%25BODY%25", quote_from_bytes(SHIFT_JIS)),
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400, response.text[:300]
    assert UNREADABLE in response.text
    assert await snapshot() == before


async def test_every_form_refuses_a_field_that_is_not_utf8_with_400(world, browsers):
    failures = []
    for case in form_cases(world):
        if case.path.startswith("/webhooks/"):
            continue  # no form: Stripe's notices are read as signed bytes
        browser = getattr(browsers, case.who)
        name = next(iter(case.form), "note")
        data = {**case.form, name: SHIFT_JIS, "_csrf_token": browser.cookies.get("kippu_csrf")}
        response = await browser.post(case.url, data=data, files={"attachments": ("", b"")})
        if response.status_code != 400:
            failures.append(f"{case.who}: POST {case.url} answered {response.status_code}")
    assert not failures, "\n".join(failures)


async def test_the_api_answers_a_form_that_is_not_utf8_with_its_code_and_message(world, browsers, tokens):
    response = await browsers.anonymous.post(
        "/api/v1/tickets", content=b"subject=%83e%83X%83g&body=x",
        headers={**tokens.customer, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "unreadable_form" and UNREADABLE in response.json()["message"]


async def test_a_form_sent_by_htmx_that_is_not_utf8_is_refused_too(world, browsers):
    # HTMX sends the CSRF token in a header, so no middleware reads the form before the handler.
    browser = browsers.member
    response = await browser.post(
        "/account/profile", content=b"name=%83e%83X%83g&locale=ja",
        headers={"Content-Type": "application/x-www-form-urlencoded", "x-csrftoken": browser.cookies.get("kippu_csrf")},
    )
    assert response.status_code == 400 and UNREADABLE in response.text
