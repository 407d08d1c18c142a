"""Filing requests, the status machine, the thread, ownership and history (through the services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.errors import IllegalTransition, InvalidInput, NotAllowed, NotFound, StaleVersion
from app.notifications.tables import OutboxMessage
from app.tickets.services import classification, filing, points, reading, thread, workflow
from app.tickets.tables import RequestType, Ticket, TicketCounter
from tests.factories import caller, make_custom_field, make_request_type, make_routing, make_support_world


@pytest.fixture
async def world():
    return await make_support_world()


async def file(world, who=None, subject="プリンターに接続できません", **extra):
    return await filing.create_ticket(
        caller(who or world.customer_a), subject=subject, body="昨日から印刷できません。",
        request_type_code="general", **extra,
    )


async def outbox_kinds() -> list[str]:
    return [row["kind"] for row in await OutboxMessage.select(OutboxMessage.kind).order_by(OutboxMessage.id)]


async def test_a_customer_files_a_numbered_request_for_its_own_company(world, settings):
    ticket = await file(world, priority="urgent", category="incident")
    year = datetime.now(settings.zone).year
    assert ticket.number == f"{year}-000001"
    assert ticket.status == "new" and ticket.organization_id == world.org_a.id
    assert ticket.requester_id == world.customer_a.id and ticket.version == 1
    assert ticket.first_response_due_at - ticket.created_at == timedelta(hours=settings.first_response_hours["urgent"])
    assert ticket.resolution_due_at - ticket.created_at == timedelta(hours=settings.resolution_hours["urgent"])
    second = await file(world, subject="別件")
    assert second.number == f"{year}-000002"
    detail = await reading.get_ticket(caller(world.agent), ticket.id)
    assert [e.kind for e in detail.events] == ["created"]


async def test_numbers_continue_from_the_counter_and_are_never_reused(world, settings):
    year = datetime.now(settings.zone).year
    await TicketCounter.insert(TicketCounter(year=year, last_number=41))
    first = await file(world)
    await Ticket.delete().where(Ticket.id == first.id)
    second = await file(world)
    assert (first.number, second.number) == (f"{year}-000042", f"{year}-000043")


async def test_new_requests_are_routed_to_the_companys_department_and_agent(world):
    await make_routing(world.org_a, department=world.department, assignee=world.agent)
    ticket = await file(world)
    assert ticket.department_id == world.department.id and ticket.assignee_id == world.agent.id
    unrouted = await file(world, who=world.customer_b)
    assert unrouted.department_id is None and unrouted.assignee_id is None


async def test_filing_tells_the_departments_agents_through_the_outbox(world):
    await make_routing(world.org_a, department=world.department)
    await file(world)
    recipients = {r["to_address"] for r in await OutboxMessage.select(OutboxMessage.to_address)}
    assert recipients == {world.agent.email, world.agent2.email}
    assert await outbox_kinds() == ["ticket_created", "ticket_created"]


async def test_an_unknown_or_retired_request_type_is_refused_naming_the_field(world):
    await RequestType.insert(RequestType(code="retired", name_ja="廃止", name_en="Retired", is_active=False))
    for code in ("nonexistent", "retired", ""):
        with pytest.raises(InvalidInput) as refused:
            await filing.create_ticket(caller(world.customer_a), subject="件名", body="本文", request_type_code=code)
        assert refused.value.extra["field"] == "request_type"
    assert await Ticket.count() == 0


@pytest.mark.parametrize(("changes", "field"), [
    ({"subject": "   "}, "subject"),
    ({"subject": "あ" * 201}, "subject"),
    ({"body": ""}, "body"),
    ({"body": "あ" * 20001}, "body"),
    ({"priority": "asap"}, "priority"),
    ({"category": "rant"}, "category"),
])
async def test_bad_values_are_refused_naming_the_field(world, changes, field):
    values = {"subject": "件名", "body": "本文", "request_type_code": "general", **changes}
    with pytest.raises(InvalidInput) as refused:
        await filing.create_ticket(caller(world.customer_a), **values)
    assert refused.value.extra["field"] == field


async def test_custom_fields_are_validated_and_hidden_ones_stay_with_staff(world):
    await make_custom_field("site", required=True, label_ja="拠点")
    await make_custom_field("rank", "choice", visible_to_customers=False, choices=["A", "B"])
    with pytest.raises(InvalidInput) as refused:
        await file(world)
    assert refused.value.extra["field"] == "custom_fields.site"
    with pytest.raises(InvalidInput):
        await file(world, custom_fields={"site": "本社", "rank": "A"})
    ticket = await file(world, custom_fields={"site": "本社"})
    staff_filed = await file(
        world, who=world.agent, custom_fields={"site": "大阪", "rank": "B"},
        organization_id=world.org_a.id, requester_id=world.customer_a.id,
    )
    assert (await reading.get_ticket(caller(world.customer_a), ticket.id)).custom_fields == {"site": "本社"}
    assert (await reading.get_ticket(caller(world.agent), staff_filed.id)).custom_fields == {"site": "大阪", "rank": "B"}
    assert (await reading.get_ticket(caller(world.customer_a), staff_filed.id)).custom_fields == {"site": "大阪"}


async def test_staff_file_on_behalf_of_a_company_member(world):
    ticket = await file(world, who=world.agent, organization_id=world.org_a.id, requester_id=world.customer_a.id)
    assert ticket.organization_id == world.org_a.id and ticket.requester_id == world.customer_a.id
    with pytest.raises(InvalidInput) as refused:
        await file(world, who=world.agent, organization_id=world.org_a.id, requester_id=world.customer_b.id)
    assert refused.value.extra["field"] == "requester"
    with pytest.raises(InvalidInput) as refused:
        await file(world, who=world.agent)
    assert refused.value.extra["field"] == "organization"


async def test_a_customer_cannot_file_for_another_company(world):
    with pytest.raises(NotFound):
        await file(world, organization_id=world.org_b.id)


async def test_likely_duplicates_are_open_requests_of_the_same_company_from_the_last_days(world):
    first = await file(world, subject="VPNに接続できない")
    await file(world, subject="請求書の再発行")
    await file(world, who=world.customer_b, subject="VPNに接続できない")
    old = await file(world, subject="VPNに接続できない（再）")
    await Ticket.update({Ticket.created_at: datetime.now(UTC) - timedelta(days=8)}).where(Ticket.id == old.id)
    done = await file(world, subject="ＶＰＮに接続できない")
    await workflow.change_status(caller(world.customer_a), done.id, "cancelled")

    found = await filing.find_likely_duplicates(caller(world.customer_a2), "Re: vpnに 接続できない")
    assert [t.id for t in found] == [first.id]
    assert await filing.find_likely_duplicates(caller(world.customer_a), "会議室の予約") == []
    staff_view = await filing.find_likely_duplicates(caller(world.agent), "VPN", organization_id=world.org_b.id)
    assert [t.organization_id for t in staff_view] == [world.org_b.id]


async def test_the_first_staff_reply_opens_the_request_and_counts_as_first_response(world):
    ticket = await file(world)
    outcome = await thread.add_message(caller(world.agent), ticket.id, "確認いたします。", minutes_spent=15)
    assert outcome.status == "open" and outcome.version == 2
    detail = await reading.get_ticket(caller(world.customer_a), ticket.id)
    assert detail.status == "open" and detail.first_responded_at is not None
    assert [m.body for m in detail.messages] == ["確認いたします。"] and detail.messages[0].author_is_staff
    assert [e.kind for e in detail.events] == ["created", "status_changed"]
    assert detail.minutes_spent_total == 15
    # The reply mail tells the requester; no separate mail for the automatic new → open.
    assert (await outbox_kinds()).count("public_reply") == 1
    assert "status_changed" not in await outbox_kinds()


async def test_a_staff_reply_may_put_the_request_on_the_customer(world):
    ticket = await file(world)
    outcome = await thread.add_message(caller(world.agent), ticket.id, "型番を教えてください。", then_status="waiting")
    assert outcome.status == "waiting"
    detail = await reading.get_ticket(caller(world.agent), ticket.id)
    assert [(e.detail["from"], e.detail["to"]) for e in detail.events if e.kind == "status_changed"] == [
        ("new", "open"), ("open", "waiting")]
    assert "status_changed" in await outbox_kinds()
    answered = await thread.add_message(caller(world.customer_a), ticket.id, "型番は LP-100 です。")
    assert answered.status == "open"


async def test_customers_cannot_write_internal_notes_or_log_time(world):
    ticket = await file(world)
    with pytest.raises(NotAllowed):
        await thread.add_message(caller(world.customer_a), ticket.id, "内部メモ", internal=True)
    with pytest.raises(NotAllowed):
        await thread.add_message(caller(world.customer_a), ticket.id, "返信", minutes_spent=30)


async def test_customers_never_see_internal_notes(world):
    ticket = await file(world)
    await thread.add_message(caller(world.agent), ticket.id, "社内: 先方の機種は古い", internal=True, minutes_spent=5)
    await thread.add_message(caller(world.agent), ticket.id, "お調べします。")
    customer_view = await reading.get_ticket(caller(world.customer_a), ticket.id)
    assert [m.body for m in customer_view.messages] == ["お調べします。"]
    staff_view = await reading.get_ticket(caller(world.agent), ticket.id)
    assert [m.internal for m in staff_view.messages] == [True, False]
    # An internal note does not count as the first response.
    assert staff_view.first_responded_at == staff_view.messages[1].created_at


async def test_every_allowed_status_change_through_the_service(world):
    ticket = await file(world)
    agent, customer = caller(world.agent), caller(world.customer_a)
    steps = [(agent, "open"), (agent, "waiting"), (agent, "open"), (agent, "resolved"), (agent, "open"),
             (customer, "resolved"), (agent, "closed")]
    for who, status in steps:
        ticket = await workflow.change_status(who, ticket.id, status)
        assert ticket.status == status
    detail = await reading.get_ticket(caller(world.agent), ticket.id)
    assert detail.closed_at is not None and detail.allowed_statuses == ()
    assert [e.detail["to"] for e in detail.events if e.kind == "status_changed"] == [s for _w, s in steps]
    with pytest.raises(IllegalTransition):
        await workflow.change_status(agent, ticket.id, "open")


async def test_a_customer_cancels_before_work_starts_but_not_after(world):
    early = await file(world)
    assert (await workflow.change_status(caller(world.customer_a), early.id, "cancelled")).status == "cancelled"
    with pytest.raises(IllegalTransition):
        await thread.add_message(caller(world.customer_a), early.id, "やっぱりお願いします")
    answered = await file(world)
    await thread.add_message(caller(world.agent), answered.id, "対応します。")
    with pytest.raises(IllegalTransition):
        await workflow.change_status(caller(world.customer_a), answered.id, "cancelled")


async def test_customers_cannot_take_staff_steps(world):
    ticket = await file(world)
    with pytest.raises(NotAllowed):
        await workflow.change_status(caller(world.customer_a), ticket.id, "open")
    with pytest.raises(IllegalTransition):
        await workflow.change_status(caller(world.customer_a), ticket.id, "closed")


async def test_a_customer_reply_reopens_a_resolved_request(world):
    ticket = await file(world)
    await thread.add_message(caller(world.agent), ticket.id, "解決しました。", then_status="resolved")
    with pytest.raises(NotAllowed):
        await workflow.change_status(caller(world.customer_a), ticket.id, "open")
    outcome = await thread.add_message(caller(world.customer_a2), ticket.id, "まだ直っていません。")
    assert outcome.status == "open" and outcome.ticket_id == ticket.id
    detail = await reading.get_ticket(caller(world.agent), ticket.id)
    assert detail.resolved_at is None
    # The requester hears that a colleague reopened it.
    assert "status_changed" in await outbox_kinds()


async def test_a_reply_to_a_closed_request_starts_a_linked_follow_up(world):
    ticket = await file(world, priority="low")
    await workflow.change_status(caller(world.agent), ticket.id, "open")
    await workflow.change_status(caller(world.agent), ticket.id, "resolved")
    await workflow.change_status(caller(world.agent), ticket.id, "closed")
    outcome = await thread.add_message(caller(world.customer_a2), ticket.id, "同じ症状が再発しました。")
    assert outcome.follow_up_of == ticket.id and outcome.ticket_id != ticket.id and outcome.message_id is None
    follow_up = await reading.get_ticket(caller(world.customer_a2), outcome.ticket_id)
    assert follow_up.status == "new" and follow_up.body == "同じ症状が再発しました。"
    assert follow_up.follow_up_of.id == ticket.id and follow_up.priority == "low"
    assert follow_up.requester_id == world.customer_a2.id and follow_up.subject == ticket.subject
    original = await reading.get_ticket(caller(world.customer_a), ticket.id)
    assert original.status == "closed" and [f.id for f in original.follow_ups] == [follow_up.id]
    assert original.events[-1].kind == "follow_up_created"
    with pytest.raises(IllegalTransition):
        await thread.add_message(caller(world.agent), ticket.id, "追記")


async def test_a_change_made_on_a_stale_view_is_refused(world):
    ticket = await file(world)
    seen = ticket.version
    await workflow.take(caller(world.agent), ticket.id, version=seen)
    with pytest.raises(StaleVersion) as refused:
        await workflow.take(caller(world.agent2), ticket.id, version=seen)
    assert "changed since you opened it" in refused.value.message or "変更" in refused.value.message
    with pytest.raises(StaleVersion):
        await thread.add_message(caller(world.agent2), ticket.id, "回答します", version=seen)
    with pytest.raises(StaleVersion):
        await workflow.change_status(caller(world.agent2), ticket.id, "open", version=seen)
    with pytest.raises(StaleVersion):
        await classification.update_fields(caller(world.agent2), ticket.id, version=seen, priority="urgent")
    detail = await reading.get_ticket(caller(world.agent2), ticket.id)
    assert detail.assignee_id == world.agent.id and detail.messages == () and detail.version == seen + 1


async def test_taking_assigning_and_reclassifying_are_recorded_in_the_history(world):
    other_type = await make_request_type("onsite", "訪問対応", "On-site visit")
    # The dearer classification applies at once: within the customer's approval limit.
    await points.set_approval_limit(caller(world.customer_a2), 5)
    ticket = await file(world)
    agent = caller(world.agent)
    ticket = await workflow.take(agent, ticket.id, version=ticket.version)
    ticket = await workflow.assign(agent, ticket.id, world.agent2.id, version=ticket.version)
    ticket = await classification.update_fields(
        agent, ticket.id, version=ticket.version, priority="urgent", category="incident",
        request_type_code="onsite", department_id=world.department.id,
    )
    assert (ticket.assignee_id, ticket.priority, ticket.category, ticket.request_type_code, ticket.department_id) == (
        world.agent2.id, "urgent", "incident", other_type.code, world.department.id)
    assert ticket.resolution_due_at - ticket.created_at == timedelta(hours=8) and ticket.version == 4
    detail = await reading.get_ticket(agent, ticket.id)
    changes = [(e.detail["field"], e.detail.get("from_label") or e.detail["from"], e.detail.get("to_label") or e.detail["to"])
               for e in detail.events if e.kind == "field_changed"]
    assert changes == [
        ("assignee", None, "佐藤 担当"), ("assignee", "佐藤 担当", "鈴木 担当"), ("priority", "normal", "urgent"),
        ("category", "question", "incident"), ("request_type", "general", "onsite"),
        ("department", None, "システム保守部"),
    ]
    assert all(e.actor_id == world.agent.id and e.text for e in detail.events[1:])
    # Customers see the status history, not the internal handling.
    # The customer sees the price change, not the internal classification lines.
    assert [e.kind for e in (await reading.get_ticket(caller(world.customer_a), ticket.id)).events] == [
        "created", "points_requoted"]


async def test_only_staff_take_assign_or_reclassify(world):
    ticket = await file(world)
    with pytest.raises(NotAllowed):
        await workflow.take(caller(world.customer_a), ticket.id, version=1)
    with pytest.raises(NotAllowed):
        await classification.update_fields(caller(world.customer_a), ticket.id, version=1, priority="urgent")
    with pytest.raises(InvalidInput) as refused:
        await workflow.assign(caller(world.agent), ticket.id, world.customer_a.id, version=1)
    assert refused.value.extra["field"] == "assignee"


async def test_staff_update_custom_fields_with_validation(world):
    await make_custom_field("pcs", "number")
    ticket = await file(world)
    with pytest.raises(InvalidInput):
        await classification.update_custom_fields(caller(world.agent), ticket.id, {"pcs": "many"}, version=1)
    updated = await classification.update_custom_fields(caller(world.agent), ticket.id, {"pcs": "3"}, version=1)
    assert updated.version == 2
    assert (await reading.get_ticket(caller(world.customer_a), ticket.id)).custom_fields == {"pcs": 3}


async def test_a_customer_cannot_see_or_change_another_companys_request(world):
    ticket = await file(world)
    other = caller(world.customer_b)
    with pytest.raises(NotFound):
        await reading.get_ticket(other, ticket.id)
    with pytest.raises(NotFound):
        await thread.add_message(other, ticket.id, "こんにちは")
    with pytest.raises(NotFound):
        await workflow.change_status(other, ticket.id, "cancelled")
    assert (await reading.get_ticket(caller(world.customer_a2), ticket.id)).id == ticket.id


async def test_requests_filed_at_the_same_moment_get_distinct_consecutive_numbers(world, settings):
    import asyncio

    filed = await asyncio.gather(*(file(world, subject=f"同時{i}") for i in range(8)))
    year = datetime.now(settings.zone).year
    assert sorted(t.number for t in filed) == [f"{year}-{n:06d}" for n in range(1, 9)]


async def test_two_agents_replying_at_once_on_the_same_view_one_wins(world):
    import asyncio

    ticket = await file(world)
    results = await asyncio.gather(
        thread.add_message(caller(world.agent), ticket.id, "回答A", version=ticket.version),
        thread.add_message(caller(world.agent2), ticket.id, "回答B", version=ticket.version),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["ReplyOutcome", "StaleVersion"]
    assert len((await reading.get_ticket(caller(world.agent), ticket.id)).messages) == 1
