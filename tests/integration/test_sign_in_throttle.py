"""Sign-in throttling: every attempt counts, even in parallel; per account and per address; the
sign-in page and the token endpoint share one count; only trusted proxies choose the address."""

from __future__ import annotations

import asyncio
import socket

import httpx
import uvicorn

from app.accounts.tables import SecurityEvent
from app.server import create_app, server_options
from tests.factories import PASSWORD, make_user


def token_request(client, email: str, password: str, **headers):
    return client.post("/api/v1/auth/token", json={"email": email, "password": password}, headers=headers)


async def test_forty_parallel_wrong_passwords_are_counted_forty_times(client, settings):
    await make_user("agent", email="target@example.jp")

    answers = await asyncio.gather(*(token_request(client, "target@example.jp", "wrong-password") for _ in range(40)))

    codes = [answer.status_code for answer in answers]
    assert codes.count(401) == settings.login_max_failures
    assert codes.count(429) == 40 - settings.login_max_failures
    right = await token_request(client, "target@example.jp", PASSWORD)
    assert right.status_code == 429 and right.json()["code"] == "too_many_attempts"
    assert 0 < int(right.headers["Retry-After"]) <= settings.login_lockout_seconds + 1


async def test_the_sign_in_page_and_the_token_endpoint_share_one_count(client, settings):
    await make_user("agent", email="shared@example.jp")
    for _ in range(settings.login_max_failures - 2):
        assert (await token_request(client, "shared@example.jp", "wrong-password")).status_code == 401
    await client.get("/login")
    for _ in range(2):
        page = await client.post("/login", data={"email": "shared@example.jp", "password": "wrong",
                                                 "_csrf_token": client.cookies.get("kippu_csrf")})
        assert page.status_code == 401

    locked = await client.post("/login", data={"email": "shared@example.jp", "password": PASSWORD,
                                               "_csrf_token": client.cookies.get("kippu_csrf")})

    assert locked.status_code == 429
    assert "ログインの失敗が続いたため" in locked.text and "Retry-After" in locked.headers


async def test_a_successful_sign_in_starts_the_account_afresh(client, settings):
    await make_user("agent", email="forgetful@example.jp")
    for _ in range(settings.login_max_failures - 1):
        await token_request(client, "forgetful@example.jp", "wrong-password")
    assert (await token_request(client, "forgetful@example.jp", PASSWORD)).status_code == 200

    for _ in range(settings.login_max_failures - 1):
        assert (await token_request(client, "forgetful@example.jp", "wrong-password")).status_code == 401
    assert (await token_request(client, "forgetful@example.jp", PASSWORD)).status_code == 200


async def test_one_address_guessing_many_accounts_is_stopped(client, settings, monkeypatch):
    monkeypatch.setattr(settings, "login_max_attempts_per_address", 6)
    await make_user("agent", email="victim@example.jp")
    for n in range(6):
        assert (await token_request(client, f"guess{n}@example.jp", "wrong-password")).status_code == 401

    # A seventh account, never tried before, with its right password: the address is stopped.
    refused = await token_request(client, "victim@example.jp", PASSWORD)

    assert refused.status_code == 429


async def test_an_office_signing_many_people_in_is_not_stopped(client, settings, monkeypatch):
    # Successful sign-ins give their attempt back to the address: only failures add up there.
    monkeypatch.setattr(settings, "login_max_attempts_per_address", 3)
    people = [await make_user("agent", email=f"staff{n}@example.jp") for n in range(6)]
    for person in people:
        assert (await token_request(client, person.email, PASSWORD)).status_code == 200


async def test_refused_and_locked_sign_ins_are_in_the_security_log(client, settings):
    user = await make_user("agent", email="logged@example.jp")
    for _ in range(settings.login_max_failures + 3):
        await token_request(client, "logged@example.jp", "wrong-password")

    kinds = [row["kind"] for row in await SecurityEvent.select(SecurityEvent.kind).where(SecurityEvent.user == user.id)]

    assert kinds.count("sign_in_failed") == settings.login_max_failures
    assert kinds.count("sign_in_locked") == 1


# ---------------------------------------------------------------- forwarded headers (item 11)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningServer:
    """The app under uvicorn on loopback, configured as `kippu serve` configures it."""

    def __init__(self, settings) -> None:
        self.port = _free_port()
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, lifespan="off", log_level="warning",
            **server_options(settings),
        )
        self.server = uvicorn.Server(config)

    async def __aenter__(self) -> str:
        self.task = asyncio.create_task(self.server.serve())
        async with asyncio.timeout(30):
            while not self.server.started:
                await asyncio.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    async def __aexit__(self, *exc) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, timeout=30)


async def test_a_client_cannot_choose_its_address_with_forwarded_headers(settings, monkeypatch):
    monkeypatch.setattr(settings, "login_max_attempts_per_address", 3)
    async with RunningServer(settings) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        codes = [
            (await token_request(http, f"nobody{n}@example.jp", "wrong", **{"X-Forwarded-For": f"203.0.113.{n}"})).status_code
            for n in range(5)
        ]

    assert codes == [401, 401, 401, 429, 429]


async def test_a_trusted_proxy_gives_the_client_address(settings, monkeypatch):
    monkeypatch.setattr(settings, "trusted_proxies", ["127.0.0.1"])
    user = await make_user("agent", email="behind.proxy@example.jp")
    async with RunningServer(settings) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        answer = await token_request(http, user.email, PASSWORD, **{"X-Forwarded-For": "198.51.100.7"})

    assert answer.status_code == 200
    addresses = await SecurityEvent.select(SecurityEvent.ip_address).where(SecurityEvent.user == user.id)
    assert {row["ip_address"] for row in addresses} == {"198.51.100.7"}
