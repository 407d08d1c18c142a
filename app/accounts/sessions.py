"""The browser session: server-side session rows in the database, and the CSRF token bound to them.

Written here rather than taken from Litestar's ServerSideSessionConfig and CSRFConfig, because
those keep any session id a client sends (session fixation), write a session for every request
that has none, and check CSRF with a double-submit cookie that is not bound to the session.
Here:

- A session id is accepted only if the server issued it and it has not expired. A fresh id is
  issued at sign-in and at a password change; sign-out deletes the session.
- A row is written only when something is stored in the session, and only when it changed.
  Bearer-token API calls, webhooks, /healthz and static files never come here.
- The cookie holds a random id; the database holds its SHA-256 only.
- A signed-in browser's CSRF token is an HMAC of its session id: a token from another visit
  (an attacker's own) does not work with this session. Before sign-in the token is a signed
  random value, double-submitted in the `kippu_csrf` cookie. The cookie also carries the
  session's token so that scripts and tests can find it; the check never trusts the cookie
  for a signed-in session.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.connection import ASGIConnection, Request
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.types.empty import Empty
from litestar.utils.scope.state import ScopeState

from app.accounts.tables import BrowserSession
from app.i18n import _
from app.settings import get_settings

SESSION_COOKIE = "kippu_session"
CSRF_COOKIE = "kippu_csrf"
CSRF_HEADER = "x-csrftoken"
CSRF_FIELD = "_csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Paths that are not browser pages: no session is read or written for them.
NOT_BROWSER_PATHS = ("/api/", "/webhooks/", "/healthz", "/static/", "/vendor/", "/schema")
# "Last seen" is written at most this often, so most page views write nothing.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)
_STATE_KEY = "kippu_session"


@dataclass(slots=True)
class SessionState:
    """This request's session: the id it came with (if the server knows it) and the id the
    browser will hold after it."""

    loaded_id: str | None = None
    loaded_data: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    fresh: bool = False  # `id` was issued during this request
    refused_cookie: bool = False  # the browser sent an id the server does not know
    csrf_token: str = ""


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _new_id() -> str:
    return secrets.token_urlsafe(32)


def _state(connection: ASGIConnection | Scope) -> SessionState:
    scope = connection.scope if isinstance(connection, ASGIConnection) else connection
    return scope[_STATE_KEY]  # type: ignore[typeddict-item]


# ---------------------------------------------------------------- what handlers call


def start_session(request: Request, user_id: int) -> None:
    """Sign a browser in: whatever session it had is dropped and a fresh id is issued."""
    state = _state(request)
    state.id, state.fresh = _new_id(), True
    request.set_session({"user_id": user_id})
    _refresh_csrf_token(request.scope, state)


def renew_session_id(request: Request) -> None:
    """Keep the session's data under a fresh id (after a password change)."""
    state = _state(request)
    state.id, state.fresh = _new_id(), True
    _refresh_csrf_token(request.scope, state)


def end_session(request: Request) -> None:
    """Sign out: the session row is deleted and the browser's cookie expired."""
    state = _state(request)
    request.clear_session()
    state.id, state.fresh = None, False
    _refresh_csrf_token(request.scope, state)


def current_session_hash(request: Request) -> str | None:
    """The stored name of this browser's session (to keep it when ending the others)."""
    session_id = _state(request).id
    return hash_session_id(session_id) if session_id else None


# ---------------------------------------------------------------- CSRF tokens


