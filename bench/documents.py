"""How fast the documents render: one invoice over and over, then a month-end run of statements.

    .venv/bin/python -m bench.documents                         # 100 invoices, 1,000 statements
    .venv/bin/python -m bench.documents --invoices 200 --statements 0
    .venv/bin/python -m bench.documents --statements 0 --without-harfbuzz-subset
    .venv/bin/python -m bench.documents --statements 0 --fresh-font-configuration

**Invoice.** A typical invoice (three lines at 10 % and 8 %, bank account, due date) rendered from
its value to PDF bytes (`billing.documents.document_pdf`: Jinja, then WeasyPrint) `--invoices`
times in this process after one warm-up render; prints p50/p95 wall time and the PDF's size.
`--without-harfbuzz-subset` makes WeasyPrint subset the font with fontTools, as it does when
libharfbuzz-subset is not installed; `--fresh-font-configuration` gives every render a new
FontConfiguration, as plain `HTML(...).write_pdf()` does.

**Month-end.** `--statements` statements (seeded: 90 % with 5–40 lines, 10 % with 300 lines,
Japanese subjects of varied length) rendered by `billing.documents.statement_pool()` (spawned
workers, one per core unless `--workers`, each warmed up once) through `statement_pdf`, the PDF
bytes sent back to this process as the real command would store them. Prints documents/s over
the whole run (pool start-up and warm-up included, and excluded), and each worker's peak RSS
(VmHWM in /proc/self/status) and final RSS. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta

from billing import documents
from billing.documents import Document, ExpiringLot, Issuer, Line, Statement, StatementLine, TaxTotal

CREATED = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
ISSUER = Issuer(
    name="株式会社キップ・サポート", registration_number="T1234567890123",
    address="東京都千代田区丸の内1-1-1\nキップビル 5階", phone="03-1234-5678", email="billing@kippu.example",
    bank_account="みずほ銀行 丸の内支店\n普通 1234567 カ）キップサポート",
)
SUBJECTS = (
    "プリンターから印刷できない", "VPN に接続できない", "メールの送信エラー", "パスワードの再設定",
    "会計ソフトの月次締め処理でエラーが出る件", "新入社員のアカウント作成（3名分）", "Wi-Fi が頻繁に切れる",
    "共有フォルダのアクセス権の変更", "Excel のマクロが動かない", "在宅勤務用ノートPCのセットアップ",
    "ウイルス対策ソフトの警告について", "サーバーの応答が遅い件の調査", "Teams の会議に音声が入らない",
    "複合機のスキャン設定（部署ごとの宛先を追加したい）", "ドメインの更新手続き",
)
REQUEST_TYPES = ("操作方法のご質問", "障害調査", "設定変更作業", "アカウント管理", "緊急対応")


def typical_invoice() -> Document:
    lines = (
        Line("サポートポイント 10ポイントパック", 2, 50_000, 100_000, 10),
        Line("オンサイト作業（2時間）", 1, 24_000, 24_000, 10),
        Line("会議用 飲料・菓子", 4, 800, 3_200, 8),
    )
    return Document(
        kind="invoice", number="INV-2026-000123", issued_on=date(2026, 10, 1), transaction_on=date(2026, 9, 30),
        recipient_name="株式会社ミライ商事", issuer=ISSUER, lines=lines,
        taxes=(TaxTotal(10, 124_000, 12_400), TaxTotal(8, 3_200, 256)),
        subtotal_jpy=127_200, tax_jpy=12_656, total_jpy=139_856, due_on=date(2026, 10, 31),
    )


def statement_of(number: int, line_count: int, rng: random.Random) -> Statement:
    """A month of one organisation with `line_count` lines that add up (mostly requests' points,
    with purchases, a grant, an expiry and now and then an adjustment or a refund)."""
    start, end = date(2026, 10, 1), date(2026, 10, 31)
    opening = rng.randint(0, 400)
    lines, sums = [], {"purchase": 0, "grant": 0, "adjustment": 0, "capture": 0, "expire": 0, "refund": 0}
    for n in range(line_count):
        day = start + timedelta(days=rng.randrange(31))
        roll = rng.random()
        if n == 0 or roll < 0.06:
            line = StatementLine(day, "purchase", "10ポイントパック ×2", 20)
        elif roll < 0.08:
            line = StatementLine(day, "grant", "障害対応のお詫び（付与）", 3)
        elif roll < 0.09:
            line = StatementLine(day, "expire", "2025/10/31 購入分の有効期限切れ", -rng.randint(1, 10))
        elif roll < 0.10:
            line = StatementLine(day, "adjustment", "二重計上の訂正", rng.choice((-1, 1)))
        else:
            line = StatementLine(
                day, "capture", "利用", -rng.randint(1, 6), f"#{10_000 + number * 400 + n}",
                f"{rng.choice(SUBJECTS)}", rng.choice(REQUEST_TYPES),
            )
        lines.append(line)
        sums[line.kind] += line.points
    closing = opening + sum(sums.values())
    return Statement(
        organization_name=f"株式会社テスト商事 第{number}営業所", month="2026-10", period_start=start, period_end=end,
        issued_on=date(2026, 11, 1), issuer=ISSUER, opening_points=opening, purchased_points=sums["purchase"],
        granted_points=sums["grant"], adjusted_points=sums["adjustment"], consumed_points=-sums["capture"],
        expired_points=-sums["expire"], refunded_points=-sums["refund"], closing_points=closing,
        held_points=rng.randint(0, 6), lines=tuple(lines),
        expiring_soon=tuple(ExpiringLot(end + timedelta(days=rng.randint(1, 90)), rng.randint(1, 40))
                            for _ in range(rng.randint(0, 3))),
    )


def month_end_mix(count: int, seed: int) -> list[Statement]:
    rng = random.Random(seed)
    return [statement_of(n, 300 if rng.random() < 0.10 else rng.randint(5, 40), rng) for n in range(count)]


def memory_kib() -> dict[str, int]:
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {name: int(fields[name].split()[0]) for name in ("VmHWM", "VmRSS")}


def render_and_report(statement: Statement) -> tuple[int, bytes, float, dict[str, int]]:
    """The worker's job: the statement's PDF, the CPU time it took, this worker's id and memory."""
    started = time.process_time()
    pdf = documents.statement_pdf(statement, CREATED)
    return os.getpid(), pdf, time.process_time() - started, memory_kib()


