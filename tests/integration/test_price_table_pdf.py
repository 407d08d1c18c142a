"""The point table as a document the vendor hands out: an A4 PDF with real Japanese text, and the
same template in the browser."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from billing.documents import render_pdf
from pricing import Bundle, PrioritySurcharge, RequestTypePrice
from pricing import services as pricing
from tests.factories import make_organization, make_user, sign_in

PRICES = (
    RequestTypePrice(code="question", name_ja="操作方法のご質問", name_en="How-to question", points=1,
                     scope_ja="操作方法についてのご質問1件", scope_en="One how-to question"),
    RequestTypePrice(code="investigation", name_ja="障害調査", name_en="Fault investigation", points=3,
                     scope_ja="障害の原因調査と報告", included_minutes=60, block_minutes=30, points_per_block=1),
    RequestTypePrice(code="change", name_ja="設定変更作業", name_en="Configuration change", points=12),
)
A4 = (595, 842)  # points, rounded


async def publish(*prices, urgent=2) -> int:
    version = await pricing.create_draft()
    for n, price in enumerate(prices):
        await pricing.set_request_type(version, price, sort_order=n)
    await pricing.set_surcharge(version, PrioritySurcharge("urgent", urgent))
    await pricing.publish(version)
    return version


def pdf_text(data: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(data))
    return reader, re.sub(r"\s+", " ", "\n".join(page.extract_text() for page in reader.pages))


def fonts_of(reader: PdfReader) -> set[str]:
    names = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]))
    return names


async def test_customers_download_the_table_in_force_as_an_a4_pdf_with_japanese_text(client):
    await publish(*PRICES)
    await pricing.save_bundle(Bundle("P10", "10ポイントパック", "10-point bundle", points=10, price_jpy=50000,
                                     tax_rate=10, validity_months=12, min_quantity=2, max_quantity=20))
    customer = await make_user("customer_member", organization=await make_organization())
    await sign_in(client, customer)

    response = await client.get("/portal/price-table.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    reader, text = pdf_text(response.content)
    width, height = (round(float(v)) for v in reader.pages[0].mediabox[2:])
    assert (width, height) == A4
    for name, points in (("操作方法のご質問", "1"), ("障害調査", "3"), ("設定変更作業", "12")):
        assert re.search(rf"{name}.*? {points} ", text), (name, text)
    assert "操作方法についてのご質問1件" in text
    # A table cell wraps its text, so compare without the line breaks.
    assert "60分まで対応、以降30分ごとに1ポイント" in text.replace(" ", "")
    assert "ポイント表" in text and "第1版" in text
    assert "10ポイントパック" in text and "¥50,000" in text and "2〜20" in text
    assert "\ufffd" not in text  # no glyph lost on the way
    assert any("IPAex" in f or "Noto" in f for f in fonts_of(reader)), fonts_of(reader)


async def test_the_same_template_is_viewable_as_html(client):
    await publish(*PRICES)
    await sign_in(client, await make_user("customer_member", organization=await make_organization()))
    response = await client.get("/portal/price-table.html")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "設定変更作業" in response.text and "@page" in response.text


async def test_the_admin_downloads_any_version_and_previews_a_draft(client):
    await publish(*PRICES[:1])
    draft = await pricing.create_draft()
    await pricing.set_request_type(draft, RequestTypePrice("question", "操作方法のご質問", "How-to", points=4))
    await sign_in(client, await make_user("admin"))

    first = await client.get("/admin/point-table/1.pdf")
    assert first.status_code == 200
    _reader, text = pdf_text(first.content)
    assert re.search(r"操作方法のご質問.*? 1 ", text) and "第1版" in text
    preview = await client.get("/admin/point-table/2.pdf")
    _reader, text = pdf_text(preview.content)
    assert re.search(r"操作方法のご質問.*? 4 ", text) and "第2版" in text
    html = await client.get("/admin/point-table/1.html")
    assert html.status_code == 200 and "操作方法のご質問" in html.text
    assert (await client.get("/admin/point-table/9.pdf")).status_code == 404


async def test_customers_cannot_reach_the_admin_documents(client):
    await publish(*PRICES)
    await sign_in(client, await make_user("customer_admin", organization=await make_organization()))
    assert (await client.get("/admin/point-table/1.pdf")).status_code == 403


def test_rendering_the_same_html_twice_gives_the_same_bytes():
    html = ('<html><head><style>@page { size: A4 } html { font-family: "IPAexGothic", "Noto Sans CJK JP" }'
            "</style></head><body><h1>適格請求書</h1><p>合計 ¥11,000</p></body></html>")
    first, second = render_pdf(html), render_pdf(html)
    assert first == second
    assert "適格請求書" in pdf_text(first)[1]
