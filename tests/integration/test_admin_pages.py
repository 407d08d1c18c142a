"""The administrator's pages: departments, staff, organisations and their users, request types,
custom fields."""

from __future__ import annotations

import re

import pytest

from app.accounts.tables import Organization, OrganizationRouting, User
from app.tickets.tables import CustomField, RequestType
from tests.factories import csrf, make_department, make_organization, make_request_type, make_user, sign_in


@pytest.fixture
async def admin_client(client):
    await sign_in(client, await make_user("admin", name="管理 太郎"))
    return client


ADMIN_PAGES = ["/admin", "/admin/departments", "/admin/staff", "/admin/organizations", "/admin/organizations/new",
               "/admin/request-types", "/admin/custom-fields"]


async def test_every_admin_page_renders_in_japanese_with_the_admin_menu(admin_client):
    for path in ADMIN_PAGES:
        page = await admin_client.get(path)
        assert page.status_code == 200, path
        assert 'class="admin-nav"' in page.text and "得意先" in page.text and "カスタム項目" in page.text, path


async def test_an_english_admin_sees_the_admin_pages_in_english(client):
    await sign_in(client, await make_user("admin", locale="en"))
    page = await client.get("/admin/organizations")
    assert "Organisations" in page.text and "Add an organisation" in page.text and "得意先を追加" not in page.text


async def test_staff_and_customers_are_kept_out_of_the_admin_pages(client):
    organization = await make_organization()
    for user in (await make_user("agent"), await make_user("finance"),
                 await make_user("customer_admin", organization=organization)):
        client.cookies.clear()
        await sign_in(client, user)
        for path in ADMIN_PAGES:
            assert (await client.get(path)).status_code == 403, (user.role, path)
        response = await client.post("/admin/departments", data={"name": "勝手な部署", **csrf(client)})
        assert response.status_code == 403
    client.cookies.clear()
    response = await client.get("/admin/staff")
    assert response.status_code in (302, 303) and response.headers["location"].startswith("/login")


async def test_admin_adds_and_renames_departments(admin_client):
    response = await admin_client.post("/admin/departments", data={"name": "インフラ保守部", **csrf(admin_client)})
    assert response.status_code in (302, 303)
    page = await admin_client.get("/admin/departments")
    assert "部署「インフラ保守部」を追加しました。" in page.text

    duplicate = await admin_client.post("/admin/departments", data={"name": "インフラ保守部", **csrf(admin_client)})
    assert duplicate.status_code == 409 and "部署「インフラ保守部」はすでに存在します。" in duplicate.text

    empty = await admin_client.post("/admin/departments", data={"name": "   ", **csrf(admin_client)})
    assert empty.status_code == 422 and "この項目は必須です。" in empty.text

    department_id = re.search(r'action="/admin/departments/(\d+)"', page.text).group(1)
    renamed = await admin_client.post(f"/admin/departments/{department_id}", data={"name": "基盤運用部", **csrf(admin_client)})
    assert renamed.status_code in (302, 303)
    assert "基盤運用部" in (await admin_client.get("/admin/departments")).text
    missing = await admin_client.post("/admin/departments/999999", data={"name": "x", **csrf(admin_client)})
    assert missing.status_code == 404


async def test_admin_adds_staff_moves_them_and_deactivates_them(admin_client):
    department = await make_department("アプリ保守部")
    response = await admin_client.post(
        "/admin/staff",
        data={"name": "田中 健", "email": "Tanaka@Vendor.example.jp", "role": "agent", "department": str(department.id),
              "password": "a long password", **csrf(admin_client)},
    )
    assert response.status_code in (302, 303)
    user = await User.objects().where(User.email == "tanaka@vendor.example.jp").first()
    assert user.role == "agent" and user.department == department.id and user.password_hash

    other = await make_department("経理部")
    moved = await admin_client.post(f"/admin/staff/{user.id}/department", data={"department": str(other.id), **csrf(admin_client)})
    assert moved.status_code in (302, 303)
    assert (await User.objects().get(User.id == user.id)).department == other.id

    off = await admin_client.post(f"/admin/users/{user.id}/active", data={"active": "0", "back": "/admin/staff", **csrf(admin_client)})
    assert off.status_code in (302, 303)
    assert (await User.objects().get(User.id == user.id)).is_active is False
    assert "田中 健 さんを無効にしました。" in (await admin_client.get("/admin/staff")).text


