"""Requests and points: filing holds the quote, resolving charges it, cancelling and waiving give it
back, re-quotes lower at once and rise with the customer's approval; the books always add up."""

from __future__ import annotations

import re

import pytest

from app.errors import IllegalTransition, InsufficientPoints, InvalidInput, NotAllowed, NotFound
from app.notifications.tables import OutboxMessage
from app.tickets.services import charges, classification, filing, points, reading, thread, workflow
from app.tickets.tables import PointChangeRequest, Ticket, TicketCounter
from billing import ledger
from billing.tables import LedgerEntry, PointHold
from billing.verify import verify
from tests.factories import (
    bearer,
    caller,
    csrf,
    give_points,
    make_organization,
    make_request_type,
    make_support_world,
    make_user,
    price_request_type,
    sign_in,
)


@pytest.fixture
async def world():
    world = await make_support_world()
    # general: 3 points, urgent +1; overage: 30 minutes included, 1 point per further 30 minutes.
    await price_request_type("general", "一般的な質問", "General question", points=3, urgent=1,
                             included_minutes=30, block_minutes=30, points_per_block=1)
    await make_request_type("account", "アカウント追加・削除", "Account changes", points=1)
    await price_request_type("general", "一般的な質問", "General question", points=3, urgent=1,
                             included_minutes=30, block_minutes=30, points_per_block=1)
    return world


async def available(organization) -> int:
    return (await ledger.balance(organization.id)).available


async def file(world, priority="normal", who=None, request_type="general"):
    return await filing.create_ticket(
        caller(who or world.customer_a), subject="メールが送信できません", body="本日朝から送信エラーになります。",
        request_type_code=request_type, priority=priority,
    )


async def resolve(world, ticket):
    await workflow.change_status(caller(world.agent), ticket.id, "open")
    await workflow.change_status(caller(world.agent), ticket.id, "resolved")


async def assert_books_clean():
    report = await verify()
    assert report.clean, [str(d) for d in report.differences]


async def test_filing_holds_exactly_the_quote(world):
    ticket = await file(world, priority="urgent")
    assert ticket.quoted_points == 4
    balance = await ledger.balance(world.org_a.id)
    assert (balance.available, balance.held) == (96, 4)
    story = await points.points_story(caller(world.customer_a), ticket.id)
    assert (story.quoted, story.held, story.captured, story.released) == (4, 4, 0, 0)
    await assert_books_clean()


async def test_customer_cannot_file_beyond_the_balance_and_nothing_is_left(world):
    poor = await make_organization("株式会社ちいさな")
    await give_points(poor, 2)
    member = await make_user("customer_member", organization=poor)
    entries_before = await LedgerEntry.count()
    with pytest.raises(InsufficientPoints) as refused:
        await file(world, who=member)
    assert (refused.value.extra["required"], refused.value.extra["available"]) == (3, 2)
    assert await Ticket.count() == 0
    assert await PointHold.count() == 0
    assert await LedgerEntry.count() == entries_before
    assert (await TicketCounter.select(TicketCounter.last_number)) in ([], [{"last_number": 0}])
    assert await available(poor) == 2
    await assert_books_clean()


async def test_the_api_answers_402_with_the_shortfall(client, world):
    poor = await make_organization()
    await give_points(poor, 1)
    member = await make_user("customer_member", organization=poor, locale="en")
    response = await client.post(
        "/api/v1/tickets", headers=await bearer(member),
        json={"subject": "Printer", "body": "It does not print.", "request_type": "general"},
    )
    assert response.status_code == 402
    body = response.json()
    assert (body["code"], body["required"], body["available"]) == ("insufficient_points", 3, 1)
    assert await Ticket.count() == 0


