"""Delivering the outbox over SMTP, with retries.

`send_due_mail` is idempotent and safe to run from several workers at once: it claims a batch of
due messages in a short write transaction (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: the
immediate transaction serialises the claims) by moving their `send_after` a lease into the
future, sends them outside any transaction, then records each outcome. A worker that dies
mid-batch leaves its messages to be picked up again when the lease runs out.

A temporary failure (connection trouble, a 4xx reply) is retried after 1, 5, 25, ... minutes;
after `mail_max_attempts` tries, or at once on a permanent 5xx reply, the message is `failed`.
Without `smtp_host` (development) each message is written to the "kippu.mail" log instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from app import db
from app.notifications.tables import OutboxMessage
from app.settings import Settings, get_settings

log = logging.getLogger("kippu.mail")

LEASE = timedelta(minutes=15)
FIRST_RETRY = timedelta(minutes=1)
RETRY_FACTOR = 5
LONGEST_RETRY = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class SendResult:
    sent: int = 0
    failed: int = 0
    retried: int = 0

    def __bool__(self) -> bool:
        return bool(self.sent or self.failed or self.retried)

    def __add__(self, other: SendResult) -> SendResult:
        return SendResult(self.sent + other.sent, self.failed + other.failed, self.retried + other.retried)


class PermanentFailure(Exception):
    """The server refused the message for good (a 5xx reply): retrying cannot help."""


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed try: 1, 5, 25, 125 minutes, then 6 hours."""
    return min(FIRST_RETRY * RETRY_FACTOR ** (attempts - 1), LONGEST_RETRY)


async def send_due_mail(now: datetime | None = None, limit: int = 100) -> SendResult:
    """Send every pending message whose time has come (at most `limit`); return the counts."""
    now = now or datetime.now(UTC)
    settings = get_settings()
    batch = await _claim(now, limit)
    if not batch:
        return SendResult()
    sent = failed = retried = 0
    transport = _SmtpTransport(settings) if settings.smtp_host else None
    try:
        for row in batch:
            try:
                message = compose(row, settings)
                if transport is None:
                    _write_to_log(message)
                else:
                    await transport.send(message)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded on the message
                outcome = await _record_failure(row, exc, now, settings)
                failed += outcome == "failed"
                retried += outcome == "pending"
            else:
                await _record_sent(row, now)
                sent += 1
    finally:
        if transport is not None:
            await transport.close()
    return SendResult(sent=sent, failed=failed, retried=retried)


async def send_all_due_mail(now: datetime | None = None, batch: int = 100) -> SendResult:
    """`send_due_mail` in batches until nothing due is left (the CLI command and the scheduler)."""
    total = SendResult()
    while True:
        result = await send_due_mail(now, limit=batch)
        total += result
        if result.sent + result.failed + result.retried < batch:
            return total


async def _claim(now: datetime, limit: int) -> list[dict]:
    async with db.write_transaction():
        query = (
            OutboxMessage.select()
            .where((OutboxMessage.status == "pending") & (OutboxMessage.send_after <= now))
            .order_by(OutboxMessage.send_after, OutboxMessage.id)
            .limit(limit)
        )
        if db.is_postgres():
            query = query.lock_rows("UPDATE", skip_locked=True)
        rows = await query
        if rows:
            await OutboxMessage.update({OutboxMessage.send_after: now + LEASE}).where(
                OutboxMessage.id.is_in([row["id"] for row in rows])
            )
    return rows


async def _record_sent(row: dict, now: datetime) -> None:
    await OutboxMessage.update(
        {OutboxMessage.status: "sent", OutboxMessage.sent_at: now, OutboxMessage.last_error: ""}
    ).where((OutboxMessage.id == row["id"]) & (OutboxMessage.status == "pending"))


async def _record_failure(row: dict, exc: Exception, now: datetime, settings: Settings) -> str:
    attempts = row["attempts"] + 1
    error = f"{type(exc).__name__}: {exc}"[:2000]
    give_up = isinstance(exc, PermanentFailure) or attempts >= settings.mail_max_attempts
    status = "failed" if give_up else "pending"
    await OutboxMessage.update(
        {
            OutboxMessage.status: status,
            OutboxMessage.attempts: attempts,
            OutboxMessage.last_error: error,
            OutboxMessage.send_after: now + retry_delay(attempts),
        }
    ).where((OutboxMessage.id == row["id"]) & (OutboxMessage.status == "pending"))
    if give_up:
        log.error("mail %s to %s failed after %s attempts: %s", row["id"], row["to_address"], attempts, error)
    else:
        log.warning("mail %s to %s will be retried (attempt %s): %s", row["id"], row["to_address"], attempts, error)
    return status


def compose(row: dict, settings: Settings) -> EmailMessage:
    """The MIME message for an outbox row (UTF-8 subject and body, stable Message-ID)."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = row["to_address"]
    message["Subject"] = row["subject"]
    message["Date"] = format_datetime(row["created_at"].astimezone(UTC))
    # Derived from the row, so a retried message keeps its identity and receivers can drop copies.
    stamp = int(row["created_at"].timestamp())
    message["Message-ID"] = f"<kippu.{row['id']}.{stamp}@{_mail_domain(settings)}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message["X-Kippu-Kind"] = row["kind"]
    # base64 keeps Japanese text intact through relays that do not speak 8BITMIME.
    message.set_content(row["body"], charset="utf-8", cte="base64")
    return message


def _mail_domain(settings: Settings) -> str:
    address = parseaddr(settings.mail_from)[1]
    try:
        return Address(addr_spec=address).domain or "kippu.localhost"
    except (ValueError, IndexError):
        return "kippu.localhost"


def _write_to_log(message: EmailMessage) -> None:
    log.info(
        "mail (no SMTP_HOST set, not sent)\nTo: %s\nSubject: %s\n\n%s",
        message["To"], message["Subject"], message.get_content(),
    )


class _SmtpTransport:
    """One SMTP connection for a batch, opened on first use and reopened after it drops.

    If the server cannot be reached (or refuses our login), the rest of the batch is not tried
    again one by one: each message records the same error and waits for its retry.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: aiosmtplib.SMTP | None = None
        self.unreachable: Exception | None = None

    async def send(self, message: EmailMessage) -> None:
        if self.unreachable is not None:
            raise self.unreachable
        if self.client is None or not self.client.is_connected:
            await self._connect()
        try:
            await self.client.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            if all(refusal.code >= 500 for refusal in exc.recipients):
                raise PermanentFailure(_describe(exc)) from exc
            raise
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            # Refusals of this message; a refused sender or login is our set-up, so it is retried.
            if exc.code >= 500:
                raise PermanentFailure(_describe(exc)) from exc
            raise

    async def _connect(self) -> None:
        s = self.settings
        self.client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            password=s.smtp_password or None,
            use_tls=s.smtp_use_tls,
            start_tls=s.smtp_starttls and not s.smtp_use_tls,
            timeout=s.smtp_timeout_seconds,
        )
        try:
            await self.client.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            self.unreachable = exc
            raise

    async def close(self) -> None:
        if self.client is not None and self.client.is_connected:
            try:
                await self.client.quit()
            except aiosmtplib.SMTPException:
                self.client.close()


def _describe(exc: aiosmtplib.SMTPException) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
    return f"{getattr(exc, 'code', '')} {exc.message}".strip()
