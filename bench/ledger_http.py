"""Ledger throughput through HTTP: file a request (holds its points), open it, resolve it (captures).

    .venv/bin/python -m bench.ledger_http --postgres postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m bench.ledger_http --postgres ... --requests 2000 --organizations 1000
    .venv/bin/python -m bench.ledger_http --postgres ... --profile /tmp/server.txt   # py-spy on the app

Makes a throwaway database (dropped afterwards) with an agent, one customer per organisation, a
published point table (one request type, 1 point) and points granted to every organisation, then
starts the real app (uvicorn, one worker unless `--workers`, `app.server:app_factory`, scheduler
off) and, for one hot organisation and then spread over `--organizations`, runs `--clients`
concurrent httpx clients.
Each client repeats a cycle of three API calls with bearer tokens: the customer files a request
(`POST /api/v1/tickets`: the quote is held in the filing's own transaction), the agent opens it
and resolves it (`POST /api/v1/tickets/{id}/status`: resolving captures the hold). Prints cycles
per second (= holds and captures per second), HTTP requests per second and the latency of each
call (p50/p95/p99), and runs `verify()` after each phase. Bounded in cycles and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.app_server import running_app



def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[max(0, min(len(ordered) - 1, round(len(ordered) * fraction) - 1))] if ordered else 0.0


async def _world(organizations: int, points: int) -> dict:
    """The agent's token and one customer token per organisation."""
    from app.accounts.passwords import hash_password
    from app.accounts.tables import Department, Organization, User
    from app.accounts.tokens import create_token
    from app.tickets.tables import RequestType
    from billing import ledger
    from pricing import services as pricing
    from pricing.rules import PrioritySurcharge, RequestTypePrice

    now = datetime.now(UTC)
    password = hash_password("bench password 1")
    department = (await Department.insert(Department(name="ベンチ部", created_at=now)))[0]["id"]
    agent = (await User.insert(User(
        email="agent@bench.example.jp", name="担当 太郎", role="agent", department=department,
        password_hash=password, created_at=now,
    )))[0]["id"]
    orgs = [r["id"] for r in await Organization.insert(*[
        Organization(code=f"H{n:05d}", name=f"株式会社ベンチ{n}", created_at=now) for n in range(organizations)
    ])]
    customers = [r["id"] for r in await User.insert(*[
        User(email=f"user@h{org}.bench.example.jp", name=f"顧客 {org}", role="customer_member", organization=org,
             password_hash=password, created_at=now)
        for org in orgs
    ])]
    await RequestType.insert(RequestType(code="general", name_ja="一般的な質問", name_en="General question"))
    version = await pricing.create_draft(note="benchmark")
    await pricing.set_request_type(version, RequestTypePrice(
        code="general", name_ja="一般的な質問", name_en="General question", points=1,
        included_minutes=None, block_minutes=None, points_per_block=None,
    ))
    await pricing.set_surcharge(version, PrioritySurcharge("urgent", 1))
    await pricing.publish(version)
    for org in orgs:
        await ledger.grant(org, points, "ベンチマーク用", None, key=f"bench-grant:{org}")
    return {
        "agent": (await create_token(agent, "bench"))[0],
        "customers": [(await create_token(customer, "bench"))[0] for customer in customers],
        "organizations": orgs,
    }


