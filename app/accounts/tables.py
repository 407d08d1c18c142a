from enum import StrEnum

from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from app.i18n import N_

STAFF_ROLES = ("admin", "agent", "finance")
CUSTOMER_ROLES = ("customer_admin", "customer_member")
ROLES = STAFF_ROLES + CUSTOMER_ROLES


class Department(Table, tablename="departments"):
    """A team of vendor staff (部署) that requests are routed to."""

    name = Varchar(length=100, unique=True)
    created_at = Timestamptz()


class Organization(Table, tablename="organizations"):
    """A customer company (得意先). Tenant isolation is by this row."""

    code = Varchar(length=32, unique=True)
    name = Varchar(length=200)
    address = Text(default="")
    billing_contact_name = Varchar(length=100, default="")
    billing_email = Varchar(length=254, default="")
    phone = Varchar(length=40, default="")
    created_at = Timestamptz()


class User(Table, tablename="users"):
    """Staff (admin, agent, finance) have no organisation; customers always have one."""

    email = Varchar(length=254, unique=True)
    name = Varchar(length=100)
    password_hash = Varchar(length=200, default="")
    role = Varchar(length=20)
    organization = ForeignKey(Organization, null=True, on_delete=OnDelete.restrict, index=True)
    department = ForeignKey(Department, null=True, on_delete=OnDelete.set_null)
    locale = Varchar(length=2, default="ja")
    is_active = Boolean(default=True)
    created_at = Timestamptz()
    last_login_at = Timestamptz(null=True, default=None)

    checks = {
        "known_role": "role IN ('admin', 'agent', 'finance', 'customer_admin', 'customer_member')",
        "customers_belong_to_an_organization": (
            "(role IN ('customer_admin', 'customer_member')) = (organization IS NOT NULL)"
        ),
        "known_locale": "locale IN ('ja', 'en')",
    }


class ApiToken(Table, tablename="api_tokens"):
    """A bearer token for the JSON API. Only its SHA-256 is stored."""

    user = ForeignKey(User, null=False, on_delete=OnDelete.cascade, index=True)
    name = Varchar(length=100)
    token_hash = Varchar(length=64, unique=True)
    prefix = Varchar(length=12)
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class OrganizationRouting(Table, tablename="organization_routing"):
    """Where an organisation's new requests go by default (担当割当)."""

    organization = ForeignKey(Organization, null=False, unique=True, on_delete=OnDelete.cascade)
    department = ForeignKey(Department, null=True, on_delete=OnDelete.set_null)
    assignee = ForeignKey(User, null=True, on_delete=OnDelete.set_null)


class BrowserSession(Table, tablename="browser_sessions"):
    """A signed-in browser (server-side session). The cookie holds a random id; only its SHA-256
    is stored, so a copy of the database signs no one in. A row exists only while something is
    stored in the session: anonymous visits and API calls never write one."""

    id_hash = Varchar(length=64, unique=True)
    user = ForeignKey(User, null=True, on_delete=OnDelete.cascade, index=True)
    data = Text(default="{}")
    created_at = Timestamptz()
    expires_at = Timestamptz(index=True)
    last_seen_at = Timestamptz()
    ip_address = Varchar(length=45, default="")
    user_agent = Varchar(length=300, default="")


class SignInThrottle(Table, tablename="sign_in_throttle"):
    """Sign-in attempts counted per account and per client address within a window. Counted by
    one atomic upsert before the password is checked, so parallel attempts all count."""

    key = Varchar(length=300, unique=True)
    attempts = Integer(default=0)
    window_ends_at = Timestamptz(index=True)


class SecurityEventKind(StrEnum):
    """What a security log entry records; `label` is the English text (translated where shown)."""

    SIGNED_IN = "signed_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_IN_LOCKED = "sign_in_locked"
    SIGNED_OUT = "signed_out"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    SESSIONS_ENDED = "sessions_ended"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"

    @property
    def label(self) -> str:
        return _SECURITY_EVENT_LABELS[self]


_SECURITY_EVENT_LABELS = {
    SecurityEventKind.SIGNED_IN: N_("Signed in"),
    SecurityEventKind.SIGN_IN_FAILED: N_("Sign-in failed (wrong password)"),
    SecurityEventKind.SIGN_IN_LOCKED: N_("Sign-in locked after repeated failures"),
    SecurityEventKind.SIGNED_OUT: N_("Signed out"),
    SecurityEventKind.PASSWORD_CHANGED: N_("Password changed"),
    SecurityEventKind.PASSWORD_RESET: N_("Password set by an administrator"),
    SecurityEventKind.SESSIONS_ENDED: N_("Other sessions signed out"),
    SecurityEventKind.TOKEN_CREATED: N_("API token created"),
    SecurityEventKind.TOKEN_REVOKED: N_("API token revoked"),
}


class SecurityEvent(Table, tablename="security_events"):
    """A user's security log: sign-ins, password changes, API tokens created and revoked (who,
    when, from where). Shown to the user and to administrators."""

    user = ForeignKey(User, null=False, on_delete=OnDelete.cascade)
    kind = Varchar(length=40, choices=SecurityEventKind)
    actor = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    detail = Varchar(length=200, default="")
    ip_address = Varchar(length=45, default="")
    user_agent = Varchar(length=300, default="")
    created_at = Timestamptz()

    checks = {
        "known_security_event": "kind IN (" + ", ".join(f"'{k.value}'" for k in SecurityEventKind) + ")",
    }
    composite_indexes = {"security_events_by_user": ("user", "id")}
