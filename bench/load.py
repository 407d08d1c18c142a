"""Load a PostgreSQL database with 1,000,000 support requests for the benchmarks.

    .venv/bin/python -m bench.load [--tickets 1000000] [--database kippu_bench]

Drops and creates the database (on the server of --admin-dsn), builds the schema from the table
classes (app.db.create_schema_from_tables), then bulk-loads ~200 customer organisations with
their users, staff in departments, and the requests: each with 1–3 messages (replies and some
internal notes), a history line and its search document (app.tickets.search.search_document).
Text comes from bench/corpus.py. Rows go in with COPY (asyncpg copy_records_to_table), generated
by a second process while the first one copies; the secondary indexes and foreign keys of the
big tables are dropped before and rebuilt after the load, then VACUUM ANALYZE. A point table is
published and every organisation gets points, so the benchmark can file new requests.

Every user's password is bench.load.PASSWORD. Prints timings as it goes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

ADMIN_DSN = "postgres://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench-password-1"
ORGANIZATIONS = 200
USERS_PER_ORGANIZATION = 10
DEPARTMENTS = ["ネットワーク", "ヘルプデスク", "Web制作", "サーバー運用", "会計システム", "セキュリティ"]
AGENTS_PER_DEPARTMENT = 8
REQUEST_TYPES = [
    ("general", "一般的な質問", "General question"),
    ("incident", "障害対応", "Incident"),
    ("change", "設定変更", "Configuration change"),
    ("onsite", "訪問作業", "On-site work"),
    ("web_update", "ホームページ更新", "Website update"),
]
BATCH = 20_000
BIG_TABLES = ["tickets", "ticket_messages", "ticket_events", "ticket_search"]
ZONE = ZoneInfo("Asia/Tokyo")
SPAN = timedelta(days=3 * 365)

TICKET_COLUMNS = [
    "id", "number", "organization", "requester", "subject", "body", "request_type", "priority",
    "category", "status", "department", "assignee", "first_response_due_at", "resolution_due_at",
    "first_responded_at", "resolved_at", "closed_at", "version", "created_at", "updated_at",
]
MESSAGE_COLUMNS = ["ticket", "author", "body", "internal", "minutes_spent", "created_at"]
EVENT_COLUMNS = ["ticket", "actor", "kind", "created_at"]
SEARCH_COLUMNS = ["ticket", "public_text", "internal_text", "grams"]


def log(message: str, started: float) -> None:
    print(f"[{time.monotonic() - started:7.1f}s] {message}", flush=True)


def created_at(ticket_id: int, total: int, end: datetime) -> datetime:
    """Requests are spread evenly over three years up to `end`, ids in time order."""
    return end - SPAN + SPAN * (ticket_id / total)


def first_ids_by_year(total: int, end: datetime) -> dict[int, int]:
    """The first ticket id of each (vendor-local) year, for YYYY-NNNNNN numbers."""
    firsts: dict[int, int] = {}
    low_year = created_at(1, total, end).astimezone(ZONE).year
    for year in range(low_year, end.astimezone(ZONE).year + 1):
        low, high = 1, total + 1
        while low < high:
            mid = (low + high) // 2
            if created_at(mid, total, end).astimezone(ZONE).year >= year:
                high = mid
            else:
                low = mid + 1
        if low <= total:
            firsts[year] = low
    return firsts


def generate(first_id: int, count: int, total: int, end: datetime, people: dict) -> tuple[list, list, list, list]:
    """Rows of `count` requests from `first_id` on (runs in the generator process)."""
    from app.tickets.search import search_document
    from bench.corpus import request_text

    rng = random.Random(first_id)
    firsts = first_ids_by_year(total, end)
    tickets, messages, events, documents = [], [], [], []
    organizations = people["organizations"]
    for ticket_id in range(first_id, first_id + count):
        created = created_at(ticket_id, total, end)
        year = created.astimezone(ZONE).year
        number = f"{year}-{ticket_id - firsts[year] + 1:06d}"
        organization = rng.choice(organizations)
        requester = rng.choice(people["customers"][organization])
        department = rng.randrange(len(people["agents"]))
        agents = people["agents"][department]
        assignee = rng.choice(agents)
        age = end - created
        roll = rng.random()
        if age > timedelta(days=30):
            status = "closed" if roll < 0.88 else "cancelled" if roll < 0.93 else "resolved"
        else:
            status = "new" if roll < 0.2 else "open" if roll < 0.5 else "waiting" if roll < 0.65 else "resolved"
        priority = "urgent" if rng.random() < 0.08 else "low" if rng.random() < 0.15 else "normal"
        category = rng.choice(("question", "incident", "change_request", "notice", "other"))
        subject, body, thread = request_text(rng)
        first_due = created + timedelta(hours={"urgent": 1, "normal": 8, "low": 24}[priority])
        resolution_due = created + timedelta(hours={"urgent": 8, "normal": 72, "low": 168}[priority])
        at = created
        replies, notes = [], []
        first_responded = None
        for from_staff, internal, text in thread:
            at += timedelta(minutes=rng.randint(5, 600))
            author = assignee if from_staff else requester
            if from_staff and not internal and first_responded is None:
                first_responded = at
            messages.append((ticket_id, author, text, internal, rng.choice((0, 15, 30)) if from_staff else 0, at))
            (notes if internal else replies).append(text)
        resolved = at + timedelta(hours=1) if status in ("resolved", "closed") else None
        closed = at + timedelta(days=7) if status == "closed" else None
        updated = closed or resolved or at
        if status == "new":
            assignee, first_responded = None, None
        tickets.append((
            ticket_id, number, organization, requester, subject, body, 1 + ticket_id % len(REQUEST_TYPES),
            priority, category, status, people["departments"][department], assignee, first_due, resolution_due,
            first_responded, resolved, closed, 1 + len(thread), created, updated,
        ))
        events.append((ticket_id, requester, "created", created))
        document = search_document(subject, body, replies, notes)
        documents.append((ticket_id, document["public_text"], document["internal_text"], document["grams"]))
    return tickets, messages, events, documents


async def seed_people(connection: asyncpg.Connection, now: datetime) -> dict:
    """Departments, staff, organisations with their customers and routing, request types."""
    from app.accounts.passwords import hash_password

    password_hash = hash_password(PASSWORD)
    department_ids = []
    for name in DEPARTMENTS:
        department_ids.append(await connection.fetchval(
            "INSERT INTO departments (name, created_at) VALUES ($1, $2) RETURNING id", name, now))
    await connection.executemany(
        "INSERT INTO request_types (code, name_ja, name_en, sort_order) VALUES ($1, $2, $3, $4)",
        [(code, ja, en, i) for i, (code, ja, en) in enumerate(REQUEST_TYPES)],
    )
    users = [("admin@bench.example.jp", "管理者 一郎", "admin", None, None)]
    for d, department in enumerate(department_ids):
        for a in range(AGENTS_PER_DEPARTMENT):
            users.append((f"agent{d}-{a}@bench.example.jp", f"担当 {d}-{a}", "agent", None, department))
    organization_rows = [
        (f"C{n:04d}", f"株式会社ベンチ{n}", f"東京都千代田区丸の内{n}-1", now) for n in range(1, ORGANIZATIONS + 1)
    ]
    await connection.copy_records_to_table(
        "organizations", records=organization_rows, columns=["code", "name", "address", "created_at"])
    organizations = [r["id"] for r in await connection.fetch("SELECT id FROM organizations ORDER BY id")]
    for organization in organizations:
        for u in range(USERS_PER_ORGANIZATION):
            role = "customer_admin" if u == 0 else "customer_member"
            users.append((f"user{u}@c{organization}.bench.example.jp", f"顧客 {organization}-{u}", role, organization, None))
    await connection.copy_records_to_table(
        "users",
        records=[(email, name, role, org, dept, password_hash, now) for email, name, role, org, dept in users],
        columns=["email", "name", "role", "organization", "department", "password_hash", "created_at"],
    )
    rows = await connection.fetch("SELECT id, role, organization, department FROM users ORDER BY id")
    agents = [[r["id"] for r in rows if r["department"] == d] for d in department_ids]
    customers = {o: [r["id"] for r in rows if r["organization"] == o] for o in organizations}
    await connection.copy_records_to_table(
        "organization_routing",
        records=[(o, department_ids[i % len(department_ids)]) for i, o in enumerate(organizations)],
        columns=["organization", "department"],
    )
    return {"departments": department_ids, "agents": agents, "organizations": organizations, "customers": customers}


async def price_and_fund(people: dict) -> None:
    """A published point table pricing every request type, and points for every organisation, so
    that new requests can be filed (and their points held) during the benchmark."""
    from billing import ledger
    from pricing import services as pricing
    from pricing.rules import PrioritySurcharge, RequestTypePrice

    version = await pricing.create_draft(note="benchmark")
    for code, ja, en in REQUEST_TYPES:
        await pricing.set_request_type(version, RequestTypePrice(
            code=code, name_ja=ja, name_en=en, points=1,
            included_minutes=None, block_minutes=None, points_per_block=None,
        ))
    await pricing.set_surcharge(version, PrioritySurcharge("urgent", 1))
    await pricing.publish(version)
    for organization in people["organizations"]:
        await ledger.grant(organization, 1_000_000, "ベンチマーク用", None, key=f"bench-grant:{organization}")


async def drop_secondary(connection: asyncpg.Connection) -> list[str]:
    """Drop the big tables' foreign keys, unique constraints and secondary indexes; return how
    to rebuild them."""
    rebuild: list[str] = []
    constraints = await connection.fetch(
        "SELECT c.conrelid::regclass::text AS tab, c.conname, pg_get_constraintdef(c.oid) AS def, c.contype::text "
        "FROM pg_constraint c WHERE c.contype IN ('f', 'u') AND (c.conrelid::regclass::text = ANY($1) "
        "OR (c.contype = 'f' AND c.confrelid::regclass::text = ANY($1)))",
        BIG_TABLES,
    )
    for c in constraints:
        await connection.execute(f'ALTER TABLE "{c["tab"]}" DROP CONSTRAINT "{c["conname"]}"')
    indexes = await connection.fetch(
        "SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def "
        "FROM pg_index i WHERE i.indrelid::regclass::text = ANY($1) AND NOT i.indisprimary",
        BIG_TABLES,
    )
    for index in indexes:
        await connection.execute(f'DROP INDEX "{index["name"]}"')
        rebuild.append(index["def"])
    # Unique constraints first (they are indexes too), foreign keys last.
    for kind in ("u", "f"):
        rebuild += [f'ALTER TABLE "{c["tab"]}" ADD CONSTRAINT "{c["conname"]}" {c["def"]}'
                    for c in constraints if c["contype"] == kind]
    return rebuild


async def load(args: argparse.Namespace) -> None:
    started = time.monotonic()
    base = args.admin_dsn.rsplit("/", 1)[0]
    url = f"{base}/{args.database}"
    admin = await asyncpg.connect(args.admin_dsn)
    await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{args.database}"')
    await admin.close()

    os.environ["DATABASE_URL"] = url
    from app import db

    await db.create_schema_from_tables()
    log(f"schema built in {args.database}", started)

    connection = await asyncpg.connect(url)
    await connection.execute("SET synchronous_commit = off; SET maintenance_work_mem = '1GB'")
    end = datetime.now(UTC) - timedelta(hours=1)
    people = await seed_people(connection, end)
    await price_and_fund(people)
    rebuild = await drop_secondary(connection)
    log("people seeded, prices published, points granted, secondary indexes dropped", started)

    total = args.tickets
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=1) as pool:
        starts = list(range(1, total + 1, BATCH))
        pending = loop.run_in_executor(pool, generate, starts[0], min(BATCH, total), total, end, people)
        waited = copying = 0.0
        for i, first in enumerate(starts):
            t = time.monotonic()
            tickets, messages, events, documents = await pending
            waited += time.monotonic() - t
            if i + 1 < len(starts):
                nxt = starts[i + 1]
                pending = loop.run_in_executor(pool, generate, nxt, min(BATCH, total - nxt + 1), total, end, people)
            await connection.copy_records_to_table("tickets", records=tickets, columns=TICKET_COLUMNS)
            await connection.copy_records_to_table("ticket_messages", records=messages, columns=MESSAGE_COLUMNS)
            await connection.copy_records_to_table("ticket_events", records=events, columns=EVENT_COLUMNS)
            await connection.copy_records_to_table("ticket_search", records=documents, columns=SEARCH_COLUMNS)
            copying += time.monotonic() - t
            if (i + 1) % 10 == 0 or i + 1 == len(starts):
                log(f"{first + len(tickets) - 1:,} requests loaded (waited {waited:.0f}s for rows, "
                    f"{copying - waited:.0f}s copying)", started)

    await connection.execute("SELECT setval('tickets_id_seq', $1)", total)
    firsts = first_ids_by_year(total, end)
    years = sorted(firsts)
    counters = [(y, (firsts[years[k + 1]] if k + 1 < len(years) else total + 1) - firsts[y]) for k, y in enumerate(years)]
    await connection.executemany("INSERT INTO ticket_counters (year, last_number) VALUES ($1, $2)", counters)
    for statement in rebuild:
        t = time.monotonic()
        await connection.execute(statement)
        log(f"{statement[:90]} ({time.monotonic() - t:.0f}s)", started)
    await connection.execute("VACUUM ANALYZE")
    log("VACUUM ANALYZE done", started)
    sizes = await connection.fetch(
        "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) AS size FROM pg_class "
        "WHERE relname = ANY($1) ORDER BY relname", BIG_TABLES)
    print("sizes:", ", ".join(f"{r['relname']} {r['size']}" for r in sizes))
    print("database size:", await connection.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))"))
    await connection.close()
    log("done", started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-dsn", default=ADMIN_DSN, help="a PostgreSQL server where databases may be created")
    parser.add_argument("--database", default="kippu_bench")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    asyncio.run(load(args))


if __name__ == "__main__":
    sys.exit(main())
