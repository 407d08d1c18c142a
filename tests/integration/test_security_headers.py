"""Security headers on every response, and pages that need nothing the strict CSP forbids."""

from __future__ import annotations

import re

import httpx

from app.server import create_app
from app.settings import ROOT
from tests.factories import make_user, sign_in


def policy(response) -> dict[str, str]:
    header = response.headers["content-security-policy"]
    return {part.split()[0]: part.partition(" ")[2] for part in (p.strip() for p in header.split(";")) if part}


async def test_pages_carry_a_strict_content_security_policy(client):
    page = await client.get("/login")

    csp = policy(page)
    assert csp["script-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert "unsafe-eval" not in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["x-frame-options"] == "DENY"


async def test_every_kind_of_response_carries_the_headers(client):
    user = await make_user("agent")
    await sign_in(client, user)
    answers = [
        await client.get("/no/such/page"),  # answered by no route handler
        await client.post("/healthz"),  # 405
        await client.get("/api/v1/me"),  # JSON 401
        await client.get("/static/kippu.css"),
        await client.get("/console"),
        await client.get("/schema/openapi.json"),
    ]
    for answer in answers:
        assert "frame-ancestors 'none'" in answer.headers.get("content-security-policy", ""), answer.request.url
        assert answer.headers.get("x-content-type-options") == "nosniff", answer.request.url


async def test_strict_transport_security_only_in_production(settings, monkeypatch):
    async def hsts() -> str | None:
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
            return (await http.get("/healthz")).headers.get("strict-transport-security")

    assert await hsts() is None
    monkeypatch.setattr(settings, "environment", "production")
    assert "max-age=" in (await hsts() or "")


# The templates (and the scripts they load) need nothing the policy forbids: no inline script,
# no inline event handler, no style attribute, no script or stylesheet from another site.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.IGNORECASE)
OTHER_SITE = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


def test_no_template_needs_inline_script_style_or_another_site():
    offences = []
    for path in sorted((ROOT / "templates").rglob("*.jinja2")):
        text = path.read_text(encoding="utf-8")
        for name, pattern in [("inline script", INLINE_SCRIPT), ("event handler", EVENT_HANDLER),
                              ("style attribute", STYLE_ATTRIBUTE), ("another site", OTHER_SITE)]:
            if pattern.search(text):
                offences.append(f"{path.relative_to(ROOT)}: {name}")
    assert not offences


async def test_the_documents_inline_stylesheets_are_allowed_by_their_hash_only(client):
    from app.security_headers import style_hash
    from billing.documents import STYLESHEET

    page = await client.get("/login")

    styles = policy(page)["style-src"].split()
    assert styles[0] == "'self'"
    assert style_hash(str(STYLESHEET)) in styles
    assert all(s.startswith("'sha256-") for s in styles[1:])


async def test_the_api_reference_loads_nothing_from_another_site(client):
    page = await client.get("/schema")

    assert page.status_code == 200
    assert "http" not in page.text and "//" not in page.text
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', page.text):
        assert (await client.get(asset)).status_code == 200, asset
