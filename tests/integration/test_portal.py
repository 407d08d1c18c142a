"""The customer portal: its pages, filing a request through the form, the request page and its
thread, and that one company never reaches another's requests or files."""

from __future__ import annotations

import re

import pytest

from app.tickets.attachments import Upload
from app.tickets.services import filing, reading, thread, workflow
from app.tickets.tables import Attachment, Ticket, TicketMessage
from tests.factories import caller, csrf, make_custom_field, make_support_world, sign_in


@pytest.fixture
async def world():
    return await make_support_world()


async def file(world, who=None, subject="プリンターに接続できません", **extra):
    return await filing.create_ticket(
        caller(who or world.customer_a), subject=subject, body="昨日から事務所のプリンターに印刷できません。",
        request_type_code="general", **extra,
    )


def redirect_target(response) -> str:
    assert response.status_code in (301, 302, 303), response.text
    return response.headers["location"]


async def ticket_count() -> int:
    return await Ticket.count()


# ---------------------------------------------------------------------------------------- pages


async def test_every_portal_page_shows_the_company_and_the_menu(client, world):
    ticket = await file(world)
    await sign_in(client, world.customer_a)
    for path in ("/portal", "/portal/tickets/new", "/portal/tickets", f"/portal/tickets/{ticket.id}"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert "株式会社アルファ" in page.text, path
        for link in ('href="/portal"', 'href="/portal/tickets/new"', 'href="/portal/tickets"', 'href="/account"'):
            assert link in page.text, (path, link)
        assert 'action="/logout"' in page.text


async def test_home_shows_my_open_requests_and_the_companys_recent_ones(client, world):
    mine = await file(world, subject="メールが送信できない")
    colleagues = await file(world, who=world.customer_a2, subject="請求書の宛名変更")
    other_company = await file(world, who=world.customer_b, subject="ベータ社の件")
    await sign_in(client, world.customer_a)
    page = (await client.get("/portal")).text
    my_section = page.split('id="my-open"')[1].split('id="recent"')[0]
    recent_section = page.split('id="recent"')[1]
    assert mine.number in my_section and colleagues.number not in my_section
    assert recent_section.index(colleagues.number) < recent_section.index(mine.number)  # newest first
    assert other_company.number not in page and "ベータ社の件" not in page


async def test_the_portal_is_japanese_first_and_english_for_english_users(client, world):
    await sign_in(client, world.customer_a)
    assert "新規お問い合わせ" in (await client.get("/portal")).text
    from app.accounts.tables import User

    await User.update({User.locale: "en"}).where(User.id == world.customer_a.id)
    page = (await client.get("/portal/tickets/new")).text
    assert "New request" in page and "General question" in page


async def test_staff_are_not_shown_the_portal(client, world):
    await sign_in(client, world.agent)
    assert (await client.get("/portal")).status_code == 403


async def test_the_portal_asks_a_visitor_to_sign_in(client, world):
    response = await client.get("/portal/tickets")
    assert redirect_target(response).startswith("/login")


# ---------------------------------------------------------------------------------------- filing


async def test_filing_through_the_form_creates_the_request_with_its_files(client, world):
    await make_custom_field("site", "choice", choices=["本社", "支店"], label_ja="拠点")
    await make_custom_field("internal_code", visible_to_customers=False, label_ja="社内コード")
    await sign_in(client, world.customer_a)
    form = (await client.get("/portal/tickets/new")).text
    assert "一般的な質問" in form and "拠点" in form and "社内コード" not in form
    assert "10 MB" in form  # the limits are shown

    response = await client.post(
        "/portal/tickets",
        data={**csrf(client), "subject": "VPNに接続できない", "body": "自宅から接続できません。", "request_type": "general",
              "priority": "urgent", "category": "incident", "custom_fields.site": "支店"},
        files=[("attachments", ("エラー画面.png", b"\x89PNG fake image", "image/png")),
               ("attachments", ("", b"", "application/octet-stream"))],  # an empty file input
    )
    location = redirect_target(response)
    ticket_id = int(location.rsplit("/", 1)[1])
    detail = await reading.get_ticket(caller(world.customer_a), ticket_id)
    assert (detail.subject, detail.priority, detail.category) == ("VPNに接続できない", "urgent", "incident")
    assert detail.custom_fields == {"site": "支店"} and len(detail.attachments) == 1

    page = (await client.get(location)).text
    assert detail.number in page and "受け付けました" in page and "VPNに接続できない" in page
    assert "至急" in page and "支店" in page
    download = f"/portal/tickets/{ticket_id}/attachments/{detail.attachments[0].id}"
    assert download in page
    file_response = await client.get(download)
    assert file_response.status_code == 200 and file_response.content == b"\x89PNG fake image"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"subject": ""}, "subject", "件名"),
        ({"subject": "長" * 201}, "subject", "200"),
        ({"request_type": "no-such-type"}, "request_type", "no-such-type"),
        ({"body": "   "}, "body", "本文"),
    ],
)
async def test_a_refused_form_shows_the_error_next_to_the_field_and_keeps_what_was_typed(
    client, world, changes, field, message
):
    await sign_in(client, world.customer_a)
    values = {"subject": "ファイルサーバーが遅い", "body": "朝から開くのに時間がかかります。", "request_type": "general",
              "priority": "low", "category": "question", **changes}
    response = await client.post("/portal/tickets", data={**csrf(client), **values}, files={"attachments": ("", b"")})
    assert response.status_code == 422
    error = re.search(rf'<small class="error" id="{field}-error" role="alert">([^<]*)</small>', response.text)
    assert error and message in error.group(1)
    if field != "body":
        assert "朝から開くのに時間がかかります。" in response.text
    assert 'value="low" selected' in response.text
    assert await ticket_count() == 0


