"""PDF documents from HTML: the price table, invoices (適格請求書), receipts (領収書), credit notes
(適格返還請求書) and monthly usage statements (利用明細書).

A document is one of the plain values below, rendered by a Jinja template of
templates/documents/ to HTML (`render_document_html`, `render_statement_html`: the page the
browser shows) and laid out by WeasyPrint as an A4 PDF (`render_pdf`, or `document_pdf` and
`statement_pdf` in one step). The templates name one Japanese font family first (IPAexGothic;
Noto Sans CJK JP where that is what is installed), so every glyph comes from one embedded font
and there is no tofu; HarfBuzz subsets that font, which keeps a Japanese page at a fraction of a
second. `missing_requirements()` says, in sentences, what of this the machine lacks.

Rendering is CPU work: call it off the event loop (`await asyncio.to_thread(document_pdf, ...)`),
and for a month-end run in worker processes (`statement_pool`, `statement_pdf`). The same value
and `created` always give the same bytes, so a stored PDF can be re-rendered and compared.

Points and yen are integers; tax rates are whole percents (10, 8). Nothing here uses float.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import re
import shutil
import subprocess
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from weasyprint import CSS, HTML
from weasyprint.text import ffi as weasyprint_libraries
from weasyprint.text.fonts import FontConfiguration

from billing import clock, formatting

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "documents"
USER_AGENT_STYLESHEET = TEMPLATES / "user_agent.css"
# The fonts the templates ask for, in order. One family carries every glyph of a document (kana,
# kanji, Latin, ¥, ※): a font per script would be embedded and subset once per family.
FONT_FAMILIES = ("IPAexGothic", "Noto Sans CJK JP")
FONT_PACKAGE = "fonts-ipaexfont-gothic"
HARFBUZZ_SUBSET_PACKAGE = "libharfbuzz-subset0"
REDUCED_TAX_RATES = frozenset({8})  # 軽減税率: food and drink, newspapers
EXPIRING_WITHIN_DAYS = 90

DocumentKind = Literal["invoice", "receipt", "credit_note"]


@dataclass(frozen=True)
class Issuer:
    """The vendor as it appears on its documents (発行者)."""

    name: str
    registration_number: str  # 登録番号: "T" and 13 digits
    address: str = ""
    phone: str = ""
    email: str = ""
    bank_account: str = ""  # 振込先, one or more lines (invoices paid by bank transfer)


@dataclass(frozen=True)
class Line:
    """One line of a document: `quantity` × `unit_price_jpy` (tax-exclusive) = `amount_jpy`."""

    description: str
    quantity: int
    unit_price_jpy: int
    amount_jpy: int
    tax_rate: int


@dataclass(frozen=True)
class TaxTotal:
    """The lines at one tax rate: their tax-exclusive total and its tax, rounded once."""

    rate: int
    base_jpy: int
    tax_jpy: int


@dataclass(frozen=True)
class Document:
    """An invoice, a receipt or a credit note as issued (an issued document never changes).

    A credit note (適格返還請求書) and a corrected invoice name the document they correct in
    `original_number`; amounts are always positive (a credit note's are what is given back).
    """

    kind: DocumentKind
    number: str
    issued_on: date
    transaction_on: date  # 取引年月日: the sale, the payment or the refund
    recipient_name: str
    issuer: Issuer
    lines: tuple[Line, ...]
    taxes: tuple[TaxTotal, ...]
    subtotal_jpy: int
    tax_jpy: int
    total_jpy: int
    due_on: date | None = None  # invoices: the payment deadline
    paid_on: date | None = None  # receipts: the day the payment was received
    payment_method: str = ""  # receipts: "card" or "bank_transfer"
    original_number: str | None = None
    original_issued_on: date | None = None
    note: str = ""


@dataclass(frozen=True)
class StatementLine:
    """One change of the points the organisation owns (available + held) during the month.

    `points` is signed: purchases and grants add, consumption, expiry and refunds take away.
    Holds and releases move points between available and held and are not lines.
    """

    on: date
    kind: Literal["purchase", "grant", "capture", "expire", "refund", "adjustment"]
    description: str
    points: int
    ticket_number: str | None = None
    subject: str | None = None
    request_type: str | None = None


@dataclass(frozen=True)
class ExpiringLot:
    expires_on: date
    points: int


@dataclass(frozen=True)
class Statement:
    """A monthly usage statement (利用明細書) of one organisation.

    closing_points = opening_points + purchased_points + granted_points + adjusted_points
                     - consumed_points - expired_points - refunded_points
    (adjusted_points is signed; the others are positive). `held_points` is the part of the
    closing balance held by open requests at the end of the month.
    """

    organization_name: str
    month: str  # "2026-10"
    period_start: date
    period_end: date  # the month's last day
    issued_on: date
    issuer: Issuer
    opening_points: int
    purchased_points: int
    granted_points: int
    adjusted_points: int
    consumed_points: int
    expired_points: int
    refunded_points: int
    closing_points: int
    held_points: int
    lines: tuple[StatementLine, ...]
    expiring_soon: tuple[ExpiringLot, ...]  # lots with points expiring in the 90 days after period_end


# ------------------------------------------------------------------------------ how numbers read
# A document is Japanese: the filters every Jinja environment shares (billing/formatting.py) in
# Japanese, and the few that only documents use.
LOCALE = "ja"


def yen(amount: int) -> str:
    """¥12,345 (−¥500 below zero)."""
    return formatting.yen(amount, LOCALE)


def yen_ja(amount: int) -> str:
    """12,345円, as Japanese running text writes an amount."""
    return f"{formatting.number(amount, LOCALE)}円"


def points(number: int) -> str:
    """12,345 (−12 below zero)."""
    return formatting.number(number, LOCALE)


def signed_points(number: int) -> str:
    """+12, −3, 0: how a change of points reads."""
    return formatting.signed_number(number, LOCALE)


def ymd(day: date | None) -> str:
    """2026/10/31 (empty for no date)."""
    return formatting.date(day, LOCALE, clock.zone())


def month_ja(month: str | date) -> str:
    """2026年10月, from "2026-10" or a date in that month."""
    return formatting.month(month, LOCALE)


def month_en(month: str | date) -> str:
    """October 2026, for the small English label under the Japanese."""
    return formatting.month(month, "en")


def tax_rate(rate: int) -> str:
    """10%, or 8%※ for a reduced rate (the ※ is explained under the table)."""
    return f"{formatting.whole(rate)}%※" if is_reduced(rate) else f"{rate}%"


def is_reduced(rate: int) -> bool:
    return rate in REDUCED_TAX_RATES


def addressed(name: str) -> str:
    """株式会社○○ 御中: the recipient as a document addresses it (a name that already carries an
    honorific keeps its own)."""
    name = name.strip()
    return name if name.endswith(("御中", "様", "殿")) else f"{name} 御中"


FILTERS = {
    **formatting.template_filters(lambda: LOCALE, clock.zone),
    "yen_ja": yen_ja, "month_en": month_en, "tax_rate": tax_rate, "addressed": addressed,
}

# (Japanese, English) labels the templates show for the values' codes.
PAYMENT_METHODS = {"card": ("クレジットカード", "Card"), "bank_transfer": ("銀行振込", "Bank transfer")}
STATEMENT_LINE_KINDS = {
    "purchase": ("購入", "Purchase"), "grant": ("付与", "Grant"), "capture": ("利用", "Used"),
    "expire": ("失効", "Expired"), "refund": ("返金", "Refund"), "adjustment": ("調整", "Adjustment"),
}
STATUS_STAMPS = {
    "void": ("無効", "Void"), "paid": ("支払済", "Paid"), "replaced": ("差替済", "Replaced"),
    "refunded": ("返金済", "Refunded"), "draft": ("下書き", "Draft"),
}


def label(labels: dict[str, tuple[str, str]], code: str) -> tuple[str, str]:
    """A code's (Japanese, English) label; a code without one is shown as it is."""
    return labels.get(code, (code, ""))


def payment_method_label(code: str) -> str:
    """クレジットカード / Card; empty for no method."""
    if not code:
        return ""
    ja, en = label(PAYMENT_METHODS, code)
    return f"{ja} / {en}" if en else ja


def has_reduced_rate(document: Document) -> bool:
    return any(is_reduced(line.tax_rate) for line in document.lines) or any(
        is_reduced(tax.rate) for tax in document.taxes)


def lines_in_date_order(statement: Statement) -> list[StatementLine]:
    """The statement's lines by date; lines of one day keep the order they were given in."""
    return sorted(statement.lines, key=lambda line: line.on)


def line_content(line: StatementLine) -> str:
    """What a statement line is about, as one piece of text: "#1234 件名（依頼種別）" for a
    request's points, the description otherwise."""
    if not line.ticket_number:
        return line.subject or line.description
    text = f"{line.ticket_number} {line.subject or line.description}"
    return f"{text}（{line.request_type}）" if line.request_type else text


def expiring_window(statement: Statement) -> tuple[date, date]:
    """The days the "expiring soon" table covers: the 90 days after the statement's month."""
    return statement.period_end + timedelta(days=1), statement.period_end + timedelta(days=EXPIRING_WITHIN_DAYS)


TEMPLATE_FOR = {"invoice": "invoice.html.jinja2", "receipt": "receipt.html.jinja2",
                "credit_note": "credit_note.html.jinja2"}
STATEMENT_TEMPLATE = "statement.html.jinja2"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    # Month-end renders thousands of documents from templates that do not change while it runs.
    auto_reload=False,
)
environment.filters.update(FILTERS)
environment.globals.update(
    # Markup: the quotes are CSS, not text for autoescape to turn into &#34;.
    font_family=Markup(", ".join(f'"{family}"' for family in FONT_FAMILIES) + ", sans-serif"),
    payment_method_label=payment_method_label,
    line_kind_label=lambda code: label(STATEMENT_LINE_KINDS, code),
    line_content=line_content,
    has_reduced_rate=has_reduced_rate,
    is_reduced=is_reduced,
)
STYLESHEET = Markup(environment.get_template("documents.css.jinja2").render())
environment.globals["stylesheet"] = STYLESHEET


