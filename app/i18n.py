"""Japanese first, English second.

Templates and services write English source text; `app/locales/ja/*.json` holds the Japanese for
each area (one file per area so that areas can grow apart). The locale of the current request
lives in a context variable set by the authentication middleware.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from app.settings import get_settings

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


def local(moment: datetime) -> datetime:
    return moment.astimezone(get_settings().zone)


def format_date(value: datetime | date | None) -> str:
    """YYYY/MM/DD in the vendor's time zone."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value)
    return value.strftime("%Y/%m/%d")


def format_datetime(value: datetime | None) -> str:
    return local(value).strftime("%Y/%m/%d %H:%M") if value else ""


def format_size(size_bytes: int) -> str:
    """A number of bytes as people read it: 512 KB, 9.5 MB, 1 GB (units of 1024, one decimal)."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f}".removesuffix(".0") + " " + unit
    return f"{size_bytes / 1024:.1f}".removesuffix(".0") + " KB"
