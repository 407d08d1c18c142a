"""Watching a request: a watcher gets the public replies by mail, never the internal notes; watching
is idempotent; another company's request cannot be watched (404, nothing changes)."""

from __future__ import annotations

import pytest

from app.errors import NotFound
from app.notifications.tables import OutboxMessage
from app.tickets.services import filing, history, thread, watchers
from app.tickets.tables import TicketEvent, TicketWatcher
from tests.factories import caller, csrf, make_support_world, sign_in


@pytest.fixture
async def world():
    w = await make_support_world()
    w.ticket = await filing.create_ticket(
        caller(w.customer_a), subject="プリンターが印刷できない", body="本社3階のプリンターです。",
        request_type_code=w.request_type.code,
    )
    return w


async def _watcher_rows(ticket_id: int) -> list[int]:
    return [r["user"] for r in await TicketWatcher.select(TicketWatcher.user).where(TicketWatcher.ticket == ticket_id)]


async def _watch_events(ticket_id: int) -> list[str]:
    rows = await TicketEvent.select(TicketEvent.kind).where(
        (TicketEvent.ticket == ticket_id) & TicketEvent.kind.is_in(list(history.WATCH_EVENT_KINDS))
    ).order_by(TicketEvent.id)
    return [r["kind"] for r in rows]


async def _mails_to(address: str, kind: str = "public_reply") -> list[dict]:
    return await OutboxMessage.select().where((OutboxMessage.to_address == address) & (OutboxMessage.kind == kind))


async def test_watching_twice_or_stopping_twice_changes_nothing_more(world):
    colleague, ticket_id = caller(world.customer_a2), world.ticket.id
    assert await watchers.watch(colleague, ticket_id) is True
    assert await watchers.watch(colleague, ticket_id) is False
    assert await _watcher_rows(ticket_id) == [world.customer_a2.id]
    assert await watchers.watchers(colleague, ticket_id) == [(world.customer_a2.id, "青木 二郎")]

    assert await watchers.unwatch(colleague, ticket_id) is True
    assert await watchers.unwatch(colleague, ticket_id) is False
    assert await _watcher_rows(ticket_id) == []
    assert await _watch_events(ticket_id) == ["watch_started", "watch_stopped"]


async def test_a_watcher_gets_the_public_reply_by_mail_but_not_the_internal_note(world):
    await watchers.watch(caller(world.customer_a2), world.ticket.id)
    await watchers.watch(caller(world.agent2), world.ticket.id)
    agent = caller(world.agent)

    await thread.add_message(agent, world.ticket.id, "社内メモ: トナー切れの可能性", internal=True)
    assert await _mails_to(world.customer_a2.email) == []
    assert await _mails_to(world.agent2.email) == []

    await thread.add_message(agent, world.ticket.id, "トナーを交換してください。")
    assert len(await _mails_to(world.customer_a2.email)) == 1
    assert len(await _mails_to(world.agent2.email)) == 1
    assert "社内メモ" not in (await _mails_to(world.customer_a2.email))[0]["body"]


async def test_a_watcher_who_stopped_gets_no_more_mail(world):
    colleague = caller(world.customer_a2)
    await watchers.watch(colleague, world.ticket.id)
    await watchers.unwatch(colleague, world.ticket.id)
    await thread.add_message(caller(world.agent), world.ticket.id, "トナーを交換してください。")
    assert await _mails_to(world.customer_a2.email) == []


async def test_customers_see_their_companys_watchers_and_staff_see_everyone(world):
    await watchers.watch(caller(world.customer_a2), world.ticket.id)
    await watchers.watch(caller(world.agent2), world.ticket.id)
    assert [w.name for w in await watchers.watchers(caller(world.customer_a), world.ticket.id)] == ["青木 二郎"]
    assert [w.name for w in await watchers.watchers(caller(world.agent), world.ticket.id)] == ["青木 二郎", "鈴木 担当"]


async def test_another_companys_customer_cannot_watch_or_see_watchers(world):
    await watchers.watch(caller(world.customer_a2), world.ticket.id)
    outsider = caller(world.customer_b)
    for attempt in (watchers.watch, watchers.unwatch, watchers.watchers):
        with pytest.raises(NotFound):
            await attempt(outsider, world.ticket.id)
    assert await _watcher_rows(world.ticket.id) == [world.customer_a2.id]


async def test_another_companys_customer_gets_404_from_the_watch_button_and_nothing_changes(world, client):
    await sign_in(client, world.customer_b)
    for action in ("watch", "unwatch"):
        response = await client.post(f"/portal/tickets/{world.ticket.id}/{action}", data=csrf(client))
        assert response.status_code == 404
    assert await _watcher_rows(world.ticket.id) == []
    assert await _watch_events(world.ticket.id) == []


async def test_a_customer_watches_from_the_portal_page_with_an_htmx_swap(world, client):
    await sign_in(client, world.customer_a2)
    page = await client.get(f"/portal/tickets/{world.ticket.id}")
    assert "ウォッチする" in page.text and "ウォッチしている人はいません" in page.text

    swapped = await client.post(f"/portal/tickets/{world.ticket.id}/watch", data=csrf(client),
                                headers={"HX-Request": "true"})
    assert swapped.status_code == 200
    assert 'id="watchers"' in swapped.text and "青木 二郎" in swapped.text and "ウォッチをやめる" in swapped.text
    assert "<html" not in swapped.text

    plain = await client.post(f"/portal/tickets/{world.ticket.id}/unwatch", data=csrf(client))
    assert plain.status_code in (302, 303)
    page = await client.get(f"/portal/tickets/{world.ticket.id}")
    assert "このお問い合わせのウォッチをやめました。" in page.text and "ウォッチする" in page.text
    assert await _watcher_rows(world.ticket.id) == []


async def test_an_agent_watches_from_the_console_and_the_history_says_so(world, client):
    await sign_in(client, world.agent2)
    swapped = await client.post(f"/console/tickets/{world.ticket.id}/watch", data=csrf(client),
                                headers={"HX-Request": "true"})
    assert swapped.status_code == 200 and "鈴木 担当" in swapped.text and "ウォッチをやめる" in swapped.text
    page = await client.get(f"/console/tickets/{world.ticket.id}")
    assert page.status_code == 200
    assert "鈴木 担当" in page.text and "ウォッチを開始しました" in page.text
    assert await _watcher_rows(world.ticket.id) == [world.agent2.id]


async def test_the_watch_button_needs_the_csrf_token(world, client):
    await sign_in(client, world.customer_a2)
    response = await client.post(f"/portal/tickets/{world.ticket.id}/watch")
    assert response.status_code == 403
    assert await _watcher_rows(world.ticket.id) == []