# ------------------------------------------------------------------------------ HTML


def render_document_html(document: Document, *, status: str | None = None) -> str:
    """The invoice, receipt or credit note as an HTML page. `status` ("void", "paid", "replaced",
    …) is stamped across it for the browser view only; the stored PDF is rendered without one, since
    an issued document never changes but its status does."""
    return _document_html(document, status, inline_stylesheet=True)


def render_statement_html(statement: Statement) -> str:
    """The monthly usage statement as an HTML page."""
    return _statement_html(statement, inline_stylesheet=True)


def _document_html(document: Document, status: str | None, *, inline_stylesheet: bool) -> str:
    return environment.get_template(TEMPLATE_FOR[document.kind]).render(
        document=document, issuer=document.issuer, inline_stylesheet=inline_stylesheet,
        stamp=label(STATUS_STAMPS, status) if status else None,
    )


def _statement_html(statement: Statement, *, inline_stylesheet: bool) -> str:
    return environment.get_template(STATEMENT_TEMPLATE).render(
        statement=statement, issuer=statement.issuer, stamp=None, inline_stylesheet=inline_stylesheet,
        lines=lines_in_date_order(statement), expiring_window=expiring_window(statement),
    )


# ------------------------------------------------------------------------------ PDF

# What every render can share, kept per thread: Pango's font map is not to be used by two threads
# at once, so the render functions can be called from several threads (asyncio.to_thread) safely.
_per_thread = threading.local()


