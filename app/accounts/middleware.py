"""Identify the caller (bearer token or session) and set the locale for the request."""

from __future__ import annotations

from contextvars import ContextVar

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.accounts.caller import Caller
from app.accounts.tables import User
from app.accounts.tokens import caller_for_token
from app.i18n import set_locale

_current_caller: ContextVar[Caller | None] = ContextVar("caller", default=None)


def current_caller() -> Caller | None:
    """The signed-in caller of this request (for templates)."""
    return _current_caller.get()


class CallerMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        caller = await identify(scope)
        scope["user"] = caller
        _current_caller.set(caller)
        set_locale(caller.locale if caller else _browser_locale(scope))
        await next_app(scope, receive, send)


async def identify(scope: Scope) -> Caller | None:
    headers = dict(scope["headers"])
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization[:7].lower() == "bearer ":
        return await caller_for_token(authorization[7:].strip())
    if not scope["path"].startswith("/api/"):
        user_id = (scope.get("session") or {}).get("user_id")
        if isinstance(user_id, int):
            row = await User.select().where((User.id == user_id) & (User.is_active == True)).first()  # noqa: E712
            return Caller.from_row(row) if row else None
    return None


def _browser_locale(scope: Scope) -> str | None:
    accept = dict(scope["headers"]).get(b"accept-language", b"").decode("latin-1").lower()
    return "en" if accept.startswith("en") else None
