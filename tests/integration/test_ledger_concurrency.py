"""No overdraft under concurrent requests (business rule #4 and #8).

On PostgreSQL the holds run truly in parallel on the connection pool and meet at the account's
row lock; on SQLite each takes BEGIN IMMEDIATE and they queue.
"""

from __future__ import annotations

import asyncio
from datetime import date

from billing import ledger
from billing.errors import InsufficientPoints
from billing.verify import verify
from tests.factories import make_organization

TODAY = date(2026, 4, 1)


async def test_50_concurrent_requests_against_10_points_hold_exactly_10():
    org = await make_organization()
    await ledger.grant(org.id, 4, "promo", date(2026, 6, 30), key="grant-a", today=TODAY)
    await ledger.purchase(org.id, 6, 5_000, date(2026, 12, 31), "bundle", key="grant-b", today=TODAY)

    async def file_request(n: int):
        try:
            return await ledger.hold(org.id, 1, ticket_id=n, key=f"hold-{n}", today=TODAY)
        except InsufficientPoints as refusal:
            return refusal

    results = await asyncio.gather(*(file_request(n) for n in range(50)))

    held = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert len(held) == 10 and len(set(held)) == 10
    assert len(refused) == 40
    assert all(r.required == 1 and r.available == 0 for r in refused)
    balance = await ledger.balance(org.id, today=TODAY)
    assert (balance.available, balance.held) == (0, 10)
    report = await verify()
    assert report.clean, [str(d) for d in report.differences]


async def test_concurrent_replays_of_one_key_hold_once():
    org = await make_organization()
    await ledger.grant(org.id, 10, "promo", date(2026, 6, 30), key="grant", today=TODAY)

    results = await asyncio.gather(
        *(ledger.hold(org.id, 2, ticket_id=1, key="same-request", today=TODAY) for _ in range(8))
    )

    assert len(set(results)) == 1
    assert (await ledger.balance(org.id, today=TODAY)).available == 8
    assert (await verify()).clean


async def test_expiry_runs_beside_traffic_expire_each_point_once():
    orgs = [await make_organization() for _ in range(3)]
    for org in orgs:
        await ledger.grant(org.id, 5, "old", date(2026, 3, 31), key=f"old-{org.id}", today=date(2026, 3, 1))
        await ledger.grant(org.id, 5, "new", date(2026, 12, 31), key=f"new-{org.id}", today=TODAY)

    async def traffic(org, n):
        try:
            await ledger.hold(org.id, 1, ticket_id=n, key=f"h-{org.id}-{n}", today=TODAY)
        except InsufficientPoints:
            pass

    await asyncio.gather(
        ledger.expire_due(TODAY), ledger.expire_due(TODAY),
        *(traffic(org, n) for org in orgs for n in range(3)),
        ledger.expire_due(TODAY),
    )

    for org in orgs:
        balance = await ledger.balance(org.id, today=TODAY)
        assert (balance.available, balance.held) == (2, 3)
    assert (await verify()).clean
