"""Signing in and managing people: departments, organisations, users."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar.stores.base import Store

from app.accounts.caller import Caller
from app.accounts.passwords import DUMMY_HASH, verify_password
from app.accounts.tables import User
from app.errors import NotAuthenticated, TooManyAttempts
from app.i18n import _
from app.settings import get_settings


async def authenticate(email: str, password: str, failures: Store, client: str) -> Caller:
    """Check a password, refusing further tries for a while after repeated failures."""
    settings = get_settings()
    email = email.strip().lower()
    key = f"{email}|{client}"
    count = int(await failures.get(key) or 0)
    if count >= settings.login_max_failures:
        raise TooManyAttempts(
            _("Too many failed sign-ins. Please wait {minutes} minutes and try again.",
              minutes=settings.login_lockout_seconds // 60)
        )
    row = await User.select().where((User.email == email) & (User.is_active == True)).first()  # noqa: E712
    if not verify_password(row["password_hash"] if row else DUMMY_HASH, password) or row is None:
        await failures.set(key, str(count + 1), expires_in=settings.login_lockout_seconds)
        raise NotAuthenticated(_("The e-mail address or password is incorrect."))
    await failures.delete(key)
    await User.update({User.last_login_at: datetime.now(UTC)}).where(User.id == row["id"])
    return Caller.from_row(row)
