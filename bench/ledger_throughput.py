"""Ledger throughput through the service layer: hold + capture with concurrent clients.

    .venv/bin/python -m bench.ledger_throughput --postgres postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m bench.ledger_throughput --postgres ... --processes 2     # 2 processes x 16 clients
    .venv/bin/python -m bench.ledger_throughput            # SQLite, in a temporary directory

Makes its own database (dropped afterwards), bulk-loads one account's history to `--history`
entries (COPY on PostgreSQL), then measures, for one hot organisation and for the load spread over
many organisations: holds per second (each hold followed by its capture, both through
`billing.ledger`), the p50/p95/p99 latency of a hold and of a capture; and a balance read on the
account with the long history. The `--clients` are split over `--processes` worker processes (each
with its own connection pool of `--pool` and its own batches), which start together; holds/s is
all holds over the wall time from the first start to the last finish. Runs `verify()` after each
phase and fails loudly if it finds anything. Prints the load average before each phase (other work
on the machine skews every figure). Bounded in operations and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

TODAY = date(2026, 4, 1)
EXPIRES = date(2027, 3, 31)


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


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[max(0, min(len(ordered) - 1, round(len(ordered) * fraction) - 1))] if ordered else 0.0


# --- a worker process: its share of the clients ------------------------------------------------

async def _work(task: dict) -> dict:
    from app import db
    from billing import ledger

    if db.is_postgres():
        await db.engine().start_connection_pool(min_size=task["pool"], max_size=task["pool"])
    orgs, label = task["orgs"], task["label"]
    numbers = iter(range(task["first"], task["first"] + task["operations"]))
    latencies: list[float] = []
    capture_latencies: list[float] = []
    now = time.perf_counter

    async def client() -> None:
        for n in numbers:
            org = orgs[n % len(orgs)]
            started = now()
            hold_id = await ledger.hold(org, 1, ticket_id=n, key=f"h-{label}-{n}", today=TODAY)
            latencies.append(now() - started)
            started = now()
            await ledger.capture(hold_id, f"c-{label}-{n}", today=TODAY)
            capture_latencies.append(now() - started)
            if time.time() > task["deadline"]:
                return

    # Warm the pool's connections, then start with the other workers.
    await ledger.balance(orgs[0], today=TODAY)
    await asyncio.sleep(max(0.0, task["start_at"] - time.time()))
    started = time.time()
    await asyncio.gather(*(client() for _ in range(task["clients"])))
    finished = time.time()
    if db.is_postgres():
        await db.engine().close_connection_pool()
    return {"latencies": latencies, "capture_latencies": capture_latencies, "started": started, "finished": finished}


def _worker(task_json: str) -> None:
    task = json.loads(task_json)
    os.environ["ENVIRONMENT"] = "test"
    os.environ["DATABASE_URL"] = task["database_url"]
    print(json.dumps(asyncio.run(_work(task))))


# --- the parent: database, phases, balance read, verify ----------------------------------------

async def _phase(args: argparse.Namespace, label: str, orgs: list[int]) -> None:
    from app import db
    from billing import ledger

    for org in orgs:
        await ledger.grant(org, args.operations, "bench", EXPIRES, key=f"g-{label}-{org}", today=TODAY)
    await db.engine().run_ddl("ANALYZE")
    processes = args.processes
    load = os.getloadavg()[0]
    start_at = time.time() + 2.0 + 0.5 * processes
    workers = []
    for p in range(processes):
        share = args.operations // processes + (1 if p < args.operations % processes else 0)
        task = {
            "database_url": os.environ["DATABASE_URL"], "orgs": orgs, "label": label, "pool": args.pool,
            "first": p * (args.operations // processes + 1), "operations": share,
            "clients": args.clients // processes, "start_at": start_at,
            "deadline": start_at + args.max_seconds,
        }
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "bench.ledger_throughput", "--worker", json.dumps(task)],
            stdout=subprocess.PIPE, text=True,
        ))
    results = []
    for worker in workers:
        out, _ = worker.communicate()
        if worker.returncode:
            raise SystemExit(f"a worker failed (exit {worker.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    latencies = sorted(x for r in results for x in r["latencies"])
    captures = sorted(x for r in results for x in r["capture_latencies"])
    elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
    report = await _verify()
    ms = [f"{_percentile(latencies, q) * 1000:.1f}" for q in (0.50, 0.95, 0.99)]
    cms = [f"{_percentile(captures, q) * 1000:.1f}" for q in (0.50, 0.95, 0.99)]
    print(
        f"{label:>28}: {len(latencies)} hold+capture in {elapsed:.2f}s = {len(latencies) / elapsed:.0f} holds/s "
        f"({2 * len(latencies) / elapsed:.0f} ledger calls/s); hold p50 {ms[0]} ms, p95 {ms[1]} ms, "
        f"p99 {ms[2]} ms; capture p50 {cms[0]} ms, p95 {cms[1]} ms, p99 {cms[2]} ms; load average {load:.2f}; "
        f"verify {'clean' if report.clean else 'FOUND DIFFERENCES'}",
        flush=True,
    )
    if not report.clean:
        for difference in report.differences[:20]:
            print("   ", difference)
        sys.exit(1)


async def _verify():
    """verify() after ANALYZE: the phases grew the tables since the last statistics, and its
    set-based checks would be planned for the tables as they were (nested loops over seconds)."""
    from app import db
    from billing.verify import verify

    await db.engine().run_ddl("ANALYZE")
    return await verify()


async def _load_history(organization_id: int, pairs: int) -> None:
    """Give the organisation a history of `pairs` captured one-point holds (2 entries each, plus
    the grant), written in bulk: COPY on PostgreSQL, executemany on SQLite. The rows are what the
    ledger itself would have written, so verify() must still find nothing."""
    from app import db
    from billing import ledger

    granted = await ledger.grant(organization_id, pairs + 1_000, "history", None, key=f"history-{organization_id}",
                                 today=TODAY)
    account = (await db.engine().run_ddl(
        f"SELECT id FROM points_accounts WHERE organization = {organization_id}"))[0]["id"]
    top = (await db.engine().run_ddl("SELECT MAX(id) AS top FROM ledger_entries"))[0]["top"]
    holds_top = (await db.engine().run_ddl("SELECT COALESCE(MAX(id), 0) AS top FROM point_holds"))[0]["top"]
    lot, start, now = granted.lot_id, pairs + 1_000, datetime.now(UTC)
    holds, entries, allocations = [], [], []
    for i in range(pairs):
        hold, hold_entry, capture_entry = holds_top + 1 + i, top + 1 + 2 * i, top + 2 + 2 * i
        holds.append((hold, account, i, 0, 1, 0, "captured", now, now))
        left = start - i - 1
        entries.append((hold_entry, account, "hold", 1, -1, 1, left, 1, 0, None, hold, i, "", f"hh-{i}", "-", None, now))
        entries.append((capture_entry, account, "capture", 1, 0, -1, left, 0, 0, None, hold, i, "", f"hc-{i}", "-", None,
                        now))
        allocations.append((hold_entry, lot, hold, -1, 1, 0))
        allocations.append((capture_entry, lot, hold, 0, -1, 0))
    hold_columns = ["id", "account", "ticket_id", "points", "captured", "released", "status", "created_at",
                    "settled_at"]
    entry_columns = ["id", "account", "kind", "points", "available_delta", "held_delta", "available_after",
                     "held_after", "yen", "lot", "hold", "ticket_id", "reason", "idempotency_key", "fingerprint",
                     "actor", "created_at"]
    allocation_columns = ["entry", "lot", "hold", "remaining_delta", "held_delta", "yen"]
    if db.is_postgres():
        async with db.engine().pool.acquire() as connection:
            async with connection.transaction():
                # Bulk load only: triggers and foreign-key checks off for this session; verify() below
                # checks everything they would have.
                await connection.execute("SET LOCAL session_replication_role = replica")
                await connection.copy_records_to_table("point_holds", records=holds, columns=hold_columns)
                await connection.copy_records_to_table("ledger_entries", records=entries, columns=entry_columns)
                await connection.copy_records_to_table("point_allocations", records=allocations,
                                                       columns=allocation_columns)
                for table in ("point_holds", "ledger_entries", "point_allocations"):
                    await connection.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
                await connection.execute(
                    "UPDATE point_lots SET remaining = remaining - $1, consumed = consumed + $1 WHERE id = $2", pairs, lot)
                await connection.execute(
                    "UPDATE points_accounts SET available = available - $1 WHERE id = $2", pairs, account)
            await connection.execute("ANALYZE")
    else:
        import sqlite3

        connection = sqlite3.connect(os.environ["DATABASE_URL"].removeprefix("sqlite:///"), timeout=60)
        with connection:
            for table, columns, rows in (("point_holds", hold_columns, holds), ("ledger_entries", entry_columns, entries),
                                         ("point_allocations", allocation_columns, allocations)):
                connection.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                    [tuple(v.isoformat() if isinstance(v, datetime) else v for v in row) for row in rows],
                )
            connection.execute("UPDATE point_lots SET remaining = remaining - ?, consumed = consumed + ? WHERE id = ?",
                               (pairs, pairs, lot))
            connection.execute("UPDATE points_accounts SET available = available - ? WHERE id = ?", (pairs, account))
        connection.execute("ANALYZE")
        connection.close()


async def _run(args: argparse.Namespace, database: str | None) -> None:
    import asyncpg

    from app import db
    from app.accounts.tables import Organization
    from billing import ledger

    if database:
        admin = await asyncpg.connect(args.postgres)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        await admin.execute(f'CREATE DATABASE "{database}"')
        await admin.close()
        await db.engine().start_connection_pool(min_size=1, max_size=4)
    try:
        await db.prepare_connection()
        await db.create_schema_from_tables()

        async def make_orgs(n: int) -> list[int]:
            first = await Organization.count()
            rows = await Organization.insert(
                *[Organization(code=f"B{i:06d}", name=f"bench {i}", created_at=datetime.now(UTC))
                  for i in range(first, first + n)]
            )
            return [r["id"] for r in rows]

        kind = "PostgreSQL" if database else "SQLite"
        print(f"ledger benchmark on {kind}, {args.clients} concurrent clients in {args.processes} process(es)"
              + (f", a pool of {args.pool} connections each" if database else ""), flush=True)
        # The history first, so that the phases run on a ledger of production size whose
        # statistics are current (the load ends with ANALYZE, as autovacuum would): on tables
        # that grow from empty within seconds, the planner still takes them for tiny ones.
        long = (await make_orgs(1))[0]
        started = time.perf_counter()
        await _load_history(long, args.history // 2)
        print(f"{'history loaded':>28}: {args.history} entries in {time.perf_counter() - started:.1f}s", flush=True)
        await _phase(args, "one hot organisation", await make_orgs(1))
        await _phase(args, f"spread over {args.organizations} orgs", await make_orgs(args.organizations))

        entries = (await db.engine().run_ddl(
            "SELECT COUNT(*) AS n FROM ledger_entries e JOIN points_accounts a ON a.id = e.account "
            f"WHERE a.organization = {long}"))[0]["n"]
        samples = []
        for _ in range(500):
            started = time.perf_counter()
            await ledger.balance(long, today=TODAY)
            samples.append(time.perf_counter() - started)
        samples.sort()
        print(
            f"{'balance read':>28}: p50 {statistics.median(samples) * 1000:.2f} ms, "
            f"p95 {_percentile(samples, 0.95) * 1000:.2f} ms, p99 {_percentile(samples, 0.99) * 1000:.2f} ms "
            f"(one account with {entries} entries)", flush=True,
        )
        started = time.perf_counter()
        hold_id = await ledger.hold(long, 1, ticket_id=1, key="long-hold", today=TODAY)
        await ledger.capture(hold_id, "long-capture", today=TODAY)
        print(f"{'hold+capture on it':>28}: {(time.perf_counter() - started) * 1000:.1f} ms", flush=True)
        started = time.perf_counter()
        report = await _verify()
        print(f"{'verify':>28}: {report.entries} entries in {time.perf_counter() - started:.2f}s, "
              f"{'clean' if report.clean else 'FOUND DIFFERENCES'}", flush=True)
        if not report.clean:
            for difference in report.differences[:20]:
                print("   ", difference)
            sys.exit(1)
    finally:
        if database:
            await db.engine().close_connection_pool()
            admin = await asyncpg.connect(args.postgres)
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server (default: SQLite)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients in all")
    parser.add_argument("--processes", type=int, default=1, help="worker processes sharing the clients")
    # On 2 cores more PostgreSQL backends than cores only add contention; clients queue for a connection.
    parser.add_argument("--pool", type=int, default=8, help="PostgreSQL connections per process")
    parser.add_argument("--operations", type=int, default=4000, help="hold+capture pairs per phase")
    parser.add_argument("--organizations", type=int, default=1000)
    parser.add_argument("--history", type=int, default=1_000_000, help="entries on the balance-read account")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="stop a phase after this long")
    args = parser.parse_args()
    database = _configure(args.postgres)
    asyncio.run(_run(args, database))


if __name__ == "__main__":
    main()
