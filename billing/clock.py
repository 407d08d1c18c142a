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
