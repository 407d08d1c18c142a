"""Invoices, receipts, credit notes and usage statements as finance and customers download them:
A4 PDFs read back as a reader of the document would read them, and the same templates as HTML."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from billing.documents import (
    Document, ExpiringLot, Issuer, Line, Statement, StatementLine, TaxTotal, document_pdf, month_ja, points,
    render_document_html, render_pdf, render_statement_html, statement_pdf, yen, yen_ja, ymd,
)

CREATED = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
A4 = (595, 842)  # points, rounded
ISSUER = Issuer(
    name="株式会社キップ・サポート", registration_number="T1234567890123",
    address="東京都千代田区丸の内1-1-1", phone="03-1234-5678", email="billing@kippu.example",
    bank_account="みずほ銀行 丸の内支店\n普通 1234567 カ）キップサポート",
)
TWO_RATES = dict(
    lines=(
        Line("サポートポイント 10ポイントパック", 2, 50_000, 100_000, 10),
        Line("オンサイト作業（2時間）", 1, 24_000, 24_000, 10),
        Line("会議用 飲料・菓子", 4, 800, 3_200, 8),
    ),
    taxes=(TaxTotal(10, 124_000, 12_400), TaxTotal(8, 3_200, 256)),
    subtotal_jpy=127_200, tax_jpy=12_656, total_jpy=139_856,
)


def make_document(**changes) -> Document:
    fields = dict(
        kind="invoice", number="INV-2026-000123", issued_on=date(2026, 10, 1), transaction_on=date(2026, 9, 30),
        recipient_name="株式会社ミライ商事", issuer=ISSUER, due_on=date(2026, 10, 31), **TWO_RATES,
    )
    return Document(**{**fields, **changes})


def pdf_text(data: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(data))
    return reader, re.sub(r"\s+", " ", "\n".join(page.extract_text() for page in reader.pages))


def fonts_of(reader: PdfReader) -> set[str]:
    return {str(font.get_object()["/BaseFont"]) for page in reader.pages
            for font in page["/Resources"]["/Font"].values()}


def fact(text: str, label: str) -> str:
    """The value printed after a label in the document's table of facts ("発行日 2026/10/01")."""
    found = re.search(rf"{re.escape(label)} (\S+)", text)
    assert found, (label, text)
    return found.group(1)


# ------------------------------------------------------------------------------ invoices


def test_an_invoice_shows_every_item_a_qualified_invoice_must_carry():
    reader, text = pdf_text(document_pdf(make_document(), CREATED))

    width, height = (round(float(v)) for v in reader.pages[0].mediabox[2:])
    assert (width, height) == A4
    assert "請求書" in text and "Invoice" not in text and "適格請求書" in text
    assert "株式会社キップ・サポート" in text
    assert "登録番号 T1234567890123" in text
    assert "株式会社ミライ商事 御中" in text
    assert fact(text, "請求書番号") == "INV-2026-000123"
    assert fact(text, "発行日") == "2026/10/01"
    assert fact(text, "取引年月日") == "2026/09/30"
    assert fact(text, "お支払期限") == "2026/10/31"
    # Each line: description, quantity, unit price, amount, its rate.
    assert "サポートポイント 10ポイントパック 2 ¥50,000 ¥100,000 10%" in text
    assert "オンサイト作業（2時間） 1 ¥24,000 ¥24,000 10%" in text
    assert "会議用 飲料・菓子 4 ¥800 ¥3,200 8%※" in text
    assert "ご請求金額（税込） ¥139,856" in text
    assert "合計（税込） ¥139,856" in text
    assert "お振込先" in text and "みずほ銀行 丸の内支店 普通 1234567 カ）キップサポート" in text
    assert "2026/10/31 までに139,856円をお振込みください。" in text
    assert "請求書 No. INV-2026-000123 1 / 1" in text  # the foot of the page


def test_the_pdf_is_the_japanese_document_and_the_browser_view_adds_english_labels():
    document = make_document()
    _reader, text = pdf_text(document_pdf(document, CREATED))
    html = render_document_html(document)
    assert "Amount due, tax included" not in text and "Registration No." not in text
    assert "Amount due, tax included" in html and "Registration No." in html
    assert "登録番号" in text and "ご請求金額（税込）" in text


def test_each_tax_rate_has_its_own_total_and_tax_and_the_reduced_rate_is_marked():
    _reader, text = pdf_text(document_pdf(make_document(), CREATED))

    assert "10%対象 ¥124,000 ¥12,400" in text
    assert "8%※対象 ¥3,200 ¥256" in text
    assert "小計 ¥127,200 ¥12,656" in text
    assert "※ は軽減税率（8%）の対象です。" in text


