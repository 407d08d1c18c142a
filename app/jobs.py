"""The background jobs and the in-process scheduler that runs them (the embedded default).

Every job is an idempotent coroutine that cron can run just as well through its CLI command
(`kippu send-mail`, `kippu auto-close`, ...). With one app process the scheduler runs them inside
the app, started and stopped by `scheduler_lifespan`; with several workers set
RUN_SCHEDULER=false and use cron. A job that fails is logged and tried again at its next turn:
the scheduler never takes the app down with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from litestar import Litestar

from app.notifications.sender import send_all_due_mail
from app.settings import Settings, get_settings
from app.tickets.jobs import auto_close_resolved

log = logging.getLogger("kippu.jobs")

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[[], Awaitable[object]]


def default_jobs(settings: Settings) -> list[Job]:
    """What the embedded scheduler runs, and how often."""
    return [
        Job("send-mail", settings.mail_interval_seconds, send_all_due_mail),
        Job("auto-close", HOUR, auto_close_resolved),
    ]


class Scheduler:
    """Runs each job at once and then every `every_seconds`, one asyncio task per job."""

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
                log.exception("job %s failed; it runs again in %s s", job.name, job.every_seconds)
            else:
                if result:
                    log.info("job %s: %s", job.name, result)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=job.every_seconds)
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
