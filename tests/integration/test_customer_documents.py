"""A customer company's own documents, as its administrator downloads them: the invoices through
the API and the portal, the receipt of a card payment, and the monthly usage statement of a month
that has ended (the same bytes every time). Members of the company are refused them (403); another
company's documents do not exist for it (404)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from app import db
from billing import clock, invoicing, ledger, purchases
from tests.factories import (
    bearer,
    make_bundle,
    make_issuer,
    make_organization,
    make_request_type,
    make_ticket,
    make_user,
    sign_in,
)


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", "\n".join(page.extract_text() for page in reader.pages))


def assert_pdf_download(response, filename: str) -> str:
    """The response is the PDF named `filename`; returns its text."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'inline; filename="{filename}"'
    assert response.content.startswith(b"%PDF")
    return pdf_text(response.content)


def month_of(day) -> str:
    return f"{day:%Y-%m}"


def last_month() -> str:
    return month_of(clock.today().replace(day=1) - timedelta(days=1))


def this_month() -> str:
    return month_of(clock.today())


def in_last_month(day: int) -> datetime:
    """Noon in Tokyo on a day of last month."""
    on = (clock.today().replace(day=1) - timedelta(days=1)).replace(day=day)
    return datetime(on.year, on.month, on.day, 3, tzinfo=UTC)


@pytest.fixture
async def company():
    """An issuer, a 10-point bundle at ¥50,000 + 10 %, the company さくら商事 with its administrator
    and a member, and another company."""
    await make_issuer()
    await make_bundle("P10", points=10, price_jpy=50_000)
    organization = await make_organization("株式会社さくら商事")
    admin = await make_user("customer_admin", organization=organization, name="田中 管理")
    member = await make_user("customer_member", organization=organization, name="佐藤 社員")
    other = await make_organization("株式会社ベータ")
    return organization, admin, member, other


async def buy(organization, quantity=1, *, method="invoice", on=None):
    return await purchases.start_purchase(organization.id, "P10", quantity, method, recipient_name=organization.name,
                                          today=on)


async def document_of(purchase, kind: str) -> invoicing.IssuedDocument:
    (document,) = [d for d in await invoicing.documents_of_purchase(purchase.id) if d.kind == kind]
    return document


async def paid_by_card(organization, quantity=1):
    """A card purchase whose payment Stripe confirmed (its points granted, its receipt issued)."""
    purchase = await buy(organization, quantity, method="card")
    settled, _ = await purchases.settle_card_payment(purchase.id, paid_at=clock.now(),
                                                     payment_intent=f"pi_test_{purchase.id}")
    return settled


async def last_months_history(organization, requester):
    """Last month: 20 points granted on the 2nd, 10 bought by card on the 5th, a request charged 3
    on the 10th, 1 point adjusted away on the 20th. This month: 5 more granted."""

    async def on(day: int, write):
        # In a transaction of its own the ledger call runs in this task, so clock.at dates it.
        with clock.at(in_last_month(day)):
            async with db.write_transaction():
                return await write()

    await on(2, lambda: ledger.grant(organization.id, 20, "ご契約時の付与", None, key="grant-last-month"))
    await on(5, lambda: paid_by_card(organization))
    ticket = await make_ticket(organization, requester, await make_request_type("general"),
                               subject="VPN に接続できない")
    hold = await on(10, lambda: ledger.hold(organization.id, 3, ticket_id=ticket.id, key="hold-last-month"))
    await on(10, lambda: ledger.capture(hold, "capture-last-month"))
    await on(20, lambda: ledger.adjust(organization.id, -1, "二重計上の訂正", key="adjust-last-month"))
    await ledger.grant(organization.id, 5, "キャンペーン", None, key="grant-this-month")
    return ticket


# ------------------------------------------------------------------------------------ the API


