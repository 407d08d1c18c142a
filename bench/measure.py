"""Measure Kippu through HTTP against the database that bench/load.py filled.

    .venv/bin/python -m bench.measure [--database kippu_bench] [--repeat 60] [--creates 1000]

Starts the app with uvicorn on 127.0.0.1 (one worker, scheduler off) against that database,
then, one request at a time, times (p50 and p95, milliseconds): the API list first page and a
deep cursor page, request detail, keyword search for 1-, 2- and 3+-character Japanese terms and
English words (staff, and a customer within its company), the console queue page, and finally
request creation by 32 concurrent clients. Only loopback traffic; every loop is bounded. Prints a
Markdown table for docs/benchmarks.md. The requests filed by the creation test are deleted at the
end (their rows, messages, history and search documents; their ledger holds stay): left in place,
they would be the newest requests of the next run, all with the same text, and would change what
the searches walk through and which shape `keyword_condition()` picks for a term.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time

import httpx

from bench.app_server import running_app

ADMIN_DSN = "postgres://postgres@127.0.0.1:5432/postgres"
SEARCHES = [
    ("1 文字 (common)", "印"),
    ("1 文字 (rare)", "鍵"),
    ("2 文字", "請求"),
    ("2 文字", "ハブ"),
    ("3+ 文字", "インターネット"),
    ("3+ 文字 (rare)", "ファイアウォール"),
    ("English", "printer"),
    ("English", "VPN"),
    ("2 words", "VPN 在宅"),
    ("no match", "存在しない語"),
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def timed(client: httpx.AsyncClient, url: str, repeat: int, **kwargs) -> tuple[list[float], httpx.Response]:
    for _ in range(3):  # warm-up
        response = await client.get(url, **kwargs)
        response.raise_for_status()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = await client.get(url, **kwargs)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times, response


async def prepare(database_url: str) -> dict:
    """API tokens for an admin and a customer, a deep cursor, and ids for the detail page."""
    os.environ["DATABASE_URL"] = database_url
    import asyncpg

    from app.accounts.tokens import create_token
    from app.tickets.services.filters import encode_cursor

    connection = await asyncpg.connect(database_url)
    admin = await connection.fetchval("SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1")
    last = await connection.fetchrow("SELECT organization, requester FROM tickets ORDER BY id DESC LIMIT 1")
    total = await connection.fetchval("SELECT max(id) FROM tickets")
    versions = await connection.fetch("SELECT extname, extversion FROM pg_extension")
    server = await connection.fetchval("SHOW server_version")
    await connection.close()
    staff_token, _id = await create_token(admin, "bench")
    customer_token, _id = await create_token(last["requester"], "bench")
    return {
        "staff": staff_token,
        "customer": customer_token,
        "organization": last["organization"],
        "deep_cursor": encode_cursor(total // 2),
        "max_id": total,
        "server": server,
        "extensions": [r["extname"] for r in versions],
    }


async def forget_created(database_url: str, max_id: int) -> None:
    """Delete the requests filed after `prepare()` (by the creation test), so runs stay comparable."""
    import asyncpg

    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("UPDATE tickets SET follow_up_of = NULL WHERE follow_up_of > $1", max_id)
        deleted = await connection.execute("DELETE FROM tickets WHERE id > $1", max_id)
        await connection.execute("VACUUM ANALYZE tickets")
        await connection.execute("VACUUM ANALYZE ticket_search")
    finally:
        await connection.close()
    print(f"bench requests removed: {deleted}", flush=True)


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    await client.get("/login")
    response = await client.post(
        "/login", data={"email": email, "password": password, "_csrf_token": client.cookies.get("kippu_csrf")}
    )
    if response.status_code not in (302, 303):
        raise RuntimeError(f"sign-in failed: {response.status_code}")


async def create_throughput(base_url: str, token: str, total: int, clients: int) -> tuple[float, list[float], int]:
    """`total` requests filed by `clients` concurrent clients: (per second, latencies, failures)."""
    latencies: list[float] = []
    failures = 0
    queue = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(n)

    async def client_loop() -> None:
        nonlocal failures
        async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            while True:
                try:
                    n = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                response = await c.post("/api/v1/tickets", json={
                    "subject": f"ベンチマーク {n}: VPNに接続できない",
                    "body": "在宅勤務中にVPNが切断されます。ご確認をお願いします。",
                    "request_type": "general",
                })
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 201:
                    failures += 1
                    if failures <= 3:
                        print(f"  create failed: {response.status_code} {response.text[:200]}", flush=True)

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return total / elapsed, latencies, failures


async def run(args: argparse.Namespace) -> None:
    database_url = args.admin_dsn.rsplit("/", 1)[0] + "/" + args.database
    context = await prepare(database_url)
    rows: list[tuple[str, str, list[float], str]] = []
    try:
        async with running_app({"DATABASE_URL": database_url}) as base_url:
            staff_headers = {"Authorization": f"Bearer {context['staff']}"}
            customer_headers = {"Authorization": f"Bearer {context['customer']}"}
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
                times, response = await timed(client, "/api/v1/tickets", args.repeat, headers=staff_headers)
                rows.append(("API list, first page", "staff", times, f"{len(response.json()['items'])} items"))
                times, response = await timed(
                    client, "/api/v1/tickets", args.repeat, headers=staff_headers, params={"cursor": context["deep_cursor"]})
                rows.append(("API list, deep cursor (id < 50%)", "staff", times, f"{len(response.json()['items'])} items"))
                times, response = await timed(client, "/api/v1/tickets", args.repeat, headers=customer_headers)
                rows.append(("API list, first page", "customer", times, f"{len(response.json()['items'])} items"))
                times, response = await timed(
                    client, "/api/v1/tickets", args.repeat, headers=staff_headers, params={"status": "new"})
                rows.append(("API list, status=new", "staff", times, f"{len(response.json()['items'])} items"))

                rng = random.Random(7)
                detail_times = []
                for _ in range(args.repeat):
                    ticket_id = rng.randint(1, context["max_id"])
                    started = time.perf_counter()
                    response = await client.get(f"/api/v1/tickets/{ticket_id}", headers=staff_headers)
                    detail_times.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
                rows.append(("API request detail (random id)", "staff", detail_times,
                             f"{len(response.json()['messages'])} messages"))

                for label, term in SEARCHES:
                    for who, headers in (("staff", staff_headers), ("customer", customer_headers)):
                        times, response = await timed(client, "/api/v1/tickets", args.repeat, headers=headers, params={"q": term})
                        page = response.json()
                        more = "+" if page["next_cursor"] else ""
                        rows.append((f"search {label}: {term}", who, times, f"{len(page['items'])}{more} items"))

            async with httpx.AsyncClient(base_url=base_url, timeout=30) as browser:
                try:
                    await sign_in(browser, "admin@bench.example.jp", args.password)
                    times, response = await timed(browser, "/console/tickets", args.repeat)
                    rows.append(("console queue page (HTML)", "staff", times, f"{len(response.content) // 1024} KiB"))
                    times, response = await timed(browser, "/console/tickets", args.repeat, params={"q": "ハブ"})
                    rows.append(("console queue page, q=ハブ", "staff", times, f"{len(response.content) // 1024} KiB"))
                except (RuntimeError, httpx.HTTPStatusError) as exc:
                    print(f"console queue page not measured: {exc}")

            if args.creates:
                per_second, latencies, failures = await create_throughput(
                    base_url, context["customer"], args.creates, args.clients)
    finally:
        await forget_created(database_url, context["max_id"])

    print(f"\nPostgreSQL {context['server']}; {context['max_id']:,} requests; "
          f"customer = organisation {context['organization']}; {args.repeat} timed calls each, sequential\n")
    print("| what | as | p50 ms | p95 ms | result |")
    print("|---|---|---:|---:|---|")
    for what, who, times, note in rows:
        print(f"| {what} | {who} | {statistics.median(times):.1f} | {percentile(times, 0.95):.1f} | {note} |")
    if args.creates:
        print(f"\nCreation: {args.creates} requests by {args.clients} concurrent clients: {per_second:.0f} requests/s, "
              f"latency p50 {statistics.median(latencies):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms, "
              f"{failures} failed")


def main(argv: list[str] | None = None) -> None:
    from bench.load import PASSWORD

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-dsn", default=ADMIN_DSN)
    parser.add_argument("--database", default="kippu_bench")
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--password", default=PASSWORD)
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
