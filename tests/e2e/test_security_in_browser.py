"""The strict Content-Security-Policy in a real browser: the pages, htmx, the documents and the
API reference work under it (the `new_page` fixture fails any test on a CSP violation)."""

import re

import pytest

from tests.factories import make_support_world, make_ticket
from tests.e2e.pages import sign_in

pytestmark = pytest.mark.e2e


async def test_the_api_reference_renders_from_this_site_alone(new_page):
    page = await new_page()
    await page.goto("/schema")
    await page.wait_for_selector(".swagger-ui .info .title")
    assert "Kippu API" in await page.inner_text(".swagger-ui .info .title")
    assert await page.locator(".opblock").count() > 10


async def test_the_price_document_keeps_its_stylesheet(new_page):
    world = await make_support_world()
    page = await new_page()
    await sign_in(page, world.customer_a.email, "/portal")
    await page.goto("/portal/price-table.html")
    # The inline stylesheet applied (allowed by its hash): the table has the document's borders.
    border = await page.eval_on_selector("table.request-types th", "th => getComputedStyle(th).borderTopStyle")
    assert border == "solid"


async def test_cancelling_asks_first_and_a_no_keeps_the_request(new_page):
    world = await make_support_world()
    ticket = await make_ticket(world.org_a, world.customer_a, world.request_type)
    page = await new_page()
    await sign_in(page, world.customer_a.email, "/portal")
    await page.goto(f"/portal/tickets/{ticket.id}")

    questions = []

    async def answer(dialog, accept):
        questions.append(dialog.message)
        await (dialog.accept() if accept else dialog.dismiss())

    page.once("dialog", lambda dialog: answer(dialog, False))
    await page.click("button[value=cancelled]")
    await page.wait_for_timeout(300)
    assert questions == ["このお問い合わせを取り消しますか？"]
    assert page.url.endswith(f"/portal/tickets/{ticket.id}")
    assert await page.locator("button[value=cancelled]").count() == 1

    page.once("dialog", lambda dialog: answer(dialog, True))
    await page.click("button[value=cancelled]")
    await page.wait_for_load_state()
    await page.wait_for_selector("text=取り消し")
    assert await page.locator("button[value=cancelled]").count() == 0
    assert re.search(r"/portal/tickets/\d+", page.url)
