"""The administrator edits the point table in a draft and publishes it; bundles are edited in place."""

from __future__ import annotations

import re
from datetime import timedelta

from billing import clock
from pricing import Bundle, PrioritySurcharge, RequestTypePrice
from pricing import services as pricing
from tests.factories import csrf, make_organization, make_user, sign_in

QUESTION = RequestTypePrice(code="question", name_ja="操作方法のご質問", name_en="How-to question", points=1)


async def publish_first_table() -> int:
    version = await pricing.create_draft("初版")
    await pricing.set_request_type(version, QUESTION)
    await pricing.set_surcharge(version, PrioritySurcharge("urgent", 1))
    await pricing.publish(version)
    return version


def field_error(html: str, field: str) -> str | None:
    match = re.search(rf'id="{field}-error"[^>]*>([^<]+)<', html)
    return match.group(1) if match else None


async def test_a_draft_is_edited_and_published_and_customers_see_the_new_prices(client):
    await publish_first_table()
    filed = await pricing.quote_request("question", "urgent")
    customer = await make_user("customer_member", organization=await make_organization())
    await sign_in(client, await make_user("admin"))

    made = await client.post("/admin/point-table", data={"note": "2027年度改定", **csrf(client)})
    assert made.status_code in (302, 303) and made.headers["location"] == "/admin/point-table/2"
    draft = (await client.get("/admin/point-table/2")).text
    assert "下書き" in draft and "操作方法のご質問" in draft  # a copy of the version in force

    changed = await client.post("/admin/point-table/2/request-types", data={
        "code": "question", "name_ja": "操作方法のご質問", "name_en": "How-to question", "points": "2",
        "scope_ja": "操作方法についてのご質問1件", "scope_en": "One how-to question", **csrf(client)})
    assert changed.status_code in (302, 303)
    added = await client.post("/admin/point-table/2/request-types", data={
        "code": "investigation", "name_ja": "障害調査", "name_en": "Fault investigation", "points": "3",
        "included_minutes": "60", "block_minutes": "30", "points_per_block": "1", **csrf(client)})
    assert added.status_code in (302, 303)
    surcharges = await client.post("/admin/point-table/2/surcharges",
                                   data={"urgent": "3", "normal": "0", "low": "0", **csrf(client)})
    assert surcharges.status_code in (302, 303)

    # Still a draft: the customers' table is the first version.
    assert (await pricing.table_in_force()).version == 1
    published = await client.post("/admin/point-table/2/publish", data={"effective_on": "", **csrf(client)})
    assert published.status_code in (302, 303)
    versions = (await client.get("/admin/point-table")).text
    assert re.search(r'data-version="2" class="version-published">.*?適用中', versions, re.S)

    table = await pricing.table_in_force()
    assert table.version == 2
    assert [(p.code, p.points) for p in table.request_types] == [("question", 2), ("investigation", 3)]
    assert table.request_type("investigation").block_minutes == 30
    assert table.surcharge("urgent").points == 3
    # The request filed before keeps the price of the version it was filed under.
    assert (await pricing.quote_request("question", "urgent", version_id=filed.version_id)).points == 2

    await client.post("/logout", data=csrf(client))
    await sign_in(client, customer)
    page = (await client.get("/portal/price-table")).text
    assert "第2版" in page and "障害調査" in page and "操作方法についてのご質問1件" in page and "至急: +3" in page


async def test_a_version_published_for_a_later_day_waits_for_that_day(client):
    await publish_first_table()
    await sign_in(client, await make_user("admin"))
    await client.post("/admin/point-table", data=csrf(client))
    await client.post("/admin/point-table/2/request-types", data={
        "code": "question", "name_ja": "質問", "name_en": "Question", "points": "5", **csrf(client)})
    starts = clock.today() + timedelta(days=7)
    response = await client.post("/admin/point-table/2/publish",
                                 data={"effective_on": starts.strftime("%Y/%m/%d"), **csrf(client)})
    assert response.status_code in (302, 303)
    assert (await pricing.table_in_force()).version == 1
    versions = (await client.get("/admin/point-table")).text
    assert starts.strftime("%Y/%m/%d") + " 00:00" in versions
    assert re.search(r'data-version="1" class="version-published">.*?適用中', versions, re.S)


async def test_a_start_in_the_past_is_refused_next_to_the_date(client):
    await publish_first_table()
    await sign_in(client, await make_user("admin"))
    await client.post("/admin/point-table", data=csrf(client))
    response = await client.post("/admin/point-table/2/publish", data={"effective_on": "2020/01/01", **csrf(client)})
    assert response.status_code == 422
    assert field_error(response.text, "effective_on") == "ポイント表の適用開始日時を過去にすることはできません。"
    assert (await pricing.versions())[0]["status"] == "draft"


