"""The console's request page: take, assign, status, reclassify, reply, notes, files, conflicts."""

from __future__ import annotations

import re

import pytest

from app.tickets.services import filing, points, reading, workflow
from app.tickets.tables import Attachment, Ticket, TicketEvent, TicketMessage
from tests.factories import caller, csrf, make_custom_field, make_department, make_support_world, sign_in


@pytest.fixture
async def world():
    return await make_support_world()


@pytest.fixture
async def ticket(world):
    return await filing.create_ticket(
        caller(world.customer_a), subject="プリンターに接続できません", body="昨日から印刷できません。\n至急お願いします。",
        request_type_code="general",
    )


async def current(ticket_id: int) -> dict:
    return await Ticket.select().where(Ticket.id == ticket_id).first()


def seen_version(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


async def open_page(client, ticket) -> str:
    response = await client.get(f"/console/tickets/{ticket.id}")
    assert response.status_code == 200, response.text
    return response.text


async def test_the_request_page_shows_the_request_its_holder_and_actions(client, world, ticket):
    await workflow.assign(caller(world.agent), ticket.id, world.agent2.id, version=1)
    await sign_in(client, world.agent)
    html = await open_page(client, ticket)
    assert ticket.number in html and "プリンターに接続できません" in html
    assert "株式会社アルファ" in html and "青木 一郎" in html
    holder = re.search(r'id="ticket-assignee".*?</p>', html, re.S).group(0)
    assert "鈴木 担当" in holder
    assert re.search(r'id="ticket-version">2<', html)
    assert 'id="take"' in html and "鈴木 担当さんから引き継ぐ" in html
    assert '<form id="reply"' in html and 'name="body"' in html
    # Only the steps the status machine allows from "new" are offered.
    assert set(re.findall(r'name="status" value="(\w+)" id="status-', html)) == {"open", "cancelled"}
    assert "担当者: （なし） → 鈴木 担当" in html


async def test_an_agent_takes_a_request_through_the_form(client, world, ticket):
    await sign_in(client, world.agent)
    html = await open_page(client, ticket)
    response = await client.post(
        f"/console/tickets/{ticket.id}/take", data={"version": seen_version(html), **csrf(client)}
    )
    assert response.status_code == 303 and response.headers["location"] == f"/console/tickets/{ticket.id}"
    assert (await current(ticket.id))["assignee"] == world.agent.id
    html = await open_page(client, ticket)
    assert "このお問い合わせの担当者になりました。" in html
    assert 'id="take"' not in html
    assert "あなた (佐藤 担当)" in re.search(r'id="ticket-assignee".*?</p>', html, re.S).group(0)


async def test_an_agent_assigns_a_request_to_a_colleague_and_back_to_nobody(client, world, ticket):
    await sign_in(client, world.agent)
    html = await open_page(client, ticket)
    await client.post(f"/console/tickets/{ticket.id}/assign",
                      data={"assignee": str(world.agent2.id), "version": seen_version(html), **csrf(client)})
    assert (await current(ticket.id))["assignee"] == world.agent2.id
    html = await open_page(client, ticket)
    await client.post(f"/console/tickets/{ticket.id}/assign",
                      data={"assignee": "", "version": seen_version(html), **csrf(client)})
    assert (await current(ticket.id))["assignee"] is None


async def test_assigning_to_a_customer_is_refused_with_a_message(client, world, ticket):
    await sign_in(client, world.agent)
    response = await client.post(f"/console/tickets/{ticket.id}/assign",
                                 data={"assignee": str(world.customer_a.id), "version": "1", **csrf(client)})
    assert response.status_code == 422
    assert "担当者" in re.search(r'id="form-error".*?</p>', response.text, re.S).group(0)
    assert (await current(ticket.id))["assignee"] is None


async def test_an_agent_changes_the_status_through_the_form(client, world, ticket):
    await sign_in(client, world.agent)
    html = await open_page(client, ticket)
    response = await client.post(f"/console/tickets/{ticket.id}/status",
                                 data={"status": "open", "version": seen_version(html), **csrf(client)})
    assert response.status_code == 303
    assert (await current(ticket.id))["status"] == "open"
    html = await open_page(client, ticket)
    assert "ステータスを「対応中」に変更しました。" in html
    assert set(re.findall(r'name="status" value="(\w+)" id="status-', html)) == {"waiting", "resolved", "cancelled"}
    assert "ステータス: 新規 → 対応中" in re.search(r'id="history".*?</section>', html, re.S).group(0)


async def test_a_status_the_machine_does_not_allow_is_explained_not_a_crash(client, world, ticket):
    await sign_in(client, world.agent)
    response = await client.post(f"/console/tickets/{ticket.id}/status",
                                 data={"status": "closed", "version": "1", **csrf(client)})
    assert response.status_code == 409
    assert "「新規」から「完了」には変更できません。" in response.text
    assert (await current(ticket.id))["status"] == "new"


async def test_an_agent_answers_with_time_spent_and_waits_on_the_customer(client, world, ticket):
    await sign_in(client, world.agent)
    html = await open_page(client, ticket)
    response = await client.post(
        f"/console/tickets/{ticket.id}/messages",
        data={"body": "ドライバーを再インストールしてください。", "minutes_spent": "25", "then_status": "waiting",
              "version": seen_version(html), **csrf(client)},
    )
    assert response.status_code == 303
    row = await current(ticket.id)
    assert row["status"] == "waiting" and row["first_responded_at"] is not None
    message = await TicketMessage.select().where(TicketMessage.ticket == ticket.id).first()
    assert message["internal"] is False and message["minutes_spent"] == 25 and message["author"] == world.agent.id
    html = await open_page(client, ticket)
    assert "返信を送信しました。" in html
    public = re.search(rf'<article class="message public staff"\s+id="message-{message["id"]}".*?</article>', html, re.S)
    assert public and "ドライバーを再インストールしてください。" in public.group(0) and "25分" in public.group(0)
    assert re.search(r'id="minutes-total">25分<', html)


async def test_an_internal_note_is_marked_and_hidden_from_the_customer(client, world, ticket):
    await sign_in(client, world.agent)
    html = await open_page(client, ticket)
    await client.post(
        f"/console/tickets/{ticket.id}/messages",
        data={"body": "前回も同じ症状。ドライバーの版を確認。", "internal": "1", "minutes_spent": "5",
              "version": seen_version(html), **csrf(client)},
    )
    message = await TicketMessage.select().where(TicketMessage.ticket == ticket.id).first()
    assert message["internal"] is True
    row = await current(ticket.id)
    assert row["status"] == "new" and row["first_responded_at"] is None  # a note is not an answer
    html = await open_page(client, ticket)
    note = re.search(rf'<article class="message internal note staff"\s+id="message-{message["id"]}"\s+data-internal="1">.*?</article>',
                     html, re.S)
    assert note and "社内メモ" in note.group(0) and "前回も同じ症状" in note.group(0)
    customer_view = await reading.get_ticket(caller(world.customer_a), ticket.id)
    assert customer_view.messages == ()


async def test_a_change_on_a_stale_view_is_refused_and_changes_nothing(client, world, ticket):
    await sign_in(client, world.agent)
    html = await open_page(client, ticket)
    stale = seen_version(html)
    # Meanwhile a colleague takes the request.
    await workflow.take(caller(world.agent2), ticket.id, version=int(stale))
    before = await current(ticket.id)
    events_before = await TicketEvent.count().where(TicketEvent.ticket == ticket.id)

    attempts = [
        ("take", {}),
        ("assign", {"assignee": str(world.agent.id)}),
        ("status", {"status": "open"}),
        ("fields", {"priority": "urgent", "category": "incident", "request_type": "general", "department": ""}),
        ("messages", {"body": "確認しました。対応します。", "minutes_spent": "10"}),
    ]
    for action, fields in attempts:
        response = await client.post(f"/console/tickets/{ticket.id}/{action}",
                                     data={**fields, "version": stale, **csrf(client)})
        assert response.status_code == 409, action
        error = re.search(r'id="form-error".*?</p>', response.text, re.S).group(0)
        assert "開いた後に他の人によって変更されています" in error, action
        # The page is reloaded: it shows the colleague as holder and the current version.
        assert "鈴木 担当" in re.search(r'id="ticket-assignee".*?</p>', response.text, re.S).group(0)
        assert seen_version(response.text) == str(before["version"])

    assert await current(ticket.id) == before
    assert await TicketEvent.count().where(TicketEvent.ticket == ticket.id) == events_before
    assert await TicketMessage.count().where(TicketMessage.ticket == ticket.id) == 0
    # What the agent typed is kept, so it can be sent again after reading the changes.
    assert "確認しました。対応します。" in response.text


async def test_an_agent_reclassifies_a_request(client, world, ticket):
    other = await make_department("ネットワーク部")
    # Urgent costs 1 point more: within the approval limit the customer admin set, so it applies now.
    await points.set_approval_limit(caller(world.customer_a2), 1)
    await sign_in(client, world.agent)
    html = await open_page(client, ticket)
    response = await client.post(
        f"/console/tickets/{ticket.id}/fields",
        data={"priority": "urgent", "category": "incident", "request_type": "general", "department": str(other.id),
              "version": seen_version(html), **csrf(client)},
    )
    assert response.status_code == 303
    row = await current(ticket.id)
    assert (row["priority"], row["category"], row["department"]) == ("urgent", "incident", other.id)
    history = re.search(r'id="history".*?</section>', await open_page(client, ticket), re.S).group(0)
    assert "優先度: 通常 → 至急" in history and "部署: （なし） → ネットワーク部" in history


async def test_custom_fields_are_saved_and_validated(client, world, ticket):
    await make_custom_field("site", "text", label_ja="設置場所")
    await make_custom_field("units", "number", label_ja="台数", visible_to_customers=False)
    await sign_in(client, world.agent)
    html = await open_page(client, ticket)
    assert 'name="cf.site"' in html and 'name="cf.units"' in html
    response = await client.post(f"/console/tickets/{ticket.id}/custom-fields",
                                 data={"cf.site": "本社3階", "cf.units": "多数", "version": seen_version(html), **csrf(client)})
    assert response.status_code == 422 and "台数は数値で入力してください。" in response.text
    assert (await current(ticket.id))["version"] == 1
    response = await client.post(f"/console/tickets/{ticket.id}/custom-fields",
                                 data={"cf.site": "本社3階", "cf.units": "3", "version": seen_version(html), **csrf(client)})
    assert response.status_code == 303
    detail = await reading.get_ticket(caller(world.agent), ticket.id)
    assert detail.custom_fields == {"site": "本社3階", "units": 3}


async def test_a_reply_with_a_file_can_be_downloaded_by_staff_only_through_the_console(client, world, ticket):
    await sign_in(client, world.agent)
    html = await open_page(client, ticket)
    response = await client.post(
        f"/console/tickets/{ticket.id}/messages",
        data={"body": "ログを添付します。", "internal": "1", "version": seen_version(html), **csrf(client)},
        files=[("attachments", ("printer.log", b"error 0x42\n", "text/plain")),
               ("attachments", ("", b"", "application/octet-stream"))],
    )
    assert response.status_code == 303, response.text
    attachment = await Attachment.select().where(Attachment.ticket == ticket.id).first()
    assert attachment["filename"] == "printer.log"
    html = await open_page(client, ticket)
    link = f"/console/tickets/{ticket.id}/attachments/{attachment['id']}"
    assert link in html
    download = await client.get(link)
    assert download.status_code == 200 and download.content == b"error 0x42\n"
    assert "attachment" in download.headers["content-disposition"]
    assert (await client.get(f"/console/tickets/{ticket.id + 1000}/attachments/{attachment['id']}")).status_code == 404

    await client.post("/logout", data=csrf(client))
    await sign_in(client, world.customer_a)
    assert (await client.get(link)).status_code == 403


async def test_a_file_of_a_forbidden_type_is_refused_and_the_reply_kept(client, world, ticket):
    await sign_in(client, world.agent)
    response = await client.post(
        f"/console/tickets/{ticket.id}/messages",
        data={"body": "実行してください。", "version": "1", **csrf(client)},
        files=[("attachments", ("fix.exe", b"MZ", "application/octet-stream"))],
    )
    assert response.status_code == 422
    assert "fix.exe" in re.search(r'id="form-error".*?</p>', response.text, re.S).group(0)
    assert "実行してください。" in response.text
    assert await TicketMessage.count().where(TicketMessage.ticket == ticket.id) == 0


async def test_bad_form_values_are_explained_not_a_crash(client, world, ticket):
    await sign_in(client, world.agent)
    for action, fields in [
        ("messages", {"body": "", "version": "1"}),
        ("messages", {"body": "了解です", "minutes_spent": "-5", "version": "1"}),
        ("take", {"version": "abc"}),
        ("fields", {"priority": "sometime", "version": "1"}),
        ("assign", {"assignee": "someone", "version": "1"}),
    ]:
        response = await client.post(f"/console/tickets/{ticket.id}/{action}", data={**fields, **csrf(client)})
        assert response.status_code == 422, (action, fields)
        assert 'id="form-error"' in response.text
    assert (await current(ticket.id))["version"] == 1


async def test_a_request_that_does_not_exist_is_a_404_page(client, world):
    await sign_in(client, world.agent)
    assert (await client.get("/console/tickets/999999")).status_code == 404
    response = await client.post("/console/tickets/999999/take", data={"version": "1", **csrf(client)})
    assert response.status_code == 404