async def _phase(base_url: str, label: str, tokens: list[str], agent: str, args: argparse.Namespace) -> None:
    from app import db
    from billing.verify import verify

    numbers = iter(range(args.requests))
    latencies: dict[str, list[float]] = {"file": [], "open": [], "resolve": []}
    failures: list[str] = []
    deadline = time.perf_counter() + args.max_seconds
    now = time.perf_counter

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            staff = {"Authorization": f"Bearer {agent}"}
            for n in numbers:
                customer = {"Authorization": f"Bearer {tokens[n % len(tokens)]}"}
                started = now()
                filed = await http.post("/api/v1/tickets", headers=customer, json={
                    "subject": f"ベンチマーク {label} {n}", "body": "VPNに接続できません。", "request_type": "general",
                })
                latencies["file"].append(now() - started)
                if filed.status_code != 201:
                    failures.append(f"file {filed.status_code} {filed.text[:200]}")
                    continue
                ticket = filed.json()
                for step, status in (("open", "open"), ("resolve", "resolved")):
                    started = now()
                    moved = await http.post(f"/api/v1/tickets/{ticket['id']}/status", headers=staff,
                                            json={"status": status})
                    latencies[step].append(now() - started)
                    if moved.status_code != 200:
                        failures.append(f"{step} {moved.status_code} {moved.text[:200]}")
                        break
                if now() > deadline:
                    return

    load = os.getloadavg()[0]
    started = now()
    await asyncio.gather(*(client() for _ in range(args.clients)))
    elapsed = now() - started
    cycles = len(latencies["resolve"])
    calls = sum(len(v) for v in latencies.values())
    # Statistics first: the tables grew from nothing within seconds (see bench/ledger_throughput.py).
    await db.engine().run_ddl("ANALYZE")
    report = await verify()
    figures = []
    for step, values in latencies.items():
        ordered = sorted(values)
        ms = [f"{_percentile(ordered, q) * 1000:.0f}" for q in (0.50, 0.95, 0.99)]
        figures.append(f"{step} p50 {ms[0]} / p95 {ms[1]} / p99 {ms[2]} ms")
    print(
        f"{label:>28}: {cycles} requests filed and resolved in {elapsed:.1f}s = "
        f"{cycles / elapsed:.0f} holds+captures/s ({calls / elapsed:.0f} HTTP requests/s); {'; '.join(figures)}; "
        f"{len(failures)} failed; load average {load:.2f}; verify {'clean' if report.clean else 'FOUND DIFFERENCES'}",
        flush=True,
    )
    for failure in failures[:3]:
        print("    ", failure)
    if not report.clean:
        for difference in report.differences[:20]:
            print("   ", difference)
        sys.exit(1)


async def _run(args: argparse.Namespace, database: str) -> None:
    import asyncpg

    from app import db

    admin = await asyncpg.connect(args.postgres)
    await admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    await db.engine().start_connection_pool(min_size=1, max_size=4)
    try:
        await db.prepare_connection()
        await db.create_schema_from_tables()
        world = await _world(max(1, args.organizations) + 1, args.requests + 1_000)
        wrapper = ([str(Path(sys.executable).with_name("py-spy")), "record", "-r", "200", "-f", "raw",
                    "-o", args.profile, "--"] if args.profile else [])
        async with running_app(wrapper=wrapper, workers=args.workers) as base_url:
            print(f"ledger HTTP benchmark on PostgreSQL, {args.clients} concurrent clients, "
                  f"{args.workers} uvicorn worker(s)", flush=True)
            hot, *spread = world["customers"]
            await _phase(base_url, "one hot organisation", [hot], world["agent"], args)
            await _phase(base_url, f"spread over {len(spread)} orgs", spread, world["agent"], args)
    finally:
        await db.engine().close_connection_pool()
        admin = await asyncpg.connect(args.postgres)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, help="admin URL of a PostgreSQL server")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (production: 2)")
    parser.add_argument("--requests", type=int, default=1000, help="requests filed and resolved per phase")
    parser.add_argument("--organizations", type=int, default=1000)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="stop a phase after this long")
    parser.add_argument("--profile", help="record the app with py-spy (raw format) into this file")
    args = parser.parse_args()
    database = f"kippu_bench_http_{os.getpid()}"
    os.environ["ENVIRONMENT"] = "test"
    os.environ["DATABASE_URL"] = args.postgres.rsplit("/", 1)[0] + "/" + database
    asyncio.run(_run(args, database))


if __name__ == "__main__":
    main()