def _font_configuration() -> FontConfiguration:
    # A new one per render (what a bare HTML(...).write_pdf() makes) reloads fontconfig and the
    # font: an invoice took 13 % longer, and the process grew by ~1.7 MiB a render.
    configuration = getattr(_per_thread, "font_configuration", None)
    if configuration is None:
        configuration = _per_thread.font_configuration = FontConfiguration()
    return configuration


def _parsed_stylesheet() -> CSS:
    # Parsing and compiling the stylesheet was a tenth of a small document's render.
    sheet = getattr(_per_thread, "stylesheet", None)
    if sheet is None:
        sheet = _per_thread.stylesheet = CSS(string=STYLESHEET, font_config=_font_configuration())
    return sheet


def _pdf_date(created: datetime | None) -> str | None:
    if created is None:
        return None
    # WeasyPrint drops a date without a time zone (with only a log line); in UTC, the same instant
    # gives the same bytes whichever zone it was given in.
    if created.utcoffset() is None:
        raise ValueError(f"the PDF's creation time needs a time zone: {created!r}")
    return created.astimezone(UTC).isoformat(timespec="seconds")


class DocumentHTML(HTML):
    """WeasyPrint's HTML with the few browser defaults the document templates need
    (templates/documents/user_agent.css) instead of its whole HTML stylesheet."""

    def _ua_stylesheets(self, forms=False):
        sheet = getattr(_per_thread, "user_agent", None)
        if sheet is None:
            sheet = _per_thread.user_agent = CSS(filename=str(USER_AGENT_STYLESHEET), font_config=_font_configuration())
        return [sheet]


