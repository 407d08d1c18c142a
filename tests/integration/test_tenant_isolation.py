"""Tenant isolation across the whole app: a customer of one company never sees or changes another
company's data, whatever route it tries, and roles keep people out of pages that are not theirs.

The routes are read from the app itself (`create_app().routes`): every route whose path takes a
parameter must have a case in ISOLATION_CASES, so adding an id-taking route without saying how it
is isolated makes `test_every_route_that_takes_an_id_has_an_isolation_case` fail.

One two-company world is built once for this module (building it costs more than all the checks),
so the autouse `empty_database` fixture of tests/conftest.py is replaced here by one that keeps
it. A test here may add rows of its own but never changes the shared ones: the checks assert
precisely that the refused calls change nothing.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace

import httpx
import pytest

from app import db
from app.accounts import services as people
from app.accounts.tokens import create_token, revoke_token
from app.piccolo_app import TABLES
from app.server import create_app
from app.settings import get_settings
from app.tickets.attachments import Upload
from app.tickets.services import classification, filing, points, reading, thread, workflow
from app.tickets.tables import Attachment, TicketMessage
from billing import invoicing, purchases
from tests.factories import (
    caller,
    give_points,
    make_bundle,
    make_custom_field,
    make_department,
    make_issuer,
    make_organization,
    make_request_type,
    make_user,
    price_request_type,
    sign_in,
)

# Everything of company B carries this mark; no answer to a user of company A may contain it.
MARK = "zqxb"
# A word only in B's requests (a search for MARK itself would see it echoed in the search box).
SECRET = "べーた専用語"
# Columns that change by merely signing in or calling the API (not a change to anyone's data).
VOLATILE = {"last_used_at", "last_login_at", "last_seen_at"}
# Tables that count attempts rather than hold anyone's data: a refused sign-in is counted there.
ATTEMPT_COUNTERS = {"sign_in_throttle"}
# Parameters that are not ids: static files and the OpenAPI renderer (public, no tenant data).
PUBLIC_PATHS = {
    "/static/{file_path:path}",
    "/vendor/htmx/{file_path:path}",
    "/vendor/pico/{file_path:path}",
    "/vendor/swagger-ui/{file_path:path}",
    "/schema/{path:str}",
}
MUTATING = ("POST", "PUT", "PATCH", "DELETE")
NO_SUCH_ID = 987654321


@pytest.fixture(autouse=True)
async def empty_database(database):
    """Replaces tests/conftest.py's fixture: the tests of this module share `world`."""
    yield


# ------------------------------------------------------------------------------------ the world


async def _company(letter: str, mark: str, department, request_type, agent, secret: str = ""):
    """A company with an admin and a member; a new, an open and a closed request, the open one with
    a public reply, an internal note and a file on each; a custom field value; an API token; a
    purchase by invoice, with its invoice unpaid."""
    org = await make_organization(name=f"株式会社{mark}{letter}", code=f"ISO-{letter}")
    admin = await make_user("customer_admin", organization=org, name=f"{mark} 管理者",
                            email=f"{mark}-admin-{letter}@example.jp".lower())
    member = await make_user("customer_member", organization=org, name=f"{mark} 担当",
                             email=f"{mark}-member-{letter}@example.jp".lower())
    await give_points(org, 100)
    customer = caller(member)
    staff = caller(agent)

    async def file(subject: str):
        return await filing.create_ticket(
            customer, subject=f"{mark} {subject}", body=f"{mark} 本文 {subject} {secret}", request_type_code=request_type.code,
            attachments=[Upload.from_bytes(f"{mark}-request.txt", f"{mark} request file".encode())],
        )

    new = await file("新しい依頼")
    opened = await file("対応中の依頼")
    reply = await thread.add_message(
        staff, opened.id, f"{mark} 公開の返信",
        attachments=[Upload.from_bytes(f"{mark}-reply.txt", f"{mark} reply file".encode())],
    )
    note = await thread.add_message(
        staff, opened.id, f"{mark} 社内メモ", internal=True,
        attachments=[Upload.from_bytes(f"{mark}-note.txt", f"{mark} note file".encode())],
    )
    closed = await file("完了した依頼")
    await thread.add_message(staff, closed.id, f"{mark} 回答しました")
    await workflow.change_status(staff, closed.id, "resolved")
    await workflow.change_status(staff, closed.id, "closed")

    async def attachment_of(message_id):
        return (await Attachment.select(Attachment.id).where(Attachment.message == message_id).first())["id"]

    request_file = (await Attachment.select(Attachment.id).where(
        (Attachment.ticket == opened.id) & Attachment.message.is_null()
    ).first())["id"]
    token, token_id = await create_token(admin.id, f"{mark} token")
    await classification.request_overage(staff, opened.id, 60, f"{mark} 追加作業")
    change = (await points.pending_change_of(opened.id)).id
    version = (await reading.ticket_summary(staff, opened.id)).version
    purchase = await purchases.start_purchase(org.id, "ISO", 1, "invoice", recipient_name=org.name)
    (invoice,) = await invoicing.documents_of_purchase(purchase.id)
    return SimpleNamespace(
        org=org.id, admin=admin, member=member, new=new.id, open=opened.id, closed=closed.id,
        open_version=version, request_file=request_file, reply_file=await attachment_of(reply.message_id),
        note_file=await attachment_of(note.message_id), note_id=note.message_id, token=token, token_id=token_id,
        change=change, purchase=purchase.id, invoice=invoice.id,
    )


