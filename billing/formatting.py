"""How yen, points, dates, times and file sizes read: one set of formatters for the pages, the
mail and the documents.

billing renders the documents and must not import the app, so the formatting lives here and
takes the locale ("ja" or "en") as a parameter. `template_filters` is the one set of Jinja
filters every environment registers: the app's (pages, mail) ask for the request's locale at
each use, the documents' are always Japanese.

Babel does the formatting, with Kippu's own patterns where CLDR's differ from what Kippu has
always printed, in both locales: `¥55,000` (CLDR's Japanese yen sign is the full-width ￥) and
`−¥500` below zero with a minus sign (CLDR: a hyphen), dates `2026/10/31` in the vendor's time
zone (CLDR's English: `Oct 31, 2026`), sizes in units of 1024 with one decimal (`9.5 MB`).

Points and yen are integers: a float, a Decimal or a bool here is a bug upstream and fails
rather than printing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton
from babel.numbers import parse_pattern

# Positive;negative patterns, parsed once: format_decimal parses its pattern and locale at every
# call, which made a figure cost ~35 µs instead of ~5 (a month-end run prints hundreds of
# thousands). U+2212 MINUS SIGN below zero, as the documents have always printed.
_NUMBER = parse_pattern("#,##0;−#,##0")
_SIGNED = parse_pattern("+#,##0;−#,##0")
_YEN = parse_pattern("¥#,##0;−¥#,##0")
_SIZE = parse_pattern("0.#")
_DATE = "yyyy/MM/dd"
_DATE_TIME = "yyyy/MM/dd HH:mm"
_SIZE_UNITS = (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024))


@lru_cache
def _locale(code: str) -> Locale:
    return Locale.parse(code)


def whole(number: object) -> int:
    # bool is an int, float and Decimal are not: a wrong type fails here, not on a printed invoice.
    if not isinstance(number, int) or isinstance(number, bool):
        raise TypeError(f"whole numbers of yen and points are shown, not {number!r}")
    return number


def yen(amount: int, locale: str) -> str:
    """¥12,345 (−¥500 below zero)."""
    return _YEN.apply(whole(amount), _locale(locale))


def number(value: int, locale: str) -> str:
    """12,345 (−12 below zero): points, counts, quantities."""
    return _NUMBER.apply(whole(value), _locale(locale))


def signed_number(value: int, locale: str) -> str:
    """+12, −3, 0: how a change of points reads."""
    return _SIGNED.apply(whole(value), _locale(locale)) if value else "0"


def date(value: dt.date | None, locale: str, zone: dt.tzinfo) -> str:
    """2026/10/31; a moment (datetime) is shown as its day in `zone`, the vendor's time zone.
    Empty for no date."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.astimezone(zone).date()
    return format_date(value, _DATE, locale=_locale(locale))


def date_time(value: dt.datetime | None, locale: str, zone: dt.tzinfo) -> str:
    """2026/10/31 09:30 in `zone`, the vendor's time zone. Empty for no moment."""
    return format_datetime(value, _DATE_TIME, tzinfo=zone, locale=_locale(locale)) if value else ""


def month(value: str | dt.date, locale: str) -> str:
    """2026年10月 in Japanese, October 2026 in English, from "2026-10" or a day in that month."""
    if isinstance(value, str):
        year, number_of_month = value.split("-")
        value = dt.date(int(year), int(number_of_month), 1)
    return format_skeleton("yMMMM", value, locale=_locale(locale))


def file_size(size_bytes: int, locale: str) -> str:
    """A number of bytes as people read it: 512 KB, 9.5 MB, 1 GB (units of 1024, one decimal)."""
    unit, scale = next(((unit, scale) for unit, scale in _SIZE_UNITS if size_bytes >= scale), _SIZE_UNITS[-1])
    # The exact quotient (Decimal, not float), rounded once: a half goes to even, as it always did.
    return f"{_SIZE.apply(Decimal(size_bytes) / scale, _locale(locale))} {unit}"


def template_filters(locale: Callable[[], str], zone: Callable[[], dt.tzinfo]) -> dict[str, Callable[..., str]]:
    """The filters every Jinja environment registers (pages, mail, documents):
    `{{ amount | yen }}`, `{{ n | points }}`, `{{ n | number }}`, `{{ delta | signed_points }}`,
    `{{ day | date }}`, `{{ moment | datetime }}`, `{{ "2026-10" | month }}`, `{{ bytes | size }}`.

    `locale` and `zone` are asked at each use: a page is in its request's locale."""
    return {
        "yen": lambda amount: yen(amount, locale()),
        "points": lambda value: number(value, locale()),
        # Counts and quantities read like points; a name of their own says what the figure is.
        "number": lambda value: number(value, locale()),
        "signed_points": lambda value: signed_number(value, locale()),
        "date": lambda value: date(value, locale(), zone()),
        "datetime": lambda value: date_time(value, locale(), zone()),
        "month": lambda value: month(value, locale()),
        "size": lambda size_bytes: file_size(size_bytes, locale()),
    }