# The PDF is the Japanese document: the small English labels of the browser view (every <small>,
# and the line break before it) are taken out before layout. Each piece of text is WeasyPrint's
# main cost; hidden by CSS they still cost their parsing and styling. So does the indentation
# between tags (a whitespace box each); no document template puts two inline elements side by side.
_ENGLISH_LABEL = re.compile(r"(?:<br>\s*)?<small>.*?</small>", re.S)
_BETWEEN_TAGS = re.compile(r">\s+<")


def pdf_html(html: str) -> str:
    """The browser view's HTML as the PDF lays it out: Japanese only, no whitespace between tags."""
    return _BETWEEN_TAGS.sub("><", _ENGLISH_LABEL.sub("", html))


def _write_pdf(html: str, base_url: str | None, created: datetime | None, stylesheets: list[CSS],
               html_class: type[HTML] = HTML) -> bytes:
    document = html_class(string=html, base_url=base_url).render(font_config=_font_configuration(), stylesheets=stylesheets)
    document.metadata.created = document.metadata.modified = _pdf_date(created)
    return document.write_pdf()


def render_pdf(html: str, *, base_url: str | None = None, created: datetime | None = None) -> bytes:
    """The PDF of an HTML document. `created` (timezone-aware) fixes the PDF's creation date, so
    re-rendering a stored document gives the same bytes (without it the document carries no date)."""
    return _write_pdf(html, base_url, created, [])


def document_pdf(document: Document, created: datetime | None = None) -> bytes:
    """The PDF of an invoice, receipt or credit note as it is stored: no status stamp."""
    html = pdf_html(_document_html(document, None, inline_stylesheet=False))
    return _write_pdf(html, None, created, [_parsed_stylesheet()], DocumentHTML)


def statement_pdf(statement: Statement, created: datetime | None = None) -> bytes:
    """The PDF of a usage statement. Module-level and given only picklable values, so a process
    pool can run it: `pool.map(functools.partial(statement_pdf, created=...), statements)`."""
    html = pdf_html(_statement_html(statement, inline_stylesheet=False))
    return _write_pdf(html, None, created, [_parsed_stylesheet()], DocumentHTML)


