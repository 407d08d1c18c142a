"""Delivering the outbox to a real SMTP server on loopback: content, retries, failures, workers."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from app.notifications.sender import SendResult, retry_delay, send_all_due_mail, send_due_mail
from app.notifications.tables import OutboxMessage
from tests.integration.mail_catcher import free_port, smtp_server  # noqa: F401 (fixture)

SUBJECT = "[2026-000042] 返信がありました: 請求書の宛名を変更したい"
BODY = "山田 様\n\nお問い合わせに返信がありました。\n\nhttps://kippu.example.jp/portal/tickets/42\n"


async def queue_mail(to: str = "yamada@example.jp", subject: str = SUBJECT, body: str = BODY,
                     send_after: datetime | None = None) -> OutboxMessage:
    now = datetime.now(UTC)
    row = OutboxMessage(
        to_address=to, subject=subject, body=body, kind="public_reply",
        send_after=send_after or now, created_at=now,
    )
    await row.save()
    return row


async def outbox(row: OutboxMessage) -> dict:
    return await OutboxMessage.select().where(OutboxMessage.id == row.id).first()


async def test_due_mail_arrives_with_its_japanese_subject_and_body(smtp_server, settings):
    row = await queue_mail()

    result = await send_due_mail()

    assert result == SendResult(sent=1)
    [mail] = smtp_server.inbox.messages
    assert mail.recipients == ["yamada@example.jp"]
    assert mail.subject == SUBJECT
    assert mail.body.replace("\r\n", "\n") == BODY
    assert mail.message["To"] == "yamada@example.jp"
    assert mail.message["From"] == settings.mail_from
    assert mail.message["Message-ID"].startswith(f"<kippu.{row.id}.")
    assert mail.message["Date"] is not None
    assert mail.message.get_content_charset() == "utf-8"
    # Headers and body travel as 7-bit ASCII (RFC 2047 subject, base64 body): any relay passes them.
    assert mail.raw.isascii() and b"=?utf-8?" in mail.raw.split(b"\r\n\r\n")[0]
    stored = await outbox(row)
    assert stored["status"] == "sent" and stored["sent_at"] is not None and stored["attempts"] == 0


async def test_running_the_sender_again_sends_nothing_more(smtp_server):
    await queue_mail()
    await send_due_mail()

    again = await send_due_mail()

    assert again == SendResult()
    assert len(smtp_server.inbox.messages) == 1


async def test_mail_scheduled_for_later_waits_until_its_time(smtp_server):
    later = datetime.now(UTC) + timedelta(hours=1)
    await queue_mail(send_after=later)

    assert await send_due_mail() == SendResult()
    assert await send_due_mail(now=later) == SendResult(sent=1)
    assert len(smtp_server.inbox.messages) == 1


async def test_a_temporary_refusal_is_retried_after_a_pause(smtp_server):
    smtp_server.inbox.refuse = 1  # 451 once, then accept
    row = await queue_mail()
    now = datetime.now(UTC)

    first = await send_due_mail(now=now)

    assert first == SendResult(retried=1)
    assert smtp_server.inbox.messages == []
    stored = await outbox(row)
    assert stored["status"] == "pending" and stored["attempts"] == 1
    assert "451" in stored["last_error"]
    assert stored["send_after"] == now + retry_delay(1)

    assert await send_due_mail(now=now + timedelta(seconds=30)) == SendResult()
    assert await send_due_mail(now=now + retry_delay(1)) == SendResult(sent=1)
    assert [m.recipients for m in smtp_server.inbox.messages] == [["yamada@example.jp"]]
    assert (await outbox(row))["status"] == "sent"


async def test_retries_wait_longer_each_time():
    assert [retry_delay(n) for n in (1, 2, 3)] == [
        timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=25)
    ]
    assert retry_delay(10) == timedelta(hours=6)


async def test_mail_is_given_up_after_the_last_attempt(smtp_server, settings, monkeypatch):
    monkeypatch.setattr(settings, "mail_max_attempts", 3)
    smtp_server.inbox.refuse = 100
    row = await queue_mail()
    now = datetime.now(UTC)

    results = []
    for _ in range(3):
        results.append(await send_due_mail(now=now))
        now = (await outbox(row))["send_after"]

    assert results == [SendResult(retried=1), SendResult(retried=1), SendResult(failed=1)]
    stored = await outbox(row)
    assert stored["status"] == "failed" and stored["attempts"] == 3 and "451" in stored["last_error"]
    assert await send_due_mail(now=now + timedelta(days=1)) == SendResult()
    assert smtp_server.inbox.messages == []


async def test_a_permanent_refusal_fails_at_once(smtp_server):
    smtp_server.inbox.refuse = 1
    smtp_server.inbox.refusal = "550 5.1.1 No such mailbox"
    row = await queue_mail()

    assert await send_due_mail() == SendResult(failed=1)
    stored = await outbox(row)
    assert stored["status"] == "failed" and stored["attempts"] == 1 and "550" in stored["last_error"]


async def test_an_unreachable_mail_server_is_retried_later(settings, monkeypatch):
    monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
    monkeypatch.setattr(settings, "smtp_port", free_port())  # nothing listens there
    rows = [await queue_mail(to=f"customer{n}@example.jp") for n in range(3)]

    assert await send_due_mail() == SendResult(retried=3)
    for row in rows:
        stored = await outbox(row)
        assert stored["status"] == "pending" and stored["attempts"] == 1 and stored["last_error"]


async def test_one_refused_message_does_not_hold_back_the_others(smtp_server):
    smtp_server.inbox.refuse = 1
    first = await queue_mail(to="first@example.jp")
    await queue_mail(to="second@example.jp")
    await queue_mail(to="third@example.jp")

    assert await send_due_mail() == SendResult(sent=2, retried=1)
    assert sorted(r for m in smtp_server.inbox.messages for r in m.recipients) == [
        "second@example.jp", "third@example.jp"
    ]
    assert (await outbox(first))["status"] == "pending"


async def test_two_workers_at_once_never_send_a_message_twice(smtp_server):
    for n in range(30):
        await queue_mail(to=f"customer{n}@example.jp")

    async def worker() -> int:
        sent = 0
        while result := await send_due_mail(limit=4):
            sent += result.sent
        return sent

    # Two senders (as two app workers or a cron run beside the app would be), not a transaction.
    sent = await asyncio.gather(worker(), worker())

    assert sum(sent) == 30
    recipients = [r for m in smtp_server.inbox.messages for r in m.recipients]
    assert sorted(recipients) == sorted(f"customer{n}@example.jp" for n in range(30))
    assert await OutboxMessage.count().where(OutboxMessage.status == "sent") == 30


async def test_everything_due_is_sent_in_batches(smtp_server):
    for n in range(7):
        await queue_mail(to=f"customer{n}@example.jp")

    assert await send_all_due_mail(batch=3) == SendResult(sent=7)
    assert len(smtp_server.inbox.messages) == 7


async def test_without_a_mail_server_mail_is_written_to_the_log(settings):
    assert not settings.smtp_host
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("kippu.mail")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        row = await queue_mail()
        assert await send_due_mail() == SendResult(sent=1)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

    assert any("yamada@example.jp" in line and SUBJECT in line and "お問い合わせに返信" in line for line in lines)
    assert (await outbox(row))["status"] == "sent"
