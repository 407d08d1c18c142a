"""The ledger's jobs as customers notice them: expiry reminders, the low-balance alert and its
setting, the nightly expiry run in the scheduler. Mail is checked in the real outbox (and once
through SMTP)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest

from app.errors import InvalidInput, NotFound
from app.jobs import default_jobs, seconds_until
from app.notifications.sender import send_all_due_mail
from app.notifications.tables import OutboxMessage
from app.point_alerts import jobs, services
from billing import clock, ledger
from billing.tables import PointsAccount
from billing.verify import verify
from tests.factories import caller, csrf, make_organization, make_user, sign_in
from tests.integration.mail_catcher import smtp_server  # noqa: F401 (fixture)

EXPIRES = date(2026, 12, 31)
_keys = count(1)


def key(label: str = "k") -> str:
    return f"{label}-{next(_keys)}"


async def outbox(kind: str) -> list[dict]:
    return await OutboxMessage.select().where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)


async def assert_books_balance() -> None:
    report = await verify()
    assert report.clean, [str(d) for d in report.differences]


@pytest.fixture
async def company():
    """A customer company with two customer admins (ja, en), a member and a former admin."""
    org = await make_organization("株式会社みなと商事")
    admin = await make_user("customer_admin", organization=org, email="keiri@minato.example.jp", name="経理 花子")
    admin_en = await make_user("customer_admin", organization=org, email="cfo@minato.example.jp",
                               name="Jane Smith", locale="en")
    await make_user("customer_member", organization=org, email="member@minato.example.jp")
    former = await make_user("customer_admin", organization=org, email="former@minato.example.jp")
    await former.update_self({"is_active": False})
    org.admin, org.admin_en = admin, admin_en
    return org


ADMINS = ["keiri@minato.example.jp", "cfo@minato.example.jp"]


# --- expiry reminders ----------------------------------------------------------------------------

async def test_customer_admins_are_reminded_30_and_7_days_before_points_expire_once_each(company):
    await ledger.purchase(company.id, 100, 1_000, EXPIRES, "bundle", key=key(), today=date(2026, 1, 5))

    for today in (EXPIRES - timedelta(days=31), EXPIRES - timedelta(days=60)):
        assert (await jobs.send_expiry_reminders(today)).mails == 0

    first = await jobs.send_expiry_reminders(EXPIRES - timedelta(days=30))
    assert (first.organizations, first.lots, first.mails) == (1, 1, 2)
    # Again the same day, and on the days that follow: nothing more until the last week.
    for days in (30, 29, 10, 8):
        assert (await jobs.send_expiry_reminders(EXPIRES - timedelta(days=days))).mails == 0
    mails = await outbox("points_expiring")
    assert sorted(m["to_address"] for m in mails) == sorted(ADMINS)
    japanese = next(m for m in mails if m["to_address"] == ADMINS[0])
    assert japanese["subject"] == "ポイントの有効期限が近づいています（100 ポイント、最初の期限 2026/12/31）"
    assert "経理 花子 様" in japanese["body"]
    assert "100 ポイント: 2026/12/31 まで有効" in japanese["body"]
    assert "株式会社みなと商事" in japanese["body"]
    assert "http://127.0.0.1:8000/portal/points" in japanese["body"]
    english = next(m for m in mails if m["to_address"] == ADMINS[1])
    assert english["subject"] == "Points expiring soon: 100 points, the first on 2026/12/31"
    assert "100 points: usable until 2026/12/31" in english["body"]

    week = await jobs.send_expiry_reminders(EXPIRES - timedelta(days=7))
    assert week.mails == 2
    for days in (7, 3, 0):
        assert (await jobs.send_expiry_reminders(EXPIRES - timedelta(days=days))).mails == 0
    assert len(await outbox("points_expiring")) == 4


async def test_a_reminder_counts_only_the_points_that_can_still_expire(company):
    await ledger.grant(company.id, 10, "compensation", EXPIRES, key=key(), today=date(2026, 11, 1))
    hold_id = await ledger.hold(company.id, 10, ticket_id=1, key=key(), today=date(2026, 11, 1))
    await ledger.capture(hold_id, key(), today=date(2026, 11, 1))
    await ledger.grant(company.id, 8, "promotion", EXPIRES + timedelta(days=5), key=key(),
                                     today=date(2026, 11, 1))
    await ledger.hold(company.id, 3, ticket_id=2, key=key(), today=date(2026, 11, 1))

    result = await jobs.send_expiry_reminders(EXPIRES - timedelta(days=7))

    assert result.lots == 1
    [mail, _] = await outbox("points_expiring")
    assert "5 ポイント: 2027/01/05 まで有効" in mail["body"]
    assert "2026/12/31" not in mail["body"]


async def test_a_fully_spent_granted_lot_gets_no_reminder(company):
    await ledger.grant(company.id, 5, "welcome", EXPIRES, key=key(), today=date(2026, 11, 1))
    hold_id = await ledger.hold(company.id, 5, ticket_id=1, key=key(), today=date(2026, 11, 1))
    await ledger.capture(hold_id, key(), today=date(2026, 11, 1))

    for days in (30, 7):
        assert (await jobs.send_expiry_reminders(EXPIRES - timedelta(days=days))).mails == 0
    assert await outbox("points_expiring") == []


async def test_points_granted_inside_the_last_month_are_reminded_at_once_then_in_the_last_week(company):
    await ledger.grant(company.id, 20, "compensation", EXPIRES, key=key(), today=date(2026, 12, 11))

    assert (await jobs.send_expiry_reminders(date(2026, 12, 11))).mails == 2
    assert (await jobs.send_expiry_reminders(date(2026, 12, 12))).mails == 0
    assert (await jobs.send_expiry_reminders(date(2026, 12, 24))).mails == 2
    assert len(await outbox("points_expiring")) == 4


async def test_lots_due_the_same_day_come_in_one_mail_per_admin(company):
    await ledger.purchase(company.id, 50, 1_000, EXPIRES, "bundle A", key=key(), today=date(2026, 1, 5))
    await ledger.purchase(company.id, 30, 1_000, EXPIRES, "bundle B", key=key(), today=date(2026, 2, 5))
    await ledger.grant(company.id, 7, "promotion", EXPIRES - timedelta(days=10), key=key(), today=date(2026, 2, 5))

    result = await jobs.send_expiry_reminders(EXPIRES - timedelta(days=25))

    assert (result.organizations, result.lots, result.mails) == (1, 3, 2)
    mail = next(m for m in await outbox("points_expiring") if m["to_address"] == ADMINS[0])
    assert "87 ポイント、最初の期限 2026/12/21" in mail["subject"]
    assert mail["body"].index("7 ポイント: 2026/12/21 まで有効") < mail["body"].index("80 ポイント: 2026/12/31 まで有効")


async def test_an_organisation_without_a_customer_admin_is_reminded_once_it_has_one():
    org = await make_organization()
    await ledger.grant(org.id, 10, "welcome", EXPIRES, key=key(), today=date(2026, 11, 1))
    today = EXPIRES - timedelta(days=20)

    assert (await jobs.send_expiry_reminders(today)).mails == 0
    await make_user("customer_admin", organization=org, email="new-admin@example.jp")
    assert (await jobs.send_expiry_reminders(today)).mails == 1
    assert [m["to_address"] for m in await outbox("points_expiring")] == ["new-admin@example.jp"]


async def test_reminder_runs_at_the_same_time_send_each_reminder_once(company):
    other = await make_organization()
    await make_user("customer_admin", organization=other, email="admin@other.example.jp")
    for org in (company, other):
        for n in range(3):
            await ledger.grant(org.id, 10 + n, "promotion", EXPIRES - timedelta(days=n), key=key(),
                               today=date(2026, 11, 1))

    runs = await asyncio.gather(*(jobs.send_expiry_reminders(EXPIRES - timedelta(days=30)) for _ in range(6)))

    assert sum(run.lots for run in runs) == 6
    assert sum(run.mails for run in runs) == 3
    assert sorted(m["to_address"] for m in await outbox("points_expiring")) == sorted(
        [*ADMINS, "admin@other.example.jp"]
    )


async def test_an_expiry_reminder_arrives_by_smtp_in_japanese(company, smtp_server):
    await ledger.purchase(company.id, 100, 1_000, EXPIRES, "bundle", key=key(), today=date(2026, 1, 5))
    await jobs.send_expiry_reminders(EXPIRES - timedelta(days=7))

    result = await send_all_due_mail()

    assert result.sent == 2
    [received] = smtp_server.inbox.to(ADMINS[0])
    assert received.subject == "ポイントの有効期限が近づいています（100 ポイント、最初の期限 2026/12/31）"
    assert received.message["X-Kippu-Kind"] == "points_expiring"
    assert "100 ポイント: 2026/12/31 まで有効" in received.body
    assert "/portal/points" in received.body
    assert "返信いただいても対応できません" in received.body


# --- the low-balance alert -----------------------------------------------------------------------

@pytest.fixture
async def company_with_100_points(company):
    await ledger.grant(company.id, 100, "welcome", None, key=key())
    return company


async def spend(org, points: int) -> None:
    await ledger.hold(org.id, points, ticket_id=next(_keys), key=key("hold"))


async def test_customer_admins_are_alerted_once_when_the_balance_drops_below_their_threshold(company_with_100_points):
    org = company_with_100_points
    saved = await services.set_low_balance_threshold(caller(org.admin), org.id, "30")
    assert (saved.alerts.threshold, saved.mailed) == (30, 0)

    await spend(org, 60)
    assert (await jobs.send_low_balance_alerts()).alerted == 0  # 40 left

    await spend(org, 15)  # 25 left
    first = await jobs.send_low_balance_alerts()
    assert (first.alerted, first.mails) == (1, 2)
    assert (await jobs.send_low_balance_alerts()).alerted == 0
    await spend(org, 5)  # still below: no second alert
    assert (await jobs.send_low_balance_alerts()).alerted == 0

    mails = await outbox("low_balance")
    assert sorted(m["to_address"] for m in mails) == sorted(ADMINS)
    japanese = next(m for m in mails if m["to_address"] == ADMINS[0])
    assert japanese["subject"] == "ポイント残高が少なくなっています（残り 25 ポイント）"
    assert "25 ポイントで、お知らせの基準の 30 ポイントを下回りました" in japanese["body"]
    assert "/portal/settings/points" in japanese["body"]
    await assert_books_balance()


async def test_the_alert_is_re_armed_after_a_top_up(company_with_100_points):
    org = company_with_100_points
    await services.set_low_balance_threshold(caller(org.admin), org.id, 50)
    await spend(org, 60)
    assert (await jobs.send_low_balance_alerts()).alerted == 1

    await ledger.purchase(org.id, 100, 1_000, None, "top-up", key=key())  # 140
    assert (await jobs.send_low_balance_alerts()).alerted == 0
    assert (await services.get_point_alerts(caller(org.admin), org.id)).alerted_at is None

    await spend(org, 100)  # 40 again
    assert (await jobs.send_low_balance_alerts()).alerted == 1
    assert len(await outbox("low_balance")) == 4


async def test_an_expiry_that_takes_the_balance_below_the_threshold_alerts(company):
    await ledger.grant(company.id, 100, "promotion", date(2026, 6, 30), key=key(), today=date(2026, 6, 1))
    await ledger.grant(company.id, 10, "welcome", None, key=key(), today=date(2026, 6, 1))
    await services.set_low_balance_threshold(caller(company.admin), company.id, "20")
    assert (await jobs.send_low_balance_alerts()).alerted == 0

    expired = await jobs.expire_points(date(2026, 7, 1))
    assert (expired.points, expired.lots) == (100, 1)

    assert (await jobs.send_low_balance_alerts()).alerted == 1


async def test_setting_a_threshold_above_the_balance_alerts_at_once(company_with_100_points):
    org = company_with_100_points
    saved = await services.set_low_balance_threshold(caller(org.admin), org.id, "１,０００")
    assert (saved.alerts.threshold, saved.alerts.below, saved.mailed) == (1000, True, 2)
    assert (await jobs.send_low_balance_alerts()).alerted == 0
    # Switched off: re-armed, and nothing more is sent.
    saved = await services.set_low_balance_threshold(caller(org.admin), org.id, "")
    assert (saved.alerts.threshold, saved.alerts.alerted_at) == (None, None)
    assert len(await outbox("low_balance")) == 2


async def test_alerts_checked_at_the_same_time_go_out_once(company_with_100_points):
    org = company_with_100_points
    await services.set_low_balance_threshold(caller(org.admin), org.id, "30")
    await spend(org, 80)

    runs = await asyncio.gather(*(jobs.send_low_balance_alerts() for _ in range(5)))

    assert sum(run.alerted for run in runs) == 1
    assert len(await outbox("low_balance")) == 2


async def test_the_alert_job_reads_only_accounts_whose_balance_changed(company_with_100_points):
    org = company_with_100_points
    quiet = await make_organization()
    await ledger.grant(quiet.id, 10, "welcome", None, key=key())
    for each in (org, quiet):
        admin = org.admin if each is org else await make_user("customer_admin", organization=quiet)
        await services.set_low_balance_threshold(caller(admin), each.id, "5")
    later = datetime.now(UTC) + timedelta(minutes=5)

    assert (await jobs.send_low_balance_alerts(now=later)).checked == 2  # the first run: every threshold
    assert (await jobs.send_low_balance_alerts(now=later)).checked == 0  # nothing changed since
    await spend(org, 96)
    run = await jobs.send_low_balance_alerts(now=later + timedelta(minutes=5))
    assert (run.checked, run.alerted) == (1, 1)


async def test_the_threshold_must_be_a_positive_whole_number(company):
    for typed in ("abc", "0", "-5", "1.5", "99999999999"):
        with pytest.raises(InvalidInput) as refused:
            await services.set_low_balance_threshold(caller(company.admin), company.id, typed)
        assert refused.value.extra["field"] == "low_balance_threshold"


# --- the settings page ---------------------------------------------------------------------------

async def test_a_customer_admin_sets_the_alert_in_the_portal(client, company_with_100_points):
    org = company_with_100_points
    await sign_in(client, org.admin)
    account = await client.get("/account")
    assert 'href="/portal/settings/points"' in account.text

    page = await client.get("/portal/settings/points")
    assert page.status_code == 200
    assert "残高不足のお知らせ" in page.text and "100" in page.text

    saved = await client.post("/portal/settings/points", data={"low_balance_threshold": "40", **csrf(client)})
    assert saved.status_code in (302, 303)
    page = await client.get("/portal/settings/points")
    assert "残高が 40 ポイントを下回ると" in page.text
    assert 'value="40"' in page.text
    settings_row = await PointsAccount.select(PointsAccount.low_balance_threshold).where(
        PointsAccount.organization == org.id
    ).first()
    assert settings_row["low_balance_threshold"] == 40

    refused = await client.post("/portal/settings/points", data={"low_balance_threshold": "たくさん", **csrf(client)})
    assert refused.status_code == 422
    assert "1〜10000000 の整数で入力してください" in refused.text
    assert 'value="たくさん"' in refused.text


async def test_a_customer_member_sees_the_alert_but_cannot_change_it(client, company):
    member = await make_user("customer_member", organization=company)
    await sign_in(client, member)
    assert (await client.get("/portal/settings/points")).status_code == 200
    refused = await client.post("/portal/settings/points", data={"low_balance_threshold": "10", **csrf(client)})
    assert refused.status_code == 403
    assert (await services.get_point_alerts(caller(company.admin), company.id)).threshold is None


async def test_finance_sets_an_organisations_alert_in_the_console_and_customers_cannot(client, company):
    finance = await make_user("finance", email="finance@vendor.example.jp")
    await sign_in(client, finance)
    path = f"/console/organizations/{company.id}/point-alerts"
    assert "株式会社みなと商事" in (await client.get(path)).text
    saved = await client.post(path, data={"low_balance_threshold": "15", **csrf(client)})
    assert saved.status_code in (302, 303)
    assert (await services.get_point_alerts(caller(finance), company.id)).threshold == 15
    assert (await client.get("/console/organizations/999999/point-alerts")).status_code == 404

    other_admin = await make_user("customer_admin", organization=await make_organization())
    with pytest.raises(NotFound):
        await services.set_low_balance_threshold(caller(other_admin), company.id, "99")


# --- the scheduler -------------------------------------------------------------------------------

async def test_the_scheduler_expires_points_nightly_and_reminds_in_the_morning(settings):
    by_name = {job.name: job for job in default_jobs(settings)}
    tokyo = ZoneInfo("Asia/Tokyo")
    assert by_name["expire"].daily_at == time(0, 5, tzinfo=tokyo)
    assert by_name["expiry-reminders"].daily_at == time(9, 0, tzinfo=tokyo)
    assert by_name["low-balance-alerts"].every_seconds == 60
    # 23:59 in Tokyo is 14:59 UTC: the expiry run is six minutes away.
    assert by_name["expire"].seconds_to_next_run(datetime(2026, 11, 23, 14, 59, tzinfo=UTC)) == 6 * 60
    assert seconds_until(time(0, 5, tzinfo=tokyo), datetime(2026, 11, 23, 15, 5, tzinfo=UTC)) == 24 * 3600


async def test_the_nightly_expiry_run_expires_lapsed_points_once(company, settings):
    await ledger.grant(company.id, 30, "last day today", clock.today(), key=key())
    await ledger.grant(company.id, 12, "lapsed", date(2026, 3, 31), key=key(), today=date(2026, 3, 1))
    [expire] = [job for job in default_jobs(settings) if job.name == "expire"]

    first = await expire.run()
    assert (first.points, first.lots) == (12, 1)
    second = await expire.run()
    assert (second.points, second.lots) == (0, 0)
    assert (await ledger.balance(company.id)).available == 30
    await assert_books_balance()