@pytest.fixture(scope="module")
async def world(database):
    await db.delete_all_rows()
    department = await make_department("保守部")
    request_type = await make_request_type("general")
    # Extra time is priced (30 minutes included, 1 point per further 30), so an agent's request
    # for more time waits for the customer's approval: a point change to approve or decline.
    await price_request_type("general", points=1, included_minutes=30, block_minutes=30, points_per_block=1)
    # Something to sell, so each company has a purchase and an invoice.
    await make_issuer()
    await make_bundle("ISO", points=10, price_jpy=10_000)
    agent = await make_user("agent", department=department, name="佐藤 担当", email="iso-agent@example.jp")
    w = SimpleNamespace(
        department=department.id,
        request_type=request_type.id,
        custom_field=(await make_custom_field("site", visible_to_customers=True)).id,
        agent=agent,
        admin=await make_user("admin", name="管理 者", email="iso-admin@example.jp"),
        finance=await make_user("finance", name="経理 者", email="iso-finance@example.jp"),
    )
    w.a = await _company("a", "アルファ", department, request_type, agent)
    w.b = await _company("b", MARK.upper(), department, request_type, agent, secret=SECRET)
    w.staff_token_id = (await create_token(agent.id, "agent token"))[1]
    return w


@pytest.fixture(scope="module")
async def browsers(world):
    """A signed-in browser (session cookie + CSRF cookie) per person, on one app."""
    app = create_app()
    people_ = {
        "a_admin": world.a.admin, "a_member": world.a.member, "b_admin": world.b.admin,
        "agent": world.agent, "admin": world.admin, "finance": world.finance,
    }
    clients = {}
    for name, user in people_.items():
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver.local")
        await sign_in(client, user)
        clients[name] = client
    yield SimpleNamespace(**clients)
    for client in clients.values():
        await client.aclose()


@pytest.fixture(scope="module")
async def tokens(world):
    """A bearer header per person."""
    headers = {}
    for name, user in {"a_admin": world.a.admin, "a_member": world.a.member, "agent": world.agent,
                       "admin": world.admin, "finance": world.finance}.items():
        headers[name] = {"Authorization": f"Bearer {(await create_token(user.id, 'test'))[0]}"}
    return SimpleNamespace(**headers)


# ------------------------------------------------------------------------------------ helpers


async def snapshot() -> dict:
    """Every row of every table (and the stored files): what "nothing changed" is checked against."""
    state = {}
    for table in TABLES:
        if table._meta.tablename in ATTEMPT_COUNTERS:
            continue
        rows = await table.select().order_by(table._meta.primary_key)
        state[table._meta.tablename] = [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]
    uploads = get_settings().upload_dir
    state["files"] = sorted(str(p) for p in uploads.rglob("*") if p.is_file())
    return state


def changed_tables(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]


@dataclass(frozen=True)
class Attempt:
    method: str
    url: str
    data: dict | None = None  # JSON body for /api/, form fields for pages

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


async def send(attempt: Attempt, *, browser: httpx.AsyncClient, headers: dict) -> httpx.Response:
    """Send an attempt the way its route is used: API with a bearer token, pages from a browser."""
    if attempt.url.startswith("/api/"):
        return await browser.request(attempt.method, attempt.url, json=attempt.data, headers=headers)
    if attempt.method == "GET":
        return await browser.get(attempt.url)
    form = {**(attempt.data or {}), "_csrf_token": browser.cookies.get("kippu_csrf")}
    return await browser.request(attempt.method, attempt.url, data=form)


def is_not_found(response: httpx.Response, url: str) -> bool:
    if response.status_code != 404:
        return False
    if url.startswith("/api/"):
        return response.json().get("code") == "not_found"
    return "<h1>404</h1>" in response.text


def shows_nothing_of_b(response: httpx.Response) -> bool:
    return MARK not in response.text.lower() and MARK not in response.headers.get("content-disposition", "").lower()


# ------------------------------------------------------------------------------------ the cases
#
# For every (method, route) that takes a parameter: what a customer of A tries with B's ids (and
# mixes of A's and B's), and what it must get:
#   "not_found"  customers use this route: B's data must not exist for A (404, nothing changes);
#   "staff_only" customers may not use the route at all (403 by role, the same answer for B's id
#                as for an id that does not exist), and nothing changes;
#   "own_only"   the parameter names no company (a month): the route shows the caller's own
#                company only, so whatever it answers shows nothing of B.


def _ticket_urls(w, template: str) -> list[str]:
    return [template.format(t) for t in (w.b.new, w.b.open, w.b.closed)]


def _file_urls(w, template: str) -> list[str]:
    b_files = (w.b.request_file, w.b.reply_file, w.b.note_file)
    return (
        [template.format(w.b.open, f) for f in b_files]  # B's request, B's files
        + [template.format(w.a.open, f) for f in b_files]  # A's own request, B's files
        + [template.format(w.b.open, w.a.request_file)]  # B's request, A's file
        + [template.format(w.a.open, w.a.note_file)]  # a file on A's internal note: staff only
    )


def _change_urls(w, template: str) -> list[str]:
    """B's pending point change on B's request, and on A's own request (a mix)."""
    return [template.format(w.b.open, w.b.change), template.format(w.a.open, w.b.change),
            template.format(w.b.open, w.a.change)]


