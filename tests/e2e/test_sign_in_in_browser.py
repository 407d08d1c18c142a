import pytest

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.e2e


async def test_a_wrong_password_shows_a_message_and_keeps_the_email(new_page):
    await make_user(role="agent", email="tanaka@example.jp")
    page = await new_page()
    await page.goto("/login")
    await page.fill("input[name=email]", "tanaka@example.jp")
    await page.fill("input[name=password]", "wrong password")
    await page.click("button[type=submit]")
    await page.wait_for_selector("[role=alert]")
    assert "メールアドレスまたはパスワードが正しくありません" in await page.inner_text("[role=alert]")
    assert await page.input_value("input[name=email]") == "tanaka@example.jp"


async def test_a_signed_in_agent_is_sent_from_the_sign_in_page_to_the_console(new_page):
    user = await make_user(role="agent", email="kato@example.jp")
    page = await new_page()
    await page.goto("/login")
    await page.fill("input[name=email]", user.email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console**")
    await page.goto("/login")
    await page.wait_for_url("**/console**")