async def test_the_api_gives_the_real_quote_and_the_points_of_a_request(client, world):
    headers = await bearer(world.customer_a)
    response = await client.post(
        "/api/v1/tickets", headers=headers,
        json={"subject": "Printer", "body": "It does not print.", "request_type": "general", "priority": "urgent"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["quoted_points"] == 4
    detail = (await client.get(f"/api/v1/tickets/{response.json()['id']}", headers=headers)).json()
    assert detail["points"] == {
        "quoted": 4, "held": 4, "captured": 0, "released": 0, "waived": False, "pending_change": None,
    }


async def test_resolving_charges_the_held_points(world):
    ticket = await file(world)
    await workflow.change_status(caller(world.agent), ticket.id, "open")
    await workflow.change_status(caller(world.customer_a), ticket.id, "resolved")
    balance = await ledger.balance(world.org_a.id)
    assert (balance.available, balance.held) == (97, 0)
    story = await points.points_story(caller(world.customer_a), ticket.id)
    assert (story.held, story.captured, story.released) == (0, 3, 0)
    # Closing keeps the charge.
    await workflow.change_status(caller(world.agent), ticket.id, "closed")
    assert await available(world.org_a) == 97
    await assert_books_clean()


async def test_resolving_by_a_reply_charges_too(world):
    ticket = await file(world)
    await thread.add_message(caller(world.agent), ticket.id, "対応しました。", then_status="resolved")
    assert (await points.points_story(caller(world.agent), ticket.id)).captured == 3
    await assert_books_clean()


async def test_cancelling_gives_the_points_back(world):
    ticket = await file(world)
    assert await available(world.org_a) == 97
    await workflow.change_status(caller(world.customer_a), ticket.id, "cancelled")
    assert await available(world.org_a) == 100
    assert (await ledger.balance(world.org_a.id)).held == 0
    await assert_books_clean()


async def test_an_agent_waives_the_charge_with_a_reason(world):
    ticket = await file(world)
    with pytest.raises(InvalidInput):
        await workflow.waive(caller(world.agent), ticket.id, "  ")
    with pytest.raises(NotAllowed):
        await workflow.waive(caller(world.customer_a), ticket.id, "自分で")
    await workflow.waive(caller(world.agent), ticket.id, "弊社サーバーの障害が原因のため")
    assert await available(world.org_a) == 100
    story = await points.points_story(caller(world.customer_a), ticket.id)
    assert story.waived and story.waive_reason == "弊社サーバーの障害が原因のため"
    assert (story.held, story.captured, story.released) == (0, 0, 3)
    detail = await reading.get_ticket(caller(world.customer_a), ticket.id)
    assert any(e.kind == "points_waived" and "弊社サーバー" in e.text for e in detail.events)
    # Resolving later charges nothing; waiving twice is refused.
    await resolve(world, ticket)
    assert await available(world.org_a) == 100
    with pytest.raises(IllegalTransition):
        await workflow.waive(caller(world.agent), ticket.id, "もう一度")
    await assert_books_clean()


async def test_a_filed_request_keeps_its_price_when_a_new_table_is_published(world):
    ticket = await file(world)
    await price_request_type("general", points=5, urgent=2)
    assert (await Ticket.select(Ticket.quoted_points).where(Ticket.id == ticket.id).first())["quoted_points"] == 3
    # Re-quotes use the request's own version: urgent is +1 there, not +2.
    await points.set_approval_limit(caller(world.customer_a2), 10)
    await classification.update_fields(caller(world.agent), ticket.id, version=ticket.version, priority="urgent")
    assert (await reading.ticket_summary(caller(world.agent), ticket.id)).quoted_points == 4
    await resolve(world, ticket)
    assert await available(world.org_a) == 96
    # A new request is priced by the new table.
    assert (await file(world)).quoted_points == 5
    await assert_books_clean()


async def test_a_cheaper_classification_gives_the_difference_back_at_once(world):
    ticket = await file(world)
    updated = await classification.update_fields(
        caller(world.agent), ticket.id, version=ticket.version, request_type_code="account", reason="アカウント作業のため",
    )
    assert (updated.request_type_code, updated.quoted_points) == ("account", 1)
    balance = await ledger.balance(world.org_a.id)
    assert (balance.available, balance.held) == (99, 1)
    story = await points.points_story(caller(world.customer_a), ticket.id)
    assert [c.status for c in story.changes] == ["applied"]
    assert story.pending_change is None
    await assert_books_clean()


async def test_a_dearer_classification_waits_for_the_customer_who_approves(world):
    ticket = await file(world)
    updated = await classification.update_fields(
        caller(world.agent), ticket.id, version=ticket.version, priority="urgent", reason="本番停止のため緊急対応",
    )
    # Nothing changed yet but the question.
    assert (updated.priority, updated.quoted_points) == ("normal", 3)
    assert await available(world.org_a) == 97
    pending = await points.pending_change_of(ticket.id)
    assert (pending.from_points, pending.to_points, pending.reason) == (3, 4, "本番停止のため緊急対応")
    mails = await OutboxMessage.select(OutboxMessage.to_address).where(OutboxMessage.kind == "point_change_pending")
    assert {m["to_address"] for m in mails} == {world.customer_a.email, world.customer_a2.email}
    # Another company's member cannot answer; the requester can.
    with pytest.raises(NotFound):
        await classification.decide_change(caller(world.customer_b), ticket.id, pending.id, approve=True)
    change = await classification.decide_change(caller(world.customer_a), ticket.id, pending.id, approve=True)
    assert change.status == "approved"
    summary = await reading.ticket_summary(caller(world.agent), ticket.id)
    assert (summary.priority, summary.quoted_points) == ("urgent", 4)
    balance = await ledger.balance(world.org_a.id)
    assert (balance.available, balance.held) == (96, 4)
    with pytest.raises(IllegalTransition):
        await classification.decide_change(caller(world.customer_a), ticket.id, pending.id, approve=False)
    await resolve(world, ticket)
    assert (await points.points_story(caller(world.agent), ticket.id)).captured == 4
    await assert_books_clean()


async def test_a_declined_rise_changes_nothing(world):
    ticket = await file(world)
    await classification.request_overage(caller(world.agent), ticket.id, 45, "調査に追加で45分必要", version=ticket.version)
    pending = await points.pending_change_of(ticket.id)
    assert (pending.kind, pending.from_points, pending.to_points) == ("overage", 3, 5)
    change = await classification.decide_change(caller(world.customer_a2), ticket.id, pending.id, approve=False)
    assert change.status == "declined"
    summary = await reading.ticket_summary(caller(world.agent), ticket.id)
    assert summary.quoted_points == 3
    balance = await ledger.balance(world.org_a.id)
    assert (balance.available, balance.held) == (97, 3)
    assert (await PointChangeRequest.select(PointChangeRequest.status))[0]["status"] == "declined"
    await assert_books_clean()


async def test_a_rise_within_the_approval_limit_applies_at_once(world):
    with pytest.raises(NotAllowed):
        await points.set_approval_limit(caller(world.customer_a), 5)
    await points.set_approval_limit(caller(world.customer_a2), 2)
    ticket = await file(world)
    outcome = await classification.request_overage(caller(world.agent), ticket.id, 60, "データ移行の追加作業")
    assert (outcome.applied, outcome.to_points) == (True, 5)
    balance = await ledger.balance(world.org_a.id)
    assert (balance.available, balance.held) == (95, 5)
    assert await points.pending_change_of(ticket.id) is None
    # Above the limit: asked.
    outcome = await classification.request_overage(caller(world.agent), ticket.id, 90, "さらに追加作業")
    assert (outcome.applied, outcome.from_points, outcome.to_points) == (False, 5, 8)
    await assert_books_clean()


async def test_approving_without_enough_points_says_so_and_keeps_the_question(world):
    poor = await make_organization()
    await give_points(poor, 3)
    member = await make_user("customer_admin", organization=poor)
    ticket = await file(world, who=member)
    await classification.request_overage(caller(world.agent), ticket.id, 30, "追加作業")
    pending = await points.pending_change_of(ticket.id)
    with pytest.raises(InsufficientPoints) as refused:
        await classification.decide_change(caller(member), ticket.id, pending.id, approve=True)
    assert "1" in refused.value.message
    assert (await points.pending_change_of(ticket.id)).id == pending.id
    await assert_books_clean()


async def test_a_settled_request_no_longer_changes_price(world):
    ticket = await file(world)
    await resolve(world, ticket)
    with pytest.raises(IllegalTransition):
        await classification.request_overage(caller(world.agent), ticket.id, 30, "追加作業")


async def test_a_follow_up_of_a_closed_request_is_priced_and_held_anew(world):
    ticket = await file(world)
    await resolve(world, ticket)
    await workflow.change_status(caller(world.agent), ticket.id, "closed")
    outcome = await thread.add_message(caller(world.customer_a), ticket.id, "また同じエラーが出ました。")
    assert outcome.follow_up_of == ticket.id
    assert (await reading.ticket_summary(caller(world.agent), outcome.ticket_id)).quoted_points == 3
    balance = await ledger.balance(world.org_a.id)
    assert (balance.available, balance.held) == (94, 3)
    await assert_books_clean()


async def test_the_portal_form_shows_the_price_and_refuses_with_the_shortfall(client, world):
    await sign_in(client, world.customer_a)
    page = await client.get("/portal/tickets/new")
    assert page.status_code == 200 and 'id="filing-price"' in page.text
    fragment = await client.get("/portal/tickets/price", params={"request_type": "general", "priority": "urgent"})
    assert 'data-points="4"' in fragment.text and 'data-available="100"' in fragment.text
    await ledger.adjust(world.org_a.id, -98, "テスト", "take-98")
    response = await client.post("/portal/tickets", data={
        "subject": "新しいお願い", "body": "詳細です。", "request_type": "general", "priority": "normal",
        "category": "question", "confirm_duplicate": "1", **csrf(client),
    })
    assert response.status_code == 402
    assert 'id="shortfall"' in response.text and "/portal/purchase" in response.text
    assert await Ticket.count() == 0


async def test_the_console_waives_and_the_portal_shows_the_story(client, world):
    ticket = await file(world)
    await sign_in(client, world.agent)
    page = await client.get(f"/console/tickets/{ticket.id}")
    assert 'id="waive-form"' in page.text
    response = await client.post(f"/console/tickets/{ticket.id}/waive", data={
        "reason": "初期設定の不備は弊社の責任", "version": str(ticket.version), **csrf(client),
    })
    assert response.status_code == 303
    assert await available(world.org_a) == 100
    client.cookies.clear()
    await sign_in(client, world.customer_a)
    page = await client.get(f"/portal/tickets/{ticket.id}")
    assert 'id="points-waived"' in page.text and "初期設定の不備は弊社の責任" in page.text


def points_lines(html: str) -> list[tuple[str, str]]:
    """(who, what) of each line of the points story's table, in the order shown."""
    table = re.search(r'<table class="compact points-lines">.*?</table>', html, re.S).group(0)
    rows = re.findall(r"<tr>\s*<td>[^<]*</td>\s*<td>([^<]*)</td>\s*<td>(.*?)</td>\s*</tr>", table, re.S)
    return [(who.strip(), re.sub(r"\s+", " ", what).strip()) for who, what in rows]


async def test_the_points_story_names_who_filed_and_which_agent_waived_or_resolved(client, world):
    waived = await file(world)
    await workflow.waive(caller(world.agent), waived.id, "弊社の設定ミス")
    resolved = await file(world, who=world.customer_a2)
    await workflow.change_status(caller(world.agent2), resolved.id, "open")
    await workflow.change_status(caller(world.agent2), resolved.id, "resolved")

    await sign_in(client, world.customer_a)
    page = await client.get(f"/portal/tickets/{waived.id}")
    assert points_lines(page.text) == [
        ("青木 一郎", "見積もりの 3 ポイントを確保"),
        ("佐藤 担当", "3 ポイントを返却（料金免除） — 弊社の設定ミス"),
    ]
    client.cookies.clear()
    await sign_in(client, world.agent)
    page = await client.get(f"/console/tickets/{resolved.id}")
    assert points_lines(page.text) == [
        ("青木 二郎", "見積もりの 3 ポイントを確保"),
        ("鈴木 担当", "3 ポイントを消費（解決）"),
    ]


async def test_the_customer_approves_in_the_portal(client, world):
    ticket = await file(world)
    await classification.update_fields(caller(world.agent), ticket.id, version=ticket.version, priority="urgent",
                                 reason="緊急対応")
    pending = await points.pending_change_of(ticket.id)
    await sign_in(client, world.customer_a)
    page = await client.get(f"/portal/tickets/{ticket.id}")
    assert 'id="approve-change"' in page.text
    response = await client.post(f"/portal/tickets/{ticket.id}/point-changes/{pending.id}/approve", data=csrf(client))
    assert response.status_code in (302, 303)
    assert (await ledger.balance(world.org_a.id)).held == 4


async def test_the_agent_asks_for_extra_time_in_the_console_and_the_customer_declines_it_in_the_portal(client, world):
    ticket = await file(world)
    await sign_in(client, world.agent)
    asked = await client.post(f"/console/tickets/{ticket.id}/overage", data={
        "extra_minutes": "45", "reason": "調査に追加で45分必要", "version": str(ticket.version), **csrf(client)})
    assert asked.status_code in (302, 303)
    console = (await client.get(asked.headers["location"])).text
    assert "3 → 5" in console  # asked, not applied: above the customer's approval limit
    assert (await ledger.balance(world.org_a.id)).held == 3

    client.cookies.clear()
    await sign_in(client, world.customer_a)
    page = (await client.get(f"/portal/tickets/{ticket.id}")).text
    assert 'id="approve-change"' in page and "調査に追加で45分必要" in page
    pending = await points.pending_change_of(ticket.id)
    declined = await client.post(f"/portal/tickets/{ticket.id}/point-changes/{pending.id}/decline", data=csrf(client))
    assert declined.status_code in (302, 303)
    shown = (await client.get(declined.headers["location"])).text
    assert 'id="approve-change"' not in shown
    assert (await ledger.balance(world.org_a.id)).held == 3
    assert (await Ticket.select(Ticket.quoted_points).where(Ticket.id == ticket.id).first())["quoted_points"] == 3
    await assert_books_clean()


async def test_the_customer_admin_sets_the_approval_limit_in_the_portal(client, world):
    await sign_in(client, world.customer_a2)
    assert (await client.get("/portal/points/approval-limit")).status_code == 200
    refused = await client.post("/portal/points/approval-limit", data={"approval_limit": "-1", **csrf(client)})
    assert refused.status_code == 422
    response = await client.post("/portal/points/approval-limit", data={"approval_limit": "3", **csrf(client)})
    assert response.status_code in (302, 303)
    assert await charges.approval_limit_of(world.org_a.id) == 3


async def test_requests_filed_at_once_never_spend_more_than_the_balance(world):
    import asyncio

    small = await make_organization()
    await give_points(small, 7)
    member = await make_user("customer_member", organization=small)
    results = await asyncio.gather(*(file(world, who=member) for _ in range(5)), return_exceptions=True)
    filed = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(filed) == 2 and all(isinstance(r, InsufficientPoints) for r in refused)
    assert await Ticket.count().where(Ticket.organization == small.id) == 2
    balance = await ledger.balance(small.id)
    assert (balance.available, balance.held) == (1, 6)
    await assert_books_clean()