async def test_a_refused_staff_form_keeps_what_was_typed(admin_client):
    await make_user("agent", email="taken@vendor.example.jp")
    typed = {"name": "重複 次郎", "email": "taken@vendor.example.jp", "role": "finance", "department": "", "password": ""}
    response = await admin_client.post("/admin/staff", data={**typed, **csrf(admin_client)})
    assert response.status_code == 409
    assert "メールアドレス taken@vendor.example.jp はすでに登録されています。" in response.text
    assert 'value="重複 次郎"' in response.text
    assert re.search(r'<option value="finance"\s+selected', response.text)

    for data, message in [
        ({**typed, "email": "new@vendor.example.jp", "role": "customer_admin"}, "担当者・経理・管理者のいずれかを選んでください。"),
        ({**typed, "email": "new@vendor.example.jp", "password": "short"}, "パスワードは8文字以上にしてください。"),
        ({**typed, "email": "new@vendor.example.jp", "department": "abc"}, "一覧から選んでください。"),
        ({**typed, "email": "new@vendor.example.jp", "department": "99999"}, "は存在しません。"),
        ({**typed, "email": "nope"}, "正しいメールアドレスではありません。"),
    ]:
        response = await admin_client.post("/admin/staff", data={**data, **csrf(admin_client)})
        assert response.status_code == 422, (data, response.status_code)
        assert message in response.text, data


async def test_an_admin_cannot_deactivate_itself(admin_client):
    me = await User.objects().where(User.role == "admin").first()
    response = await admin_client.post(f"/admin/users/{me.id}/active", data={"active": "0", **csrf(admin_client)})
    assert response.status_code in (302, 303)
    assert "自分のアカウントは無効にできません。" in (await admin_client.get("/admin/staff")).text
    assert (await User.objects().get(User.id == me.id)).is_active is True


async def test_admin_creates_and_edits_an_organisation_with_routing_defaults(admin_client):
    response = await admin_client.post(
        "/admin/organizations",
        data={"code": "MINATO", "name": "株式会社みなと商事", "address": "東京都港区芝公園1-1-1",
              "billing_contact_name": "経理 花子", "billing_email": "Keiri@Minato.example.jp", "phone": "03-1234-5678",
              **csrf(admin_client)},
    )
    assert response.status_code in (302, 303)
    organization = await Organization.objects().get(Organization.code == "MINATO")
    assert response.headers["location"] == f"/admin/organizations/{organization.id}"
    assert organization.billing_email == "keiri@minato.example.jp"

    page = await admin_client.get(f"/admin/organizations/{organization.id}")
    assert "得意先「株式会社みなと商事」を追加しました。" in page.text and "東京都港区芝公園1-1-1" in page.text
    assert "株式会社みなと商事" in (await admin_client.get("/admin/organizations")).text

    edited = await admin_client.post(
        f"/admin/organizations/{organization.id}",
        data={"name": "みなと商事株式会社", "address": "大阪府大阪市北区1-2-3", "billing_contact_name": "",
              "billing_email": "", "phone": "", **csrf(admin_client)},
    )
    assert edited.status_code in (302, 303)
    organization = await Organization.objects().get(Organization.id == organization.id)
    assert organization.name == "みなと商事株式会社" and organization.code == "MINATO"

    department = await make_department("インフラ保守部")
    agent = await make_user("agent", name="担当 一郎")
    routed = await admin_client.post(
        f"/admin/organizations/{organization.id}/routing",
        data={"department": str(department.id), "assignee": str(agent.id), **csrf(admin_client)},
    )
    assert routed.status_code in (302, 303)
    routing = await OrganizationRouting.objects().get(OrganizationRouting.organization == organization.id)
    assert routing.department == department.id and routing.assignee == agent.id
    page = await admin_client.get(f"/admin/organizations/{organization.id}")
    assert re.search(rf'<option value="{agent.id}"\s+selected', page.text)

    customer = await make_user("customer_member", organization=organization)
    refused = await admin_client.post(
        f"/admin/organizations/{organization.id}/routing",
        data={"department": "", "assignee": str(customer.id), **csrf(admin_client)},
    )
    assert refused.status_code == 422 and "有効な担当者を選んでください。" in refused.text


