"""The JSON API keeps its OpenAPI document (/schema/openapi.json).

schemathesis builds requests for every /api/v1 operation from the document (its coverage phase:
boundary and invalid values, missing fields, undocumented methods; then seeded, derandomised
fuzzing), signed in as an administrator and as a customer member, and every answer must be what
the document promises: no 5xx; a documented status; the documented body, content type and
headers (`Retry-After` on a 429); 405 with `Allow` for an undocumented method and the path's
methods in `Allow` for OPTIONS; schema-invalid requests refused; schema-valid ones never refused as
malformed (400): what a well-formed request may still be refused for is in CONFIG below. A
secured operation that answered 2xx must answer 401 without a token or with an unknown one.

The requests go in-process to the app on the tests' own event loop (httpx), as in the other API
tests, so this runs on SQLite and PostgreSQL alike (about a minute). Like test_bad_input.py, the
module builds one small world and keeps it; ids drawn for a path often name its rows, and the
codes schemathesis draws first ("0") name a request type and a bundle, so the operations also
answer from real data, successes included.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import ignored_auth

from app import db
from app.accounts.tables import ApiToken
from app.accounts.tokens import hash_token
from app.server import create_app
from app.tickets.attachments import Upload
from app.tickets.services import classification, filing, points, thread
from app.tickets.tables import Attachment
from billing import clock, purchases
from billing.invoicing import documents_of_purchase
from tests.factories import (
    caller,
    give_points,
    make_bundle,
    make_department,
    make_issuer,
    make_organization,
    make_request_type,
    make_user,
    price_request_type,
)

# Fixed tokens (stored hashed by `world`), so that each schema's auth is known when it loads.
TOKENS = {"admin": "kp_contract-admin-token", "member": "kp_contract-member-token"}
CONFIG = {
    # Bounded and repeatable: the same requests on every run.
    "seed": 20261203,
    "generation": {"deterministic": True, "max-examples": 10, "mode": "all"},
    "phases": {"stateful": {"enabled": False}},
    "checks": {
        # A well-formed request may still be refused for what it asks, each as documented: not
        # signed in, not enough points, not its role, no such row, a conflict with the current
        # state, a business rule or an unknown code (422), the rate limit, the card service down.
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "402", "403", "404", "409", "422", "429", "503"],
        },
    },
}
APP = create_app()
DOCUMENT = APP.openapi_schema.to_schema()  # what GET /schema/openapi.json serves
# Ids of the world's rows by path parameter name (filled by `world`; drawn from when generating).
KNOWN: dict[str, list] = {}


def real_ids(context, strategy):
    """The path parameters as drawn, or ids of the world's rows."""
    names = [parameter.name for parameter in context.operation.path_parameters]
    known = st.deferred(lambda: st.fixed_dictionaries({name: st.sampled_from(KNOWN[name]) for name in names}))
    return st.one_of(strategy, known)


def api_schema(who: str):
    config = SchemathesisConfig.from_dict({**CONFIG, "auth": {"openapi": {"BearerToken": {"bearer": TOKENS[who]}}}})
    schema = schemathesis.openapi.from_dict(DOCUMENT, config=config)
    schema.hook("before_generate_path_parameters")(real_ids)
    return schema


@pytest.fixture(autouse=True)
async def empty_database(database):
    """Replaces tests/conftest.py's fixture: the tests of this module share `world`."""
    yield


