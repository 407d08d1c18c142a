"""Buying points in the portal: the price, tax and total before paying, the minimum and maximum
with a clear message, the invoice or the card checkout, and who may buy."""

from __future__ import annotations

import re

import pytest

from billing import invoicing
from billing.tables import Purchase
from tests.factories import csrf, make_bundle, make_issuer, make_organization, make_user, sign_in


@pytest.fixture
async def company():
    await make_issuer()
    await make_bundle("P10", points=10, price_jpy=50_000, min_quantity=2, max_quantity=20)
    organization = await make_organization("株式会社さくら商事")
    admin = await make_user("customer_admin", organization=organization)
    member = await make_user("customer_member", organization=organization)
    return organization, admin, member


async def test_the_purchase_page_shows_points_price_tax_and_total_before_paying(client, company):
    _organization, admin, _ = company
    await sign_in(client, admin)
    page = await client.get("/portal/purchase")
    assert page.status_code == 200
    assert "10ポイントパック" in page.text and "2〜20" in page.text
    quote = await client.get("/portal/purchase/quote", params={"bundle": "P10", "quantity": "3"},
                             headers={"HX-Request": "true"})
    assert 'data-points="30"' in quote.text and 'data-total="165000"' in quote.text
    assert "¥150,000" in quote.text and "¥15,000" in quote.text and "¥165,000" in quote.text
    below = await client.get("/portal/purchase/quote", params={"bundle": "P10", "quantity": "1"},
                             headers={"HX-Request": "true"})
    assert "最低購入数は 2 です。" in below.text
    nonsense = await client.get("/portal/purchase/quote", params={"bundle": "P10", "quantity": "三"},
                                headers={"HX-Request": "true"})
    assert nonsense.status_code == 200 and 'id="quote-error"' in nonsense.text


async def test_buying_by_invoice_from_the_form_issues_the_invoice_once(client, company):
    organization, admin, _ = company
    await sign_in(client, admin)
    form = {"bundle": "P10", "quantity": "2", "method": "invoice", "recipient_name": "株式会社さくら商事 経理部",
            "token": "one-time", **csrf(client)}
    first = await client.post("/portal/purchase", data=form)
    again = await client.post("/portal/purchase", data=form)
    assert first.status_code in (302, 303) and again.headers["location"] == first.headers["location"]
    purchase_id = int(re.search(r"/portal/purchases/(\d+)", first.headers["location"])[1])
    (invoice,) = await invoicing.documents_of_purchase(purchase_id)
    assert invoice.document.recipient_name == "株式会社さくら商事 経理部"
    assert invoice.document.total_jpy == 110_000
    status = await client.get(f"/portal/purchases/{purchase_id}")
    assert invoice.number in status.text and "振込" in status.text
    billing = await client.get("/portal/billing")
    assert invoice.number in billing.text and 'data-status="awaiting_payment"' in billing.text
    assert await Purchase.count() == 1


async def test_a_refused_purchase_shows_the_form_again_with_the_message_by_the_quantity(client, company):
    _organization, admin, _ = company
    await sign_in(client, admin)
    refused = await client.post("/portal/purchase", data={
        "bundle": "P10", "quantity": "25", "method": "invoice", "recipient_name": "x", "token": "t", **csrf(client)})
    assert refused.status_code == 422
    assert 'id="quantity-error"' in refused.text and "最大購入数は 20 です。" in refused.text
    assert 'value="25"' in refused.text
    no_method = await client.post("/portal/purchase", data={
        "bundle": "P10", "quantity": "2", "method": "", "recipient_name": "x", "token": "t2", **csrf(client)})
    assert no_method.status_code == 422 and 'id="method-error"' in no_method.text
    assert await Purchase.count() == 0


async def test_buying_by_card_sends_the_customer_to_the_checkout(client, company, settings, monkeypatch):
    monkeypatch.setattr(settings, "stripe_secret_key", None)
    _organization, admin, _ = company
    await sign_in(client, admin)
    response = await client.post("/portal/purchase", data={
        "bundle": "P10", "quantity": "2", "method": "card", "recipient_name": "x", "token": "t", **csrf(client)})
    assert response.status_code in (302, 303)
    assert re.search(r"/test-payments/\d+$", response.headers["location"])


async def test_members_are_told_to_ask_their_admin_and_cannot_buy(client, company):
    _organization, _admin, member = company
    await sign_in(client, member)
    page = await client.get("/portal/purchase")
    assert page.status_code == 403 and "管理者" in page.text
    assert (await client.get("/portal/billing")).status_code == 403
    refused = await client.post("/portal/purchase", data={
        "bundle": "P10", "quantity": "2", "method": "invoice", "recipient_name": "x", **csrf(client)})
    assert refused.status_code == 403
    assert await Purchase.count() == 0


async def test_before_the_vendor_sets_its_issuer_the_page_says_points_cannot_be_bought_online(client):
    await make_bundle("P10")
    organization = await make_organization()
    await sign_in(client, await make_user("customer_admin", organization=organization))
    page = await client.get("/portal/purchase")
    assert page.status_code == 200 and 'id="buy"' not in page.text
    assert "お問い合わせ" in page.text or "ご連絡" in page.text
