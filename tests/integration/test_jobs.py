"""The in-process scheduler (embedded default) and the job commands cron runs."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta

from app.jobs import Job, Scheduler, default_jobs
from app.notifications.sender import send_all_due_mail
from app.notifications.tables import OutboxMessage
from app.tickets.tables import Ticket
from tests.factories import make_organization, make_request_type, make_ticket, make_user
from tests.integration.mail_catcher import smtp_server  # noqa: F401 (fixture)


async def queue_mail(to: str = "yamada@example.jp") -> None:
    now = datetime.now(UTC)
    await OutboxMessage.insert(
        OutboxMessage(to_address=to, subject="[2026-000001] 返信がありました: テスト", body="本文",
                      kind="public_reply", send_after=now, created_at=now)
    )


async def eventually(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        await asyncio.sleep(0.02)


def job_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("kippu-job-") and not t.done()]


async def cli(*args: str, **env: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode, output.decode()


async def test_the_scheduler_sends_mail_as_it_is_queued(smtp_server):
    scheduler = Scheduler([Job("send-mail", 0.05, send_all_due_mail)])
    scheduler.start()
    try:
        await queue_mail("first@example.jp")
        await eventually(lambda: len(smtp_server.inbox.messages) == 1)
        await queue_mail("second@example.jp")
        await eventually(lambda: len(smtp_server.inbox.messages) == 2)
    finally:
        await scheduler.stop()

    assert not scheduler.running
    assert [m.recipients for m in smtp_server.inbox.messages] == [["first@example.jp"], ["second@example.jp"]]


async def test_a_failing_job_is_logged_and_tried_again_without_stopping_the_others():
    runs = {"broken": 0, "healthy": 0}

    async def broken() -> None:
        runs["broken"] += 1
        raise RuntimeError("the mail server's disk is full")

    async def healthy() -> None:
        runs["healthy"] += 1

    scheduler = Scheduler([Job("broken", 0.01, broken), Job("healthy", 0.01, healthy)])
    scheduler.start()
    try:
        await eventually(lambda: runs["broken"] >= 3 and runs["healthy"] >= 3)
        assert scheduler.running
    finally:
        await scheduler.stop()
    assert not scheduler.running


async def test_stopping_lets_a_running_job_finish():
    finished = asyncio.Event()
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.set()

    scheduler = Scheduler([Job("slow", 60, slow)])
    scheduler.start()
    await started.wait()
    await scheduler.stop()

    assert finished.is_set()
    assert not scheduler.running


async def test_a_job_that_overruns_the_grace_period_is_cancelled_on_stop():
    started = asyncio.Event()

    async def stuck() -> None:
        started.set()
        await asyncio.sleep(3600)

    scheduler = Scheduler([Job("stuck", 60, stuck)], stop_grace_seconds=0.05)
    scheduler.start()
    await started.wait()
    began = time.monotonic()
    await scheduler.stop()

    assert time.monotonic() - began < 2
    assert not scheduler.running


async def test_the_app_runs_the_scheduler_while_it_serves(smtp_server, settings, monkeypatch):
    from app.server import create_app

    monkeypatch.setattr(settings, "run_scheduler", True)
    monkeypatch.setattr(settings, "mail_interval_seconds", 0.05)
    app = create_app()

    async with app.lifespan():
        assert sorted(t.get_name() for t in job_tasks()) == [
            "kippu-job-auto-close", "kippu-job-clean-sessions", "kippu-job-expire", "kippu-job-expiry-reminders",
            "kippu-job-low-balance-alerts", "kippu-job-send-mail",
        ]
        await queue_mail()
        await eventually(lambda: len(smtp_server.inbox.messages) == 1)

    assert job_tasks() == []
    assert await OutboxMessage.count().where(OutboxMessage.status == "sent") == 1


async def test_with_the_scheduler_switched_off_the_app_starts_no_jobs(settings, monkeypatch):
    from app.server import create_app

    monkeypatch.setattr(settings, "run_scheduler", False)
    async with create_app().lifespan():
        assert job_tasks() == []


async def test_kippu_send_mail_delivers_the_due_mail_and_says_how_much(smtp_server):
    await queue_mail("a@example.jp")
    await queue_mail("b@example.jp")

    code, output = await cli("send-mail", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_server.port))

    assert code == 0, output
    assert "mail sent: 2, to retry later: 0, failed: 0" in output
    assert sorted(r for m in smtp_server.inbox.messages for r in m.recipients) == ["a@example.jp", "b@example.jp"]

    code, output = await cli("send-mail", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_server.port))
    assert "mail sent: 0, to retry later: 0, failed: 0" in output
    assert len(smtp_server.inbox.messages) == 2


async def resolved_request(days_ago: float) -> Ticket:
    org = await make_organization("株式会社あおば")
    requester = await make_user("customer_member", organization=org, email="yamada@aoba.co.jp")
    ticket = await make_ticket(org, requester, await make_request_type(), status="resolved")
    await Ticket.update({Ticket.resolved_at: datetime.now(UTC) - timedelta(days=days_ago)}).where(
        Ticket.id == ticket.id
    )
    return ticket


async def test_the_scheduler_closes_resolved_requests_every_hour(settings):
    [auto_close] = [job for job in default_jobs(settings) if job.name == "auto-close"]
    assert auto_close.every_seconds == 3600
    ticket = await resolved_request(days_ago=settings.auto_close_after_days + 1)

    assert await auto_close.run() == 1
    assert await auto_close.run() == 0
    assert (await Ticket.select(Ticket.status).where(Ticket.id == ticket.id).first())["status"] == "closed"


async def test_kippu_auto_close_closes_old_resolved_requests_once_and_tells_the_requester(settings):
    old = await resolved_request(days_ago=settings.auto_close_after_days + 1)
    recent = await Ticket.update({Ticket.resolved_at: datetime.now(UTC) - timedelta(days=1)}).where(
        Ticket.id == (await make_ticket(
            await make_organization(), await make_user("agent"), await make_request_type("other"),
            status="resolved",
        )).id
    ).returning(Ticket.id)

    code, output = await cli("auto-close")

    assert code == 0, output
    assert "requests closed: 1" in output
    statuses = {row["id"]: row["status"] for row in await Ticket.select(Ticket.id, Ticket.status)}
    assert statuses == {old.id: "closed", recent[0]["id"]: "resolved"}
    [mail] = await OutboxMessage.select().where(OutboxMessage.to_address == "yamada@aoba.co.jp")
    assert mail["subject"] == f"[{old.number}] ステータスが「完了」になりました: {old.subject}"

    code, output = await cli("auto-close")
    assert "requests closed: 0" in output
