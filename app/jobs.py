"""The background jobs and the in-process scheduler that runs them (the embedded default).

Every job is an idempotent coroutine that cron can run just as well through its CLI command
(`kippu send-mail`, `kippu auto-close`, `kippu expire`, ...). A job runs at start-up and then
every `every_seconds`, or, with `daily_at`, daily at that time of day in the vendor's time zone.
With one app process the scheduler runs them inside the app, started and stopped by
`scheduler_lifespan`; with several workers set RUN_SCHEDULER=false and use cron. A job that fails
is logged and tried again at its next turn: the scheduler never takes the app down with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from litestar import Litestar

from app.accounts.jobs import clean_sessions
from app.notifications.sender import send_all_due_mail
from app.point_alerts.jobs import expire_points, send_expiry_reminders, send_low_balance_alerts
from app.settings import Settings, get_settings
from app.tickets.jobs import auto_close_resolved

log = logging.getLogger("kippu.jobs")

MINUTE = 60.0
HOUR = 3600.0
DAY = 24 * HOUR
# Expiry dates are calendar days in the vendor's time zone: points lapse at its midnight.
EXPIRE_AT = time(0, 5)
# Reminders go out in the morning, after the night's expiry run.
REMIND_AT = time(9, 0)


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[[], Awaitable[object]]
    # A time of day (tz-aware): after its first run at start-up the job runs daily at that time.
    daily_at: time | None = None

    def seconds_to_next_run(self, now: datetime | None = None) -> float:
        if self.daily_at is None:
            return self.every_seconds
        return seconds_until(self.daily_at, now)


def seconds_until(at: time, now: datetime | None = None) -> float:
    """Seconds from `now` to the next `at` (a time of day with its tzinfo)."""
    zone = at.tzinfo
    now = (now or datetime.now(UTC)).astimezone(zone)
    moment = datetime.combine(now.date(), at.replace(tzinfo=None), tzinfo=zone)
    if moment <= now:
        moment = datetime.combine(now.date() + timedelta(days=1), at.replace(tzinfo=None), tzinfo=zone)
    return (moment - now).total_seconds()


def default_jobs(settings: Settings) -> list[Job]:
    """What the embedded scheduler runs, and how often."""
    return [
        Job("send-mail", settings.mail_interval_seconds, send_all_due_mail),
        Job("auto-close", HOUR, auto_close_resolved),
        Job("clean-sessions", HOUR, clean_sessions),
        Job("expire", DAY, expire_points, daily_at=EXPIRE_AT.replace(tzinfo=settings.zone)),
        Job("expiry-reminders", DAY, send_expiry_reminders, daily_at=REMIND_AT.replace(tzinfo=settings.zone)),
        Job("low-balance-alerts", MINUTE, send_low_balance_alerts),
    ]


class Scheduler:
    """Runs each job at once and then every `every_seconds` (or daily at `daily_at`), one asyncio
    task per job."""

    def __init__(self, jobs: list[Job], stop_grace_seconds: float = 10) -> None:
        self.jobs = jobs
        self.stop_grace_seconds = stop_grace_seconds
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def start(self) -> None:
        self._stopping.clear()
        self._tasks = [
            asyncio.create_task(self._every(job), name=f"kippu-job-{job.name}") for job in self.jobs
        ]

    async def stop(self) -> None:
        """Let a job that is running finish (up to the grace period), then cancel what is left."""
        self._stopping.set()
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(self._tasks, timeout=self.stop_grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._tasks = []

    async def _every(self, job: Job) -> None:
        while not self._stopping.is_set():
            try:
                result = await job.run()
            except Exception:
                log.exception("job %s failed; it runs again in %.0f s", job.name, job.seconds_to_next_run())
            else:
                if result:
                    log.info("job %s: %s", job.name, result)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=job.seconds_to_next_run())
            except TimeoutError:
                pass


@asynccontextmanager
async def scheduler_lifespan(_app: Litestar) -> AsyncIterator[None]:
    settings = get_settings()
    if not settings.run_scheduler:
        yield
        return
    scheduler = Scheduler(default_jobs(settings))
    scheduler.start()
    try:
        yield
    finally:
        await scheduler.stop()
