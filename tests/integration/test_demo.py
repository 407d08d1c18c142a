"""`kippu seed-demo`: the Japanese demo that `make run` loads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from app.accounts.tables import Department, Organization, OrganizationRouting, User
from app.demo import DEMO_PASSWORD, SCENARIOS, DemoDataError, demo_logins, plan, seed_demo
from app.demo.loader import DATA
from app.notifications.sender import send_all_due_mail
from app.notifications.tables import OutboxMessage
from app.piccolo_app import TABLES
from app.settings import ROOT
from app.tickets.jobs import auto_close_resolved
from app.tickets.tables import PRIORITIES, STATUSES, CustomField, RequestType, Ticket, TicketEvent, TicketMessage


async def row_counts() -> dict[str, int]:
    return {table._meta.tablename: await table.count() for table in TABLES}


async def test_the_demo_has_about_fifty_requests_in_every_status_and_priority():
    result = await seed_demo()

    assert result.created and result.organizations == 2 and 45 <= result.requests <= 60
    tickets = await Ticket.select()
    assert len(tickets) == result.requests
    assert {t["status"] for t in tickets} == set(STATUSES)
    assert {t["priority"] for t in tickets} == set(PRIORITIES)
    organizations = await Organization.select(Organization.id, Organization.name)
    assert {o["name"] for o in organizations} == {"株式会社さくら商事", "青葉システム株式会社"}
    assert {t["organization"] for t in tickets} == {o["id"] for o in organizations}
    assert {d["name"] for d in await Department.select(Department.name)} == {"インフラ保守部", "Web制作部"}
    roles = [u["role"] for u in await User.select(User.role)]
    assert roles.count("agent") == 4 and "admin" in roles and "finance" in roles
    assert roles.count("customer_admin") == 2 and roles.count("customer_member") == 3
    assert await OrganizationRouting.count().where(OrganizationRouting.department.is_not_null()) == 2
    assert {r["code"] for r in await RequestType.select(RequestType.code)} >= {"general", "incident", "web_update"}
    assert await CustomField.count() == 2
    assert await TicketMessage.count().where(TicketMessage.internal == True) > 5  # noqa: E712
    assert await TicketMessage.count().where(TicketMessage.minutes_spent > 0) > 20
    assert any(t["follow_up_of"] for t in tickets)
    assert any("ハブ" in t["subject"] for t in tickets) and any("請求書" in t["subject"] for t in tickets)


async def test_the_demo_history_is_spread_over_two_months_and_consistent():
    before = datetime.now(UTC)
    await seed_demo()

    tickets = await Ticket.select()
    created = [t["created_at"] for t in tickets]
    assert min(created) < before - timedelta(days=45)
    assert min(created) > before - timedelta(days=75)
    messages = await TicketMessage.select(
        TicketMessage.ticket, TicketMessage.created_at, TicketMessage.internal,
        TicketMessage.author.role.as_alias("role"),
    )
    events = await TicketEvent.select(TicketEvent.ticket, TicketEvent.created_at)
    for ticket in tickets:
        thread = [m["created_at"] for m in messages if m["ticket"] == ticket["id"]]
        history = [e["created_at"] for e in events if e["ticket"] == ticket["id"]]
        assert all(ticket["created_at"] <= moment <= ticket["updated_at"] for moment in thread), ticket["subject"]
        assert all(ticket["created_at"] <= moment < before for moment in history), ticket["subject"]
        assert ticket["updated_at"] < before
        first_staff_reply = min(
            (m["created_at"] for m in messages
             if m["ticket"] == ticket["id"] and not m["internal"] and m["role"] in ("agent", "admin", "finance")),
            default=None,
        )
        assert ticket["first_responded_at"] == first_staff_reply, ticket["subject"]
        if ticket["status"] in ("resolved", "closed"):
            assert ticket["resolved_at"] is not None
        if ticket["status"] == "closed":
            assert ticket["closed_at"] >= ticket["resolved_at"]
    by_id = sorted(tickets, key=lambda t: t["id"])
    assert [t["created_at"] for t in by_id] == sorted(created), "numbers follow the order of filing"


async def test_starting_the_app_after_the_demo_neither_closes_its_resolved_requests_nor_mails_old_news():
    await seed_demo()
    resolved = await Ticket.count().where(Ticket.status == "resolved")

    assert await auto_close_resolved() == 0
    assert await Ticket.count().where(Ticket.status == "resolved") == resolved > 0
    assert await OutboxMessage.count() > 0
    assert not await send_all_due_mail()


async def test_loading_the_demo_twice_changes_nothing():
    await seed_demo()
    counts = await row_counts()
    versions = await Ticket.select(Ticket.id, Ticket.version, Ticket.updated_at).order_by(Ticket.id)

    again = await seed_demo()

    assert not again.created
    assert await row_counts() == counts
    assert await Ticket.select(Ticket.id, Ticket.version, Ticket.updated_at).order_by(Ticket.id) == versions


async def test_a_story_that_does_not_end_as_its_status_says_loads_nothing(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(DATA, folder)
    stories = folder / "requests" / "recent.toml"
    # The switch (ハブ) story ends closed; say it stays open.
    stories.write_text(stories.read_text(encoding="utf-8").replace('status = "closed"', 'status = "open"', 1))

    with pytest.raises(DemoDataError) as error:
        await seed_demo(folder)

    assert "ハブ" in error.value.message and "'closed'" in error.value.message
    assert await Organization.count() == 0 and await Ticket.count() == 0


async def test_every_demo_login_signs_in_through_the_form(client):
    await seed_demo()

    for login in demo_logins():
        client.cookies.clear()
        await client.get("/login")
        response = await client.post(
            "/login",
            data={"email": login.email, "password": login.password, "_csrf_token": client.cookies.get("kippu_csrf")},
        )
        assert response.status_code in (302, 303), login.email
        home = "/portal" if login.role.startswith("customer") else "/console"
        assert response.headers["location"] == home
        account = await client.get("/account")
        assert account.status_code == 200 and login.name in account.text


def run_cli(*args: str, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, **environment},
    )


async def test_seed_demo_command_prints_the_url_and_the_demo_logins(settings):
    done = run_cli("seed-demo", BASE_URL="http://127.0.0.1:8765")

    assert done.returncode == 0, done.stderr
    assert "http://127.0.0.1:8765/" in done.stdout
    for login in demo_logins():
        line = next(line for line in done.stdout.splitlines() if login.email in line)
        assert login.role in line and DEMO_PASSWORD in line and login.name in line
    assert await Ticket.count() >= 45


async def test_seed_demo_is_refused_in_production():
    done = run_cli("seed-demo", ENVIRONMENT="production", SECRET_KEY="a-real-production-secret-" + "x" * 20)

    assert done.returncode == 1
    assert "ENVIRONMENT=production" in done.stderr
    assert await User.count() == 0 and await Ticket.count() == 0


@pytest.mark.parametrize("hours", range(0, 7 * 24, 5))
def test_the_demo_story_fits_before_any_moment_of_the_week(hours, settings):
    # Mondays at 00:00 UTC (09:00 in Tokyo) and then every 5 hours through the week.
    now = datetime(2026, 11, 23, tzinfo=UTC) + timedelta(hours=hours)
    steps = plan(now)

    assert all(step.at < now for step in steps)
    assert len({step.scenario for step in steps}) == len(SCENARIOS)
    window = timedelta(days=settings.auto_close_after_days)
    for index, scenario in enumerate(SCENARIOS):
        story = [step for step in steps if step.scenario == index]
        assert [step.at for step in story] == sorted(step.at for step in story)
        if scenario.status == "resolved":
            assert story[-1].at > now - window, scenario.subject
