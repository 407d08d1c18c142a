"""The ledger's refusals, in one hierarchy.

Messages are plain English templates with `{name}` values, marked `N_(...)` where they are
written so that `make messages` extracts them: `template` is the text to translate
(app/locales/ja/LC_MESSAGES/messages.po), `values` fill it in, `message` is the English
sentence. The app maps each class to its HTTP error once (see `http_status` for the intended
status code).
"""

from __future__ import annotations

from typing import Any

from pricing.errors import N_  # the one marker; billing's modules import it from here


class LedgerError(Exception):
    http_status = 400

    def __init__(self, template: str, **values: Any) -> None:
        self.template = template
        self.values = values
        self.message = template.format(**values) if values else template
        super().__init__(self.message)


class InvalidAmount(LedgerError):
    """A points or yen figure that is not a whole number in range, or a missing reason.
    `values["field"]` names the argument at fault."""

    http_status = 422


class InsufficientPoints(LedgerError):
    """Not enough available points: `required` and `available` say by how much."""

    http_status = 402

    def __init__(self, required: int, available: int) -> None:
        super().__init__(
            N_("Not enough points: {required} needed, {available} available."),
            required=required, available=available,
        )
        self.required = required
        self.available = available


class UnknownAccount(LedgerError):
    http_status = 404


class UnknownLot(LedgerError):
    http_status = 404


class UnknownHold(LedgerError):
    http_status = 404


class HoldSettled(LedgerError):
    """The hold was already captured or released (with a different idempotency key)."""

    http_status = 409


class NotRefundable(LedgerError):
    """The lot cannot be refunded: granted points, or no available points left to refund."""

    http_status = 409


class IdempotencyKeyReused(LedgerError):
    """The idempotency key was already used for a different ledger operation."""

    http_status = 409


# --- buying points and documents (the same base: the app maps them once, like the ledger's) ---


class InvalidValue(LedgerError):
    """A value that is not acceptable (a registration number, a date, an amount of yen, a reason);
    `values["field"]` names it."""

    http_status = 422


class UnknownPurchase(LedgerError):
    http_status = 404


class UnknownDocument(LedgerError):
    http_status = 404


class IssuerMissing(LedgerError):
    """Documents cannot be issued before the vendor has given its name and registration number."""

    http_status = 409


class DocumentLocked(LedgerError):
    """The document or purchase is not in a state that allows this (a paid invoice cannot be voided,
    a cancelled purchase cannot be paid, ...)."""

    http_status = 409


class PaymentUnavailable(LedgerError):
    """The card payment service could not be reached or refused the request; nothing was bought."""

    http_status = 503


class WebhookRefused(LedgerError):
    """A webhook whose signature does not verify (or that is not an event at all)."""

    http_status = 400
