"""The signed-in user's own settings page: name, language, password, API tokens, members."""

from __future__ import annotations

import re

from tests.factories import PASSWORD, csrf, make_organization, make_user, sign_in


async def test_every_signed_in_user_reaches_the_settings_page(client):
    organization = await make_organization()
    for role in ("admin", "agent", "finance", "customer_admin", "customer_member"):
        user = await make_user(role, organization=organization if role.startswith("customer") else None)
        client.cookies.clear()
        await sign_in(client, user)
        page = await client.get("/account")
        assert page.status_code == 200, role
        assert "アカウント設定" in page.text and user.email in page.text


async def test_the_settings_page_asks_a_stranger_to_sign_in(client):
    response = await client.get("/account")
    assert response.status_code in (302, 303) and response.headers["location"].startswith("/login")


async def test_switching_to_english_changes_the_language_of_the_pages(client):
    user = await make_user("agent", name="佐藤 花子")
    await sign_in(client, user)
    assert "表示言語" in (await client.get("/account")).text
    response = await client.post("/account/profile", data={"name": "Hanako Sato", "locale": "en", **csrf(client)})
    assert response.status_code in (302, 303)
    page = await client.get("/account")
    assert "Account settings" in page.text and "Your settings were saved." in page.text
    assert "Hanako Sato" in page.text and "アカウント設定" not in page.text
    await client.post("/account/profile", data={"name": "Hanako Sato", "locale": "ja", **csrf(client)})
    assert "アカウント設定" in (await client.get("/account")).text


async def test_a_bad_profile_is_shown_again_with_the_message_and_what_was_typed(client):
    await sign_in(client, await make_user("agent"))
    response = await client.post("/account/profile", data={"name": "x" * 101, "locale": "ja", **csrf(client)})
    assert response.status_code == 422
    assert "100文字以内で入力してください。" in response.text and "x" * 101 in response.text
    response = await client.post("/account/profile", data={"name": "佐藤", "locale": "fr", **csrf(client)})
    assert response.status_code == 422 and "日本語または英語を選んでください。" in response.text


async def test_changing_the_password_needs_the_current_one(client):
    user = await make_user("customer_member", organization=await make_organization(), email="member@example.jp")
    await sign_in(client, user)
    wrong = await client.post(
        "/account/password",
        data={"current_password": "not it", "new_password": "brand new secret", "confirm_password": "brand new secret", **csrf(client)},
    )
    assert wrong.status_code == 422 and "現在のパスワードが正しくありません。" in wrong.text
    differ = await client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "brand new secret", "confirm_password": "brand new secreT", **csrf(client)},
    )
    assert differ.status_code == 422 and "新しいパスワードが一致しません。" in differ.text
    short = await client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "short", "confirm_password": "short", **csrf(client)},
    )
    assert short.status_code == 422 and "8文字以上" in short.text
    done = await client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "brand new secret", "confirm_password": "brand new secret", **csrf(client)},
    )
    assert done.status_code in (302, 303)
    old = await client.post("/api/v1/auth/token", json={"email": "member@example.jp", "password": PASSWORD})
    assert old.status_code == 401
    new = await client.post("/api/v1/auth/token", json={"email": "member@example.jp", "password": "brand new secret"})
    assert new.status_code == 200


async def test_a_token_is_shown_once_listed_and_dies_when_revoked(client):
    await sign_in(client, await make_user("agent"))
    created = await client.post("/account/tokens", data={"name": "監視スクリプト", **csrf(client)})
    assert created.status_code == 201
    token = re.search(r'<code id="new-token">([^<]+)</code>', created.text).group(1)
    assert token.startswith("kp_")

    api = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=api)).status_code == 200

    page = await client.get("/account")
    assert "監視スクリプト" in page.text and token[:10] in page.text
    assert token not in page.text  # never shown again
    assert "未使用" not in page.text  # it has been used just now

    token_id = re.search(r'action="/account/tokens/(\d+)/revoke"', page.text).group(1)
    revoked = await client.post(f"/account/tokens/{token_id}/revoke", data=csrf(client))
    assert revoked.status_code in (302, 303)
    assert "トークンを無効にしました" in (await client.get("/account")).text
    assert (await client.get("/api/v1/me", headers=api)).status_code == 401


async def test_nobody_revokes_another_users_token(client):
    owner = await make_user("agent")
    from app.accounts.tokens import create_token

    token, token_id = await create_token(owner.id, "owner's")
    await sign_in(client, await make_user("admin"))
    response = await client.post(f"/account/tokens/{token_id}/revoke", data=csrf(client))
    assert response.status_code == 404
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200


async def test_a_customer_admin_adds_and_deactivates_members_of_its_company(client):
    organization = await make_organization(name="株式会社みどり")
    customer_admin = await make_user("customer_admin", organization=organization)
    await sign_in(client, customer_admin)
    page = await client.get("/account/members")
    assert page.status_code == 200 and "株式会社みどり のメンバー" in page.text

    bad = await client.post(
        "/account/members", data={"name": "新人", "email": "not-an-address", "role": "customer_member", **csrf(client)}
    )
    assert bad.status_code == 422 and "正しいメールアドレスではありません" in bad.text and "not-an-address" in bad.text

    added = await client.post(
        "/account/members",
        data={"name": "新人 一郎", "email": "shinjin@example.jp", "role": "customer_member", "password": "", **csrf(client)},
    )
    assert added.status_code in (302, 303)
    page = await client.get("/account/members")
    assert "新人 一郎" in page.text and "パスワード未設定" in page.text

    member_id = re.search(r'action="/account/members/(\d+)/active"', page.text).group(1)
    response = await client.post(f"/account/members/{member_id}/active", data={"active": "0", **csrf(client)})
    assert response.status_code in (302, 303)
    assert "新人 一郎 さんを無効にしました。" in (await client.get("/account/members")).text


async def test_a_customer_admin_cannot_deactivate_another_companys_user(client):
    other = await make_user("customer_member", organization=await make_organization())
    await sign_in(client, await make_user("customer_admin", organization=await make_organization()))
    response = await client.post(f"/account/members/{other.id}/active", data={"active": "0", **csrf(client)})
    assert response.status_code == 404


async def test_a_customer_member_cannot_manage_members(client):
    organization = await make_organization()
    await sign_in(client, await make_user("customer_member", organization=organization))
    assert (await client.get("/account/members")).status_code == 403
    response = await client.post(
        "/account/members", data={"name": "x", "email": "x@example.jp", "role": "customer_admin", **csrf(client)}
    )
    assert response.status_code == 403
