"""All settings, read once from the environment (and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEVELOPMENT_SECRET = "development-only-secret-do-not-use-in-production"
DEVELOPMENT_WEBHOOK_SECRET = "whsec_development_only_do_not_use_in_production"
Priority = Literal["urgent", "normal", "low"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite:///{ROOT / 'var' / 'kippu.sqlite3'}"
    secret_key: str = DEVELOPMENT_SECRET
    base_url: str = "http://127.0.0.1:8000"
    time_zone: str = "Asia/Tokyo"
    default_locale: Literal["ja", "en"] = "ja"
    vendor_name: str = "Kippu サポート"
    redis_url: str | None = None
    var_dir: Path = ROOT / "var"

    # Outgoing mail. Without an SMTP host, mail is written to the log (development).
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    mail_from: str = "Kippu <support@kippu.localhost>"
    mail_max_attempts: int = 5
    smtp_timeout_seconds: float = Field(default=30, gt=0)

    # Background jobs. The embedded default runs them inside the app (app/jobs.py); with several
    # workers set RUN_SCHEDULER=false and let cron call `kippu send-mail`, `kippu auto-close`, ...
    run_scheduler: bool = True
    mail_interval_seconds: float = Field(default=30, gt=0)

    # Card payments through Stripe Checkout. Without a secret key (development) a card purchase
    # goes to the app's own test-payment page instead; production then offers invoices only.
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str = DEVELOPMENT_WEBHOOK_SECRET
    stripe_api_base: str | None = None  # another Stripe API address (tests use a local fake)

    # Attachments. Every file of a customer organisation's requests counts towards its quota.
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    organization_storage_quota_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    upload_allowed_extensions: list[str] = [
        "txt", "log", "csv", "pdf", "png", "jpg", "jpeg", "gif", "webp",
        "zip", "xlsx", "docx", "pptx", "json", "xml",
    ]

    # Request workflow.
    auto_close_after_days: int = Field(default=7, ge=1)
    first_response_hours: dict[Priority, int] = {"urgent": 1, "normal": 8, "low": 24}
    resolution_hours: dict[Priority, int] = {"urgent": 8, "normal": 72, "low": 168}
    duplicate_window_days: int = 7

    # Sign-in protection (app/accounts/throttle.py): attempts per account and per client address
    # within a window of `login_lockout_seconds` from the first.
    login_max_failures: int = Field(default=5, ge=1)
    login_max_attempts_per_address: int = Field(default=50, ge=1)
    login_lockout_seconds: int = Field(default=15 * 60, ge=1)
    session_max_age_seconds: int = Field(default=14 * 24 * 3600, ge=60)

    # The JSON API's rate limit per bearer token (per client address before sign-in).
    api_rate_limit_per_minute: int = Field(default=600, ge=1)

    # Addresses (or CIDR ranges) of the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto
    # are believed. Empty (the default): none, the client address is the TCP peer's.
    trusted_proxies: list[str] = []

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @field_validator("stripe_webhook_secret")
    @classmethod
    def _no_empty_webhook_secret(cls, value: str) -> str:
        # An empty secret would let anyone sign a webhook: empty means not set.
        return value.strip() or DEVELOPMENT_WEBHOOK_SECRET

    @model_validator(mode="after")
    def _no_default_secret_outside_development(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEVELOPMENT_SECRET:
            raise ValueError("SECRET_KEY must be set to a private value when ENVIRONMENT=production")
        if self.environment == "production" and len(self.secret_key) < 32:
            raise ValueError("SECRET_KEY must be at least 32 characters long")
        if self.stripe_secret_key and self.stripe_webhook_secret == DEVELOPMENT_WEBHOOK_SECRET:
            if self.environment == "production":
                raise ValueError("STRIPE_WEBHOOK_SECRET must be set to the endpoint's signing secret (whsec_...)")
        return self

    @property
    def card_payments(self) -> bool:
        """Whether customers may choose to pay by card: through Stripe, or — outside production —
        through the test-payment page."""
        return bool(self.stripe_secret_key) or self.environment != "production"

    @property
    def accepts_webhooks(self) -> bool:
        """Whether `POST /webhooks/stripe` is believed at all. The development secret is public (it
        is in this file), so production refuses every webhook unless its own secret is set (which
        it must be, with a Stripe key: see the check above)."""
        return self.environment != "production" or self.stripe_webhook_secret != DEVELOPMENT_WEBHOOK_SECRET

    @property
    def test_payments(self) -> bool:
        """The development test-payment page (never in production, never beside real Stripe keys)."""
        return self.environment != "production" and not self.stripe_secret_key

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def sqlite_path(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///"))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def upload_dir(self) -> Path:
        return self.var_dir / "uploads"


@lru_cache
def get_settings() -> Settings:
    return Settings()
