"""One hierarchy of domain errors, mapped to HTTP once (see app/server.py).

Services raise these with a message a person understands; the API answers JSON with a stable
`code`, the pages show the message.
"""

from __future__ import annotations

from typing import Any


class KippuError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


class InvalidInput(KippuError):
    """A value a person typed is not acceptable; `field` names it."""

    status_code = 422
    code = "invalid_input"


class NotAuthenticated(KippuError):
    status_code = 401
    code = "not_authenticated"


class NotAllowed(KippuError):
    """The caller is known but its role may not do this."""

    status_code = 403
    code = "not_allowed"


class NotFound(KippuError):
    """Also the answer for another organisation's data: its existence is not revealed."""

    status_code = 404
    code = "not_found"


class Conflict(KippuError):
    status_code = 409
    code = "conflict"


class Duplicate(Conflict):
    code = "duplicate"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class StaleVersion(Conflict):
    """The request changed since the caller opened it (optimistic version check)."""

    code = "stale_version"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class TooManyAttempts(KippuError):
    status_code = 429
    code = "too_many_attempts"


class InsufficientPoints(KippuError):
    status_code = 402
    code = "insufficient_points"
