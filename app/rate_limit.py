"""The JSON API's rate limit: `API_RATE_LIMIT_PER_MINUTE` calls per bearer token (per client
address for calls without one), answered 429 with Retry-After beyond it.

Counted with the `limits` library in a moving window: in Redis when REDIS_URL is set (shared by
every worker and machine), otherwise in the process's memory (exact with one worker; with several
workers and no Redis each worker counts on its own). The sign-in throttle is separate and always
in the database (app/accounts/throttle.py): it must hold across workers with no Redis at all.
"""

from __future__ import annotations

import hashlib
import math
import time

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.errors import RateLimited
from app.i18n import _
from app.settings import Settings


def _storage(settings: Settings) -> Storage:
    if settings.redis_url:
        uri = "async+" + settings.redis_url if not settings.redis_url.startswith("async+") else settings.redis_url
        return RedisStorage(uri, implementation="redispy", key_prefix="kippu:api")
    return MemoryStorage()


def caller_key(scope: Scope) -> str:
    """Whom a call is counted against: its bearer token (hashed), else its address."""
    authorization = dict(scope["headers"]).get(b"authorization", b"")
    if authorization[:7].lower() == b"bearer ":
        return "token:" + hashlib.sha256(authorization[7:].strip()).hexdigest()
    client = scope.get("client")
    return "address:" + (client[0] if client else "-")


class ApiRateLimitMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings) -> None:
        self.limit = RateLimitItemPerMinute(settings.api_rate_limit_per_minute)
        self.limiter = MovingWindowRateLimiter(_storage(settings))

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["path"].startswith("/api/"):
            key = caller_key(scope)
            if not await self.limiter.hit(self.limit, key):
                stats = await self.limiter.get_window_stats(self.limit, key)
                raise RateLimited(
                    _("Too many requests. Please slow down and try again in a moment."),
                    retry_after_seconds=max(1, math.ceil(stats.reset_time - time.time())),
                )
        await next_app(scope, receive, send)