@pytest.fixture(scope="module")
async def world(database):
    await db.delete_all_rows()
    department = await make_department("契約検査部")
    # "0" is the code schemathesis draws first: with it, some filings and purchases succeed.
    for code in ("general", "0"):
        await make_request_type(code)
        await price_request_type(code, points=1, included_minutes=30, block_minutes=30, points_per_block=1)
    await make_issuer()
    await make_bundle("0", points=10, price_jpy=50_000)
    org = await make_organization("株式会社契約", code="CONTRACT-A")
    other = await make_organization("株式会社別会社", code="CONTRACT-B")
    await give_points(org, 1_000)
    await give_points(other, 1_000)
    admin = await make_user("admin", email="contract-admin@example.jp")
    member = await make_user("customer_member", organization=org, email="contract-member@example.jp")
    agent = await make_user("agent", department=department, email="contract-agent@example.jp")
    for who, user in (("admin", admin), ("member", member)):
        await ApiToken.insert(ApiToken(user=user.id, name="contract", token_hash=hash_token(TOKENS[who]),
                                       prefix=TOKENS[who][:10], created_at=datetime.now(UTC)))
    ticket = await filing.create_ticket(
        caller(member), subject="契約の確認", body="本文", request_type_code="general",
        attachments=[Upload.from_bytes("memo.txt", "確認メモ".encode())],
    )
    await thread.add_message(caller(agent), ticket.id, "回答します")
    await classification.request_overage(caller(agent), ticket.id, 60, "追加作業")
    change = await points.pending_change_of(ticket.id)
    attachment = await Attachment.select(Attachment.id).where(Attachment.ticket == ticket.id).first()
    purchase = await purchases.start_purchase(org.id, "0", 1, "invoice", recipient_name="株式会社契約")
    invoice = (await documents_of_purchase(purchase.id))[0]
    last_month = (clock.today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    KNOWN.update(
        organization_id=[org.id, other.id], ticket_id=[ticket.id], change_id=[change.id],
        attachment_id=[attachment["id"]], document_id=[invoice.id], purchase_id=[purchase.id], month=[last_month],
    )


@pytest.fixture(scope="module")
async def api():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://testserver") as client:
        yield client


def as_httpx(kwargs: dict) -> dict:
    """schemathesis's request (made for `requests`) as httpx.AsyncClient.request's arguments."""
    kwargs = dict(kwargs)
    if "data" in kwargs:
        kwargs["content"] = kwargs.pop("data")
    cookies = kwargs.pop("cookies", None)
    if cookies:
        kwargs["headers"] = {**kwargs["headers"], "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    return kwargs


async def answers_as_documented(case, api) -> None:
    request = as_httpx(case.as_transport_kwargs(base_url="http://testserver"))
    response = await api.request(**request)
    # ignored_auth would send its own requests through schemathesis's transport, not to this
    # in-process app; what it checks is checked below.
    case.validate_response(response, excluded_checks=[ignored_auth])
    secured = bool(case.operation.definition.raw.get("security"))
    if secured and case.method == case.operation.method.upper() and 200 <= response.status_code < 300:
        without = {k: v for k, v in request["headers"].items() if k.lower() != "authorization"}
        for headers in (without, {**without, "Authorization": "Bearer kp_no-such-token"}):
            refused = await api.request(**{**request, "headers": headers})
            assert refused.status_code == 401, f"{case.operation.label} answered {refused.status_code} to {headers}"


def contract_test(schema):
    @schema.parametrize()
    async def test(case, world, api):
        await answers_as_documented(case, api)

    return test


# One test per operation and caller, e.g. test_CreateTicket_as_member. (With schemathesis's own
# parametrisation, pytest 9.2 gives every operation's test the same node id, and pytest-xdist,
# which schedules by node id, runs only one of them.)
for _who in TOKENS:
    _schema = api_schema(_who)
    for _path_item in DOCUMENT["paths"].values():
        for _operation in _path_item.values():
            _id = _operation["operationId"]
            globals()[f"test_{_id}_as_{_who}"] = contract_test(_schema.include(operation_id=_id))


# ------------------------------------------------------------------ what the document says, read


def operations():
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_error_answer_of_the_api_has_the_one_error_body():
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorRead"}}}
    wrong = [f"{label} {status}" for label, operation in operations()
             for status, answer in operation["responses"].items() if int(status) >= 400 and answer["content"] != error_body]
    assert not wrong, wrong


def test_every_operation_documents_the_rate_limit_and_a_secured_one_the_missing_token():
    for label, operation in operations():
        assert operation["responses"]["429"]["headers"]["Retry-After"]["required"], label
        if operation.get("security"):
            assert "401" in operation["responses"], label


def test_every_mutating_call_takes_an_idempotency_key():
    for label, operation in operations():
        if label.startswith("POST") and label != "POST /api/v1/auth/token":
            assert {"name": "Idempotency-Key", "in": "header"}.items() <= next(
                (p for p in operation.get("parameters", []) if p["name"] == "Idempotency-Key"), {}
            ).items(), label


def test_the_documented_vocabularies_are_the_apps():
    from typing import get_args

    from app.accounts.schemas import CustomerRole, Locale, StaffRole
    from app.accounts.tables import CUSTOMER_ROLES, STAFF_ROLES
    from app.i18n import LOCALES
    from app.invoices.schemas import DocumentKind, DocumentStatus
    from app.points.schemas import EntryKind
    from app.tickets.schemas import CategoryName, PriorityName, StatusName
    from app.tickets.tables import CATEGORIES, PRIORITIES, STATUSES
    from billing.tables import DOCUMENT_KINDS, DOCUMENT_STATUSES, ENTRY_KINDS

    for documented, used in ((StatusName, STATUSES), (PriorityName, PRIORITIES), (CategoryName, CATEGORIES),
                             (CustomerRole, CUSTOMER_ROLES), (StaffRole, STAFF_ROLES), (Locale, LOCALES),
                             (DocumentKind, DOCUMENT_KINDS), (DocumentStatus, DOCUMENT_STATUSES),
                             (EntryKind, ENTRY_KINDS)):
        assert set(get_args(documented)) == set(used)


# ------------------------------------------------------------------ methods and throttling, pages too


@pytest.mark.parametrize(("path", "methods"), [
    ("/api/v1/tickets", {"GET", "POST", "OPTIONS"}), ("/portal", {"GET", "OPTIONS"}), ("/login", {"GET", "POST", "OPTIONS"}),
])
async def test_an_unknown_method_is_refused_with_the_methods_of_the_path(api, path, methods):
    refused = await api.request("PATCH", path)
    assert refused.status_code == 405
    assert set(refused.headers["Allow"].split(", ")) == methods


async def test_options_lists_every_method_of_a_path_served_by_several_handlers(world, api):
    options = await api.request("OPTIONS", "/api/v1/tickets", headers={"Authorization": f"Bearer {TOKENS['admin']}"})
    assert options.headers["Allow"] == "GET, OPTIONS, POST"


async def test_a_token_asked_for_too_often_with_a_wrong_password_says_when_to_try_again(api, settings):
    body = {"email": "contract-nobody@example.jp", "password": "not the password"}
    answers = [await api.post("/api/v1/auth/token", json=body) for _ in range(settings.login_max_failures + 1)]
    assert [a.status_code for a in answers] == [401] * settings.login_max_failures + [429]
    assert answers[-1].json()["code"] == "too_many_attempts"
    assert 0 < int(answers[-1].headers["Retry-After"]) <= settings.login_lockout_seconds
