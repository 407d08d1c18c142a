"""What every browser test does the same way."""

from tests.factories import PASSWORD


async def sign_in(page, email: str, lands_on: str = "/portal") -> None:
    """Sign in through the real form and wait for the home page the role lands on."""
    await page.goto("/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(f"**{lands_on}")