def worker_ready(_: int) -> int:
    time.sleep(0.5)  # long enough that every worker takes one
    return os.getpid()


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[max(0, min(len(ordered) - 1, round(len(ordered) * fraction) - 1))]


def bench_invoice(count: int, fresh_font_configuration: bool) -> None:
    invoice = typical_invoice()
    if fresh_font_configuration:
        from weasyprint.text.fonts import FontConfiguration
        documents._font_configuration = FontConfiguration
    pdf = documents.document_pdf(invoice, CREATED)
    timings, cpu = [], []
    for _ in range(count):
        started, started_cpu = time.perf_counter(), time.process_time()
        documents.document_pdf(invoice, CREATED)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    timings.sort()
    print(f"invoice: {count} renders, p50 {statistics.median(timings):.0f} ms, p95 {percentile(timings, 0.95):.0f} ms, "
          f"min {timings[0]:.0f} ms (CPU time p50 {statistics.median(cpu):.0f} ms), PDF {len(pdf):,} bytes, "
          f"peak RSS {memory_kib()['VmHWM'] / 1024:.0f} MiB")


def bench_month_end(count: int, workers: int, seed: int) -> None:
    statements = month_end_mix(count, seed)
    lines = sorted(len(s.lines) for s in statements)
    print(f"statements: {count}, lines per statement: median {statistics.median(lines):.0f}, "
          f"mean {statistics.mean(lines):.1f}, max {lines[-1]}, {sum(n >= 300 for n in lines)} with 300")
    started = time.perf_counter()
    workers_seen: dict[int, dict[str, int]] = {}
    total_bytes, digest, cpu_by_size = 0, hashlib.sha256(), {"5–40 lines": [], "300 lines": []}
    with documents.statement_pool(workers) as pool:
        # Wait for every worker's warm-up, to tell start-up from steady work.
        list(pool.map(worker_ready, range(workers)))
        warm = time.perf_counter()
        for statement, (pid, pdf, cpu, memory) in zip(
                statements, pool.map(render_and_report, statements, chunksize=4), strict=True):
            workers_seen[pid] = memory
            cpu_by_size["300 lines" if len(statement.lines) >= 300 else "5–40 lines"].append(cpu * 1000)
            total_bytes += len(pdf)
            digest.update(pdf)
        finished = time.perf_counter()
    print(f"month-end: {count} statements in {finished - started:.1f} s with {workers} workers: "
          f"{count / (finished - started):.1f} documents/s including pool start-up and warm-up "
          f"({warm - started:.1f} s), {count / (finished - warm):.1f} documents/s after it; "
          f"{total_bytes / count / 1024:.0f} KiB per PDF on average")
    all_cpu = [ms for timings in cpu_by_size.values() for ms in timings]
    print(f"  CPU time per statement: mean {statistics.mean(all_cpu):.0f} ms; "
          + "; ".join(f"{size}: mean {statistics.mean(ms):.0f} ms, p95 {percentile(sorted(ms), 0.95):.0f} ms"
                      for size, ms in cpu_by_size.items() if ms)
          + f" — {workers} idle cores would render {workers * 1000 / statistics.mean(all_cpu):.1f} documents/s")
    for pid, memory in sorted(workers_seen.items()):
        print(f"  worker {pid}: peak RSS (VmHWM) {memory['VmHWM'] / 1024:.0f} MiB, RSS at its last document "
              f"{memory['VmRSS'] / 1024:.0f} MiB")
    print(f"  sha256 of all PDFs in order: {digest.hexdigest()[:16]}…")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=100)
    parser.add_argument("--statements", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--without-harfbuzz-subset", action="store_true")
    parser.add_argument("--fresh-font-configuration", action="store_true")
    args = parser.parse_args()
    if args.without_harfbuzz_subset:
        import weasyprint.pdf.fonts

        weasyprint.pdf.fonts.harfbuzz_subset = None
    problems = documents.missing_requirements()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"load average before: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    if args.invoices:
        bench_invoice(args.invoices, args.fresh_font_configuration)
    if args.statements:
        bench_month_end(args.statements, args.workers, args.seed)
    print(f"load average after: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")


if __name__ == "__main__":
    main()