def _get(urls: Callable) -> Callable:
    return lambda w: [Attempt("GET", u) for u in urls(w)]


def _post(urls: Callable, *bodies: dict | Callable) -> Callable:
    def attempts(w):
        return [Attempt("POST", u, body(w) if callable(body) else body) for u in urls(w) for body in bodies]
    return attempts


def _b_version(w) -> dict:
    return {"version": str(w.b.open_version)}


ISOLATION_CASES: dict[tuple[str, str], tuple[str, Callable]] = {
    # ---------------------------------------------------------------- JSON API
    ("GET", "/api/v1/organizations/{organization_id:int}"):
        ("not_found", _get(lambda w: [f"/api/v1/organizations/{w.b.org}"])),
    ("GET", "/api/v1/organizations/{organization_id:int}/users"):
        ("not_found", _get(lambda w: [f"/api/v1/organizations/{w.b.org}/users"])),
    ("POST", "/api/v1/organizations/{organization_id:int}/users"):
        ("not_found", _post(lambda w: [f"/api/v1/organizations/{w.b.org}/users"],
                            {"email": "intruder@example.jp", "name": "侵入 者", "role": "customer_admin",
                             "password": "correct horse battery"})),
    ("GET", "/api/v1/tickets/{ticket_id:int}"):
        ("not_found", _get(lambda w: _ticket_urls(w, "/api/v1/tickets/{}"))),
    ("POST", "/api/v1/tickets/{ticket_id:int}/messages"):
        ("not_found", _post(lambda w: _ticket_urls(w, "/api/v1/tickets/{}/messages"),
                            {"body": "他社の依頼への返信"}, {"body": "解決", "status": "resolved"})),
    ("POST", "/api/v1/tickets/{ticket_id:int}/status"):
        ("not_found", _post(lambda w: _ticket_urls(w, "/api/v1/tickets/{}/status"),
                            {"status": "resolved"}, {"status": "cancelled"})),
    ("POST", "/api/v1/tickets/{ticket_id:int}/point-changes/{change_id:int}/approve"):
        ("not_found", _post(lambda w: _change_urls(w, "/api/v1/tickets/{}/point-changes/{}/approve"), {})),
    ("POST", "/api/v1/tickets/{ticket_id:int}/point-changes/{change_id:int}/decline"):
        ("not_found", _post(lambda w: _change_urls(w, "/api/v1/tickets/{}/point-changes/{}/decline"), {})),
    ("POST", "/api/v1/tickets/{ticket_id:int}/waive"):
        ("staff_only", _post(lambda w: _ticket_urls(w, "/api/v1/tickets/{}/waive"), {"reason": "他社の免除"})),
    ("POST", "/api/v1/tickets/{ticket_id:int}/overage"):
        ("staff_only", _post(lambda w: _ticket_urls(w, "/api/v1/tickets/{}/overage"),
                             {"minutes": 30, "reason": "他社への追加"})),
    ("GET", "/api/v1/tickets/{ticket_id:int}/attachments/{attachment_id:int}"):
        ("not_found", _get(lambda w: _file_urls(w, "/api/v1/tickets/{}/attachments/{}"))),
    ("GET", "/api/v1/organizations/{organization_id:int}/balance"):
        ("not_found", _get(lambda w: [f"/api/v1/organizations/{w.b.org}/balance"])),
    ("GET", "/api/v1/organizations/{organization_id:int}/ledger"):
        ("not_found", _get(lambda w: [f"/api/v1/organizations/{w.b.org}/ledger"])),
    ("POST", "/api/v1/organizations/{organization_id:int}/purchases"):
        ("not_found", _post(lambda w: [f"/api/v1/organizations/{w.b.org}/purchases"],
                            {"bundle": "ISO", "quantity": 1, "method": "invoice"})),
    ("GET", "/api/v1/purchases/{purchase_id:int}"):
        ("not_found", _get(lambda w: [f"/api/v1/purchases/{w.b.purchase}"])),
    ("GET", "/api/v1/invoices/{document_id:int}"):
        ("not_found", _get(lambda w: [f"/api/v1/invoices/{w.b.invoice}"])),
    ("GET", "/api/v1/invoices/{document_id:int}/pdf"):
        ("not_found", _get(lambda w: [f"/api/v1/invoices/{w.b.invoice}/pdf"])),
    # Recording a payment is finance's: refused by role before any id is looked at.
    ("POST", "/api/v1/invoices/{document_id:int}/payments"):
        ("staff_only", _post(lambda w: [f"/api/v1/invoices/{d}/payments" for d in (w.b.invoice, w.a.invoice)],
                             {"paid_on": "2026-01-05", "amount_jpy": 1000})),
    ("GET", "/api/v1/organizations/{organization_id:int}/statements/{month:str}/pdf"):
        ("not_found", _get(lambda w: [f"/api/v1/organizations/{w.b.org}/statements/2026-01/pdf"])),
    ("POST", "/api/v1/organizations/{organization_id:int}/adjustments"):
        ("not_found", _post(lambda w: [f"/api/v1/organizations/{w.b.org}/adjustments"],
                            {"points": 50, "reason": "他社への付与"}, {"points": -50, "reason": "他社からの減算"})),
    # ---------------------------------------------------------------- portal
    ("GET", "/portal/tickets/{ticket_id:int}"):
        ("not_found", _get(lambda w: _ticket_urls(w, "/portal/tickets/{}"))),
    ("POST", "/portal/tickets/{ticket_id:int}/messages"):
        ("not_found", _post(lambda w: _ticket_urls(w, "/portal/tickets/{}/messages"),
                            {"body": "他社の依頼への返信"}, {"body": "再開して", "was": "resolved"})),
    ("POST", "/portal/tickets/{ticket_id:int}/status"):
        ("not_found", _post(lambda w: _ticket_urls(w, "/portal/tickets/{}/status"),
                            {"status": "resolved"}, {"status": "cancelled"})),
    ("POST", "/portal/tickets/{ticket_id:int}/point-changes/{change_id:int}/{answer:str}"):
        ("not_found", _post(lambda w: [u + "/" + answer for answer in ("approve", "decline")
                                       for u in _change_urls(w, "/portal/tickets/{}/point-changes/{}")], {})),
    ("GET", "/portal/tickets/{ticket_id:int}/attachments/{attachment_id:int}"):
        ("not_found", _get(lambda w: _file_urls(w, "/portal/tickets/{}/attachments/{}"))),
    ("POST", "/portal/tickets/{ticket_id:int}/watch"):
        ("not_found", _post(lambda w: _ticket_urls(w, "/portal/tickets/{}/watch"), {})),
    ("POST", "/portal/tickets/{ticket_id:int}/unwatch"):
        ("not_found", _post(lambda w: _ticket_urls(w, "/portal/tickets/{}/unwatch"), {})),
    ("GET", "/portal/purchases/{purchase_id:int}"):
        ("not_found", _get(lambda w: [f"/portal/purchases/{w.b.purchase}"])),
    ("GET", "/portal/documents/{document_id:int}"):
        ("not_found", _get(lambda w: [f"/portal/documents/{w.b.invoice}"])),
    ("GET", "/portal/documents/{document_id:int}/pdf"):
        ("not_found", _get(lambda w: [f"/portal/documents/{w.b.invoice}/pdf"])),
    # A month not yet ended: no statement is issued (and stored) while the others are checked.
    ("GET", "/portal/statements/{month:str}"): ("own_only", _get(lambda w: ["/portal/statements/2099-01"])),
    ("GET", "/portal/statements/{month:str}/pdf"): ("own_only", _get(lambda w: ["/portal/statements/2099-01/pdf"])),
    # The development test-payment page: another company's purchase does not exist.
    ("GET", "/test-payments/{purchase_id:int}"):
        ("not_found", _get(lambda w: [f"/test-payments/{w.b.purchase}"])),
    ("POST", "/test-payments/{purchase_id:int}"):
        ("not_found", _post(lambda w: [f"/test-payments/{w.b.purchase}"], {"outcome": "paid"})),
    # ---------------------------------------------------------------- one's own account
    ("POST", "/account/tokens/{token_id:int}/revoke"):
        ("not_found", _post(lambda w: [f"/account/tokens/{w.b.token_id}/revoke",
                                       f"/account/tokens/{w.staff_token_id}/revoke"], {})),
    ("POST", "/account/members/{user_id:int}/active"):
        ("not_found", _post(lambda w: [f"/account/members/{u}/active" for u in
                                       (w.b.admin.id, w.b.member.id, w.agent.id, w.admin.id)],
                            {"active": "0"}, {"active": "1"})),
    # ---------------------------------------------------------------- console (staff only)
    ("GET", "/console/tickets/{ticket_id:int}"):
        ("staff_only", _get(lambda w: _ticket_urls(w, "/console/tickets/{}"))),
    ("POST", "/console/tickets/{ticket_id:int}/take"):
        ("staff_only", _post(lambda w: _ticket_urls(w, "/console/tickets/{}/take"), _b_version)),
    ("POST", "/console/tickets/{ticket_id:int}/assign"):
        ("staff_only", _post(lambda w: _ticket_urls(w, "/console/tickets/{}/assign"),
                             lambda w: {**_b_version(w), "assignee": str(w.agent.id)})),
    ("POST", "/console/tickets/{ticket_id:int}/status"):
        ("staff_only", _post(lambda w: _ticket_urls(w, "/console/tickets/{}/status"),
                             lambda w: {**_b_version(w), "status": "waiting"})),
    ("POST", "/console/tickets/{ticket_id:int}/fields"):
        ("staff_only", _post(lambda w: _ticket_urls(w, "/console/tickets/{}/fields"),
                             lambda w: {**_b_version(w), "priority": "urgent"})),
    ("POST", "/console/tickets/{ticket_id:int}/custom-fields"):
        ("staff_only", _post(lambda w: _ticket_urls(w, "/console/tickets/{}/custom-fields"),
                             lambda w: {**_b_version(w), "cf.site": "本社"})),
    ("POST", "/console/tickets/{ticket_id:int}/messages"):
        ("staff_only", _post(lambda w: _ticket_urls(w, "/console/tickets/{}/messages"),
                             lambda w: {**_b_version(w), "body": "返信"},
                             lambda w: {**_b_version(w), "body": "メモ", "internal": "1"})),
    ("POST", "/console/tickets/{ticket_id:int}/waive"):
        ("staff_only", _post(lambda w: _ticket_urls(w, "/console/tickets/{}/waive"),
                             lambda w: {**_b_version(w), "reason": "他社の免除"})),
    ("POST", "/console/tickets/{ticket_id:int}/overage"):
        ("staff_only", _post(lambda w: _ticket_urls(w, "/console/tickets/{}/overage"),
                             lambda w: {**_b_version(w), "extra_minutes": "30", "reason": "他社への追加"})),
    ("GET", "/console/tickets/{ticket_id:int}/attachments/{attachment_id:int}"):
        ("staff_only", _get(lambda w: _file_urls(w, "/console/tickets/{}/attachments/{}"))),
    ("POST", "/console/tickets/{ticket_id:int}/watch"):
        ("staff_only", _post(lambda w: _ticket_urls(w, "/console/tickets/{}/watch"), {})),
    ("POST", "/console/tickets/{ticket_id:int}/unwatch"):
        ("staff_only", _post(lambda w: _ticket_urls(w, "/console/tickets/{}/unwatch"), {})),
    ("GET", "/console/organizations/{organization_id:int}/points"):
        ("staff_only", _get(lambda w: [f"/console/organizations/{w.b.org}/points"])),
    ("POST", "/console/organizations/{organization_id:int}/points/adjustments"):
        ("staff_only", _post(lambda w: [f"/console/organizations/{w.b.org}/points/adjustments"],
                             {"kind": "grant", "points": "50", "reason": "他社への付与", "token": "iso-1"})),
    ("GET", "/console/organizations/{organization_id:int}/point-alerts"):
        ("staff_only", _get(lambda w: [f"/console/organizations/{w.b.org}/point-alerts"])),
    ("POST", "/console/organizations/{organization_id:int}/point-alerts"):
        ("staff_only", _post(lambda w: [f"/console/organizations/{w.b.org}/point-alerts"],
                             {"low_balance_threshold": "5"})),
    # ---------------------------------------------------------------- finance (finance and admins only)
    ("GET", "/console/finance/documents/{ref:str}"):
        ("staff_only", _get(lambda w: [f"/console/finance/documents/{w.b.invoice}",
                                       f"/console/finance/documents/{w.b.invoice}.pdf"])),
    ("GET", "/console/finance/documents/{document_id:int}/view"):
        ("staff_only", _get(lambda w: [f"/console/finance/documents/{w.b.invoice}/view"])),
    ("POST", "/console/finance/documents/{document_id:int}/payments"):
        ("staff_only", _post(lambda w: [f"/console/finance/documents/{d}/payments" for d in (w.b.invoice, w.a.invoice)],
                             {"paid_on": "2026-01-05", "amount_jpy": "1000", "token": "iso-pay"})),
    ("POST", "/console/finance/documents/{document_id:int}/void"):
        ("staff_only", _post(lambda w: [f"/console/finance/documents/{d}/void" for d in (w.b.invoice, w.a.invoice)],
                             {"reason": "他社の請求書を無効に"})),
    ("POST", "/console/finance/documents/{document_id:int}/correct"):
        ("staff_only", _post(lambda w: [f"/console/finance/documents/{w.b.invoice}/correct"],
                             {"recipient_name": "乗っ取り株式会社", "due_on": "2099-01-31"})),
    ("POST", "/console/finance/documents/{document_id:int}/refund"):
        ("staff_only", _post(lambda w: [f"/console/finance/documents/{w.b.invoice}/refund"], {"reason": "他社の返金"})),
    ("GET", "/console/finance/statements/{organization_id:int}/{file:str}"):
        ("staff_only", _get(lambda w: [f"/console/finance/statements/{w.b.org}/2026-01.pdf",
                                       f"/console/finance/statements/{w.b.org}/2026-01.html"])),
    # ---------------------------------------------------------------- admin (admins only)
    ("GET", "/admin/organizations/{organization_id:int}"):
        ("staff_only", _get(lambda w: [f"/admin/organizations/{w.b.org}"])),
    ("POST", "/admin/organizations/{organization_id:int}"):
        ("staff_only", _post(lambda w: [f"/admin/organizations/{w.b.org}"], {"name": "乗っ取り株式会社"})),
    ("POST", "/admin/organizations/{organization_id:int}/routing"):
        ("staff_only", _post(lambda w: [f"/admin/organizations/{w.b.org}/routing"],
                             lambda w: {"department": str(w.department), "assignee": str(w.agent.id)})),
    ("POST", "/admin/organizations/{organization_id:int}/users"):
        ("staff_only", _post(lambda w: [f"/admin/organizations/{w.b.org}/users"],
                             {"email": "intruder2@example.jp", "name": "侵入 者", "role": "customer_admin",
                              "password": "correct horse battery"})),
    ("POST", "/admin/users/{user_id:int}/active"):
        ("staff_only", _post(lambda w: [f"/admin/users/{w.b.admin.id}/active", f"/admin/users/{w.agent.id}/active"],
                             {"active": ""})),
    ("POST", "/admin/users/{user_id:int}/password"):
        ("staff_only", _post(lambda w: [f"/admin/users/{w.b.admin.id}/password"],
                             {"password": "a new password for b"})),
    ("GET", "/admin/users/{user_id:int}/security"):
        ("staff_only", _get(lambda w: [f"/admin/users/{w.b.admin.id}/security", f"/admin/users/{w.agent.id}/security"])),
    ("POST", "/admin/staff/{user_id:int}/department"):
        ("staff_only", _post(lambda w: [f"/admin/staff/{w.agent.id}/department"], {"department": ""})),
    ("POST", "/admin/departments/{department_id:int}"):
        ("staff_only", _post(lambda w: [f"/admin/departments/{w.department}"], {"name": "乗っ取り部"})),
    ("GET", "/admin/request-types/{request_type_id:int}"):
        ("staff_only", _get(lambda w: [f"/admin/request-types/{w.request_type}"])),
    ("POST", "/admin/request-types/{request_type_id:int}"):
        ("staff_only", _post(lambda w: [f"/admin/request-types/{w.request_type}"],
                             {"name_ja": "乗っ取り", "name_en": "Taken", "sort_order": "1"})),
    ("GET", "/admin/custom-fields/{field_id:int}"):
        ("staff_only", _get(lambda w: [f"/admin/custom-fields/{w.custom_field}"])),
    ("POST", "/admin/custom-fields/{field_id:int}"):
        ("staff_only", _post(lambda w: [f"/admin/custom-fields/{w.custom_field}"],
                             {"label_ja": "乗っ取り", "label_en": "Taken", "field_type": "text", "is_active": "1"})),
    # The point table and bundles belong to the vendor (no company's data), refused by role.
    ("GET", "/admin/point-table/{ref:str}"): ("staff_only", _get(lambda w: ["/admin/point-table/1"])),
    ("POST", "/admin/point-table/{number:int}/publish"):
        ("staff_only", _post(lambda w: ["/admin/point-table/1/publish"], {})),
    ("POST", "/admin/point-table/{number:int}/request-types"):
        ("staff_only", _post(lambda w: ["/admin/point-table/1/request-types"],
                             {"code": "general", "name_ja": "一般", "name_en": "General", "points": "9"})),
    ("POST", "/admin/point-table/{number:int}/request-types/{code:str}/delete"):
        ("staff_only", _post(lambda w: ["/admin/point-table/1/request-types/general/delete"], {})),
    ("POST", "/admin/point-table/{number:int}/surcharges"):
        ("staff_only", _post(lambda w: ["/admin/point-table/1/surcharges"], {"urgent": "9"})),
    ("GET", "/admin/bundles/{code:str}"): ("staff_only", _get(lambda w: ["/admin/bundles/basic"])),
    ("POST", "/admin/bundles/{code:str}"):
        ("staff_only", _post(lambda w: ["/admin/bundles/basic"], {"name_ja": "乗っ取り", "points": "1"})),
}


