"""A request's life told by mail: filed, answered, noted, resolved — through the ticket service."""

from __future__ import annotations

from app.accounts.tables import OrganizationRouting
from app.notifications.sender import send_due_mail
from app.tickets.services import filing, thread, workflow
from tests.factories import caller, give_points, make_department, make_organization, make_request_type, make_user
from tests.integration.mail_catcher import smtp_server  # noqa: F401 (fixture)


async def test_a_request_and_its_answers_reach_the_right_mailboxes(smtp_server):
    network = await make_department("ネットワーク")
    agent = await make_user("agent", department=network, email="sato@vendor.jp", name="佐藤 花子")
    await make_user("agent", department=await make_department("会計"), email="kato@vendor.jp")
    org = await make_organization("株式会社みどり商事")
    await give_points(org)
    await OrganizationRouting(organization=org.id, department=network.id).save()
    customer = await make_user("customer_member", organization=org, email="yamada@midori.co.jp", name="山田 太郎")
    await make_request_type()
    inbox = smtp_server.inbox

    ticket = await filing.create_ticket(
        caller(customer), subject="VPNに接続できない", body="本日朝から接続できません。", request_type_code="general",
    )
    await send_due_mail()
    assert [m.recipients for m in inbox.messages] == [["sato@vendor.jp"]]
    assert inbox.messages[-1].subject == f"[{ticket.number}] 新しいお問い合わせ: VPNに接続できない"

    await thread.add_message(caller(agent), ticket.id, "ルーターを再起動してください。")
    await send_due_mail()
    assert [m.recipients for m in inbox.messages[1:]] == [["yamada@midori.co.jp"]]
    assert "ルーターを再起動してください。" in inbox.messages[-1].body

    await thread.add_message(caller(agent), ticket.id, "保守契約を確認すること", internal=True)
    await send_due_mail()
    assert len(inbox.messages) == 2

    await workflow.change_status(caller(agent), ticket.id, "resolved")
    await send_due_mail()
    assert [m.recipients for m in inbox.messages[2:]] == [["yamada@midori.co.jp"]]
    assert inbox.messages[-1].subject == f"[{ticket.number}] ステータスが「解決済み」になりました: VPNに接続できない"
