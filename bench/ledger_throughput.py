"""Ledger throughput through the service layer: hold + capture with concurrent clients.

    .venv/bin/python -m bench.ledger_throughput --postgres postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m bench.ledger_throughput            # SQLite, in a temporary directory

Makes its own database (dropped afterwards), then measures, for one hot organisation and for the
load spread over many organisations: holds per second (each hold followed by its capture), the
p50/p99 latency of a hold, and a balance read on an account with a long history. Runs `verify()`
after each phase and fails loudly if it finds anything. Bounded in operations and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def _configure(postgres: str | None) -> str | None:
    """Point DATABASE_URL at a fresh database before the app's modules read it."""
    os.environ["ENVIRONMENT"] = "test"
    if postgres:
        name = f"kippu_bench_{os.getpid()}"
        os.environ["DATABASE_URL"] = postgres.rsplit("/", 1)[0] + "/" + name
        return name
    var = Path(tempfile.mkdtemp(prefix="kippu-bench-"))
    os.environ["VAR_DIR"] = str(var)
    os.environ["DATABASE_URL"] = f"sqlite:///{var / 'bench.sqlite3'}"
    return None


async def _run(args: argparse.Namespace, database: str | None) -> None:
    import asyncpg

    from app import db
    from app.accounts.tables import Organization
    from billing import ledger
    from billing.verify import verify

    if database:
        admin = await asyncpg.connect(args.postgres)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        await admin.execute(f'CREATE DATABASE "{database}"')
        await admin.close()
        await db.engine().start_connection_pool(min_size=1, max_size=args.pool)
    try:
        await db.prepare_connection()
        await db.create_schema_from_tables()
        today = date(2026, 4, 1)
        now = time.time

        async def make_orgs(n: int) -> list[int]:
            from datetime import UTC, datetime

            first = await Organization.count()
            rows = await Organization.insert(
                *[Organization(code=f"B{i:06d}", name=f"bench {i}", created_at=datetime.now(UTC))
                  for i in range(first, first + n)]
            )
            return [r["id"] for r in rows]

        async def phase(label: str, orgs: list[int], operations: int) -> None:
            for org in orgs:
                await ledger.grant(org, operations, "bench", date(2027, 3, 31), key=f"g-{label}-{org}", today=today)
            latencies: list[float] = []
            queue: asyncio.Queue[int] = asyncio.Queue()
            for n in range(operations):
                queue.put_nowait(n)
            deadline = now() + args.max_seconds

            async def client() -> None:
                while not queue.empty() and now() < deadline:
                    n = queue.get_nowait()
                    org = orgs[n % len(orgs)]
                    started = now()
                    hold_id = await ledger.hold(org, 1, ticket_id=n, key=f"h-{label}-{n}", today=today)
                    latencies.append(now() - started)
                    await ledger.capture(hold_id, f"c-{label}-{n}", today=today)

            started = now()
            await asyncio.gather(*(client() for _ in range(args.clients)))
            elapsed = now() - started
            latencies.sort()
            p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0
            report = await verify()
            print(
                f"{label:>28}: {len(latencies)} hold+capture in {elapsed:.2f}s = "
                f"{len(latencies) / elapsed:.0f} holds/s ({2 * len(latencies) / elapsed:.0f} ledger calls/s), "
                f"hold p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; "
                f"verify {'clean' if report.clean else 'FOUND DIFFERENCES'}"
            )
            if not report.clean:
                for difference in report.differences[:20]:
                    print("   ", difference)
                sys.exit(1)

        kind = "PostgreSQL" if database else "SQLite"
        print(f"ledger benchmark on {kind}, {args.clients} concurrent clients"
              + (f", pool of {args.pool} connections" if database else ""))
        hot = await make_orgs(1)
        await phase("one hot organisation", hot, args.operations)
        spread = await make_orgs(args.organizations)
        await phase(f"spread over {args.organizations} orgs", spread, args.operations)

        # Balance read on the hot account, whose history now holds every entry of the first phase.
        entries = (await ledger.entries(hot[0], limit=1)).items[0].id
        samples = []
        for _ in range(200):
            started = now()
            await ledger.balance(hot[0], today=today)
            samples.append(now() - started)
        samples.sort()
        print(
            f"{'balance read':>28}: p50 {statistics.median(samples) * 1000:.2f} ms, "
            f"p99 {samples[197] * 1000:.2f} ms (account with ~{entries} entries in the database)"
        )
        started = now()
        report = await verify()
        print(f"{'verify':>28}: {report.entries} entries in {now() - started:.2f}s, "
              f"{'clean' if report.clean else 'FOUND DIFFERENCES'}")
    finally:
        if database:
            await db.engine().close_connection_pool()
            admin = await asyncpg.connect(args.postgres)
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server (default: SQLite)")
    parser.add_argument("--clients", type=int, default=32)
    # On 2 cores more PostgreSQL backends than cores only add contention; clients queue for a connection.
    parser.add_argument("--pool", type=int, default=8, help="PostgreSQL connections (asyncpg pool size)")
    parser.add_argument("--operations", type=int, default=2000, help="hold+capture pairs per phase")
    parser.add_argument("--organizations", type=int, default=1000)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="stop a phase after this long")
    args = parser.parse_args()
    database = _configure(args.postgres)
    asyncio.run(_run(args, database))


if __name__ == "__main__":
    main()
