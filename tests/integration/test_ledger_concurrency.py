"""No overdraft under concurrent requests (business rule #4 and #8).

Calls made at once by one process meet in the ledger's batches (billing/batch.py); calls made in
transactions of their own (as filing a request holds its quote), and calls from several processes
(several app workers), meet in the database: on PostgreSQL at the account's row lock (SELECT …
FOR UPDATE) and the guarded updates of lots and account, on SQLite at BEGIN IMMEDIATE.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date

import pytest

from app import db
from billing import ledger
from billing.errors import InsufficientPoints
from billing.verify import verify
from tests.factories import make_organization

TODAY = date(2026, 4, 1)


async def org_with_10_points():
    """4 granted points and 6 bought, in two lots."""
    org = await make_organization()
    await ledger.grant(org.id, 4, "promo", date(2026, 6, 30), key="grant-a", today=TODAY)
    await ledger.purchase(org.id, 6, 5_000, date(2026, 12, 31), "bundle", key="grant-b", today=TODAY)
    return org


async def assert_exactly_10_held(org, held: list[int], refused: list) -> None:
    """10 distinct holds, 40 refusals, the account empty with 10 held, and verify clean."""
    assert len(held) == 10 and len(set(held)) == 10
    assert len(refused) == 40
    balance = await ledger.balance(org.id, today=TODAY)
    assert (balance.available, balance.held) == (0, 10)
    report = await verify()
    assert report.clean, [str(d) for d in report.differences]


@pytest.mark.parametrize("own_transaction", [False, True], ids=["batched", "each_in_its_own_transaction"])
async def test_50_concurrent_requests_against_10_points_hold_exactly_10(own_transaction):
    org = await org_with_10_points()

    async def hold(n: int) -> int:
        return await ledger.hold(org.id, 1, ticket_id=n, key=f"hold-{n}", today=TODAY)

    async def file_request(n: int):
        # In a transaction of its own, as filing a request is, a call is not batched: the calls
        # meet at the database's locks, on as many connections as the pool gives.
        try:
            if not own_transaction:
                return await hold(n)
            async with db.write_transaction():
                return await hold(n)
        except InsufficientPoints as refusal:
            return refusal

    results = await asyncio.gather(*(file_request(n) for n in range(50)))

    held = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert all(r.required == 1 and r.available == 0 for r in refused)
    await assert_exactly_10_held(org, held, refused)


async def test_50_requests_from_two_processes_against_10_points_hold_exactly_10():
    org = await org_with_10_points()

    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.holds_in_a_process", str(org.id), str(first), "25", TODAY.isoformat(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for first in (0, 25)
    ]
    try:
        outputs = await asyncio.wait_for(asyncio.gather(*(worker.communicate() for worker in workers)), timeout=180)
    finally:
        for worker in workers:  # past the deadline (or on any failure) nothing is left running
            if worker.returncode is None:
                worker.kill()
                await worker.wait()

    assert [worker.returncode for worker in workers] == [0, 0], [err.decode()[-2000:] for _, err in outputs]
    answers = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    held = [hold for answer in answers for hold in answer["held"]]
    refused = [refusal for answer in answers for refusal in answer["refused"]]
    assert all(refusal == [1, 0] for refusal in refused)  # (required, available)
    await assert_exactly_10_held(org, held, refused)


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
