"""Security headers on every response: a strict Content-Security-Policy, no MIME sniffing, no
referrer beyond the site, no framing, and HSTS in production.

The policy allows scripts and stylesheets from this site only: no inline script, no inline style,
no `eval`. The documents' browser views (invoice, statement, point table) carry their stylesheet
inline, because the same HTML is rendered to PDF; those exact stylesheets are allowed by their
SHA-256, nothing else inline is. htmx is configured in the page (<meta name="htmx-config">) not
to add a <style> element nor to evaluate attributes.

A response that sets its own Content-Security-Policy keeps it. Added by a `before_send` hook,
not a middleware, so that the responses no route handler answers (404, 405) carry them too.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from app.settings import Settings

# Stripe's hosted payment page: a card purchase's form answers with a redirect there, and
# browsers apply form-action to the redirects that follow a form.
STRIPE_CHECKOUT = "https://checkout.stripe.com"
INLINE_STYLESHEET_TEMPLATES = ("documents/price_table.css",)


def style_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_security_policy(settings: Settings, inline_stylesheets: list[str]) -> str:
    form_targets = ["'self'", STRIPE_CHECKOUT]
    if settings.stripe_api_base:  # another Stripe (the tests' fake) hosts its own payment page
        parts = urlsplit(settings.stripe_api_base)
        form_targets.append(f"{parts.scheme}://{parts.netloc}")
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' " + " ".join(style_hash(text) for text in inline_stylesheets),
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action " + " ".join(form_targets),
        "frame-ancestors 'none'",
    ])


class SecurityHeaders:
    """The `before_send` hook that adds the headers to every response's start."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._headers: list[tuple[str, str]] | None = None

    def headers(self, scope: Scope) -> list[tuple[str, str]]:
        if self._headers is None:
            # Built on the first response: the inline stylesheets come from the app's templates.
            from billing.documents import STYLESHEET

            engine = scope["litestar_app"].template_engine
            stylesheets = [str(STYLESHEET)] + [engine.get_template(t).render() for t in INLINE_STYLESHEET_TEMPLATES]
            headers = [
                ("Content-Security-Policy", content_security_policy(self.settings, stylesheets)),
                ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "same-origin"),
                ("X-Frame-Options", "DENY"),
                ("Cross-Origin-Opener-Policy", "same-origin"),
                ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
            ]
            if self.settings.environment == "production":
                headers.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))
            self._headers = headers
        return self._headers

    async def __call__(self, message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            headers = MutableScopeHeaders.from_message(message)
            for name, value in self.headers(scope):
                if name not in headers:
                    headers[name] = value
