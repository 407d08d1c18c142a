"""Japanese first, English second.

Code and templates write English source text and mark it: `_()` (or `gettext()`) and
`ngettext()` translate at once, `pgettext()` when the same English means two things, `N_()` marks
text translated later where it is shown (labels of codes, the templates of billing's and
pricing's refusals). `make messages` extracts what is marked into messages.pot and merges it into
app/locales/ja/LC_MESSAGES/messages.po; `make setup` compiles that into the messages.mo read here
(README, "Translations"). Values are `{name}` blanks, filled with str.format after translation
(the functions' own parameters are positional-only, so that any name can be a blank: `count`).

Text the catalogue lacks is shown in English and logged; tests/unit/test_translations.py fails
for any marked text without Japanese. The locale of the current request lives in a context
variable set by the authentication middleware.
"""

from __future__ import annotations

import gettext as gnu_gettext
import logging
from contextvars import ContextVar
from datetime import date, datetime, tzinfo
from functools import lru_cache
from pathlib import Path

from app.settings import get_settings
from billing import formatting
from pricing.errors import N_  # noqa: F401 (the one marker for text translated later; app code imports it here)

LOCALES = ("ja", "en")
LOCALE_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
_current_locale: ContextVar[str] = ContextVar("locale", default="ja")
log = logging.getLogger(__name__)


class _Untranslated(gnu_gettext.NullTranslations):
    """Reached only for text the catalogue lacks: it is shown in English, and said once in the log
    rather than falling back silently."""

    def __init__(self, locale: str) -> None:
        super().__init__()
        self.locale = locale
        self.reported: set[str] = set()

    def _report(self, message: str) -> None:
        if message not in self.reported:
            self.reported.add(message)
            log.warning("no %s translation for %r (make messages, then translate it)", self.locale, message)

    def gettext(self, message: str) -> str:
        self._report(message)
        return message

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        self._report(msgid1)
        return msgid1 if n == 1 else msgid2

    def pgettext(self, context: str, message: str) -> str:
        self._report(f"{context}: {message}")
        return message


@lru_cache
def translations(locale: str) -> gnu_gettext.NullTranslations:
    if locale == "en":
        return gnu_gettext.NullTranslations()  # the source text is English
    try:
        catalogue = gnu_gettext.translation(DOMAIN, LOCALE_DIR, [locale])
    except FileNotFoundError as exc:
        raise RuntimeError(
            f"{LOCALE_DIR / locale / 'LC_MESSAGES' / DOMAIN}.mo is missing: `make setup` compiles it from the .po"
        ) from exc
    catalogue.add_fallback(_Untranslated(locale))
    return catalogue


def set_locale(locale: str | None) -> None:
    _current_locale.set(locale if locale in LOCALES else get_settings().default_locale)


def current_locale() -> str:
    return _current_locale.get()


def gettext(text: str, /, **values: object) -> str:
    """Translate English source text into the current locale, then fill `{name}` values."""
    translated = translations(current_locale()).gettext(text)
    return translated.format(**values) if values else translated


_ = gettext


def ngettext(singular: str, plural: str, count: int, /, **values: object) -> str:
    """The singular or plural English text for `count`, translated (Japanese has one form), with
    `{name}` values filled: `ngettext("{points} point", "{points} points", n, points=format_number(n))`."""
    translated = translations(current_locale()).ngettext(singular, plural, count)
    return translated.format(**values) if values else translated


def pgettext(context: str, text: str, /, **values: object) -> str:
    """gettext for English that means two things: `pgettext("field type", "Number")` (数値) is not
    the request's number (受付番号)."""
    translated = translations(current_locale()).pgettext(context, text)
    return translated.format(**values) if values else translated


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


def format_points(value: int) -> str:
    """A number of points with its word, for a sentence that counts more than one thing:
    1 point, 1,200 points (1,200 ポイント)."""
    return ngettext("{points} point", "{points} points", value, points=format_number(value))


def format_signed_points(value: int) -> str:
    """+12, −3, 0: a change of points."""
    return formatting.signed_number(value, current_locale())


def format_date(value: datetime | date | None) -> str:
    """YYYY/MM/DD in the vendor's time zone."""
    return formatting.date(value, current_locale(), _zone())


def format_datetime(value: datetime | None) -> str:
    """YYYY/MM/DD HH:MM in the vendor's time zone."""
    return formatting.date_time(value, current_locale(), _zone())


def format_size(size_bytes: int) -> str:
    """512 KB, 9.5 MB, 1 GB."""
    return formatting.file_size(size_bytes, current_locale())
