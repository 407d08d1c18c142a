"""The auto-close job: resolved requests close by themselves after the configured days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.notifications.tables import OutboxMessage
from app.tickets.jobs import auto_close_resolved
from app.tickets.services import filing, reading, thread
from app.tickets.tables import Ticket
from tests.factories import caller, make_support_world


async def resolved_request(world, days_ago: float):
    ticket = await filing.create_ticket(
        caller(world.customer_a), subject="件名", body="本文", request_type_code="general"
    )
    await thread.add_message(caller(world.agent), ticket.id, "解決しました。", then_status="resolved")
    await Ticket.update({Ticket.resolved_at: datetime.now(UTC) - timedelta(days=days_ago)}).where(Ticket.id == ticket.id)
    return ticket


async def test_resolved_requests_close_after_the_configured_days_once(settings):
    world = await make_support_world()
    old = await resolved_request(world, settings.auto_close_after_days + 1)
    recent = await resolved_request(world, settings.auto_close_after_days - 1)
    open_one = await filing.create_ticket(caller(world.customer_a), subject="件名", body="本文", request_type_code="general")
    mails_before = await OutboxMessage.count()

    assert await auto_close_resolved() == 1
    assert await auto_close_resolved() == 0

    closed = await reading.get_ticket(caller(world.customer_a), old.id)
    assert closed.status == "closed" and closed.closed_at is not None
    last = closed.events[-1]
    assert (last.kind, last.actor_id, last.detail["reason"]) == ("status_changed", None, "auto_close")
    assert "自動" in last.text
    assert (await reading.ticket_summary(caller(world.agent), recent.id)).status == "resolved"
    assert (await reading.ticket_summary(caller(world.agent), open_one.id)).status == "new"
    assert await OutboxMessage.count() == mails_before + 1
    # Later, the recent one is due too.
    assert await auto_close_resolved(now=datetime.now(UTC) + timedelta(days=2)) == 1


async def test_a_reopened_request_is_not_closed(settings):
    world = await make_support_world()
    ticket = await resolved_request(world, settings.auto_close_after_days + 3)
    await thread.add_message(caller(world.customer_a), ticket.id, "まだ直っていません。")
    assert await auto_close_resolved() == 0
    assert (await reading.ticket_summary(caller(world.agent), ticket.id)).status == "open"
