from piccolo.columns import (
    Boolean,
    ForeignKey,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

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
