"""The billing clock: the present moment, and today's date in the vendor's time zone (expiry
dates are calendar dates there).

billing cannot read the app's settings, so the app sets the zone once at start-up
(`billing.clock.set_time_zone(settings.time_zone)`); every ledger call also accepts `today=`.
Entries, documents and payments are stamped with `now()`. Only history made up after the fact
(the demo, a benchmark's past month) moves it, for the code run inside `with clock.at(moment):`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

_zone = ZoneInfo("Asia/Tokyo")
_moment: ContextVar[datetime | None] = ContextVar("billing_moment", default=None)


def now() -> datetime:
    return _moment.get() or datetime.now(UTC)


@contextmanager
def at(moment: datetime) -> Iterator[None]:
    """Stamp what is written in this context (not in other tasks) as written at `moment`."""
    if moment.tzinfo is None:
        raise ValueError("a moment needs a time zone")
    token = _moment.set(moment.astimezone(UTC))
    try:
        yield
    finally:
        _moment.reset(token)


def is_moved() -> bool:
    """Whether this context runs under `at(...)`."""
    return _moment.get() is not None


def set_time_zone(name: str) -> None:
    global _zone
    _zone = ZoneInfo(name)


def zone() -> ZoneInfo:
    """The vendor's time zone."""
    return _zone


def today() -> date:
    return now().astimezone(_zone).date()


def day_of(moment: datetime) -> date:
    """The calendar day of a moment in the vendor's time zone."""
    return moment.astimezone(_zone).date()


def start_of(day: date) -> datetime:
    """The first moment of a calendar day in the vendor's time zone."""
    return datetime.combine(day, datetime.min.time(), tzinfo=_zone)