def test_an_invoice_at_one_rate_has_no_reduced_rate_legend_and_no_bank_block_without_an_account():
    document = make_document(
        issuer=Issuer(name="株式会社キップ・サポート", registration_number="T1234567890123"),
        lines=(Line("サポートポイント 10ポイントパック", 1, 50_000, 50_000, 10),),
        taxes=(TaxTotal(10, 50_000, 5_000),), subtotal_jpy=50_000, tax_jpy=5_000, total_jpy=55_000,
    )
    _reader, text = pdf_text(document_pdf(document, CREATED))

    assert "10%対象 ¥50,000 ¥5,000" in text and "合計（税込） ¥55,000" in text
    assert "8%" not in text and "軽減税率" not in text and "※" not in text
    assert "振込先" not in text


def test_a_corrected_invoice_names_the_invoice_it_corrects():
    corrected = make_document(number="INV-2026-000140", original_number="INV-2026-000123",
                              original_issued_on=date(2026, 10, 1))
    _reader, text = pdf_text(document_pdf(corrected, CREATED))

    assert "訂正請求書" in text
    assert fact(text, "請求書番号") == "INV-2026-000140"
    assert fact(text, "訂正する請求書") == "INV-2026-000123"
    assert "本書は請求書 No. INV-2026-000123（2026/10/01 発行）を訂正するものです。" in text
    assert "T1234567890123" in text and "8%※対象 ¥3,200 ¥256" in text


def test_a_plain_invoice_is_not_called_a_correction():
    _reader, text = pdf_text(document_pdf(make_document(), CREATED))
    assert "訂正" not in text


# ------------------------------------------------------------------------------ receipts and credit notes


def test_a_receipt_says_the_amount_was_received_when_and_how():
    receipt = make_document(kind="receipt", number="RCP-2026-000045", due_on=None, transaction_on=date(2026, 10, 5),
                            paid_on=date(2026, 10, 5), payment_method="card")
    _reader, text = pdf_text(document_pdf(receipt, CREATED))

    assert "領収書" in text
    assert "株式会社ミライ商事 御中" in text
    assert "領収金額（税込） ¥139,856-" in text
    assert "上記正に領収いたしました。" in text
    assert fact(text, "領収書番号") == "RCP-2026-000045"
    assert fact(text, "お支払日") == "2026/10/05"
    assert "お支払方法 クレジットカード / Card" in text
    assert "登録番号 T1234567890123" in text
    assert "10%対象 ¥124,000 ¥12,400" in text and "8%※対象 ¥3,200 ¥256" in text
    assert "お支払期限" not in text and "振込先" not in text


def test_a_credit_note_names_the_original_document_and_says_the_amounts_are_returned():
    credit_note = make_document(
        kind="credit_note", number="CN-2026-000007", due_on=None, issued_on=date(2026, 11, 20),
        transaction_on=date(2026, 11, 19), original_number="INV-2026-000123", original_issued_on=date(2026, 10, 1),
        lines=(Line("サポートポイント 未使用分の返金（8ポイント）", 8, 5_000, 40_000, 10),),
        taxes=(TaxTotal(10, 40_000, 4_000),), subtotal_jpy=40_000, tax_jpy=4_000, total_jpy=44_000,
    )
    _reader, text = pdf_text(document_pdf(credit_note, CREATED))

    assert "返還請求書" in text and "Credit note" not in text and "適格返還請求書" in text
    assert fact(text, "返還請求書番号") == "CN-2026-000007"
    assert fact(text, "返還年月日") == "2026/11/19"
    assert fact(text, "元の書類番号") == "INV-2026-000123"
    assert fact(text, "元の書類の発行日") == "2026/10/01"
    assert "下記のとおり 44,000円（税込）を返還いたします。" in text
    assert "返還金額（税込） ¥44,000" in text
    assert "サポートポイント 未使用分の返金（8ポイント） 8 ¥5,000 ¥40,000 10%" in text
    assert "返還額（税抜）" in text and "返還消費税額" in text and "10%対象 ¥40,000 ¥4,000" in text
    assert "T1234567890123" in text and "株式会社ミライ商事 御中" in text


# ------------------------------------------------------------------------------ fonts, bytes, the browser view


def test_japanese_text_comes_back_as_japanese_from_the_japanese_font():
    reader, text = pdf_text(document_pdf(make_document(), CREATED))

    assert "\ufffd" not in text
    assert "下記のとおりご請求申し上げます。" in text
    names = fonts_of(reader)
    # One embedded font, subset (the "ABCDEF+" prefix), for kana, kanji, Latin, ¥ and ※ alike.
    assert len(names) == 1 and re.fullmatch(r"/[A-Z]{6}\+IPAexGothic", names.pop())


