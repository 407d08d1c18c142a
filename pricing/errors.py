"""Refusals of the pricing rules.

Messages are plain English templates with `{name}` values, marked `N_(...)` where they are
written so that `make messages` extracts them; the app translates `template` with its catalogue
(app/locales/ja/LC_MESSAGES/messages.po) and fills in `values`.
"""

from __future__ import annotations

from typing import Any


def N_(text: str) -> str:  # noqa: N802 (gettext's name for it, which the extractor looks for)
    """Marks English text for translation later, where it is shown (gettext_noop): the templates of
    the refusals of pricing/ and billing/, and the app's labels of codes. Returns it unchanged."""
    return text


class PricingError(Exception):
    """A price cannot be given or a purchase is not allowed; `field` names the input at fault."""

    def __init__(self, template: str, *, field: str | None = None, **values: Any) -> None:
        self.template = template
        self.values = values
        self.field = field
        self.message = template.format(**values) if values else template
        super().__init__(self.message)


class PurchaseRefused(PricingError):
    """A bundle purchase outside the bundle's rules (quantity, availability)."""


class UnknownRequestType(PricingError):
    """No request type of that code in the point table version asked about."""


class InvalidPointTable(PricingError):
    """A point table entry or bundle that would give nonsense prices."""


class NoPointTableInForce(PricingError):
    """No published point table version is in force at the moment asked about."""


class PointTableLocked(PricingError):
    """A published point table version is never changed: requests were priced by it."""


class UnknownPointTableVersion(PricingError):
    """No point table version with that id."""
