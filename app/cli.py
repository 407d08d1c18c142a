"""The `kippu` console script. Every command calls the same services the app uses."""

from __future__ import annotations

import asyncio
import sys

import click

import app  # noqa: F401  (sets PICCOLO_CONF)
from app.settings import get_settings


def run(coroutine):
    return asyncio.run(coroutine)


@click.group()
def main() -> None:
    """Kippu: prepaid support tickets."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app and the API."""
    import uvicorn

    click.echo(f"Kippu is serving on http://{host}:{port}/ ({get_settings().database_url.split('@')[-1]})")
    uvicorn.run("app.server:app_factory", factory=True, host=host, port=port, workers=workers,
                proxy_headers=True, log_level="info")


@main.command()
def migrate() -> None:
    """Apply the committed database migrations."""
    from app import db

    get_settings().var_dir.mkdir(parents=True, exist_ok=True)
    run(db.migrate())
    click.echo("migrations applied")


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@main.command("send-mail")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(min=1), help="Messages per claim.")
def send_mail(batch: int) -> None:
    """Send the outgoing mail that is due, once (for cron when RUN_SCHEDULER=false)."""
    from app.notifications.sender import send_all_due_mail

    _log_jobs_to_stderr()
    result = run(send_all_due_mail(batch=batch))
    click.echo(f"mail sent: {result.sent}, to retry later: {result.retried}, failed: {result.failed}")


@main.command("auto-close")
def auto_close() -> None:
    """Close requests resolved longer ago than AUTO_CLOSE_AFTER_DAYS (idempotent; for cron)."""
    from app.tickets.jobs import auto_close_resolved

    _log_jobs_to_stderr()
    closed = run(auto_close_resolved())
    click.echo(f"requests closed: {closed}")


def _log_jobs_to_stderr() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":
    main()
