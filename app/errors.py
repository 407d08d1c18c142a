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

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers that go with the answer."""
        return {}


class InvalidInput(KippuError):
    """A value a person typed is not acceptable; `field` names it."""

    status_code = 422
    code = "invalid_input"


class StorageQuotaExceeded(InvalidInput):
    """Files that do not fit in what is left of the organisation's storage quota."""

    code = "storage_quota_exceeded"


class UnreadableForm(KippuError):
    """A form field that is not text in its declared encoding (UTF-8 unless it names another)."""

    code = "unreadable_form"


class RequestTooLarge(KippuError):
    """A request body beyond what its route accepts (app/server.py sets the limits)."""

    status_code = 413
    code = "request_too_large"


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
    """Throttled: `Retry-After` says when to try again."""

    status_code = 429
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after_seconds: int, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.retry_after_seconds = retry_after_seconds

    @property
    def headers(self) -> dict[str, str]:
        # RFC 9110: how many seconds to wait before trying again.
        return {"Retry-After": str(self.retry_after_seconds)}


class RateLimited(TooManyAttempts):
    """Too many API calls in a minute for this token (or address)."""

    code = "rate_limited"


class InsufficientPoints(KippuError):
    status_code = 402
    code = "insufficient_points"


class ServiceUnavailable(KippuError):
    """A service Kippu depends on (the card payment service) cannot be reached; nothing changed."""

    status_code = 503
    code = "service_unavailable"


# ---------------------------------------------------------------------------------------------
# The ledger's and the point table's refusals as app errors: the one mapping.
#
# billing/ and pricing/ never import the app, so their errors carry an English `template` and
# `values`; here they become the app's errors once, translated for the caller. Services that call
# the ledger may convert at the call (`raise from_domain(exc) from exc`); the exception handler in
# app/server.py converts whatever escapes, so an API caller always gets the same code and status.


def from_domain(exc: Exception) -> KippuError:
    """The app error for a billing or pricing error (message in the caller's locale).

    InsufficientPoints → 402 insufficient_points {required, available}; bad amounts and prices →
    422 invalid_input {field}; unknown hold/lot/account/version → 404; a settled hold → 409
    illegal_transition; refunds, locked documents, a missing issuer and locked or missing point
    tables → 409 conflict; a ledger idempotency key reused → 409 idempotency_key_reused; the card
    payment service unreachable → 503 service_unavailable.
    """
    from app.i18n import _
    from billing import errors as ledger
    from pricing import errors as pricing

    if not isinstance(exc, (ledger.LedgerError, pricing.PricingError)):
        raise TypeError(f"not a billing or pricing error: {exc!r}")
    message = _(exc.template, **exc.values)
    field = getattr(exc, "field", None) or exc.values.get("field")
    with_field = {"field": field} if field else {}
    if isinstance(exc, ledger.InsufficientPoints):
        return InsufficientPoints(message, required=exc.required, available=exc.available)
    if isinstance(exc, (ledger.InvalidAmount, ledger.InvalidValue, pricing.PurchaseRefused,
                        pricing.UnknownRequestType, pricing.InvalidPointTable)):
        return InvalidInput(message, **with_field)
    if isinstance(exc, (ledger.UnknownHold, ledger.UnknownLot, ledger.UnknownAccount, ledger.UnknownPurchase,
                        ledger.UnknownDocument, pricing.UnknownPointTableVersion)):
        return NotFound(message)
    if isinstance(exc, ledger.HoldSettled):
        return IllegalTransition(message)
    if isinstance(exc, ledger.IdempotencyKeyReused):
        return IdempotencyKeyReused(message)
    if isinstance(exc, (ledger.NotRefundable, ledger.DocumentLocked, ledger.IssuerMissing,
                        pricing.PointTableLocked, pricing.NoPointTableInForce)):
        return Conflict(message, **with_field)
    if isinstance(exc, ledger.PaymentUnavailable):
        return ServiceUnavailable(message)
    if isinstance(exc, ledger.WebhookRefused):
        return KippuError(message)
    if isinstance(exc, pricing.PricingError):
        # Any other price that cannot be given is about a value the caller sent (extra minutes,
        # priority): the field says which.
        return InvalidInput(message, **with_field)
    return KippuError(message)
