"""`kippu ledger verify`, `kippu expire`, `kippu expiry-reminders` and `kippu low-balance-alerts`,
run as the real console script (a subprocess, as cron runs them) on this run's database."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import date
from itertools import count
from pathlib import Path

from app.notifications.tables import OutboxMessage
from app.point_alerts import services
from billing import ledger
from billing.tables import PointsAccount
from billing.verify import verify
from tests.factories import behind_the_ledgers_back, caller, make_organization, make_user

ROOT = Path(__file__).resolve().parents[2]
_keys = count(1)


def key() -> str:
    return f"cli-{next(_keys)}"


async def kippu(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", *args,
        env={**os.environ, "RUN_SCHEDULER": "false"}, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def org_with_history():
    org = await make_organization()
    await ledger.grant(org.id, 10, "welcome", date(2026, 6, 30), key=key(), today=date(2026, 6, 1))
    hold_id = await ledger.hold(org.id, 4, ticket_id=1, key=key(), today=date(2026, 6, 1))
    await ledger.capture(hold_id, key(), today=date(2026, 6, 1))
    return org


async def test_verify_reports_a_clean_ledger_and_exits_0():
    await org_with_history()
    await make_organization()

    code, out, err = await kippu("ledger", "verify")

    assert code == 0, out + err
    assert out.strip() == "ledger verified: 1 accounts, 1 lots, 3 entries — no differences"


async def test_verify_names_a_balance_changed_behind_the_ledgers_back_and_exits_1():
    org = await org_with_history()
    # Someone "fixes" a balance with SQL instead of an adjustment entry.
    await behind_the_ledgers_back("UPDATE points_accounts SET available = available + 5 WHERE organization = {}", org.id)
    account = await PointsAccount.select(PointsAccount.id).where(PointsAccount.organization == org.id).first()

    code, out, err = await kippu("ledger", "verify")

    assert code == 1, out + err
    assert f"account balance differs from the sum of its entries: #{account['id']}" in out
    assert f"account balance differs from the sum of its lots: #{account['id']}" in out
    assert "cached_available=11" in out
    assert "2 differences" in err
    assert "Traceback" not in err


async def test_expire_expires_lapsed_points_once_and_says_how_many():
    org = await org_with_history()  # 6 points left, last day 2026/06/30
    other = await make_organization()
    await ledger.grant(other.id, 3, "promotion", date(2026, 6, 15), key=key(), today=date(2026, 6, 1))
    await ledger.grant(other.id, 20, "bundle", date(2027, 6, 30), key=key(), today=date(2026, 6, 1))

    code, out, err = await kippu("expire", "--today", "2026-06-30")
    assert code == 0, out + err
    assert "points expired: 3 from 1 lots" in out

    code, out, err = await kippu("expire", "--today", "2026-07-01")
    assert "points expired: 6 from 1 lots" in out
    code, out, err = await kippu("expire", "--today", "2026-07-01")
    assert "points expired: 0 from 0 lots" in out

    assert (await ledger.balance(org.id, today=date(2026, 7, 1))).available == 0
    assert (await ledger.balance(other.id, today=date(2026, 7, 1))).available == 20
    assert (await verify()).clean
    assert (await kippu("ledger", "verify"))[0] == 0


async def test_expire_refuses_a_date_it_cannot_read():
    code, out, err = await kippu("expire", "--today", "2026/07/01")
    assert code == 2
    assert "Invalid value for '--today'" in err and "Traceback" not in err


async def test_the_reminder_and_alert_commands_mail_once():
    org = await make_organization()
    admin = await make_user("customer_admin", organization=org, email="admin@cli.example.jp")
    await ledger.grant(org.id, 40, "promotion", date(2026, 12, 31), key=key(), today=date(2026, 11, 1))
    await services.set_low_balance_threshold(caller(admin), org.id, "10")

    code, out, err = await kippu("expiry-reminders", "--today", "2026-12-01")
    assert code == 0, out + err
    assert "expiry reminders: 1 organisations, 1 lots, 1 mails" in out
    assert "expiry reminders: 0 organisations, 0 lots, 0 mails" in (
        await kippu("expiry-reminders", "--today", "2026-12-01"))[1]

    await ledger.hold(org.id, 35, ticket_id=7, key=key(), today=date(2026, 11, 1))
    code, out, err = await kippu("low-balance-alerts")
    assert code == 0, out + err
    assert "low-balance alerts: 1 organisations alerted, 1 mails" in out
    assert "low-balance alerts: 0 organisations alerted, 0 mails" in (await kippu("low-balance-alerts"))[1]

    kinds = [row["kind"] for row in await OutboxMessage.select(OutboxMessage.kind).order_by(OutboxMessage.id)]
    assert kinds == ["points_expiring", "low_balance"]
