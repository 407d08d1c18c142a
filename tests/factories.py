"""Small builders for test data. Each returns the saved row (a Piccolo Table instance).

Append new builders at the end; keep them plain (no behaviour beyond saving rows).
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

from app.accounts.caller import Caller
from app.accounts.passwords import hash_password
from app.accounts.tables import Department, Organization, User
from app.tickets.tables import RequestType, Ticket, TicketMessage, TicketWatcher

_serial = count(1)
PASSWORD = "correct horse battery"
_password_hash = hash_password(PASSWORD)


async def make_department(name: str | None = None) -> Department:
    row = Department(name=name or f"部署{next(_serial)}", created_at=datetime.now(UTC))
    await row.save()
    return row


async def make_organization(name: str | None = None, code: str | None = None) -> Organization:
    n = next(_serial)
    row = Organization(code=code or f"C{n:04d}", name=name or f"株式会社テスト{n}", created_at=datetime.now(UTC))
    await row.save()
    return row


async def make_user(
    role: str = "agent",
    organization: Organization | None = None,
    department: Department | None = None,
    email: str | None = None,
    name: str = "山田 太郎",
    locale: str = "ja",
) -> User:
    row = User(
        email=email or f"user{next(_serial)}@example.jp",
        name=name,
        role=role,
        organization=organization.id if organization else None,
        department=department.id if department else None,
        password_hash=_password_hash,
        locale=locale,
        created_at=datetime.now(UTC),
    )
    await row.save()
    return row


async def make_request_type(
    code: str = "general", name_ja: str = "一般的な質問", name_en: str = "General question", *, points: int = 1,
) -> RequestType:
    """A request type, priced at `points` by a newly published point table version (so it can be filed)."""
    row = RequestType(code=code, name_ja=name_ja, name_en=name_en)
    await row.save()
    await price_request_type(code, name_ja, name_en, points=points)
    return row


async def price_request_type(
    code: str, name_ja: str = "", name_en: str = "", *, points: int = 1, urgent: int = 1,
    included_minutes: int | None = None, block_minutes: int | None = None, points_per_block: int | None = None,
) -> int:
    """Publish a point table version: the one in force plus (or with a new price for) `code`."""
    from pricing import services as pricing
    from pricing.rules import PrioritySurcharge, RequestTypePrice

    version = await pricing.create_draft(note="test")
    await pricing.set_request_type(version, RequestTypePrice(
        code=code, name_ja=name_ja or code, name_en=name_en or code, points=points,
        included_minutes=included_minutes, block_minutes=block_minutes, points_per_block=points_per_block,
    ))
    await pricing.set_surcharge(version, PrioritySurcharge("urgent", urgent))
    await pricing.publish(version)
    return version


async def give_points(organization: Organization, points: int = 100, reason: str = "テスト用ポイント") -> None:
    """Free points for an organisation (a grant that never expires)."""
    from billing import ledger

    await ledger.grant(organization.id, points, reason, None, key=f"test-grant:{organization.id}:{next(_serial)}")


def caller(user: User) -> Caller:
    return Caller(
        id=user.id, email=user.email, name=user.name, role=user.role,
        organization_id=user.organization, department_id=user.department, locale=user.locale,
    )


async def sign_in(client, user: User, password: str = PASSWORD) -> None:
    """Sign a browser-like client in through the real form (session cookie + CSRF)."""
    await client.get("/login")
    response = await client.post(
        "/login",
        data={"email": user.email, "password": password, "_csrf_token": client.cookies.get("kippu_csrf")},
    )
    assert response.status_code in (302, 303), response.text


def csrf(client) -> dict[str, str]:
    """Form field carrying the CSRF token (for POSTs from page tests)."""
    return {"_csrf_token": client.cookies.get("kippu_csrf")}


async def make_ticket(
    organization: Organization,
    requester: User,
    request_type: RequestType,
    subject: str = "プリンターに接続できません",
    body: str = "昨日から事務所のプリンターに印刷できません。",
    status: str = "new",
    priority: str = "normal",
    department: Department | None = None,
    assignee: User | None = None,
) -> Ticket:
    now = datetime.now(UTC)
    row = Ticket(
        number=f"{now.year}-{next(_serial):06d}",
        organization=organization.id,
        requester=requester.id,
        subject=subject,
        body=body,
        request_type=request_type.id,
        status=status,
        priority=priority,
        department=department.id if department else None,
        assignee=assignee.id if assignee else None,
        created_at=now,
        updated_at=now,
    )
    await row.save()
    return row


async def make_message(ticket: Ticket, author: User, body: str = "ご確認ください。", internal: bool = False) -> TicketMessage:
    row = TicketMessage(ticket=ticket.id, author=author.id, body=body, internal=internal, created_at=datetime.now(UTC))
    await row.save()
    return row


async def make_watcher(ticket: Ticket, user: User) -> TicketWatcher:
    row = TicketWatcher(ticket=ticket.id, user=user.id)
    await row.save()
    return row


from app.accounts.tables import OrganizationRouting  # noqa: E402
from app.tickets.tables import CustomField  # noqa: E402


async def make_custom_field(
    key: str,
    field_type: str = "text",
    *,
    required: bool = False,
    visible_to_customers: bool = True,
    choices: list | None = None,
    label_ja: str | None = None,
) -> CustomField:
    row = CustomField(
        key=key, label_ja=label_ja or key, label_en=key, field_type=field_type, choices=choices or [],
        required=required, visible_to_customers=visible_to_customers,
    )
    await row.save()
    return row


async def make_routing(organization: Organization, department: Department | None = None,
                       assignee: User | None = None) -> OrganizationRouting:
    row = OrganizationRouting(
        organization=organization.id,
        department=department.id if department else None,
        assignee=assignee.id if assignee else None,
    )
    await row.save()
    return row


async def bearer(user: User) -> dict[str, str]:
    """Authorization header for API calls as `user`."""
    from app.accounts.tokens import create_token

    token, _id = await create_token(user.id, "test")
    return {"Authorization": f"Bearer {token}"}


async def make_support_world():
    """Two customer companies with members and 100 points each, two agents in a department, and a
    request type priced at 1 point (urgent +1) by the point table in force."""
    from types import SimpleNamespace

    department = await make_department("システム保守部")
    org_a = await make_organization("株式会社アルファ")
    org_b = await make_organization("株式会社ベータ")
    await give_points(org_a)
    await give_points(org_b)
    return SimpleNamespace(
        department=department,
        org_a=org_a,
        org_b=org_b,
        customer_a=await make_user("customer_member", organization=org_a, name="青木 一郎"),
        customer_a2=await make_user("customer_admin", organization=org_a, name="青木 二郎"),
        customer_b=await make_user("customer_member", organization=org_b, name="別府 花子"),
        agent=await make_user("agent", department=department, name="佐藤 担当"),
        agent2=await make_user("agent", department=department, name="鈴木 担当"),
        request_type=await make_request_type("general"),
    )


ISSUER_NUMBER = "T7123456789012"  # made up, with a valid check digit


async def make_issuer(name: str = "株式会社キップ・サポート", *, rounding: str = "down", terms: int = 30):
    """The vendor as issuer of documents (needed before anything can be sold)."""
    from billing.issuer import IssuerSettings, save_issuer

    return await save_issuer(IssuerSettings(
        name=name, registration_number=ISSUER_NUMBER, address="東京都千代田区丸の内1-1-1",
        phone="03-1234-5678", email="billing@kippu.example",
        bank_account="みずほ銀行 丸の内支店 普通 1234567 カ）キップサポート", payment_terms_days=terms,
        tax_rounding=rounding,
    ))


async def make_bundle(code: str = "P10", *, points: int = 10, price_jpy: int = 50_000, tax_rate: int = 10,
                      validity_months: int = 12, min_quantity: int = 1, max_quantity: int | None = None):
    """A bundle on sale (points for price_jpy, tax-exclusive)."""
    from pricing import services as pricing
    from pricing.rules import Bundle

    bundle = Bundle(code=code, name_ja=f"{points}ポイントパック", name_en=f"{points}-point bundle", points=points,
                    price_jpy=price_jpy, tax_rate=tax_rate, validity_months=validity_months,
                    min_quantity=min_quantity, max_quantity=max_quantity)
    await pricing.save_bundle(bundle)
    return bundle


async def behind_the_ledgers_back(sql: str, *args) -> None:
    """Run `sql` with the database's ledger checks switched off for it, as a hand-made "fix" or a
    bad restore would change the books: what `kippu ledger verify` exists to find."""
    from app import db
    from billing.tables import LedgerEntry

    async with db.write_transaction():
        if db.is_postgres():
            await db.engine().run_ddl("SET LOCAL session_replication_role = replica")
            await LedgerEntry.raw(sql, *args)
            return
        # SQLite: the ledger's triggers are dropped and made again within the transaction.
        triggers = [t for t in LedgerEntry.sqlite_ddl if "points_accounts" in t or "no_update" in t]
        for trigger in triggers:
            await db.engine().run_ddl("DROP TRIGGER " + trigger.split()[2])
        await LedgerEntry.raw(sql, *args)
        for trigger in triggers:
            await db.engine().run_ddl(trigger)