async def test_a_refused_organisation_form_keeps_what_was_typed(admin_client):
    await make_organization(code="TAKEN")
    typed = {"code": "TAKEN", "name": "株式会社かぶり", "address": "福岡県", "billing_contact_name": "",
             "billing_email": "", "phone": ""}
    duplicate = await admin_client.post("/admin/organizations", data={**typed, **csrf(admin_client)})
    assert duplicate.status_code == 409 and "得意先コード「TAKEN」はすでに使われています。" in duplicate.text
    assert 'value="株式会社かぶり"' in duplicate.text and "福岡県" in duplicate.text
    for data, message in [
        ({**typed, "code": "x"}, "得意先コードは英数字"),
        ({**typed, "code": "NEW1", "name": ""}, "この項目は必須です。"),
        ({**typed, "code": "NEW2", "phone": "call me"}, "数字・空白"),
        ({**typed, "code": "NEW3", "billing_email": "keiri@"}, "正しいメールアドレスではありません"),
        ({**typed, "code": "NEW4", "name": "名" * 201}, "200文字以内"),
    ]:
        response = await admin_client.post("/admin/organizations", data={**data, **csrf(admin_client)})
        assert response.status_code == 422 and message in response.text, data
    assert (await admin_client.get("/admin/organizations/999999")).status_code == 404


async def test_admin_adds_users_to_an_organisation_and_sets_a_password_later(admin_client):
    organization = await make_organization(name="株式会社さくら")
    page_path = f"/admin/organizations/{organization.id}"
    added = await admin_client.post(
        f"{page_path}/users",
        data={"name": "桜井 由美", "email": "sakurai@sakura.example.jp", "role": "customer_admin", "password": "",
              **csrf(admin_client)},
    )
    assert added.status_code in (302, 303)
    page = await admin_client.get(page_path)
    assert "桜井 由美" in page.text and "パスワード未設定" in page.text
    user = await User.objects().get(User.email == "sakurai@sakura.example.jp")
    assert user.role == "customer_admin" and user.organization == organization.id and user.password_hash == ""

    short = await admin_client.post(f"/admin/users/{user.id}/password", data={"password": "short", "back": page_path, **csrf(admin_client)})
    assert short.status_code in (302, 303)
    assert "パスワードは8文字以上にしてください。" in (await admin_client.get(page_path)).text
    done = await admin_client.post(
        f"/admin/users/{user.id}/password", data={"password": "sakura spring 2026", "back": page_path, **csrf(admin_client)}
    )
    assert done.status_code in (302, 303) and done.headers["location"] == page_path
    token = await admin_client.post("/api/v1/auth/token", json={"email": "sakurai@sakura.example.jp", "password": "sakura spring 2026"})
    assert token.status_code == 200

    wrong_role = await admin_client.post(
        f"{page_path}/users", data={"name": "x", "email": "x@sakura.example.jp", "role": "admin", **csrf(admin_client)}
    )
    assert wrong_role.status_code == 422 and 'value="x@sakura.example.jp"' in wrong_role.text


async def test_the_back_link_of_a_form_never_leaves_the_admin_pages(admin_client):
    user = await make_user("agent")
    response = await admin_client.post(
        f"/admin/users/{user.id}/active", data={"active": "0", "back": "https://evil.example/", **csrf(admin_client)}
    )
    assert response.headers["location"] == "/admin/staff"


async def test_admin_adds_edits_and_deactivates_request_types(admin_client):
    response = await admin_client.post(
        "/admin/request-types",
        data={"code": "pc-setup", "name_ja": "PCセットアップ", "name_en": "PC set-up", "sort_order": "10", **csrf(admin_client)},
    )
    assert response.status_code in (302, 303)
    row = await RequestType.objects().get(RequestType.code == "pc-setup")
    assert row.sort_order == 10 and row.is_active

    duplicate = await admin_client.post(
        "/admin/request-types",
        data={"code": "pc-setup", "name_ja": "重複", "name_en": "dup", "sort_order": "1", **csrf(admin_client)},
    )
    assert duplicate.status_code == 409 and "コード「pc-setup」はすでに使われています。" in duplicate.text
    assert 'value="重複"' in duplicate.text
    bad_order = await admin_client.post(
        "/admin/request-types",
        data={"code": "other", "name_ja": "その他", "name_en": "Other", "sort_order": "first", **csrf(admin_client)},
    )
    assert bad_order.status_code == 422 and "整数を入力してください。" in bad_order.text

    edit_page = await admin_client.get(f"/admin/request-types/{row.id}")
    assert edit_page.status_code == 200 and "PCセットアップ" in edit_page.text
    saved = await admin_client.post(
        f"/admin/request-types/{row.id}",
        data={"name_ja": "PC初期設定", "name_en": "PC set-up", "sort_order": "5", **csrf(admin_client)},  # unchecked: inactive
    )
    assert saved.status_code in (302, 303)
    row = await RequestType.objects().get(RequestType.id == row.id)
    assert row.name_ja == "PC初期設定" and row.sort_order == 5 and row.is_active is False
    assert "無効" in (await admin_client.get("/admin/request-types")).text

    blank = await admin_client.post(
        f"/admin/request-types/{row.id}", data={"name_ja": "", "name_en": "PC", "sort_order": "5", **csrf(admin_client)}
    )
    assert blank.status_code == 422 and "この項目は必須です。" in blank.text
    assert (await admin_client.get("/admin/request-types/999999")).status_code == 404