def _mac(message: str) -> str:
    return hmac.new(get_settings().secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def _session_token(session_id: str) -> str:
    return "s." + _mac("csrf-session:" + session_id)


def _anonymous_token(nonce: str) -> str:
    return f"a.{nonce}.{_mac('csrf-anonymous:' + nonce)}"


def _is_anonymous_token(token: str) -> bool:
    parts = token.split(".")
    return len(parts) == 3 and parts[0] == "a" and hmac.compare_digest(token, _anonymous_token(parts[1]))


def _refresh_csrf_token(scope: Scope, state: SessionState, cookie: str | None = None) -> None:
    """The token forms on this response carry (Litestar's `csrf_input` and `csrf_token()`)."""
    if state.id:
        state.csrf_token = _session_token(state.id)
    elif cookie and _is_anonymous_token(cookie):
        state.csrf_token = cookie
    elif not state.csrf_token.startswith("a."):
        state.csrf_token = _anonymous_token(secrets.token_urlsafe(16))
    ScopeState.from_scope(scope).csrf_token = state.csrf_token


async def _check_csrf(request: Request, state: SessionState) -> None:
    sent = request.headers.get(CSRF_HEADER)
    content_type, _options = request.content_type
    if not sent and content_type in (RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if sent:
        if state.loaded_id:
            expected = _session_token(state.loaded_id)
        else:
            cookie = request.cookies.get(CSRF_COOKIE) or ""
            expected = cookie if _is_anonymous_token(cookie) else None
        if expected and hmac.compare_digest(sent, expected):
            return
    raise PermissionDeniedException(_("This form has expired. Please reload the page and try again."))


# ---------------------------------------------------------------- storage


async def _load(session_id: str | None, now: datetime) -> SessionState:
    if not session_id or len(session_id) > 128:
        return SessionState(refused_cookie=bool(session_id))
    row = (
        await BrowserSession.select(BrowserSession.id, BrowserSession.data, BrowserSession.last_seen_at)
        .where((BrowserSession.id_hash == hash_session_id(session_id)) & (BrowserSession.expires_at > now))
        .first()
    )
    if row is None:
        return SessionState(refused_cookie=True)
    if now - row["last_seen_at"] >= LAST_SEEN_RESOLUTION:
        await BrowserSession.update({BrowserSession.last_seen_at: now}).where(BrowserSession.id == row["id"])
    return SessionState(loaded_id=session_id, loaded_data=json.loads(row["data"]), id=session_id)


async def _save(scope: Scope, state: SessionState, headers: MutableScopeHeaders, now: datetime) -> None:
    settings = get_settings()
    data = scope.get("session")
    if data is Empty or not data:
        if state.loaded_id:
            await BrowserSession.delete().where(BrowserSession.id_hash == hash_session_id(state.loaded_id))
        if state.loaded_id or state.refused_cookie:
            headers.add("set-cookie", _cookie(SESSION_COOKIE, "", max_age=0))
        state.id = None
    else:
        user_id = data.get("user_id") if isinstance(data.get("user_id"), int) else None
        if state.id is None:
            state.id, state.fresh = _new_id(), True
        if state.fresh:
            if state.loaded_id:
                await BrowserSession.delete().where(BrowserSession.id_hash == hash_session_id(state.loaded_id))
            client = scope.get("client")
            user_agent = dict(scope["headers"]).get(b"user-agent", b"").decode("latin-1")
            await BrowserSession.insert(
                BrowserSession(
                    id_hash=hash_session_id(state.id),
                    user=user_id,
                    data=json.dumps(data),
                    created_at=now,
                    expires_at=now + timedelta(seconds=settings.session_max_age_seconds),
                    last_seen_at=now,
                    ip_address=(client[0] if client else "")[:45],
                    user_agent=user_agent[:300],
                )
            )
            headers.add("set-cookie", _cookie(SESSION_COOKIE, state.id, max_age=settings.session_max_age_seconds))
        elif data != state.loaded_data:
            await BrowserSession.update({BrowserSession.data: json.dumps(data), BrowserSession.user: user_id}).where(
                BrowserSession.id_hash == hash_session_id(state.id)
            )


def _cookie(key: str, value: str, *, max_age: int | None = None) -> str:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=get_settings().environment == "production",
        samesite="lax",
    ).to_header(header="")


class BrowserSessionMiddleware(ASGIMiddleware):
    """Loads the session (or none), checks the CSRF token of every unsafe request, and stores
    the session and the token's cookie with the response."""

    scopes = (ScopeType.HTTP,)

    @staticmethod
    def should_bypass_for_scope(scope: Scope) -> bool:
        return scope["path"].startswith(NOT_BROWSER_PATHS)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request: Request = scope["litestar_app"].request_class(scope, receive)
        state = await _load(request.cookies.get(SESSION_COOKIE), datetime.now(UTC))
        scope[_STATE_KEY] = state  # type: ignore[typeddict-unknown-key]
        scope["session"] = dict(state.loaded_data)
        if scope["method"] not in SAFE_METHODS:
            await _check_csrf(request, state)
        sent_csrf_cookie = request.cookies.get(CSRF_COOKIE)
        _refresh_csrf_token(scope, state, sent_csrf_cookie)

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                await _save(scope, state, headers, datetime.now(UTC))
                _refresh_csrf_token(scope, state, sent_csrf_cookie)
                if sent_csrf_cookie != state.csrf_token:
                    headers.add("set-cookie", _cookie(CSRF_COOKIE, state.csrf_token))
            await send(message)

        await next_app(scope, receive, send_with_session)


# ---------------------------------------------------------------- the job


async def delete_expired_sessions(now: datetime | None = None) -> int:
    """Remove sessions past their expiry (a job; `kippu clean-sessions`); returns how many."""
    rows = await BrowserSession.delete().where(BrowserSession.expires_at <= (now or datetime.now(UTC))).returning(
        BrowserSession.id
    )
    return len(rows)