@cache
def app_routes() -> list[tuple[str, str]]:
    """(method, path) of every route the app serves (HEAD and OPTIONS left out)."""
    found = set()
    for route in create_app().routes:
        for handler in route.route_handlers:
            for method in handler.http_methods:
                if method not in ("HEAD", "OPTIONS"):
                    found.add((method, route.path))
    return sorted(found, key=lambda item: (item[1], item[0]))


def id_taking_routes() -> list[tuple[str, str]]:
    return [(m, p) for m, p in app_routes() if "{" in p and p not in PUBLIC_PATHS]


# ------------------------------------------------------------------------------------ the tests


async def test_every_route_that_takes_an_id_has_an_isolation_case():
    missing = [f"{m} {p}" for m, p in id_taking_routes() if (m, p) not in ISOLATION_CASES]
    assert not missing, (
        "routes taking an id without a case in ISOLATION_CASES (say how another company's id is "
        f"refused): {missing}"
    )
    stale = [f"{m} {p}" for m, p in ISOLATION_CASES if (m, p) not in id_taking_routes()]
    assert not stale, f"cases for routes the app no longer serves: {stale}"


async def test_a_customer_using_another_companys_ids_gets_404_and_changes_nothing(world, browsers, tokens):
    before = await snapshot()
    failures = []
    for (method, path), (kind, attempts) in ISOLATION_CASES.items():
        for attempt in attempts(world):
            for who in ("a_admin", "a_member"):
                response = await send(attempt, browser=getattr(browsers, who), headers=getattr(tokens, who))
                where = f"{who}: {attempt}"
                if kind == "not_found" and not is_not_found(response, attempt.url):
                    failures.append(f"{where} answered {response.status_code}, not 404")
                if kind == "staff_only" and response.status_code not in (403, 404):
                    failures.append(f"{where} answered {response.status_code}, not 403/404")
                if not shows_nothing_of_b(response):
                    failures.append(f"{where} showed company B's data")
        if method in MUTATING:  # compared once per route: a snapshot reads every table
            after = await snapshot()
            if after != before:
                failures.append(f"{method} {path} changed {changed_tables(before, after)}")
                before = after
    assert not failures, "\n".join(failures)


