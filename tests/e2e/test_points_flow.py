"""Points in a real browser: the customer sees the price and the balance before filing, the
balance drops when the request is filed, an agent waives the charge, and the balance comes back."""

import re

import pytest

from tests.factories import make_support_world, price_request_type
from tests.e2e.pages import sign_in

pytestmark = pytest.mark.e2e


async def balance_shown(page) -> int:
    return int(await page.get_attribute("#points-balance strong[data-available]", "data-available"))


async def test_a_customer_sees_the_price_files_and_gets_the_points_back_when_the_agent_waives(new_page):
    world = await make_support_world()
    await price_request_type("general", "一般的な質問", "General question", points=3, urgent=1)

    customer = await new_page()
    await sign_in(customer, world.customer_a.email, "/portal")
    assert await balance_shown(customer) == 100
    await customer.goto("/portal/tickets/new")
    await customer.fill("input[name=subject]", "共有フォルダに保存できない")
    await customer.fill("textarea[name=body]", "今朝から共有フォルダに保存しようとするとエラーになります。")
    await customer.select_option("select[name=request_type]", "general")
    await customer.wait_for_selector("#filing-price[data-points='3']")
    assert "3 ポイント" in await customer.inner_text("#quoted-points")
    assert "100 ポイント" in await customer.inner_text("#available-points")
    # The price follows the priority before anything is sent.
    await customer.select_option("select[name=priority]", "urgent")
    await customer.wait_for_selector("#filing-price[data-points='4']")
    await customer.click("#new-ticket button[type=submit]:not([name])")
    await customer.wait_for_url(re.compile(r".*/portal/tickets/\d+$"))
    ticket_id = int(customer.url.rsplit("/", 1)[1])
    assert await balance_shown(customer) == 96
    assert await customer.get_attribute("#points-held", "data-points") == "4"

    agent = await new_page()
    await sign_in(agent, world.agent.email, "/console")
    await agent.goto(f"/console/tickets/{ticket_id}")
    await agent.fill("#waive-reason", "弊社のサーバー設定の誤りが原因のため")
    await agent.click("#waive")
    await agent.wait_for_selector("#points-waived")
    assert "弊社のサーバー設定の誤り" in await agent.inner_text("#points")

    await customer.reload()
    assert await balance_shown(customer) == 100
    assert "弊社のサーバー設定の誤りが原因のため" in await customer.inner_text("#points-waived")
    assert await customer.get_attribute("#points-released", "data-points") == "4"
