"""The ledger's scheduled work: the nightly expiry run, expiry reminders and low-balance alerts.

Each job is idempotent and safe to run beside traffic and beside another run of itself: billing
(billing/alerts.py) claims what is due under the account's lock or by a guarded UPDATE, and the
mail to the organisation's customer admins goes into the outbox in that same transaction, so a
reminder or alert is mailed once, or (if the run dies) not claimed at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from app import db
from app.accounts.tables import Organization, User
from app.notifications.services import enqueue
from app.settings import get_settings
from billing import alerts
from billing.alerts import ExpiryNotice, ExpiryRun, LowBalance

log = logging.getLogger("kippu.jobs")

BALANCE_PAGE = "/portal/points"
SETTINGS_PAGE = "/portal/settings/points"


@dataclass(frozen=True, slots=True)
class ReminderRun:
    organizations: int = 0
    lots: int = 0
    mails: int = 0

    def __bool__(self) -> bool:
        return bool(self.organizations)


@dataclass(frozen=True, slots=True)
class AlertRun:
    checked: int = 0
    alerted: int = 0
    mails: int = 0

    def __bool__(self) -> bool:
        return bool(self.alerted)


def _link(path: str) -> str:
    return get_settings().base_url.rstrip("/") + path


async def customer_admins(organization_id: int) -> list[dict]:
    """Who is told about an organisation's points: its active customer admins."""
    return await User.select(User.id, User.email, User.name, User.locale).where(
        (User.organization == organization_id)
        & (User.role == "customer_admin")
        & (User.is_active == True)  # noqa: E712
    ).order_by(User.id)


async def organization_name(organization_id: int) -> str:
    row = await Organization.select(Organization.name).where(Organization.id == organization_id).first()
    return row["name"] if row else ""


async def expire_points(today: date | None = None) -> ExpiryRun:
    """Expire every lot past its last day (`kippu expire`; nightly in the scheduler)."""
    return await alerts.expire(today)


async def mail_expiry_reminder(reminder: ExpiryNotice, admins: list[dict]) -> int:
    organization = await organization_name(reminder.organization_id)
    for admin in admins:
        await enqueue(
            admin["email"], admin["locale"], "points_expiring",
            recipient=admin, organization=organization, reminder=reminder, link=_link(BALANCE_PAGE),
        )
    return len(admins)


async def send_expiry_reminders(today: date | None = None) -> ReminderRun:
    """Tell customer admins of the points that expire within 30 and within 7 days, once per lot
    and reminder. An organisation without a customer admin is not claimed: whoever becomes its
    admin later hears of what is still due."""
    organizations = lots = mails = 0
    for organization_id in await alerts.organizations_due_reminders(today):
        admins = await customer_admins(organization_id)
        if not admins:
            continue
        async with db.write_transaction():
            reminder = await alerts.claim_expiry_reminder(organization_id, today)
            if reminder is None:
                continue
            mails += await mail_expiry_reminder(reminder, admins)
        organizations += 1
        lots += len(reminder.lots)
    return ReminderRun(organizations=organizations, lots=lots, mails=mails)


async def mail_low_balance(alert: LowBalance) -> int:
    admins = await customer_admins(alert.organization_id)
    organization = await organization_name(alert.organization_id)
    for admin in admins:
        await enqueue(
            admin["email"], admin["locale"], "low_balance",
            recipient=admin, organization=organization, alert=alert,
            link=_link(BALANCE_PAGE), settings_link=_link(SETTINGS_PAGE),
        )
    return len(admins)


async def send_low_balance_alerts(now: datetime | None = None) -> AlertRun:
    """Alert (once) the organisations whose balance fell below their threshold since the last run,
    and re-arm those back at or above it."""
    account_ids, mark = await alerts.accounts_to_check(now=now)
    alerted = mails = 0
    for account_id in account_ids:
        async with db.write_transaction():
            alert = await alerts.check_low_balance(account_id)
            if alert is not None:
                mails += await mail_low_balance(alert)
                alerted += 1
    if mark is not None:
        await alerts.advance_mark(mark)
    return AlertRun(checked=len(account_ids), alerted=alerted, mails=mails)
