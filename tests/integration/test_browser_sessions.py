"""Browser sessions: only ids the server issued, a fresh id at sign-in and password change, no
session for cookieless requests, expiry and clean-up, other sessions ended on a password change,
and a CSRF token that works with its own session only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.accounts.jobs import clean_sessions
from app.accounts.tables import ApiToken, BrowserSession
from tests.factories import PASSWORD, bearer, csrf, make_user, sign_in


async def signed_in(open_browser, user):
    browser = await open_browser()
    await sign_in(browser, user)
    return browser


async def is_signed_in(browser) -> bool:
    page = await browser.get("/account")
    return page.status_code == 200


# ---------------------------------------------------------------- fixation (item 2)


async def test_a_session_id_the_server_did_not_issue_is_never_used(open_browser):
    user = await make_user("agent")
    victim = await open_browser()
    victim.cookies.set("kippu_session", "attacker-chosen-id", domain="testserver.local")

    await sign_in(victim, user)

    assert victim.cookies.get("kippu_session") not in (None, "attacker-chosen-id")
    attacker = await open_browser()
    attacker.cookies.set("kippu_session", "attacker-chosen-id", domain="testserver.local")
    assert not await is_signed_in(attacker)
    assert await is_signed_in(victim)


async def test_signing_in_again_issues_a_fresh_id_and_the_old_one_dies(open_browser):
    first, second = await make_user("agent"), await make_user("agent")
    browser = await signed_in(open_browser, first)
    old_id = browser.cookies.get("kippu_session")

    await sign_in(browser, second)

    assert browser.cookies.get("kippu_session") != old_id
    replay = await open_browser()
    replay.cookies.set("kippu_session", old_id, domain="testserver.local")
    assert not await is_signed_in(replay)


async def test_signing_out_deletes_the_session_on_the_server(open_browser):
    user = await make_user("agent")
    browser = await signed_in(open_browser, user)
    old_id = browser.cookies.get("kippu_session")

    out = await browser.post("/logout", data=csrf(browser))

    assert out.status_code in (302, 303)
    assert browser.cookies.get("kippu_session") is None
    replay = await open_browser()
    replay.cookies.set("kippu_session", old_id, domain="testserver.local")
    assert not await is_signed_in(replay)
    assert await BrowserSession.count() == 0


# ---------------------------------------------------------------- no session without content (item 4)


async def test_cookieless_requests_create_no_session(client):
    user = await make_user("agent")
    headers = await bearer(user)

    answers = [
        await client.get("/healthz"),
        await client.get("/login"),
        await client.get("/"),
        await client.get("/api/v1/me", headers=headers),
        await client.get("/portal"),  # redirected to sign in
        await client.get("/no/such/page"),
    ]

    for answer in answers:
        assert "kippu_session" not in answer.headers.get("set-cookie", ""), answer.request.url
    assert await BrowserSession.count() == 0


async def test_a_bearer_call_never_reads_or_writes_a_session(client):
    user = await make_user("agent")
    headers = await bearer(user)
    client.cookies.set("kippu_session", "anything", domain="testserver.local")

    answer = await client.get("/api/v1/me", headers=headers)

    assert answer.status_code == 200 and "set-cookie" not in answer.headers
    assert await BrowserSession.count() == 0


async def test_a_page_view_writes_nothing_when_nothing_changed(open_browser):
    user = await make_user("agent")
    browser = await signed_in(open_browser, user)
    before = await BrowserSession.select().first()

    for _ in range(3):
        page = await browser.get("/account")
        assert page.status_code == 200 and "kippu_session" not in page.headers.get("set-cookie", "")

    assert await BrowserSession.select().first() == before


async def test_expired_sessions_stop_working_and_are_cleaned_up(open_browser):
    user = await make_user("agent")
    browser = await signed_in(open_browser, user)
    await BrowserSession.update({BrowserSession.expires_at: datetime.now(UTC) - timedelta(seconds=1)}).where(
        BrowserSession.user == user.id
    )

    assert not await is_signed_in(browser)
    sessions, _windows = await clean_sessions()
    assert sessions == 1 and await BrowserSession.count() == 0


async def test_only_a_hash_of_the_session_id_is_stored(open_browser):
    user = await make_user("agent")
    browser = await signed_in(open_browser, user)

    [row] = await BrowserSession.select(BrowserSession.id_hash)

    assert browser.cookies.get("kippu_session") not in row["id_hash"]


# ---------------------------------------------------------------- password changes (item 5)


async def change_password(browser, *, revoke_tokens: bool = False):
    await browser.get("/account")
    form = {"current_password": PASSWORD, "new_password": "a brand new password",
            "confirm_password": "a brand new password", **csrf(browser)}
    if revoke_tokens:
        form["revoke_tokens"] = "on"
    return await browser.post("/account/password", data=form)


async def test_changing_the_password_signs_out_every_other_browser(open_browser):
    user = await make_user("agent")
    laptop = await signed_in(open_browser, user)
    phone = await signed_in(open_browser, user)
    laptop_id = laptop.cookies.get("kippu_session")

    changed = await change_password(laptop)

    assert changed.status_code in (302, 303)
    page = await laptop.get("/account")
    assert page.status_code == 200 and "他のすべてのブラウザでログアウトしました" in page.text
    assert laptop.cookies.get("kippu_session") != laptop_id  # a fresh id for this browser too
    assert not await is_signed_in(phone)


async def test_api_tokens_survive_a_password_change_unless_revoked(open_browser, client):
    user = await make_user("agent")
    headers = await bearer(user)
    browser = await signed_in(open_browser, user)

    await change_password(browser)
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200

    await browser.get("/account")
    form = {"current_password": "a brand new password", "new_password": "another new password",
            "confirm_password": "another new password", "revoke_tokens": "on", **csrf(browser)}
    assert (await browser.post("/account/password", data=form)).status_code in (302, 303)
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 401


async def test_the_password_page_says_what_happens_to_sessions_and_tokens(open_browser):
    user = await make_user("agent")
    browser = await signed_in(open_browser, user)

    page = await browser.get("/account")

    assert "パスワードを変更すると、ほかのすべてのブラウザからログアウトします" in page.text
    assert 'name="revoke_tokens"' in page.text


async def test_a_reset_by_an_administrator_ends_every_session_and_token(open_browser, client):
    admin = await make_user("admin")
    user = await make_user("agent")
    headers = await bearer(user)
    victim_browser = await signed_in(open_browser, user)
    admin_browser = await signed_in(open_browser, admin)

    await admin_browser.get("/admin/staff")
    reset = await admin_browser.post(
        f"/admin/users/{user.id}/password", data={"password": "set by the admin", "back": "/admin/staff", **csrf(admin_browser)}
    )

    assert reset.status_code in (302, 303)
    assert not await is_signed_in(victim_browser)
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 401
    assert await ApiToken.count().where(ApiToken.user == user.id, ApiToken.revoked_at.is_null()) == 0


async def test_deactivation_still_ends_sessions_and_tokens(open_browser, client):
    admin = await make_user("admin")
    user = await make_user("agent")
    headers = await bearer(user)
    browser = await signed_in(open_browser, user)
    admin_browser = await signed_in(open_browser, admin)

    await admin_browser.get("/admin/staff")
    await admin_browser.post(f"/admin/users/{user.id}/active",
                             data={"active": "0", "back": "/admin/staff", **csrf(admin_browser)})

    assert not await is_signed_in(browser)
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 401
    assert await BrowserSession.count().where(BrowserSession.user == user.id) == 0


async def test_signing_out_every_other_browser_from_the_account_page(open_browser):
    user = await make_user("agent")
    laptop = await signed_in(open_browser, user)
    phone = await signed_in(open_browser, user)
    page = await laptop.get("/account")
    assert "このブラウザ" in page.text

    await laptop.post("/account/sessions/end-others", data=csrf(laptop))

    assert not await is_signed_in(phone)
    assert await is_signed_in(laptop)


# ---------------------------------------------------------------- CSRF bound to the session (item 6)


async def test_an_attackers_own_token_pair_does_not_work_with_the_victims_session(open_browser):
    victim_user = await make_user("agent", name="被害者")
    victim = await signed_in(open_browser, victim_user)
    attacker = await open_browser()
    await attacker.get("/login")
    attacker_cookie = attacker.cookies.get("kippu_csrf")

    victim.cookies.set("kippu_csrf", attacker_cookie, domain="testserver.local")  # planted by the attacker

    forged = await victim.post("/account/profile", data={"name": "乗っ取り", "locale": "ja", "_csrf_token": attacker_cookie})

    assert forged.status_code == 403
    page = await victim.get("/account")
    assert "乗っ取り" not in page.text


async def test_a_token_of_another_signed_in_session_does_not_work(open_browser):
    victim_user, attacker_user = await make_user("agent"), await make_user("agent")
    victim = await signed_in(open_browser, victim_user)
    attacker = await signed_in(open_browser, attacker_user)
    await attacker.get("/account")
    attacker_token = attacker.cookies.get("kippu_csrf")

    forged = await victim.post("/account/profile", data={"name": "x", "locale": "ja", "_csrf_token": attacker_token})

    assert forged.status_code == 403


async def test_the_sessions_own_token_works_and_changes_at_sign_in(open_browser):
    user = await make_user("agent")
    browser = await open_browser()
    await browser.get("/login")
    before_sign_in = browser.cookies.get("kippu_csrf")

    await sign_in(browser, user)
    token = browser.cookies.get("kippu_csrf")

    assert token != before_sign_in
    saved = await browser.post("/account/profile", data={"name": "新しい名前", "locale": "ja", "_csrf_token": token})
    assert saved.status_code in (302, 303)
    old = await browser.post("/account/profile", data={"name": "x", "locale": "ja", "_csrf_token": before_sign_in})
    assert old.status_code == 403