def test_the_same_document_renders_to_the_same_bytes_even_in_another_process():
    first = document_pdf(make_document(), CREATED)
    assert document_pdf(make_document(), CREATED) == first
    assert PdfReader(io.BytesIO(first)).metadata.creation_date == CREATED

    script = (
        "import hashlib, sys; sys.path.insert(0, '.');"
        "from tests.integration.test_documents_pdf import CREATED, make_document;"
        "from billing.documents import document_pdf;"
        "print(hashlib.sha256(document_pdf(make_document(), CREATED)).hexdigest())"
    )
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                           cwd=Path(__file__).resolve().parents[2], check=True)
    assert fresh.stdout.strip() == hashlib.sha256(first).hexdigest()


def test_the_creation_time_is_an_instant():
    assert document_pdf(make_document(), CREATED) != document_pdf(make_document(), CREATED + timedelta(seconds=1))
    in_tokyo = CREATED.astimezone(ZoneInfo("Asia/Tokyo"))
    assert document_pdf(make_document(), in_tokyo) == document_pdf(make_document(), CREATED)
    with pytest.raises(ValueError):
        document_pdf(make_document(), CREATED.replace(tzinfo=None))


def test_the_browser_view_stamps_the_status_and_the_pdf_never_does():
    document = make_document()

    html = render_document_html(document, status="void")
    assert re.search(r'<div class="stamp" role="status">無効<small>Void</small></div>', html)
    assert "@page" in html and "株式会社ミライ商事 御中" in html
    assert 'class="stamp"' not in render_document_html(document)
    assert "差替済" in render_document_html(document, status="replaced")

    _reader, text = pdf_text(document_pdf(document, CREATED))
    assert "無効" not in text and "Void" not in text


def test_text_from_the_data_is_escaped_in_the_html():
    html = render_document_html(make_document(recipient_name="<script>alert(1)</script>"))
    assert "<script>" not in html and "&lt;script&gt;" in html


# ------------------------------------------------------------------------------ statements

SUBJECTS = ("プリンターから印刷できない", "VPN に接続できない",
            "会計ソフトの月次締め処理で「締め済みの期間です」というエラーが出て先に進めない件について、"
            "経理部の三名の端末で同じ症状が出ています")


def make_statement(line_count: int, expiring=(ExpiringLot(date(2026, 11, 30), 12), ExpiringLot(date(2027, 1, 15), 30))):
    lines = [StatementLine(date(2026, 10, 1), "purchase", "10ポイントパック ×2", 20)]
    for n in range(1, line_count):
        lines.append(StatementLine(
            date(2026, 10, 1) + timedelta(days=n * 30 // line_count), "capture", "利用", -(n % 3 + 1),
            f"#{10_000 + n}", f"{SUBJECTS[n % 3]}（{n}件目）", "障害調査"))
    consumed = -sum(line.points for line in lines if line.kind == "capture")
    # Given newest first: the statement puts them in date order.
    lines.reverse()
    return Statement(
        organization_name="株式会社ミライ商事", month="2026-10", period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31), issued_on=date(2026, 11, 1), issuer=ISSUER, opening_points=1_200,
        purchased_points=20, granted_points=5, adjusted_points=-2, consumed_points=consumed, expired_points=4,
        refunded_points=3, closing_points=1_200 + 20 + 5 - 2 - consumed - 4 - 3, held_points=6,
        lines=tuple(lines), expiring_soon=expiring,
    )


