"""Today's date in the vendor's time zone: expiry dates are calendar dates there.

billing cannot read the app's settings, so the app sets the zone once at start-up
(`billing.clock.set_time_zone(settings.time_zone)`); every ledger call also accepts `today=`.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

_zone = ZoneInfo("Asia/Tokyo")


def set_time_zone(name: str) -> None:
    global _zone
    _zone = ZoneInfo(name)


def today() -> date:
    return datetime.now(_zone).date()


def day_of(moment: datetime) -> date:
    """The calendar day of a moment in the vendor's time zone."""
    return moment.astimezone(_zone).date()


def start_of(day: date) -> datetime:
    """The first moment of a calendar day in the vendor's time zone."""
    return datetime.combine(day, datetime.min.time(), tzinfo=_zone)
