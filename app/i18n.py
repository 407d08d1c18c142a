"""Japanese first, English second.

Templates and services write English source text; `app/locales/ja/*.json` holds the Japanese for
each area (one file per area so that areas can grow apart). The locale of the current request
lives in a context variable set by the authentication middleware.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from datetime import date, datetime, tzinfo
from functools import lru_cache
from pathlib import Path

from app.settings import get_settings
from billing import formatting

LOCALES = ("ja", "en")
_current_locale: ContextVar[str] = ContextVar("locale", default="ja")


@lru_cache
def _catalog(locale: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((Path(__file__).parent / "locales" / locale).glob("*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def set_locale(locale: str | None) -> None:
    _current_locale.set(locale if locale in LOCALES else get_settings().default_locale)


def current_locale() -> str:
    return _current_locale.get()


def gettext(text: str, **values: object) -> str:
    """Translate English source text into the current locale, then fill `{name}` values."""
    translated = text if _current_locale.get() == "en" else _catalog("ja").get(text, text)
    return translated.format(**values) if values else translated


_ = gettext


# ------------------------------------------------------------------------------ numbers and dates
# billing/formatting.py formats (the documents use it too); here in the request's locale and the
# vendor's time zone. The same functions are the templates' filters (TEMPLATE_FILTERS).


def _zone() -> tzinfo:
    return get_settings().zone


TEMPLATE_FILTERS = formatting.template_filters(current_locale, _zone)


def format_yen(amount: int) -> str:
    """¥12,345 (−¥500 below zero)."""
    return formatting.yen(amount, current_locale())


def format_number(value: int) -> str:
    """12,345: points, counts."""
    return formatting.number(value, current_locale())


def format_date(value: datetime | date | None) -> str:
    """YYYY/MM/DD in the vendor's time zone."""
    return formatting.date(value, current_locale(), _zone())


def format_datetime(value: datetime | None) -> str:
    """YYYY/MM/DD HH:MM in the vendor's time zone."""
    return formatting.date_time(value, current_locale(), _zone())


def format_size(size_bytes: int) -> str:
    """512 KB, 9.5 MB, 1 GB."""
    return formatting.file_size(size_bytes, current_locale())