async def test_the_api_lists_the_admins_own_invoices_of_the_month_and_not_another_companys(client, company):
    organization, admin, _member, other = company
    older = await document_of(await buy(organization, on=in_last_month(15).date()), "invoice")
    first = await document_of(await buy(organization), "invoice")
    second = await document_of(await buy(organization, 2), "invoice")
    elsewhere = await document_of(await buy(other), "invoice")
    headers = await bearer(admin)

    async def listed(**params) -> list[tuple[str, int, int]]:
        response = await client.get("/api/v1/invoices", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [(i["number"], i["total_jpy"], i["organization"]) for i in response.json()["items"]]

    assert await listed(organization=organization.id, month=this_month()) == [
        (second.number, 110_000, organization.id), (first.number, 55_000, organization.id)]
    assert await listed(organization=organization.id, month=last_month()) == [(older.number, 55_000, organization.id)]
    assert [number for number, _, _ in await listed()] == [second.number, first.number, older.number]
    refused = await client.get("/api/v1/invoices", params={"organization": other.id}, headers=headers)
    assert refused.status_code == 404 and elsewhere.number not in refused.text


async def test_the_api_gives_the_admin_their_invoices_pdf_with_its_number_and_total(client, company):
    organization, admin, _member, _other = company
    invoice = await document_of(await buy(organization, 2), "invoice")

    response = await client.get(f"/api/v1/invoices/{invoice.id}/pdf", headers=await bearer(admin))
    text = assert_pdf_download(response, f"{invoice.number}.pdf")
    assert "請求書" in text and f"請求書番号 {invoice.number}" in text
    assert "株式会社さくら商事 御中" in text
    assert "ご請求金額（税込） ¥110,000" in text and "10%対象 ¥100,000 ¥10,000" in text
    again = await client.get(f"/api/v1/invoices/{invoice.id}/pdf", headers=await bearer(admin))
    assert again.content == response.content


async def test_the_api_gives_last_months_statement_with_its_figures_the_same_bytes_twice(client, company):
    organization, admin, member, _other = company
    ticket = await last_months_history(organization, member)
    month = last_month()
    url = f"/api/v1/organizations/{organization.id}/statements/{month}/pdf"

    response = await client.get(url, headers=await bearer(admin))
    text = assert_pdf_download(response, f"statement-{month}.pdf")
    year, number = month.split("-")
    assert "利用明細書" in text and f"{int(year)}年{int(number)}月分" in text
    assert "株式会社さくら商事 御中" in text
    for label, figure in (("前月末残高", "0"), ("購入", "+10"), ("付与", "+20"), ("調整", "−1"), ("利用", "−3"),
                          ("失効", "0"), ("当月末残高", "26")):
        assert f"{label} {figure} " in text, (label, figure, text)
    assert f"{ticket.number} VPN に接続できない（一般的な質問） −3" in text
    assert "二重計上の訂正 −1" in text and "キャンペーン" not in text  # this month's grant is not last month's
    again = await client.get(url, headers=await bearer(admin))
    assert again.status_code == 200 and again.content == response.content


async def test_the_api_refuses_a_statement_of_the_month_under_way(client, company):
    organization, admin, _member, _other = company
    response = await client.get(f"/api/v1/organizations/{organization.id}/statements/{this_month()}/pdf",
                                headers=await bearer(admin))
    assert response.status_code == 422 and this_month() in response.json()["message"]


# ------------------------------------------------------------------------------------ the portal


async def test_the_portal_billing_page_links_the_invoice_whose_pdf_downloads(client, company):
    organization, admin, _member, other = company
    invoice = await document_of(await buy(organization), "invoice")
    elsewhere = await document_of(await buy(other), "invoice")
    await sign_in(client, admin)

    billing = await client.get("/portal/billing")
    assert billing.status_code == 200
    assert invoice.number in billing.text and elsewhere.number not in billing.text
    assert f'href="/portal/documents/{invoice.id}/pdf"' in billing.text
    text = assert_pdf_download(await client.get(f"/portal/documents/{invoice.id}/pdf"), f"{invoice.number}.pdf")
    assert f"請求書番号 {invoice.number}" in text and "ご請求金額（税込） ¥55,000" in text
    view = await client.get(f"/portal/documents/{invoice.id}")
    assert view.status_code == 200 and view.headers["content-type"].startswith("text/html")
    assert invoice.number in view.text and "株式会社さくら商事" in view.text


async def test_a_card_payments_receipt_downloads_from_the_purchase_page_with_the_amount(client, company):
    organization, admin, _member, _other = company
    purchase = await paid_by_card(organization)
    receipt = await document_of(purchase, "receipt")
    await sign_in(client, admin)

    page = await client.get(f"/portal/purchases/{purchase.id}")
    assert page.status_code == 200 and 'id="points-arrived"' in page.text
    link = re.search(rf'<code>{re.escape(receipt.number)}</code>.*?<a href="([^"]+/pdf)"', page.text, re.S).group(1)
    text = assert_pdf_download(await client.get(link), f"{receipt.number}.pdf")
    assert "領収書" in text and f"領収書番号 {receipt.number}" in text
    assert "領収金額（税込） ¥55,000-" in text and "お支払方法 クレジットカード" in text
    assert "株式会社さくら商事 御中" in text


async def test_the_portal_shows_this_months_statement_so_far_and_downloads_last_months(client, company):
    organization, admin, member, _other = company
    await last_months_history(organization, member)
    await sign_in(client, admin)
    month = last_month()

    billing = (await client.get("/portal/billing")).text
    assert f'href="/portal/statements/{month}/pdf"' in billing
    assert f'href="/portal/statements/{this_month()}/pdf"' not in billing
    so_far = await client.get(f"/portal/statements/{this_month()}")
    assert so_far.status_code == 200 and so_far.headers["content-type"].startswith("text/html")
    assert "株式会社さくら商事" in so_far.text and "キャンペーン" in so_far.text
    assert re.search(r"前月末残高.*?</th>\s*<td[^>]*>26<", so_far.text, re.S)
    ended = await client.get(f"/portal/statements/{month}")
    assert ended.status_code == 200 and "二重計上の訂正" in ended.text and "キャンペーン" not in ended.text

    pdf = await client.get(f"/portal/statements/{month}/pdf")
    text = assert_pdf_download(pdf, f"statement-{month}.pdf")
    assert "株式会社さくら商事 御中" in text and "当月末残高 26 " in text
    api = await client.get(f"/api/v1/organizations/{organization.id}/statements/{month}/pdf",
                           headers=await bearer(admin))
    assert api.content == pdf.content
    under_way = await client.get(f"/portal/statements/{this_month()}/pdf")
    assert under_way.status_code == 422


# ------------------------------------------------------------------------------------ who may


async def test_a_member_is_refused_the_companys_invoices_receipts_and_statements(client, company):
    organization, _admin, member, _other = company
    invoice = await document_of(await buy(organization), "invoice")
    purchase = await paid_by_card(organization)
    receipt = await document_of(purchase, "receipt")
    headers = await bearer(member)
    month = last_month()

    for url in ("/api/v1/invoices", f"/api/v1/invoices/{invoice.id}/pdf",
                f"/api/v1/organizations/{organization.id}/statements/{month}/pdf"):
        response = await client.get(url, headers=headers)
        assert response.status_code == 403, f"{url} answered {response.status_code}"
    await sign_in(client, member)
    for url in (f"/portal/documents/{invoice.id}/pdf", f"/portal/documents/{receipt.id}/pdf",
                f"/portal/documents/{invoice.id}", f"/portal/statements/{month}", f"/portal/statements/{month}/pdf"):
        response = await client.get(url)
        assert response.status_code == 403, f"{url} answered {response.status_code}"
        assert not response.content.startswith(b"%PDF")
    # The member sees the purchase and its points, but not its documents.
    page = await client.get(f"/portal/purchases/{purchase.id}")
    assert page.status_code == 200 and 'id="points-arrived"' in page.text
    assert receipt.number not in page.text and "/pdf" not in page.text
