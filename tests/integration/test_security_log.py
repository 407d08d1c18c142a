"""Each user's security log: sign-ins, password changes and API tokens, with who, when and from
where; visible to the user and to administrators, to no one else."""

from __future__ import annotations

from tests.factories import PASSWORD, csrf, make_user, sign_in


async def test_the_user_sees_sign_ins_password_changes_and_tokens_in_their_log(client):
    user = await make_user("agent")
    await sign_in(client, user)
    await client.get("/account")
    await client.post("/account/tokens", data={"name": "監視スクリプト", **csrf(client)})
    page = await client.get("/account")
    token_id = page.text.split("/account/tokens/")[1].split("/revoke")[0]
    await client.post(f"/account/tokens/{token_id}/revoke", data=csrf(client))
    await client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "a brand new password",
        "confirm_password": "a brand new password", **csrf(client)})

    page = await client.get("/account")

    log = page.text.split('id="security-log"')[1]
    for label in ("ログイン", "APIトークン発行", "APIトークン取り消し", "パスワード変更", "監視スクリプト", "127.0.0.1"):
        assert label in log, label
    assert log.index("パスワード変更") < log.index("APIトークン発行")  # newest first


async def test_an_administrator_sees_anyones_log_and_who_reset_a_password(client, open_browser):
    admin = await make_user("admin", name="管理 太郎")
    agent = await make_user("agent", email="agent.log@example.jp")
    await client.post("/api/v1/auth/token", json={"email": agent.email, "password": "wrong-password"})
    await sign_in(client, admin)
    await client.get("/admin/staff")
    await client.post(f"/admin/users/{agent.id}/password",
                      data={"password": "set by the admin", "back": "/admin/staff", **csrf(client)})

    page = await client.get(f"/admin/users/{agent.id}/security")

    assert page.status_code == 200
    assert "ログイン失敗（パスワード誤り）" in page.text
    assert "管理者によるパスワード設定" in page.text and "管理 太郎" in page.text


async def test_no_one_else_sees_a_users_log(open_browser):
    agent, other = await make_user("agent"), await make_user("agent")
    browser = await open_browser()
    await sign_in(browser, other)

    assert (await browser.get(f"/admin/users/{agent.id}/security")).status_code == 403