def test_a_statement_shows_the_months_figures_each_consumption_and_what_expires_soon():
    statement = make_statement(6)
    # A grant, an adjustment and an expiry on the same day keep the order they were given in.
    statement = replace(statement, lines=statement.lines + (
        StatementLine(date(2026, 10, 20), "grant", "障害対応のお詫び", 5),
        StatementLine(date(2026, 10, 20), "adjustment", "二重計上の訂正", -2),
        StatementLine(date(2026, 10, 20), "expire", "2025/10 購入分の期限切れ", -4),
        StatementLine(date(2026, 10, 21), "refund", "未使用分の返金", -3),
    ))
    reader, text = pdf_text(statement_pdf(statement, CREATED))

    assert "利用明細書" in text and "Usage statement" not in text and "2026年10月分" in text
    assert "株式会社ミライ商事 御中" in text
    assert "対象期間 2026/10/01 〜 2026/10/31" in text
    assert fact(text, "発行日") == "2026/11/01"
    consumed = statement.consumed_points
    closing = 1_200 + 20 + 5 - 2 - consumed - 4 - 3
    for label, figure in (("前月末残高", "1,200"), ("購入", "+20"), ("付与", "+5"), ("調整", "−2"),
                          ("利用", f"−{consumed}"), ("失効", "−4"), ("返金", "−3"), ("当月末残高", f"{closing:,}"),
                          ("うち保留中", "6"), ("うち利用可能", f"{closing - 6:,}")):
        assert f"{label} {figure} " in text, (label, figure, text)
    # A consumption line: date, kind, request number and subject, request type, points.
    assert "2026/10/06 利用 #10001 VPN に接続できない（1件目）（障害調査） −2" in text
    assert "2026/10/01 購入 10ポイントパック ×2 +20" in text
    assert "2026/10/20 付与 障害対応のお詫び +5 2026/10/20 調整 二重計上の訂正 −2 2026/10/20 失効 2025/10 購入分の期限切れ −4" in text
    assert (text.index("#10001") < text.index("#10003") < text.index("障害対応のお詫び") < text.index("#10004")
            < text.index("未使用分の返金") < text.index("#10005"))
    assert "有効期限" in text and "2026/11/30 12" in text and "2027/01/15 30" in text
    assert "2026/11/01 〜 2027/01/29" in text
    assert f"1 / {len(reader.pages)}" in text
    assert "\ufffd" not in text


def test_a_quiet_month_says_there_was_nothing():
    statement = replace(make_statement(1), lines=(), expiring_soon=())
    _reader, text = pdf_text(statement_pdf(statement, CREATED))
    assert "当月のポイントの増減はありません。" in text
    assert "2026/11/01 〜 2027/01/29 に有効期限を迎えるポイントはありません。" in text
    assert "日付・区分" not in text


def test_a_long_statement_runs_over_pages_with_headings_page_numbers_and_whole_rows():
    statement = make_statement(300)
    reader, _text = pdf_text(statement_pdf(statement, CREATED))
    pages = [re.sub(r"\s+", " ", page.extract_text()) for page in reader.pages]

    count = len(pages)
    assert count >= 3
    for number, page in enumerate(pages, start=1):
        assert f"利用明細書 2026年10月分 · 株式会社ミライ商事 {number} / {count}" in page
        if "#10" in page:
            assert "日付・区分" in page  # the activity table's heading, on every page of it
    # Every row, a long wrapped subject included, is on one page whole: its date and kind are never
    # left at the foot of a page without what the line is about, and its subject starts and ends
    # on the same page.
    for page in pages:
        assert not re.search(r"\d{4}/\d\d/\d\d 利用 [−+]", page), page
    for n in range(1, 300):
        starts = [i for i, page in enumerate(pages) if f"#{10_000 + n} " in page]
        ends = [i for i, page in enumerate(pages) if f"（{n}件目）" in page.replace(" ", "")]
        assert len(starts) == 1 and starts == ends, (n, starts, ends)
    # In date order across the pages.
    days = re.findall(r"(2026/10/\d\d) (?:利用|購入) ", " ".join(pages))
    assert len(days) == 300 and days == sorted(days)


def test_a_statement_is_the_same_bytes_every_time():
    statement = make_statement(40)
    assert statement_pdf(statement, CREATED) == statement_pdf(statement, CREATED)
    assert "#10001" in render_statement_html(statement)


# ------------------------------------------------------------------------------ how numbers read


def test_numbers_and_dates_read_the_japanese_way():
    assert yen(12_345) == "¥12,345" and yen(0) == "¥0" and yen(-500) == "−¥500"
    assert yen_ja(12_345) == "12,345円"
    assert points(1_234_567) == "1,234,567"
    assert ymd(date(2026, 1, 5)) == "2026/01/05"
    assert month_ja("2026-10") == "2026年10月" and month_ja(date(2026, 3, 31)) == "2026年3月"


@pytest.mark.parametrize("amount", [1.5, True, "100"])
def test_amounts_must_be_whole_numbers(amount):
    with pytest.raises(TypeError):
        yen(amount)


def test_the_browser_view_printed_reads_as_the_stored_pdf():
    # Printing the browser view (print media hides its English labels) gives the PDF's text.
    html = render_document_html(make_document())
    assert pdf_text(render_pdf(html, created=CREATED))[1] == pdf_text(document_pdf(make_document(), CREATED))[1]


def test_the_month_end_pool_renders_the_same_statements_in_its_worker_processes():
    from functools import partial

    from billing.documents import statement_pool

    statements = [make_statement(5), make_statement(12)]
    with statement_pool(workers=1) as pool:
        rendered = list(pool.map(partial(statement_pdf, created=CREATED), statements))
    assert rendered == [statement_pdf(statement, CREATED) for statement in statements]
