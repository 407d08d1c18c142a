"""The ledger's refusals, in one hierarchy.

Messages are plain English templates with `{name}` values: `template` is the text to translate
(app/locales/ja/billing.json), `values` fill it in, `message` is the English sentence. The app maps
each class to its HTTP error once (see `http_status` for the intended status code).
"""

from __future__ import annotations

from typing import Any


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
            "Not enough points: {required} needed, {available} available.",
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