async def test_staff_only_routes_refuse_a_customer_the_same_way_for_any_id(world, browsers, tokens):
    """A refusal by role must not tell apart an id that exists in B from one that exists nowhere."""
    failures = []
    for (method, path), (kind, attempts) in ISOLATION_CASES.items():
        if kind != "staff_only":
            continue
        attempt = attempts(world)[0]
        ghost = Attempt(method, "/".join(str(NO_SUCH_ID) if part.isdigit() else part
                                         for part in attempt.url.split("/")), attempt.data)
        real = await send(attempt, browser=browsers.a_admin, headers=tokens.a_admin)
        fake = await send(ghost, browser=browsers.a_admin, headers=tokens.a_admin)
        if (real.status_code, real.text) != (fake.status_code, fake.text):
            failures.append(f"{attempt}: {real.status_code} for B's id, {fake.status_code} for no id")
    assert not failures, "\n".join(failures)


async def test_staff_reach_company_b_so_the_mark_is_really_there(world, browsers, tokens):
    """The checks above look for MARK; make sure it is where B's data shows (else they prove nothing)."""
    listed = await browsers.agent.get(f"/api/v1/tickets?organization={world.b.org}", headers=tokens.agent)
    assert listed.status_code == 200 and MARK in listed.text.lower()
    found = await browsers.agent.get(f"/api/v1/tickets?q={SECRET}", headers=tokens.agent)
    assert {i["id"] for i in found.json()["items"]} == {world.b.new, world.b.open, world.b.closed}
    page = await browsers.agent.get(f"/console/tickets/{world.b.open}")
    assert page.status_code == 200 and MARK in page.text.lower()
    csv = await browsers.agent.get(f"/console/tickets/export.csv?organization={world.b.org}")
    assert csv.status_code == 200 and MARK in csv.text.lower()
    own = await browsers.b_admin.get(f"/portal/tickets/{world.b.open}/attachments/{world.b.reply_file}")
    assert own.status_code == 200 and MARK in own.text.lower()