async def test_bad_prices_are_refused_next_to_their_field_keeping_what_was_typed(client):
    await sign_in(client, await make_user("admin"))
    await client.post("/admin/point-table", data=csrf(client))
    base = {"code": "question", "name_ja": "質問", "name_en": "Question", "points": "1", **csrf(client)}

    words = await client.post("/admin/point-table/1/request-types", data={**base, "points": "たくさん"})
    assert words.status_code == 422
    assert field_error(words.text, "points") == "整数を入力してください。"
    assert 'value="たくさん"' in words.text
    superscript = await client.post("/admin/point-table/1/request-types", data={**base, "points": "²"})
    assert field_error(superscript.text, "points") == "整数を入力してください。"
    negative = await client.post("/admin/point-table/1/request-types", data={**base, "points": "-1"})
    assert field_error(negative.text, "points") == "0 以上の整数を入力してください。"
    partial = await client.post("/admin/point-table/1/request-types", data={**base, "included_minutes": "30"})
    assert partial.status_code == 422 and field_error(partial.text, "block_minutes")
    no_name = await client.post("/admin/point-table/1/request-types", data={**base, "name_ja": ""})
    assert field_error(no_name.text, "name_ja") == "この項目は必須です。"
    bad_code = await client.post("/admin/point-table/1/request-types", data={**base, "code": "a b"})
    assert field_error(bad_code.text, "code")
    empty = await client.post("/admin/point-table/1/publish", data=csrf(client))
    assert empty.status_code == 422 and "依頼種別が 1 つ以上必要です" in empty.text
    assert (await pricing.table_version((await pricing.versions())[0]["id"])).request_types == ()


async def test_a_published_version_cannot_be_edited(client):
    await publish_first_table()
    await sign_in(client, await make_user("admin"))
    page = (await client.get("/admin/point-table/1")).text
    assert "/admin/point-table/1/request-types" not in page and "/admin/point-table/1.pdf" in page
    response = await client.post("/admin/point-table/1/request-types", data={
        "code": "question", "name_ja": "質問", "name_en": "Question", "points": "9", **csrf(client)})
    assert response.status_code == 422 and "公開済みのため変更できません" in response.text
    removed = await client.post("/admin/point-table/1/request-types/question/delete", data=csrf(client))
    assert removed.status_code == 422
    assert (await pricing.table_in_force()).request_type("question").points == 1


async def test_a_line_is_removed_from_a_draft(client):
    await publish_first_table()
    await sign_in(client, await make_user("admin"))
    await client.post("/admin/point-table", data=csrf(client))
    response = await client.post("/admin/point-table/2/request-types/question/delete", data=csrf(client))
    assert response.status_code in (302, 303)
    assert (await pricing.table_version((await pricing.versions())[0]["id"])).request_types == ()


async def test_an_unknown_version_is_not_found(client):
    await sign_in(client, await make_user("admin"))
    assert (await client.get("/admin/point-table/42")).status_code == 404
    assert (await client.get("/admin/point-table/nonsense")).status_code == 404
    assert (await client.post("/admin/point-table/42/publish", data=csrf(client))).status_code == 404


async def test_bundles_are_added_edited_and_taken_off_sale(client):
    await sign_in(client, await make_user("admin"))
    fields = {"code": "P10", "name_ja": "10ポイントパック", "name_en": "10-point bundle", "points": "10",
              "price_jpy": "50,000", "tax_rate": "10", "validity_months": "12", "min_quantity": "2",
              "max_quantity": "", "active": "on", **csrf(client)}
    added = await client.post("/admin/bundles", data=fields)
    assert added.status_code in (302, 303)
    assert await pricing.bundles() == [Bundle("P10", "10ポイントパック", "10-point bundle", 10, 50000, 10, 12, 2, None, True)]

    duplicate = await client.post("/admin/bundles", data=fields)
    assert duplicate.status_code == 422 and field_error(duplicate.text, "code")
    upside_down = await client.post("/admin/bundles/P10", data={**fields, "min_quantity": "5", "max_quantity": "3"})
    assert upside_down.status_code == 422
    assert field_error(upside_down.text, "max_quantity") == "最大購入数は最低購入数以上にしてください。"
    no_price = await client.post("/admin/bundles/P10", data={**fields, "price_jpy": ""})
    assert field_error(no_price.text, "price_jpy") == "整数を入力してください。"
    uneven = await client.post("/admin/bundles/P10", data={**fields, "price_jpy": "50,001"})
    assert uneven.status_code == 422
    assert "1ポイントあたりの金額" in field_error(uneven.text, "price_jpy")

    off = await client.post("/admin/bundles/P10", data={**fields, "price_jpy": "48000", "active": ""})
    assert off.status_code in (302, 303)
    assert await pricing.bundles() == []
    saved = await pricing.bundle("P10")
    assert saved.price_jpy == 48000 and not saved.active
    assert "販売停止" in (await client.get("/admin/bundles")).text
    assert (await client.get("/admin/bundles/NOPE")).status_code == 404


async def test_only_administrators_edit_the_point_table_and_bundles(client):
    await publish_first_table()
    for role in ("agent", "finance"):
        await sign_in(client, await make_user(role))
        for path in ("/admin/point-table", "/admin/point-table/1", "/admin/bundles"):
            assert (await client.get(path)).status_code == 403, (role, path)
        assert (await client.post("/admin/point-table", data=csrf(client))).status_code == 403
        assert (await client.post("/admin/bundles", data={"code": "X", **csrf(client)})).status_code == 403
        await client.post("/logout", data=csrf(client))
    assert len(await pricing.versions()) == 1 and await pricing.bundles(active_only=False) == []


async def test_the_admin_menu_links_the_point_table_and_bundles(client):
    await sign_in(client, await make_user("admin"))
    page = (await client.get("/admin/point-table")).text
    assert 'href="/admin/point-table" aria-current="page"' in page and 'href="/admin/bundles"' in page