async def test_a_required_custom_field_is_asked_for_on_the_form(client, world):
    await make_custom_field("machine", "number", required=True, label_ja="台数")
    await sign_in(client, world.customer_a)
    base = {**csrf(client), "subject": "PCの入替", "body": "お見積りをお願いします。", "request_type": "general"}
    response = await client.post("/portal/tickets", data=base, files={"attachments": ("", b"")})
    assert response.status_code == 422 and "台数" in response.text
    response = await client.post("/portal/tickets", data={**base, "custom_fields.machine": "たくさん"},
                                 files={"attachments": ("", b"")})
    assert response.status_code == 422 and 'value="たくさん"' in response.text
    assert await ticket_count() == 0


async def test_forbidden_and_oversized_files_are_refused_on_the_form(client, world, settings):
    await sign_in(client, world.customer_a)
    base = {**csrf(client), "subject": "ログの確認", "body": "ログを添付します。", "request_type": "general"}
    response = await client.post("/portal/tickets", data=base, files={"attachments": ("tool.exe", b"MZ")})
    assert response.status_code == 422 and "tool.exe" in response.text and 'id="attachments-error"' in response.text
    big = b"x" * (settings.upload_max_bytes + 1)
    response = await client.post("/portal/tickets", data=base, files={"attachments": ("big.log", big)})
    assert response.status_code == 422 and "big.log" in response.text and "ログを添付します。" in response.text
    assert await ticket_count() == 0 and await Attachment.count() == 0


async def test_a_similar_open_request_is_pointed_out_while_typing_and_before_sending(client, world):
    existing = await file(world, subject="プリンターに接続できません")
    elsewhere = await file(world, who=world.customer_b, subject="プリンターに接続できない")
    await sign_in(client, world.customer_a)

    notice = await client.get("/portal/tickets/duplicates", params={"subject": "Re: プリンターに接続"},
                              headers={"HX-Request": "true"})
    assert notice.status_code == 200 and existing.number in notice.text and elsewhere.number not in notice.text
    assert "<html" not in notice.text
    assert existing.number not in (await client.get("/portal/tickets/duplicates", params={"subject": "請求書"})).text

    values = {"subject": "プリンターに接続できません", "body": "2台目も同じです。", "request_type": "general"}
    warned = await client.post("/portal/tickets", data={**csrf(client), **values},
                               files={"attachments": ("写真.jpg", b"jpeg")})
    assert warned.status_code == 409 and 'id="files-dropped"' in warned.text
    assert "同様の未完了のお問い合わせがあります" in warned.text and existing.number in warned.text
    assert 'name="confirm_duplicate"' in warned.text and "2台目も同じです。" in warned.text
    assert await ticket_count() == 2

    sent = await client.post("/portal/tickets", data={**csrf(client), **values, "confirm_duplicate": "1"},
                             files={"attachments": ("", b"")})
    redirect_target(sent)
    assert await ticket_count() == 3


