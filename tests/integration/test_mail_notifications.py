"""Who gets which mail: outbox rows written with the change that causes them, then delivered."""

from __future__ import annotations

import pytest

from app import db
from app.accounts.tables import User
from app.i18n import current_locale, set_locale
from app.notifications import services as notify
from app.notifications.sender import SendResult, send_due_mail
from app.notifications.tables import OutboxMessage
from app.tickets.tables import Ticket
from tests.factories import (
    make_department,
    make_message,
    make_organization,
    make_request_type,
    make_ticket,
    make_user,
    make_watcher,
)
from tests.integration.mail_catcher import smtp_server  # noqa: F401 (fixture)


async def mail_to(address: str) -> list[dict]:
    return await OutboxMessage.select().where(OutboxMessage.to_address == address).order_by(OutboxMessage.id)


async def all_recipients() -> list[str]:
    return sorted(row["to_address"] for row in await OutboxMessage.select(OutboxMessage.to_address))


@pytest.fixture
async def desk():
    """Two departments with agents, a customer company with two members, and a request type."""
    network = await make_department("ネットワーク")
    accounting = await make_department("会計システム")
    org = await make_organization("株式会社みどり商事")
    return {
        "network": network,
        "accounting": accounting,
        "org": org,
        "agent_ja": await make_user("agent", department=network, email="sato@vendor.jp", name="佐藤 花子"),
        "agent_en": await make_user("agent", department=network, email="smith@vendor.jp", name="John Smith", locale="en"),
        "other_agent": await make_user("agent", department=accounting, email="kato@vendor.jp", name="加藤 一郎"),
        "requester": await make_user("customer_member", organization=org, email="yamada@midori.co.jp", name="山田 太郎"),
        "colleague": await make_user("customer_admin", organization=org, email="suzuki@midori.co.jp", name="鈴木 次郎"),
        "type": await make_request_type("network", "ネットワーク障害", "Network trouble"),
    }


async def new_request(desk, **fields) -> Ticket:
    fields.setdefault("department", desk["network"])
    return await make_ticket(
        desk["org"], desk["requester"], desk["type"], subject="VPNに接続できない",
        body="本日朝から本社のVPNに接続できません。", **fields,
    )


async def mail_new_request(ticket: Ticket) -> None:
    """What filing does: read who is told, then write the mails with the request's number."""
    await notify.enqueue_ticket_created(await notify.ticket_created_mail(ticket.id), ticket.number)


async def test_a_new_request_is_mailed_to_the_agents_of_its_department(desk):
    ticket = await new_request(desk)

    async with db.write_transaction():
        await mail_new_request(ticket)

    assert await all_recipients() == ["sato@vendor.jp", "smith@vendor.jp"]
    [ja] = await mail_to("sato@vendor.jp")
    assert ja["subject"] == f"[{ticket.number}] 新しいお問い合わせ: VPNに接続できない"
    assert "株式会社みどり商事 / 山田 太郎" in ja["body"]
    assert "本日朝から本社のVPNに接続できません。" in ja["body"]
    assert "ネットワーク障害" in ja["body"] and "ステータス: 新規" in ja["body"]
    assert f"/console/tickets/{ticket.id}" in ja["body"]
    [en] = await mail_to("smith@vendor.jp")
    assert en["subject"] == f"[{ticket.number}] New request: VPNに接続できない"
    assert "Dear John Smith," in en["body"] and "Network trouble" in en["body"] and "Status: New" in en["body"]


async def test_a_request_without_department_goes_to_every_agent_but_not_inactive_ones(desk):
    gone = await make_user("agent", department=desk["network"], email="gone@vendor.jp")
    await User.update({User.is_active: False}).where(User.id == gone.id)
    ticket = await new_request(desk, department=None)

    await mail_new_request(ticket)

    assert await all_recipients() == ["kato@vendor.jp", "sato@vendor.jp", "smith@vendor.jp"]


async def test_a_public_reply_is_mailed_to_the_requester_and_watchers_but_not_its_author(desk):
    ticket = await new_request(desk, assignee=desk["agent_ja"], status="open")
    await make_watcher(ticket, desk["colleague"])
    reply = await make_message(ticket, desk["agent_ja"], body="ルーターを再起動していただけますか。")

    async with db.write_transaction():
        await notify.public_reply_added(ticket.id, reply.id)

    assert await all_recipients() == ["suzuki@midori.co.jp", "yamada@midori.co.jp"]
    [mail] = await mail_to("yamada@midori.co.jp")
    assert mail["subject"] == f"[{ticket.number}] 返信がありました: VPNに接続できない"
    assert "ルーターを再起動していただけますか。" in mail["body"]
    assert "佐藤 花子" in mail["body"]
    assert f"/portal/tickets/{ticket.id}" in mail["body"] and "/console/" not in mail["body"]


