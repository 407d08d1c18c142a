"""The whole life of a request in a real browser: a customer files it in the portal, an agent takes
and answers it in the console, the customer reads the answer and marks it solved."""

import re

import pytest

from app.tickets import services
from tests.factories import caller, make_support_world
from tests.e2e.pages import sign_in

pytestmark = pytest.mark.e2e


async def test_a_customer_files_a_request_an_agent_answers_it_and_the_customer_resolves_it(new_page):
    world = await make_support_world()

    # The customer files a request in the portal.
    customer = await new_page()
    await sign_in(customer, world.customer_a.email, "/portal")
    assert "株式会社アルファ" in await customer.inner_text("header")
    await customer.click("a[href='/portal/tickets/new']")
    await customer.wait_for_url("**/portal/tickets/new")
    await customer.fill("input[name=subject]", "会議室のプロジェクターが映らない")
    await customer.fill("textarea[name=body]", "本日午後から、会議室Aのプロジェクターに何も映りません。")
    await customer.select_option("select[name=request_type]", "general")
    await customer.select_option("select[name=priority]", "urgent")
    await customer.click("#new-ticket button[type=submit]:not([name])")
    await customer.wait_for_url(re.compile(r".*/portal/tickets/\d+$"))
    assert "受け付けました" in await customer.inner_text("[role=status]")
    number = (await customer.inner_text("p.number")).split()[0]
    ticket_id = int(customer.url.rsplit("/", 1)[1])
    assert "新規" in await customer.inner_text("p.number .badge")

    # An agent, in another browser context, finds it in the console queue, takes it and answers it.
    agent = await new_page()
    await sign_in(agent, world.agent.email, "/console")
    await agent.goto("/console/tickets")
    await agent.click(f"a.ticket-number:text-is('{number}')")
    await agent.wait_for_url(f"**/console/tickets/{ticket_id}")
    await agent.click("#take")
    await agent.wait_for_selector(f"#ticket-assignee[data-assignee-id='{world.agent.id}']")
    await agent.fill("#reply-body", "ケーブルを HDMI 2 の差込口に挿し直し、入力切替で「HDMI 2」を選んでください。")
    await agent.click("#send-reply")
    await agent.wait_for_selector("#thread >> text=HDMI 2 の差込口")

    # The customer sees the answer and marks the request solved.
    await customer.reload()
    thread = await customer.inner_text("#thread")
    assert "HDMI 2 の差込口" in thread and "佐藤 担当" in thread
    assert "対応中" in await customer.inner_text("p.number .badge")
    await customer.click("button[name=status][value=resolved]")
    await customer.wait_for_selector("p.number .badge.resolved")
    assert "解決済み" in await customer.inner_text("p.number .badge")
    assert "解決済み" in await customer.inner_text("#history")

    resolved = await services.ticket_summary(caller(world.agent), ticket_id)
    assert resolved.status == "resolved" and resolved.assignee_id == world.agent.id


async def test_the_portal_warns_of_a_similar_request_while_typing_and_filters_the_history_in_place(new_page):
    world = await make_support_world()
    existing = await services.create_ticket(
        caller(world.customer_a2), subject="複合機でスキャンできない", body="スキャンボタンが反応しません。",
        request_type_code="general",
    )
    other = await services.create_ticket(
        caller(world.customer_a), subject="メールの容量を増やしたい", body="上限に達しました。", request_type_code="general",
        priority="low",
    )
    customer = await new_page()
    await sign_in(customer, world.customer_a.email, "/portal")

    await customer.goto("/portal/tickets/new")
    await customer.type("input[name=subject]", "複合機でスキャンできない件")
    await customer.wait_for_selector(f"#duplicates >> text={existing.number}")

    await customer.goto("/portal/tickets")
    await customer.wait_for_selector(f"#results >> text={other.number}")
    await customer.select_option("select[name=priority]", "low")
    await customer.wait_for_function(
        "n => !document.querySelector('#results').innerText.includes(n)", arg=existing.number
    )
    assert other.number in await customer.inner_text("#results")
    assert "priority=low" in customer.url  # the filtered list has its own address
    await customer.fill("input[name=q]", "スキャン")
    await customer.wait_for_selector("#results >> text=該当するお問い合わせはありません。")