def _list_routes() -> list[str]:
    """GET routes without parameters that show data (static files and sign-in pages left out)."""
    return [
        p for m, p in app_routes()
        if m == "GET" and "{" not in p and not p.startswith(("/schema", "/static", "/vendor")) and p != "/healthz"
    ]


def _xlsx_text(content: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        return " ".join(book.read(n).decode("utf-8", "replace") for n in book.namelist())


async def test_lists_searches_and_exports_never_show_another_companys_rows(world, browsers, tokens):
    """Every list, search, duplicate check and export, asked for B by id, by name and by keyword."""
    queries = [
        "", f"?q={SECRET}",
        f"?organization={world.b.org}&status=new,open,waiting,resolved,closed,cancelled",
        f"?requester={world.b.member.id}&subject={MARK}%20対応中の依頼&organization={world.b.org}",
    ]
    failures = []
    for path in _list_routes():
        # A PDF is compressed (the mark cannot be read in it) and costs a rendering: asked once.
        for query in queries[:1] if path.endswith(".pdf") else queries:
            for who in ("a_admin", "a_member"):
                browser, headers = getattr(browsers, who), getattr(tokens, who)
                url = path + query
                response = await (browser.get(url, headers=headers) if path.startswith("/api/") else browser.get(url))
                text = response.text.lower()
                if response.headers.get("content-type", "").startswith("application/vnd.openxmlformats"):
                    text = _xlsx_text(response.content).lower()
                if response.status_code >= 500:
                    failures.append(f"{who}: GET {url} answered {response.status_code}")
                if MARK in text:
                    failures.append(f"{who}: GET {url} showed company B's data")
    assert not failures, "\n".join(failures)


async def test_customers_cannot_export_and_staff_exports_are_not_a_customer_download(browsers):
    for who in ("a_admin", "a_member"):
        for path in ("/console/tickets/export.csv", "/console/tickets/export.xlsx"):
            response = await getattr(browsers, who).get(path)
            assert response.status_code == 403, f"{who}: {path}"
            assert "attachment" not in response.headers.get("content-disposition", "")


async def test_a_customer_never_sees_internal_notes_of_its_own_requests(world, browsers, tokens):
    detail = await browsers.a_member.get(f"/api/v1/tickets/{world.a.open}", headers=tokens.a_member)
    assert detail.status_code == 200
    body = detail.json()
    assert all(not m["internal"] for m in body["messages"]) and "社内メモ" not in detail.text
    assert world.a.note_file not in [a["id"] for a in body["attachments"]]
    page = await browsers.a_member.get(f"/portal/tickets/{world.a.open}")
    assert page.status_code == 200 and "社内メモ" not in page.text and "-note.txt" not in page.text
    found = await browsers.a_member.get("/api/v1/tickets?q=社内メモ", headers=tokens.a_member)
    assert found.json()["items"] == []
    staff = await browsers.agent.get("/api/v1/tickets?q=社内メモ", headers=tokens.agent)
    assert {i["id"] for i in staff.json()["items"]} == {world.a.open, world.b.open}
    assert await TicketMessage.exists().where(TicketMessage.id == world.a.note_id)


# ------------------------------------------------------------------------------------ roles


# Bodies the admin-only API calls would accept, so that a refusal is about the role, not the input.
VALID_API_BODIES = {
    "/api/v1/organizations": {"code": "ROLE-TEST", "name": "役割テスト株式会社"},
    "/api/v1/organizations/{organization_id:int}/users": {
        "email": "role-test@example.jp", "name": "役割 試験", "role": "customer_admin",
        "password": "correct horse battery"},
    "/api/v1/staff": {"email": "role-staff@example.jp", "name": "役割 試験", "role": "admin",
                      "password": "correct horse battery"},
}


def _sample_body(path: str) -> dict:
    """What the route would accept from someone allowed (forms: the fields most of them take)."""
    if path in VALID_API_BODIES:
        return VALID_API_BODIES[path]
    return {"name": "x", "version": "1", "body": "x", "status": "open", "active": "0", "password": "long enough pw",
            "email": "role-form@example.jp", "code": "ROLE-FORM", "role": "admin", "approval_limit": "50",
            "low_balance_threshold": "5"}


def _concrete(path: str, world) -> str:
    """A route path with real ids of company A (or shared rows) filled in."""
    values = {
        "ticket_id": world.a.open, "attachment_id": world.a.request_file, "organization_id": world.a.org,
        "user_id": world.a.member.id, "token_id": world.staff_token_id, "department_id": world.department,
        "request_type_id": world.request_type, "field_id": world.custom_field, "number": 1, "ref": "1",
        "code": "general", "change_id": world.a.change, "answer": "decline", "purchase_id": world.a.purchase,
        "document_id": world.a.invoice, "month": "2026-01", "file": "2026-01.pdf",
    }
    for name, value in values.items():
        path = path.replace(f"{{{name}:int}}", str(value)).replace(f"{{{name}:str}}", str(value))
    assert "{" not in path, f"no sample id for {path}"
    return path


async def _refused_everywhere(routes, browser, headers, world) -> list[str]:
    failures = []
    before = await snapshot()
    for method, path in routes:
        attempt = Attempt(method, _concrete(path, world), None if method == "GET" else _sample_body(path))
        response = await send(attempt, browser=browser, headers=headers)
        if response.status_code not in (403, 404):
            failures.append(f"{attempt} answered {response.status_code}")
    after = await snapshot()  # once for all: a snapshot reads every table
    if after != before:
        failures.append(f"these refusals changed {changed_tables(before, after)}")
    return failures


async def test_a_customer_member_cannot_reach_customer_admin_or_staff_routes(world, browsers, tokens):
    admin_only = [
        ("GET", "/account/members"), ("POST", "/account/members"), ("POST", "/account/members/{user_id:int}/active"),
        ("GET", "/api/v1/organizations/{organization_id:int}/users"),
        ("POST", "/api/v1/organizations/{organization_id:int}/users"),
        ("POST", "/portal/points/approval-limit"), ("POST", "/portal/settings/points"),
    ]
    staff_only = [
        (m, p) for m, p in app_routes()
        if p.startswith(("/console", "/admin")) or (p in ("/api/v1/staff", "/api/v1/organizations") and m == "POST")
        or (m, p) == ("GET", "/api/v1/staff")
    ]
    assert len(staff_only) > 30
    failures = await _refused_everywhere(admin_only + staff_only, browsers.a_member, tokens.a_member, world)
    assert not failures, "\n".join(failures)
    # The same pages do work for the company's customer admin (the refusal is by role).
    assert (await browsers.a_admin.get("/account/members")).status_code == 200
    users = await browsers.a_admin.get(f"/api/v1/organizations/{world.a.org}/users", headers=tokens.a_admin)
    assert users.status_code == 200 and MARK not in users.text.lower()


async def test_agents_and_finance_cannot_reach_admin_routes(world, browsers, tokens):
    admin_only = [
        (m, p) for m, p in app_routes()
        if p.startswith("/admin") or (m == "POST" and p in (
            "/api/v1/organizations", "/api/v1/staff", "/api/v1/organizations/{organization_id:int}/users"))
    ]
    for who in ("agent", "finance"):
        failures = await _refused_everywhere(admin_only, getattr(browsers, who), getattr(tokens, who), world)
        assert not failures, f"{who}:\n" + "\n".join(failures)
    assert (await browsers.admin.get("/admin/organizations")).status_code == 200


def _api_routes() -> list[tuple[str, str]]:
    return [(m, p) for m, p in app_routes() if p.startswith("/api/") and p != "/api/v1/auth/token"]


async def test_a_revoked_bogus_or_deactivated_users_token_gets_401_everywhere(world, browsers):
    revoked, revoked_id = await create_token(world.a.admin.id, "to revoke")
    assert await revoke_token(world.a.admin.id, revoked_id)
    outsider = await make_user("customer_admin", organization=SimpleNamespace(id=world.a.org), email="gone@example.jp")
    deactivated, _ = await create_token(outsider.id, "soon useless")
    await people.deactivate_user(caller(world.admin), outsider.id)
    tokens_ = {
        "revoked": revoked, "bogus": "kp_" + "x" * 43, "empty": "", "another company's, mangled": world.b.token[:-1],
        "deactivated user's": deactivated,
    }
    before = await snapshot()
    failures = []
    for label, token in tokens_.items():
        for method, path in _api_routes():
            attempt = Attempt(method, _concrete(path, world), None if method == "GET" else {"body": "x"})
            response = await send(attempt, browser=browsers.a_admin, headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 401 or response.json().get("code") != "not_authenticated":
                failures.append(f"{label} token: {attempt} answered {response.status_code}")
        # A signed-in browser session does not open the API either (no CSRF there, so no cookies).
    for method, path in _api_routes():
        attempt = Attempt(method, _concrete(path, world), None if method == "GET" else {"body": "x"})
        response = await send(attempt, browser=browsers.a_admin, headers={})
        if response.status_code != 401:
            failures.append(f"session cookie only: {attempt} answered {response.status_code}")
    assert await snapshot() == before
    assert not failures, "\n".join(failures)
