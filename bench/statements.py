"""The month-end run: every organisation's usage statement issued by `kippu statements`.

    .venv/bin/python -m bench.statements [--organizations 1000] [--postgres ADMIN_DSN]

Makes its own PostgreSQL database (dropped afterwards), builds the schema, an issuer, a request
type, and the organisations with last month's history written through the ledger itself (a
purchase, then requests filed and resolved: most organisations 5–40 of them, one in fifty 300,
each request a ticket row so the statement names it; a few expiries and adjustments). Then it
runs `kippu statements --month <last month>` as a subprocess, watching the peak memory (VmHWM)
of the command and of each of its rendering processes, and reports statements per second. A
second run must issue nothing (the command is idempotent). Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ADMIN_DSN = "postgres://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parent.parent


def _last_month(today: date) -> tuple[str, date]:
    first = today.replace(day=1) - timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}", first.replace(day=1)


async def _seed(count: int, first_day: date) -> None:
    from app import db
    from app.accounts.tables import Organization, User
    from app.tickets.tables import RequestType, Ticket
    from billing import clock, ledger
    from billing.issuer import IssuerSettings, save_issuer

    await db.engine().start_connection_pool(min_size=1, max_size=4)
    await db.create_schema_from_tables()
    await save_issuer(IssuerSettings(name="Kippuサポート株式会社", registration_number="T7123456789012",
                                     address="東京都千代田区丸の内1-1-1", bank_account="三菱UFJ銀行 丸の内支店 普通 1234567"))
    request_type = (await RequestType.insert(RequestType(code="general", name_ja="一般的な質問",
                                                         name_en="General question")))[0]["id"]
    rng = random.Random(7)
    now = datetime.now(UTC)
    organizations = await Organization.insert(*[
        Organization(code=f"M{i:05d}", name=f"株式会社ベンチ{i:04d}", created_at=now) for i in range(count)])
    started, number = time.perf_counter(), 0
    for index, row in enumerate(organizations):
        organization = row["id"]
        requester = (await User.insert(User(email=f"m{index}@bench.example", name="利用 者", role="customer_member",
                                            organization=organization, created_at=now)))[0]["id"]
        requests = 300 if index % 50 == 0 else rng.randint(5, 40)
        day = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
        # One transaction per organisation, so the ledger calls run in it, at the moments given.
        async with db.write_transaction():
            with clock.at(day - timedelta(days=3)):
                await ledger.purchase(organization, requests + 20, 5_000, first_day + timedelta(days=400),
                                      "10ポイントパック × 1", key=f"p{organization}", today=first_day)
                await ledger.grant(organization, 5, "キャンペーン", first_day + timedelta(days=10),
                                   key=f"g{organization}", today=first_day - timedelta(days=3))
            tickets = await Ticket.insert(*[
                Ticket(number=f"{first_day.year}-{(number := number + 1):06d}", organization=organization,
                       requester=requester, subject=f"ベンチマークのお問い合わせ {n}", body="本文",
                       request_type=request_type, status="resolved", created_at=day, updated_at=day)
                for n in range(requests)])
            for n, ticket in enumerate(tickets):
                moment = day + timedelta(minutes=int(n * 27 * 24 * 60 / len(tickets)))
                with clock.at(moment):
                    hold = await ledger.hold(organization, 1, ticket_id=ticket["id"], key=f"h{ticket['id']}",
                                             today=moment.date())
                    await ledger.capture(hold, f"c{ticket['id']}", today=moment.date())
            with clock.at(day + timedelta(days=12)):
                await ledger.expire_due(today=first_day + timedelta(days=12))
            if index % 3 == 0:
                with clock.at(day + timedelta(days=20)):
                    await ledger.adjust(organization, -1, "二重計上の訂正", key=f"a{organization}",
                                        today=first_day + timedelta(days=20))
        if index % 100 == 99:
            print(f"  {index + 1} organisations with their month ({time.perf_counter() - started:.0f}s)", flush=True)
    await db.engine().close_connection_pool()


def _peak_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match[1]) if match else 0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _run(month: str, env: dict[str, str], workers: int | None) -> tuple[float, str, dict[int, int], int]:
    """Run the command; return its seconds, its output, each worker's peak KiB and its own."""
    command = [sys.executable, "-m", "app.cli", "statements", "--month", month]
    if workers:
        command += ["--workers", str(workers)]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peaks: dict[int, int] = {}
    own = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal own
        while not stop.is_set():
            own = max(own, _peak_kib(process.pid))
            for child in _children(process.pid):
                peaks[child] = max(peaks.get(child, 0), _peak_kib(child))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    output, _ = process.communicate()
    stop.set()
    watcher.join()
    if process.returncode:
        raise SystemExit(f"kippu statements failed:\n{output}")
    return time.perf_counter() - started, output, peaks, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organizations", type=int, default=1000)
    parser.add_argument("--postgres", default=ADMIN_DSN, help="admin URL of a PostgreSQL server")
    parser.add_argument("--workers", type=int, default=None, help="rendering processes (default: one per core)")
    args = parser.parse_args()
    database = f"kippu_bench_statements_{os.getpid()}"
    url = args.postgres.rsplit("/", 1)[0] + "/" + database
    os.environ.update({"ENVIRONMENT": "test", "DATABASE_URL": url})
    import asyncpg

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(args.postgres)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    month, first_day = _last_month(date.today())
    asyncio.run(admin(f'CREATE DATABASE "{database}"'))
    try:
        started = time.perf_counter()
        print(f"seeding {args.organizations} organisations with their {month} on PostgreSQL …", flush=True)
        asyncio.run(_seed(args.organizations, first_day))
        print(f"seeded in {time.perf_counter() - started:.0f}s", flush=True)
        env = {**os.environ, "RUN_SCHEDULER": "false"}
        seconds, output, peaks, own = _run(month, env, args.workers)
        issued = int(re.search(r": (\d+) issued", output)[1])
        print(output.strip().splitlines()[-1])
        print(f"statements {month}: {issued} in {seconds:.1f}s (the whole command) = {issued / seconds:.1f} documents/s")
        print("peak memory (VmHWM): command " + f"{own / 1024:.0f} MiB; rendering workers "
              + ", ".join(f"{kib / 1024:.0f} MiB" for kib in sorted(peaks.values(), reverse=True)))
        again_seconds, again, _, _ = _run(month, env, args.workers)
        print(f"second run ({again_seconds:.1f}s): {again.strip().splitlines()[-1]}")
        if ": 0 issued" not in again:
            raise SystemExit("the second run issued statements again")
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
