"""The low-balance alert's setting: who may see and change it, and what the form's text means.

A customer admin sets the threshold for its own organisation (in the portal); finance staff and
administrators may set it for any organisation. Another organisation is not found (404).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from app import db
from app.accounts.caller import Caller
from app.accounts.tables import Organization
from app.errors import InvalidInput, NotAllowed, NotFound, from_domain
from app.i18n import _
from app.point_alerts.jobs import mail_low_balance
from billing import alerts
from billing.errors import LedgerError

FIELD = "low_balance_threshold"


@dataclass(frozen=True)
class PointAlerts:
    organization_id: int
    threshold: int | None
    alerted_at: datetime | None
    available: int

    @property
    def below(self) -> bool:
        return self.threshold is not None and self.available < self.threshold


@dataclass(frozen=True)
class ThresholdSaved:
    alerts: PointAlerts
    # Customer admins mailed at once because the balance is already below the new threshold.
    mailed: int


async def _authorise(caller: Caller, organization_id: int, *, change: bool) -> None:
    if caller.is_customer:
        if caller.organization_id != organization_id:
            raise NotFound(_("This organisation does not exist."))
        if change and not caller.is_customer_admin:
            raise NotAllowed(_("Only a customer administrator can change the point alerts."))
    elif not caller.is_finance:
        raise NotAllowed(_("Only finance staff and administrators can change the point alerts."))
    if not await Organization.exists().where(Organization.id == organization_id):
        raise NotFound(_("This organisation does not exist."))


def parse_threshold(value: str | int | None) -> int | None:
    """The threshold from the form (text) or a caller (a number): empty or None for no alert;
    full-width digits and thousands separators are accepted (１,０００ → 1000)."""
    if isinstance(value, str):
        cleaned = unicodedata.normalize("NFKC", value).strip().replace(",", "")
        if not cleaned:
            return None
        value = int(cleaned) if cleaned.isascii() and cleaned.isdigit() and len(cleaned) <= 9 else -1
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= alerts.THRESHOLD_MAX:
        raise InvalidInput(
            _("Enter a whole number of points from 1 to {maximum}, or leave it empty for no alert.",
              maximum=alerts.THRESHOLD_MAX),
            field=FIELD,
        )
    return value


async def get_point_alerts(caller: Caller, organization_id: int) -> PointAlerts:
    await _authorise(caller, organization_id, change=False)
    found = await alerts.alert_settings(organization_id)
    return PointAlerts(organization_id, found.threshold, found.alerted_at, found.available)


async def set_low_balance_threshold(
    caller: Caller, organization_id: int, threshold: str | int | None
) -> ThresholdSaved:
    """Save the threshold (text from a form, a number, or None/"" to switch the alert off).

    When the balance is already below the new threshold and nobody was alerted yet, the
    customer admins are mailed now, in the same transaction.
    """
    await _authorise(caller, organization_id, change=True)
    value = parse_threshold(threshold)
    mailed = 0
    try:
        async with db.write_transaction():
            alert = await alerts.set_low_balance_threshold(organization_id, value)
            if alert is not None:
                mailed = await mail_low_balance(alert)
    except LedgerError as exc:
        raise from_domain(exc) from exc
    return ThresholdSaved(await get_point_alerts(caller, organization_id), mailed)