async def test_admin_adds_and_edits_custom_fields(admin_client):
    response = await admin_client.post(
        "/admin/custom-fields",
        data={"key": "site", "label_ja": "拠点", "label_en": "Site", "field_type": "choice",
              "choices": "東京本社\n大阪支店\n\n東京本社\n", "required": "on", "visible_to_customers": "on",
              "sort_order": "1", **csrf(admin_client)},
    )
    assert response.status_code in (302, 303)
    field = await CustomField.objects().get(CustomField.key == "site")
    listing = await admin_client.get("/admin/custom-fields")
    assert "東京本社 / 大阪支店" in listing.text and "拠点" in listing.text

    no_choices = await admin_client.post(
        "/admin/custom-fields",
        data={"key": "area", "label_ja": "地域", "label_en": "Area", "field_type": "choice", "choices": "", **csrf(admin_client)},
    )
    assert no_choices.status_code == 422 and "少なくとも1つの選択肢" in no_choices.text and 'value="地域"' in no_choices.text
    bad_key = await admin_client.post(
        "/admin/custom-fields",
        data={"key": "Bad Key", "label_ja": "x", "label_en": "x", "field_type": "text", **csrf(admin_client)},
    )
    assert bad_key.status_code == 422 and "キーは英小文字で始め" in bad_key.text
    bad_type = await admin_client.post(
        "/admin/custom-fields",
        data={"key": "when", "label_ja": "x", "label_en": "x", "field_type": "colour", **csrf(admin_client)},
    )
    assert bad_type.status_code == 422
    duplicate = await admin_client.post(
        "/admin/custom-fields",
        data={"key": "site", "label_ja": "x", "label_en": "x", "field_type": "text", **csrf(admin_client)},
    )
    assert duplicate.status_code == 409

    edit = await admin_client.get(f"/admin/custom-fields/{field.id}")
    assert edit.status_code == 200 and "大阪支店" in edit.text
    saved = await admin_client.post(
        f"/admin/custom-fields/{field.id}",
        data={"label_ja": "訪問日", "label_en": "Visit date", "field_type": "date", "choices": "東京本社",
              "sort_order": "2", "is_active": "on", **csrf(admin_client)},
    )
    assert saved.status_code in (302, 303)
    rows = await CustomField.select().output(load_json=True).where(CustomField.id == field.id)
    assert rows[0]["field_type"] == "date" and rows[0]["choices"] == [] and rows[0]["required"] is False
    assert rows[0]["visible_to_customers"] is False and rows[0]["is_active"] is True


async def test_forms_with_anything_typed_never_fail_with_a_server_error(admin_client):
    organization = await make_organization()
    request_type = await make_request_type()
    hostile = ["", " ", "'; DROP TABLE users; --", "<script>alert(1)</script>", "\u0000", "𠮷" * 300, "-1", "1e9", "9" * 40]
    posts = [
        ("/admin/departments", ["name"]),
        ("/admin/staff", ["name", "email", "role", "department", "password"]),
        ("/admin/organizations", ["code", "name", "address", "billing_contact_name", "billing_email", "phone"]),
        (f"/admin/organizations/{organization.id}", ["name", "address", "billing_email", "phone"]),
        (f"/admin/organizations/{organization.id}/routing", ["department", "assignee"]),
        (f"/admin/organizations/{organization.id}/users", ["name", "email", "role", "password"]),
        ("/admin/request-types", ["code", "name_ja", "name_en", "sort_order"]),
        (f"/admin/request-types/{request_type.id}", ["name_ja", "name_en", "sort_order"]),
        ("/admin/custom-fields", ["key", "label_ja", "label_en", "field_type", "choices", "sort_order"]),
        ("/account/profile", ["name", "locale"]),
        ("/account/tokens", ["name"]),
    ]
    for path, fields in posts:
        for value in hostile:
            response = await admin_client.post(path, data={**{f: value for f in fields}, **csrf(admin_client)})
            assert response.status_code < 500, (path, value, response.text[:300])
            assert "<script>alert(1)</script>" not in response.text
