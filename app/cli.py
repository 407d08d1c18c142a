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
    from billing import clock

    # Expiry dates are calendar days in the vendor's time zone (as in the app's lifespan).
    clock.set_time_zone(get_settings().time_zone)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app and the API."""
    import uvicorn

    from billing.documents import missing_requirements

    for problem in missing_requirements():
        click.echo(f"warning: {problem}", err=True)
    from app.server import server_options

    click.echo(f"Kippu is serving on http://{host}:{port}/ ({get_settings().database_url.split('@')[-1]})")
    uvicorn.run("app.server:app_factory", factory=True, host=host, port=port, workers=workers,
                log_level="info", **server_options(get_settings()))


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


@main.command("clean-sessions")
def clean_sessions() -> None:
    """Delete expired browser sessions and ended sign-in throttle windows (idempotent; for cron)."""
    from app.accounts.jobs import clean_sessions as clean

    _log_jobs_to_stderr()
    sessions, windows = run(clean())
    click.echo(f"expired sessions deleted: {sessions}, sign-in windows deleted: {windows}")


@main.group("ledger")
def ledger_commands() -> None:
    """The points ledger."""


@ledger_commands.command("verify")
def ledger_verify() -> None:
    """Recompute every balance, lot and hold from the entries; exit status 1 on any difference."""
    from billing.verify import verify

    report = run(verify())
    counts = f"{report.accounts} accounts, {report.lots} lots, {report.entries} entries"
    if report.clean:
        click.echo(f"ledger verified: {counts} — no differences")
        return
    for difference in report.differences:
        click.echo(str(difference))
    click.echo(f"ledger verified: {counts} — {len(report.differences)} differences", err=True)
    sys.exit(1)


TODAY = click.DateTime(formats=["%Y-%m-%d"])
TODAY_HELP = "The date to act as of (YYYY-MM-DD; default: today in the vendor's time zone)."


@main.command()
@click.option("--today", type=TODAY, default=None, help=TODAY_HELP)
def expire(today) -> None:
    """Expire the points of every lot past its last day (idempotent; for cron shortly after midnight)."""
    from app.point_alerts.jobs import expire_points

    _log_jobs_to_stderr()
    result = run(expire_points(today.date() if today else None))
    click.echo(f"points expired: {result.points} from {result.lots} lots")


@main.command("expiry-reminders")
@click.option("--today", type=TODAY, default=None, help=TODAY_HELP)
def expiry_reminders(today) -> None:
    """Mail the customer admins of points expiring within 30 and 7 days (each reminder once; for cron daily)."""
    from app.point_alerts.jobs import send_expiry_reminders

    _log_jobs_to_stderr()
    result = run(send_expiry_reminders(today.date() if today else None))
    click.echo(f"expiry reminders: {result.organizations} organisations, {result.lots} lots, {result.mails} mails")


@main.command("low-balance-alerts")
def low_balance_alerts() -> None:
    """Alert the customer admins of balances that fell below their threshold (once per drop; for cron)."""
    from app.point_alerts.jobs import send_low_balance_alerts

    _log_jobs_to_stderr()
    result = run(send_low_balance_alerts())
    click.echo(f"low-balance alerts: {result.alerted} organisations alerted, {result.mails} mails "
               f"({result.checked} accounts checked)")


@main.command()
@click.option("--month", required=True, help="The month that has ended, as YYYY-MM.")
@click.option("--workers", default=None, type=click.IntRange(min=1), help="Rendering processes (default: one per core).")
def statements(month: str, workers: int | None) -> None:
    """Issue the month's usage statements of every organisation (idempotent: a re-run issues only
    the missing ones), rendered in parallel with a progress bar."""
    import time

    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label=f"statements {month}", file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(done - bar.pos)

    started = time.perf_counter()
    result = _service_call(_issue_statements(month, workers, progress))
    if bar is not None:
        bar.__exit__(None, None, None)
    seconds = time.perf_counter() - started
    click.echo(f"statements {month}: {result.issued} issued in {seconds:.1f}s, {result.already_issued} issued before, "
               f"{result.without_points} organisations without points then")


async def _issue_statements(month: str, workers: int | None, progress):
    from app import db
    from app.invoices.services import issue_month_statements, required_month

    if db.is_postgres():
        await db.engine().start_connection_pool(min_size=1, max_size=8)
    try:
        return await issue_month_statements(required_month(month), workers=workers, progress=progress)
    finally:
        if db.is_postgres():
            await db.engine().close_connection_pool()


def _log_jobs_to_stderr() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--email", required=True, help="The sign-in address (stored lower-case).")
@click.option("--password", default=None, help="At least 8 characters; without one the user cannot sign in yet.")
@click.option("--role", required=True, type=click.Choice(["admin", "agent", "finance", "customer_admin", "customer_member"]))
@click.option("--name", default=None, help="Defaults to the part of the address before the @.")
@click.option("--department", default=None, help="Staff only: the department's name (created if it does not exist).")
@click.option("--org", "org_code", default=None, help="Customer roles only: the organisation's customer code.")
def createuser(
    email: str, password: str | None, role: str, name: str | None, department: str | None, org_code: str | None
) -> None:
    """Create a member of staff (admin, agent, finance) or a customer user (--org)."""
    from app.accounts.tables import CUSTOMER_ROLES

    name = name or email.split("@", 1)[0]
    if role in CUSTOMER_ROLES:
        if not org_code:
            fail(f"--org ORGCODE is required for the role {role}")
        if department:
            fail("--department is for staff; customer users have no department")
        user = _service_call(_create_customer_user(org_code, email, name, role, password))
        click.echo(f"user {user.id} created: {user.email} ({user.role} of {org_code})")
    else:
        if org_code:
            fail(f"--org is for customer users; staff ({role}) belong to no organisation")
        user, created_department = _service_call(_create_staff_user(email, name, role, department, password))
        if created_department:
            click.echo(f"department created: {department}")
        click.echo(f"user {user.id} created: {user.email} ({user.role})")
    if not password:
        click.echo("no password given: the user cannot sign in until one is set")


@main.command()
@click.option("--code", required=True, help="Customer code: 2 to 32 letters, digits, - or _ (unique).")
@click.option("--name", required=True, help="The company name.")
def createorg(code: str, name: str) -> None:
    """Create a customer organisation."""
    from app.accounts import services

    organization = _service_call(services.create_organization(services.SYSTEM, code=code, name=name))
    click.echo(f"organisation {organization.id} created: {organization.code} {organization.name}")


def _service_call(coroutine):
    """Run a service call; a refusal (bad input, duplicate, unknown code) becomes a clear error."""
    from app.errors import KippuError
    from app.i18n import set_locale

    async def call():
        set_locale("en")
        return await coroutine

    try:
        return run(call())
    except KippuError as exc:
        field = exc.extra.get("field")
        fail(f"{exc.message} (--{str(field).replace('_', '-')})" if field else exc.message)


async def _create_customer_user(org_code: str, email: str, name: str, role: str, password: str | None):
    from app.accounts import services

    organization = await services.find_organization(services.SYSTEM, org_code)
    return await services.create_customer_user(
        services.SYSTEM, organization.id, email=email, name=name, role=role, password=password
    )


async def _create_staff_user(email: str, name: str, role: str, department: str | None, password: str | None):
    from app import db
    from app.accounts import services

    created = False
    # One transaction: a refused user leaves no new department behind.
    async with db.write_transaction():
        if department:
            known = {d.name for d in await services.list_departments(services.SYSTEM)}
            if department.strip() not in known:
                await services.create_department(services.SYSTEM, department)
                created = True
        user = await services.create_staff_user(
            services.SYSTEM, email=email, name=name, role=role, department=department, password=password
        )
    return user, created


@main.command("seed-demo")
def seed_demo() -> None:
    """Load the Japanese demo data and print the demo logins (idempotent; never in production)."""
    from app.demo import seed_demo as load_demo
    from app.errors import KippuError
    from app.i18n import set_locale

    async def load():
        set_locale("en")
        return await load_demo()

    try:
        result = run(load())
    except KippuError as exc:
        fail(exc.message)
    state = "loaded" if result.created else "already loaded, nothing changed"
    click.echo(
        f"demo data {state}: {result.organizations} customer companies, {result.users} users, "
        f"{result.requests} requests"
    )
    click.echo(f"\nOpen {get_settings().base_url.rstrip('/')}/ and sign in as one of these demo users:\n")
    rows = [("role", "e-mail", "password", "name")]
    rows += [(login.role, login.email, login.password, f"{login.name} ({login.where})") for login in result.logins]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  " + "  ".join(value.ljust(width) for value, width in zip(row, widths)) + "  " + row[3])
    click.echo("")


if __name__ == "__main__":
    main()