def warm_up() -> None:
    """Load what every render needs once (WeasyPrint's stylesheets, the font, the templates), so
    the first real document is as fast as the others."""
    issuer = Issuer(name="ウォームアップ", registration_number="T0000000000000")
    day = date(2000, 1, 31)
    statement_pdf(Statement(
        organization_name="ウォームアップ", month="2000-01", period_start=date(2000, 1, 1), period_end=day,
        issued_on=day, issuer=issuer, opening_points=0, purchased_points=0, granted_points=0,
        adjusted_points=0, consumed_points=0, expired_points=0, refunded_points=0, closing_points=0,
        held_points=0, lines=(StatementLine(day, "capture", "請求書 ¥0 (8%※)", -1, "#1", "件名", "種別"),),
        expiring_soon=(ExpiringLot(day, 1),),
    ))


def prepare_worker() -> None:
    """The initializer of a process that does nothing but render documents: warm up, then pace
    the garbage collector for WeasyPrint.

    A render allocates hundreds of thousands of small objects that live until the render ends;
    at Python's default pace (a collection every 700 allocations, each surviving object traversed
    again by the older generations) collecting takes 10-15 % of a statement's time, against ~4 %
    at 20,000. What the warm-up loaded stays for the process's life: frozen, it is never rescanned.
    Process-wide settings, so not for the web app's processes.
    """
    warm_up()
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def statement_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """Worker processes for rendering many statements (one per core by default), each prepared by
    `prepare_worker`. Spawned rather than forked: a fork would copy the caller's event loop,
    database pool and threads into every worker.

        with statement_pool() as pool:
            pdfs = pool.map(functools.partial(statement_pdf, created=...), statements, chunksize=4)
    """
    return ProcessPoolExecutor(
        max_workers=workers or os.cpu_count() or 1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=prepare_worker,
    )


# ------------------------------------------------------------------------------ what the machine needs


def installed_japanese_fonts() -> set[str] | None:
    """The family names of the Japanese fonts fontconfig knows, or None without fontconfig's
    `fc-list`."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        listed = subprocess.run([fc_list, ":lang=ja", "family"], capture_output=True, text=True,
                                timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    # One font a line, its names comma-separated: "IPAexGothic,IPAexゴシック".
    return {name.strip() for line in listed.splitlines() for name in line.split(",") if name.strip()}


def harfbuzz_subsetting_available() -> bool:
    """Whether WeasyPrint subsets fonts with HarfBuzz (it needs libharfbuzz-subset, HarfBuzz 4.1+)."""
    return (weasyprint_libraries.harfbuzz_subset is not None
            and bool(weasyprint_libraries.harfbuzz.hb_version_atleast(4, 1, 0)))


def missing_requirements() -> list[str]:
    """What this machine lacks to render the documents properly, one sentence a person can act on
    per problem (empty when nothing is missing)."""
    problems = []
    families = ", ".join(FONT_FAMILIES)
    fonts = installed_japanese_fonts()
    if fonts is None:
        problems.append(
            "Cannot check for a Japanese font: fontconfig's fc-list command is not installed. "
            f"Install the Debian packages fontconfig and {FONT_PACKAGE}; without a Japanese font "
            "invoices, receipts and statements show boxes (tofu) instead of Japanese text.")
    elif not fonts & set(FONT_FAMILIES):
        problems.append(
            f"No Japanese font the document templates use ({families}) is installed: invoices, "
            "receipts and statements would show empty boxes (tofu) instead of Japanese text, or "
            f"whatever fallback font fontconfig finds. Install the Debian package {FONT_PACKAGE} "
            f"(apt-get install {FONT_PACKAGE}).")
    if not harfbuzz_subsetting_available():
        problems.append(
            "HarfBuzz font subsetting (libharfbuzz-subset.so.0, HarfBuzz 4.1 or later) is not installed, "
            "so WeasyPrint subsets the Japanese font with fontTools instead: every PDF takes about three "
            "times as long to render (an invoice about 0.65 s instead of 0.2 s on a 2-core machine), "
            "and re-rendering a stored document no longer gives the same bytes (fontTools stamps the "
            f"font with the time of the render). Install the Debian package {HARFBUZZ_SUBSET_PACKAGE} "
            f"(apt-get install {HARFBUZZ_SUBSET_PACKAGE}) and restart.")
    return problems
