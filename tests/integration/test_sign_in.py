from datetime import UTC, datetime

from app.accounts.passwords import hash_password
from app.accounts.tables import User


async def make_staff(email="agent@example.jp", password="correct horse", role="agent"):
    user = User(
        email=email, name="佐藤 花子", role=role, password_hash=hash_password(password),
        created_at=datetime.now(UTC),
    )
    await user.save()
    return user


def csrf_token(client) -> str:
    return client.cookies.get("kippu_csrf")


async def test_staff_signs_in_and_lands_in_the_console(client):
    await make_staff()
    page = await client.get("/login")
    assert page.status_code == 200 and "ログイン" in page.text
    response = await client.post(
        "/login",
        data={"email": "Agent@Example.jp", "password": "correct horse", "_csrf_token": csrf_token(client)},
    )
    assert response.status_code in (301, 302, 303)
    assert response.headers["location"] == "/console"


async def test_wrong_password_is_refused_with_a_message(client):
    await make_staff()
    await client.get("/login")
    response = await client.post(
        "/login", data={"email": "agent@example.jp", "password": "nope", "_csrf_token": csrf_token(client)}
    )
    assert response.status_code == 401
    assert "メールアドレスまたはパスワードが正しくありません" in response.text


async def test_repeated_failures_lock_the_sign_in_for_a_while(client, settings):
    await make_staff()
    await client.get("/login")
    for _ in range(settings.login_max_failures):
        await client.post("/login", data={"email": "agent@example.jp", "password": "x", "_csrf_token": csrf_token(client)})
    response = await client.post(
        "/login",
        data={"email": "agent@example.jp", "password": "correct horse", "_csrf_token": csrf_token(client)},
    )
    assert response.status_code == 429


async def test_a_form_without_the_csrf_token_is_refused(client):
    await make_staff()
    await client.get("/login")
    response = await client.post("/login", data={"email": "agent@example.jp", "password": "correct horse"})
    assert response.status_code == 403
