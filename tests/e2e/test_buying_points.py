"""Buying points in a real browser: by invoice (the invoice PDF carries every item a qualified
invoice needs, with the right tax) and by card through the (fake) Stripe checkout, whose payment
notice is delivered three times and grants the points once."""

import io
import re

import pytest
from pypdf import PdfReader

from billing import ledger
from tests.factories import ISSUER_NUMBER, make_bundle, make_issuer, make_organization, make_user
from tests.e2e.pages import sign_in

pytestmark = pytest.mark.e2e


async def choose(page, quantity: int, method: str) -> None:
    await page.goto("/portal/purchase")
    await page.check("#bundle-P10")
    await page.fill("input[name=quantity]", str(quantity))
    await page.wait_for_selector(f"#purchase-quote[data-points='{10 * quantity}']")
    await page.check(f"input[name=method][value={method}]")


async def test_a_customer_admin_buys_by_invoice_and_by_card_in_the_browser(new_page, stripe_for_browser):
    await make_issuer("株式会社キップ・サポート")
    await make_bundle("P10", points=10, price_jpy=50_000, tax_rate=10)
    organization = await make_organization("株式会社さくら商事")
    admin = await make_user("customer_admin", organization=organization, email="tanaka@sakura.example")
    stripe_for_browser.repeat = 3

    page = await new_page()
    await sign_in(page, admin.email)

    # By invoice: the price before paying, then the invoice.
    await choose(page, 2, "invoice")
    assert await page.inner_text("#quote-price") == "¥100,000"
    assert await page.inner_text("#quote-tax") == "¥10,000"
    assert await page.inner_text("#quote-total") == "¥110,000"
    await page.click("#buy")
    await page.wait_for_url(re.compile(r".*/portal/purchases/\d+$"))
    assert await page.get_attribute("#purchase-status", "data-status") == "awaiting_payment"
    pdf_link = await page.get_attribute("#purchase-status a[href$='/pdf']", "href")
    response = await page.request.get(pdf_link)
    assert response.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(await response.body())).pages)
    squeezed = re.sub(r"\s+", "", text)
    for item in ("株式会社キップ・サポート", ISSUER_NUMBER, "株式会社さくら商事", "10ポイントパック", "INV-"):
        assert item in squeezed, item
    for figure in ("100,000", "10,000", "110,000", "10%"):
        assert figure in squeezed, figure
    assert re.search(r"\d{4}/\d{2}/\d{2}", text)  # the transaction date as YYYY/MM/DD
    assert (await ledger.balance(organization.id)).available == 0

    # By card: the (fake) Stripe checkout, whose notice arrives three times.
    await choose(page, 1, "card")
    await page.click("#buy")
    await page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/c/pay/cs_.*"))
    assert "55,000" in await page.inner_text("body")
    await page.click("#pay")
    await page.wait_for_url(re.compile(r".*/portal/purchases/\d+\?checkout=done$"))
    await page.wait_for_selector("#points-arrived", timeout=15_000)
    await page.reload()
    assert int(await page.get_attribute("#points-balance strong[data-available]", "data-available")) == 10
    deliveries = [d for d in stripe_for_browser.deliveries if d.type == "checkout.session.completed"]
    assert [d.status for d in deliveries] == [200, 200, 200]
    assert (await ledger.balance(organization.id)).available == 10
