"""Sign-in throttling, shared by the sign-in page and `POST /api/v1/auth/token`.

Every attempt is counted, per account and per client address, by one atomic upsert *before* the
password is checked: forty parallel guesses count forty, and all but the first few are refused
without looking at the password. The counters live in the database (not in a worker's memory),
so every worker and every machine sees the same count.

A window starts with the first attempt and lasts `login_lockout_seconds`; within it an account
takes `login_max_failures` attempts and an address `login_max_attempts_per_address` (an office
behind one address signs many people in, so its limit is higher). A successful sign-in clears
the account's count and takes its own attempt back from the address's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.accounts.tables import SignInThrottle
from app.settings import get_settings

_COUNT = """
INSERT INTO sign_in_throttle (key, attempts, window_ends_at) VALUES ({}, 1, {}), ({}, 1, {})
ON CONFLICT (key) DO UPDATE SET
    attempts = CASE WHEN sign_in_throttle.window_ends_at <= {} THEN 1
                    ELSE sign_in_throttle.attempts + 1 END,
    window_ends_at = CASE WHEN sign_in_throttle.window_ends_at <= {} THEN excluded.window_ends_at
                          ELSE sign_in_throttle.window_ends_at END
RETURNING key, attempts, window_ends_at
"""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One counted sign-in attempt: refused at once when over either limit."""

    account_key: str
    address_key: str
    account_attempts: int
    address_attempts: int
    retry_after_seconds: int

    @property
    def allowed(self) -> bool:
        settings = get_settings()
        return (
            self.account_attempts <= settings.login_max_failures
            and self.address_attempts <= settings.login_max_attempts_per_address
        )

    @property
    def locks_the_account(self) -> bool:
        """The first attempt over the account's limit (logged once per window)."""
        return self.account_attempts == get_settings().login_max_failures + 1


def _account_key(email: str) -> str:
    # Hashed: the table never holds the addresses people typed, and a key's length is bounded.
    return "account:" + hashlib.sha256(email.encode("utf-8", "surrogatepass")).hexdigest()


def _address_key(client: str) -> str:
    return "address:" + client[:200]


async def count_attempt(email: str, client: str, now: datetime | None = None) -> Attempt:
    now = now or datetime.now(UTC)
    window_ends = now + timedelta(seconds=get_settings().login_lockout_seconds)
    account, address = _account_key(email), _address_key(client)
    rows = await SignInThrottle.raw(_COUNT, account, window_ends, address, window_ends, now, now)
    counted = {row["key"]: row for row in rows}
    ends = max(_as_datetime(row["window_ends_at"]) for row in rows)
    return Attempt(
        account_key=account,
        address_key=address,
        account_attempts=counted[account]["attempts"],
        address_attempts=counted[address]["attempts"],
        retry_after_seconds=max(1, int((ends - now).total_seconds()) + 1),
    )


async def forget_attempt(attempt: Attempt) -> None:
    """After a successful sign-in: the account starts afresh, the address gets its attempt back."""
    await SignInThrottle.delete().where(SignInThrottle.key == attempt.account_key)
    await SignInThrottle.update({SignInThrottle.attempts: SignInThrottle.attempts - 1}).where(
        (SignInThrottle.key == attempt.address_key) & (SignInThrottle.attempts > 0)
    )


async def delete_expired_windows(now: datetime | None = None) -> int:
    """Forget windows that have ended (a job); returns how many."""
    rows = await SignInThrottle.delete().where(SignInThrottle.window_ends_at <= (now or datetime.now(UTC))).returning(
        SignInThrottle.id
    )
    return len(rows)


def _as_datetime(value: datetime | str) -> datetime:
    # SQLite hands RETURNING values back as text.
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value