# ---------------------------------------------------------------------------------------- a request


async def test_the_request_page_shows_the_public_thread_and_never_internal_notes(client, world, settings):
    ticket = await file(world)
    agent = caller(world.agent)
    await thread.add_message(agent, ticket.id, "社内メモ: 機種の保守期限切れ", internal=True,
                               attachments=[Upload.from_bytes("内部資料.txt", b"secret")])
    await thread.add_message(agent, ticket.id, "ドライバーを再インストールしてください。",
                               attachments=[Upload.from_bytes("手順書.pdf", b"%PDF-1.4 steps")])
    note_file = await Attachment.select().where(Attachment.filename == "内部資料.txt").first()
    await sign_in(client, world.customer_a)

    page = (await client.get(f"/portal/tickets/{ticket.id}")).text
    assert "ドライバーを再インストールしてください。" in page and "手順書.pdf" in page
    assert "社内メモ" not in page and "内部資料.txt" not in page
    assert ticket.number in page and "対応中" in page  # the staff reply opened it
    assert ticket.created_at.astimezone(settings.zone).strftime("%Y/%m/%d") in page
    response = await client.get(f"/portal/tickets/{ticket.id}/attachments/{note_file['id']}")
    assert response.status_code == 404


async def test_a_reply_with_a_file_is_added_to_the_thread(client, world):
    ticket = await file(world)
    await sign_in(client, world.customer_a)
    response = await client.post(
        f"/portal/tickets/{ticket.id}/messages", data={**csrf(client), "body": "スクリーンショットを添付します。"},
        files={"attachments": ("画面.png", b"png bytes")},
    )
    assert redirect_target(response) == f"/portal/tickets/{ticket.id}"
    page = (await client.get(f"/portal/tickets/{ticket.id}")).text
    assert "スクリーンショットを添付します。" in page and "画面.png" in page and "返信を送信しました" in page


async def test_an_empty_reply_is_refused_and_a_bad_file_keeps_the_text(client, world):
    ticket = await file(world)
    await sign_in(client, world.customer_a)
    empty = await client.post(f"/portal/tickets/{ticket.id}/messages", data={**csrf(client), "body": " "},
                              files={"attachments": ("", b"")})
    assert empty.status_code == 422 and 'id="body-error"' in empty.text
    bad = await client.post(f"/portal/tickets/{ticket.id}/messages", data={**csrf(client), "body": "添付です"},
                            files={"attachments": ("virus.exe", b"MZ")})
    assert bad.status_code == 422 and "virus.exe" in bad.text and ">添付です</textarea>" in bad.text
    assert await TicketMessage.count() == 0


async def test_replying_to_a_resolved_request_reopens_it(client, world):
    ticket = await file(world)
    await thread.add_message(caller(world.agent), ticket.id, "設定を変更しました。", then_status="resolved")
    await sign_in(client, world.customer_a)
    page = (await client.get(f"/portal/tickets/{ticket.id}")).text
    assert "返信すると対応を再開します" in page
    response = await client.post(f"/portal/tickets/{ticket.id}/messages",
                                 data={**csrf(client), "body": "まだ直っていません。", "was": "resolved"},
                                 files={"attachments": ("", b"")})
    redirect_target(response)
    assert (await reading.ticket_summary(caller(world.agent), ticket.id)).status == "open"
    page = (await client.get(f"/portal/tickets/{ticket.id}")).text
    assert "対応を再開しました" in page and "解決済み → 対応中" in page


async def test_replying_to_a_closed_request_starts_a_follow_up_linked_both_ways(client, world):
    ticket = await file(world)
    agent = caller(world.agent)
    await thread.add_message(agent, ticket.id, "対応しました。", then_status="resolved")
    await workflow.change_status(agent, ticket.id, "closed")
    await sign_in(client, world.customer_a)
    assert "関連する新しいお問い合わせとして受け付けます" in (await client.get(f"/portal/tickets/{ticket.id}")).text

    response = await client.post(f"/portal/tickets/{ticket.id}/messages",
                                 data={**csrf(client), "body": "再発しました。"}, files={"attachments": ("", b"")})
    location = redirect_target(response)
    follow_up_id = int(location.rsplit("/", 1)[1])
    assert follow_up_id != ticket.id
    follow_up = (await client.get(location)).text
    assert f'href="/portal/tickets/{ticket.id}"' in follow_up and ticket.number in follow_up
    assert "再発しました。" in follow_up
    original = (await client.get(f"/portal/tickets/{ticket.id}")).text
    assert f'href="/portal/tickets/{follow_up_id}"' in original