async def test_a_customer_reply_is_mailed_to_the_agent_holding_the_request(desk):
    ticket = await new_request(desk, assignee=desk["agent_en"], status="waiting")
    reply = await make_message(ticket, desk["requester"], body="再起動しましたが直りません。")

    await notify.public_reply_added(ticket.id, reply.id)

    assert await all_recipients() == ["smith@vendor.jp"]
    [mail] = await mail_to("smith@vendor.jp")
    assert mail["subject"] == f"[{ticket.number}] New reply: VPNに接続できない"
    assert "山田 太郎 of 株式会社みどり商事 has replied" in mail["body"]
    assert f"/console/tickets/{ticket.id}" in mail["body"]


async def test_an_internal_note_is_never_mailed(desk):
    ticket = await new_request(desk, assignee=desk["agent_ja"], status="open")
    await make_watcher(ticket, desk["colleague"])
    await make_watcher(ticket, desk["agent_en"])
    note = await make_message(ticket, desk["agent_ja"], body="顧客のルーターは保守対象外", internal=True)

    await notify.public_reply_added(ticket.id, note.id)

    assert await all_recipients() == []


async def test_a_watcher_from_another_company_is_not_told_about_the_reply(desk):
    stranger = await make_user("customer_member", organization=await make_organization(), email="x@other.jp")
    ticket = await new_request(desk, status="open")
    await make_watcher(ticket, stranger)
    reply = await make_message(ticket, desk["agent_ja"], body="確認します。")

    await notify.public_reply_added(ticket.id, reply.id)

    assert await all_recipients() == ["yamada@midori.co.jp"]


async def test_a_status_change_is_mailed_to_the_requester_with_both_status_names(desk):
    ticket = await new_request(desk, status="resolved")

    await notify.status_changed(ticket.id, "open", "resolved", actor_id=desk["agent_ja"].id)

    [mail] = await mail_to("yamada@midori.co.jp")
    assert await all_recipients() == ["yamada@midori.co.jp"]
    assert mail["subject"] == f"[{ticket.number}] ステータスが「解決済み」になりました: VPNに接続できない"
    assert "対応中 → 解決済み" in mail["body"]
    assert f"/portal/tickets/{ticket.id}" in mail["body"]


async def test_a_status_change_reaches_an_english_speaking_requester_in_english(desk):
    requester = await make_user("customer_member", organization=desk["org"], email="lee@midori.co.jp", locale="en")
    ticket = await make_ticket(desk["org"], requester, desk["type"], subject="Printer offline", status="waiting")

    await notify.status_changed(ticket.id, "open", "waiting", actor_id=desk["agent_ja"].id)

    [mail] = await mail_to("lee@midori.co.jp")
    assert mail["subject"] == f"[{ticket.number}] Status changed to Waiting on customer: Printer offline"
    assert "Open → Waiting on customer" in mail["body"]


async def test_the_requester_is_not_mailed_about_their_own_status_change(desk):
    ticket = await new_request(desk, status="cancelled")

    await notify.status_changed(ticket.id, "new", "cancelled", actor_id=desk["requester"].id)

    assert await all_recipients() == []


async def test_no_mail_is_left_behind_when_the_change_is_rolled_back(desk):
    ticket = await new_request(desk)

    with pytest.raises(RuntimeError):
        async with db.write_transaction():
            await mail_new_request(ticket)
            raise RuntimeError("the change failed after the mail was queued")

    assert await all_recipients() == []


async def test_writing_mail_in_another_language_leaves_the_callers_language_alone(desk):
    ticket = await new_request(desk)
    set_locale("en")
    try:
        await mail_new_request(ticket)  # one Japanese and one English recipient
        assert current_locale() == "en"
    finally:
        set_locale("ja")


async def test_a_new_request_reaches_the_agents_mailboxes(desk, smtp_server):
    ticket = await new_request(desk)
    await mail_new_request(ticket)

    assert await send_due_mail() == SendResult(sent=2)

    [mail] = smtp_server.inbox.to("sato@vendor.jp")
    assert mail.subject == f"[{ticket.number}] 新しいお問い合わせ: VPNに接続できない"
    assert "佐藤 花子 様" in mail.body and "本日朝から本社のVPNに接続できません。" in mail.body
    [english] = smtp_server.inbox.to("smith@vendor.jp")
    assert english.subject == f"[{ticket.number}] New request: VPNに接続できない"
