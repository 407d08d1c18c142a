"""Holds filed from a process of their own, for the concurrency tests: several such processes at
once are several app workers against one database.

    python -m tests.holds_in_a_process ORGANIZATION_ID FIRST_TICKET COUNT YYYY-MM-DD

Uses the database of DATABASE_URL (the tests' own). Files COUNT holds of 1 point at once, every
other one inside a transaction of its own (as filing a request does) and the rest through the
ledger's batches, and prints one line of JSON: the hold ids and the refusals' (required, available).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date

from app import db
from billing import ledger
from billing.errors import InsufficientPoints


async def main(organization_id: int, first: int, count: int, today: date) -> None:
    if db.is_postgres():
        await db.engine().start_connection_pool(min_size=1, max_size=10)

    async def file_request(ticket_id: int) -> int | list[int]:
        try:
            if ticket_id % 2:
                async with db.write_transaction():
                    return await ledger.hold(organization_id, 1, ticket_id=ticket_id, key=f"hold-{ticket_id}",
                                             today=today)
            return await ledger.hold(organization_id, 1, ticket_id=ticket_id, key=f"hold-{ticket_id}", today=today)
        except InsufficientPoints as refusal:
            return [refusal.required, refusal.available]

    results = await asyncio.gather(*(file_request(n) for n in range(first, first + count)))
    if db.is_postgres():
        await db.engine().close_connection_pool()
    print(json.dumps({"held": [r for r in results if isinstance(r, int)],
                      "refused": [r for r in results if isinstance(r, list)]}))


if __name__ == "__main__":
    organization, first_ticket, how_many, day = sys.argv[1:5]
    asyncio.run(main(int(organization), int(first_ticket), int(how_many), date.fromisoformat(day)))