async def test_the_customer_marks_a_request_solved_with_the_button(client, world):
    ticket = await file(world)
    await thread.add_message(caller(world.agent), ticket.id, "再起動で直るはずです。")
    await sign_in(client, world.customer_a)
    page = (await client.get(f"/portal/tickets/{ticket.id}")).text
    assert 'name="status" value="resolved"' in page
    assert 'name="status" value="cancelled"' not in page  # work has started
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    response = await client.post(f"/portal/tickets/{ticket.id}/status",
                                 data={**csrf(client), "status": "resolved", "version": version})
    redirect_target(response)
    page = (await client.get(f"/portal/tickets/{ticket.id}")).text
    assert "解決済み" in page and "ステータス: 対応中 → 解決済み" in page
    assert 'name="status" value="resolved"' not in page


async def test_a_request_can_be_cancelled_only_before_work_starts(client, world):
    first = await file(world)
    second = await file(world, subject="別件")
    await thread.add_message(caller(world.agent), second.id, "確認します。")
    await sign_in(client, world.customer_a)
    page = (await client.get(f"/portal/tickets/{first.id}")).text
    assert 'name="status" value="cancelled"' in page
    cancelled = await client.post(f"/portal/tickets/{first.id}/status", data={**csrf(client), "status": "cancelled"})
    redirect_target(cancelled)
    page = (await client.get(f"/portal/tickets/{first.id}")).text
    assert "取り消しました" in page and "改めてお問い合わせください" in page and 'name="body"' not in page

    refused = await client.post(f"/portal/tickets/{second.id}/status", data={**csrf(client), "status": "cancelled"})
    assert refused.status_code == 409 and "取り消せません" in refused.text
    assert (await reading.ticket_summary(caller(world.agent), second.id)).status == "open"


async def test_a_status_change_on_a_stale_page_is_refused_with_a_message(client, world):
    ticket = await file(world)
    await sign_in(client, world.customer_a)
    page = (await client.get(f"/portal/tickets/{ticket.id}")).text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    await thread.add_message(caller(world.agent), ticket.id, "確認中です。")
    response = await client.post(f"/portal/tickets/{ticket.id}/status",
                                 data={**csrf(client), "status": "cancelled", "version": version})
    assert response.status_code == 409 and 'role="alert"' in response.text
    assert (await reading.ticket_summary(caller(world.agent), ticket.id)).status == "open"


# ---------------------------------------------------------------------------------------- tenancy


async def test_a_customer_cannot_reach_another_companys_request_in_any_way(client, world):
    theirs = await filing.create_ticket(
        caller(world.customer_b), subject="ベータ社のサーバー障害", body="至急お願いします。", request_type_code="general",
        attachments=[Upload.from_bytes("構成図.pdf", b"%PDF beta")],
    )
    their_file = (await Attachment.select().first())["id"]
    mine = await file(world)
    await sign_in(client, world.customer_a)

    page = await client.get(f"/portal/tickets/{theirs.id}")
    assert page.status_code == 404 and "ベータ社" not in page.text
    reply = await client.post(f"/portal/tickets/{theirs.id}/messages", data={**csrf(client), "body": "見えますか"},
                              files={"attachments": ("a.txt", b"hello")})
    assert reply.status_code == 404
    status = await client.post(f"/portal/tickets/{theirs.id}/status", data={**csrf(client), "status": "cancelled"})
    assert status.status_code == 404
    assert (await client.get(f"/portal/tickets/{theirs.id}/attachments/{their_file}")).status_code == 404
    assert (await client.get(f"/portal/tickets/{mine.id}/attachments/{their_file}")).status_code == 404
    assert (await client.get("/portal/tickets/999999")).status_code == 404

    assert await TicketMessage.count() == 0 and await Attachment.count() == 1
    assert (await reading.ticket_summary(caller(world.agent), theirs.id)).status == "new"
    history = (await client.get("/portal/tickets", params={"q": "ベータ"})).text
    assert theirs.number not in history
