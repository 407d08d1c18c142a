"""The API's general rate limit: per bearer token, 429 with Retry-After beyond it."""

from __future__ import annotations

import httpx
import pytest

from app.server import create_app
from tests.factories import bearer, make_user


@pytest.fixture
async def limited_api(settings, monkeypatch):
    monkeypatch.setattr(settings, "api_rate_limit_per_minute", 3)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        yield http


async def test_a_token_past_its_limit_gets_429_with_retry_after(limited_api):
    headers = await bearer(await make_user("agent"))

    codes = [(await limited_api.get("/api/v1/me", headers=headers)).status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    refused = await limited_api.get("/api/v1/me", headers=headers)
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


async def test_each_token_has_its_own_limit(limited_api):
    busy, other = await bearer(await make_user("agent")), await bearer(await make_user("agent"))
    for _ in range(4):
        await limited_api.get("/api/v1/me", headers=busy)

    assert (await limited_api.get("/api/v1/me", headers=other)).status_code == 200


async def test_pages_are_not_counted_against_the_api(limited_api):
    for _ in range(5):
        assert (await limited_api.get("/login")).status_code == 200
