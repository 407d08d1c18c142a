"""Housekeeping of sign-in state (hourly in the scheduler, or `kippu clean-sessions` from cron)."""

from __future__ import annotations

from app.accounts.sessions import delete_expired_sessions
from app.accounts.throttle import delete_expired_windows


async def clean_sessions() -> tuple[int, int]:
    """Delete expired browser sessions and ended sign-in throttle windows; returns both counts."""
    return await delete_expired_sessions(), await delete_expired_windows()
