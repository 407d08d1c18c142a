"""Time the keyword search query straight on PostgreSQL (EXPLAIN ANALYZE), without HTTP.

    .venv/bin/python -m bench.explain [--database kippu_bench] [--repeat 20] [--plans]

For each term, as staff (all organisations) and as a customer (one organisation), runs the
newest-first page query that the request list runs (the same joins, LIMIT 26) with the condition
of `keyword_condition()` (shape chosen by the sample) and, for comparison, with each of the two
fixed shapes. Prints matches, p50 and p95 of the execution time reported by EXPLAIN ANALYZE, and
with --plans the plan of the chosen shape.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys

ADMIN_DSN = "postgres://postgres@127.0.0.1:5432/postgres"
TERMS = ["印", "鍵", "請求", "ハブ", "インターネット", "ファイアウォール", "棚卸", "printer", "VPN", "VPN 在宅", "存在しない語"]


def page_query(condition, organization: int | None):
    from app.tickets.tables import Ticket

    query = Ticket.select(
        Ticket.id, Ticket.number, Ticket.subject, Ticket.status, Ticket.priority,
        Ticket.organization.name, Ticket.requester.name, Ticket.request_type.code,
        Ticket.department.name, Ticket.assignee.name, Ticket.created_at, Ticket.updated_at,
    )
    if organization is not None:
        query = query.where(Ticket.organization == organization)
    return query.where(condition).order_by(Ticket.id, ascending=False).limit(26)


async def explain(connection, query, repeat: int) -> tuple[list[float], int, str]:
    sql, args = query.querystrings[0].compile_string(engine_type="postgres")
    times, rows, plan = [], 0, ""
    for _ in range(repeat):
        result = await connection.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args)
        import json

        data = json.loads(result)[0]
        times.append(data["Execution Time"] + data["Planning Time"])
        rows = data["Plan"]["Actual Rows"]
    text = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
    plan = "\n".join(r[0] for r in text)
    return times, rows, plan


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> None:
    os.environ["DATABASE_URL"] = args.admin_dsn.rsplit("/", 1)[0] + "/" + args.database
    import asyncpg

    from app.tickets import search

    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    organization = await connection.fetchval("SELECT organization FROM tickets ORDER BY id DESC LIMIT 1")
    total = await connection.fetchval("SELECT count(*) FROM tickets")
    print(f"{total:,} requests; customer = organisation {organization}; times in ms (planning + execution)")
    print(f"{'term':<18}{'who':<10}{'shape':<9}{'rows':>5}{'p50':>9}{'p95':>9}   fixed walked p50 / indexed p50")
    for term in args.terms:
        for who, staff, org in (("staff", True, None), ("customer", False, organization)):
            terms = search.terms(term)
            common = await search.is_common(terms, include_internal=staff)
            chosen, chosen_rows, plan = await explain(
                connection, page_query(await search.keyword_condition(term, include_internal=staff), org), args.repeat)
            walked, _r, _p = await explain(connection, page_query(search._walked(terms, staff), org), args.repeat)
            indexed, _r, _p = await explain(connection, page_query(search._indexed(terms, staff), org), args.repeat)
            print(f"{term:<18}{who:<10}{'walked' if common else 'indexed':<9}{chosen_rows:>5}"
                  f"{statistics.median(chosen):>9.2f}{p95(chosen):>9.2f}   "
                  f"{statistics.median(walked):.2f} / {statistics.median(indexed):.2f}")
            if args.plans:
                print(plan)
    await connection.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-dsn", default=ADMIN_DSN)
    parser.add_argument("--database", default="kippu_bench")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--plans", action="store_true")
    parser.add_argument("terms", nargs="*", default=TERMS)
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
