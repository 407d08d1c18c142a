"""Signing in and managing people: departments, organisations, users, API tokens.

Every function takes plain arguments and the `Caller` it authorises against, and returns plain
values (the dataclasses below). Another organisation's data is reported as NotFound, never as
NotAllowed, so its existence is not revealed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from asyncpg.exceptions import UniqueViolationError
from pydantic import EmailStr, TypeAdapter, ValidationError

from app import db
from app.accounts import security_log, throttle, tokens
from app.accounts.caller import Caller
from app.accounts.security_log import ClientInfo
from app.accounts.passwords import DUMMY_HASH, MIN_LENGTH, hash_password, verify_password
from app.accounts.tables import (
    CUSTOMER_ROLES,
    STAFF_ROLES,
    ApiToken,
    BrowserSession,
    Department,
    Organization,
    OrganizationRouting,
    SecurityEventKind,
    User,
)
from app.errors import Duplicate, InvalidInput, NotAllowed, NotAuthenticated, NotFound, TooManyAttempts
from app.i18n import LOCALES, _, format_date, ngettext
from app.schema import MAX_ID

MAX_PASSWORD_LENGTH = 1024
ORGANIZATION_CODE = re.compile(r"[A-Za-z0-9_-]{2,32}")
PHONE = re.compile(r"[0-9+\-() ]*")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

_email_adapter = TypeAdapter(EmailStr)

# The one caller the console script acts as (`kippu createuser`, `kippu createorg`).
SYSTEM = Caller(id=0, email="", name="kippu", role="admin", organization_id=None, department_id=None, locale="en")


# ---------------------------------------------------------------- plain results


@dataclass(frozen=True, slots=True)
class DepartmentInfo:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class OrganizationInfo:
    id: int
    code: str
    name: str
    address: str
    billing_contact_name: str
    billing_email: str
    phone: str
    default_department_id: int | None
    default_assignee_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    email: str
    name: str
    role: str
    organization_id: int | None
    department_id: int | None
    locale: str
    is_active: bool
    has_password: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Me:
    user: UserInfo
    organization: OrganizationInfo | None
    department: DepartmentInfo | None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list, newest first; pass `next_cursor` back to get the next one."""

    items: list
    next_cursor: str | None


# ---------------------------------------------------------------- signing in


async def authenticate(email: str, password: str, client: ClientInfo) -> Caller:
    """Check a password. The attempt is counted first (app/accounts/throttle.py): over the limit
    it is refused without looking at the password."""
    email = email.strip().lower()
    attempt = await throttle.count_attempt(email, client.ip_address or "-")
    known = not _CONTROL.search(email)  # such an address cannot exist (and PostgreSQL refuses NUL)
    row = await User.select().where((User.email == email) & (User.is_active == True)).first() if known else None  # noqa: E712
    if not attempt.allowed:
        if row is not None and attempt.locks_the_account:
            await security_log.record(row["id"], SecurityEventKind.SIGN_IN_LOCKED, client)
        minutes = -(-attempt.retry_after_seconds // 60)  # rounded up
        raise TooManyAttempts(
            ngettext("Too many failed sign-ins. Please wait {minutes} minute and try again.",
                     "Too many failed sign-ins. Please wait {minutes} minutes and try again.",
                     minutes, minutes=minutes),
            retry_after_seconds=attempt.retry_after_seconds,
        )
    # Argon2 takes tens of milliseconds of CPU: off the event loop (argon2-cffi releases the GIL).
    matches = await asyncio.to_thread(verify_password, row["password_hash"] if row else DUMMY_HASH, password)
    if not matches or row is None:
        if row is not None:
            await security_log.record(row["id"], SecurityEventKind.SIGN_IN_FAILED, client)
        raise NotAuthenticated(_("The e-mail address or password is incorrect."))
    await throttle.forget_attempt(attempt)
    await User.update({User.last_login_at: datetime.now(UTC)}).where(User.id == row["id"])
    await security_log.record(row["id"], SecurityEventKind.SIGNED_IN, client)
    return Caller.from_row(row)


async def issue_token(email: str, password: str, client: ClientInfo) -> str:
    """`POST /api/v1/auth/token`: a new bearer token for good credentials (throttled like sign-in)."""
    caller = await authenticate(email, password, client)
    name = _("API token (issued {date})", date=_today())
    token, _id = await tokens.create_token(caller.id, name)
    await security_log.record(caller.id, SecurityEventKind.TOKEN_CREATED, client, detail=name)
    return token


# ---------------------------------------------------------------- validation


def normalize_email(value: str, field: str = "email") -> str:
    """A valid e-mail address, trimmed and lower-cased."""
    value = reject_control_characters((value or "").strip(), field)
    if not value:
        raise InvalidInput(_("Enter an e-mail address."), field=field)
    if len(value) > 254:
        raise InvalidInput(_("The e-mail address is too long."), field=field)
    try:
        _email_adapter.validate_python(value)
    except ValidationError:
        raise InvalidInput(_("\"{value}\" is not a valid e-mail address.", value=value), field=field) from None
    return value.lower()


# C0 control characters other than tab and line breaks: PostgreSQL refuses NUL in text outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def reject_control_characters(value: str, field: str) -> str:
    if _CONTROL.search(value):
        raise InvalidInput(_("Remove the invisible control characters from this field."), field=field)
    return value


def clean_text(value: str | None, field: str, *, max_length: int, required: bool = True) -> str:
    value = reject_control_characters((value or "").strip(), field)
    if required and not value:
        raise InvalidInput(_("This field is required."), field=field)
    if len(value) > max_length:
        raise InvalidInput(_("Use at most {max} characters.", max=max_length), field=field)
    return value


def check_password(password: str, field: str = "password") -> str:
    reject_control_characters(password, field)
    if len(password) < MIN_LENGTH:
        raise InvalidInput(_("The password must be at least {min} characters long.", min=MIN_LENGTH), field=field)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(_("Use at most {max} characters.", max=MAX_PASSWORD_LENGTH), field=field)
    return password


def normalize_organization_code(code: str) -> str:
    code = (code or "").strip()
    if not ORGANIZATION_CODE.fullmatch(code):
        raise InvalidInput(
            _("The customer code must be 2 to 32 letters, digits, \"-\" or \"_\"."), field="code"
        )
    return code


def check_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise InvalidInput(_("Choose Japanese or English."), field="locale")
    return locale


def encode_cursor(kind: str, row_id: int) -> str:
    """An opaque page cursor: the last id seen, tagged with the kind of list."""
    return base64.urlsafe_b64encode(f"{kind}:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found, _sep, number = text.partition(":")
        if found == kind and number.isdecimal() and len(number) <= 10 and int(number) <= MAX_ID:
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidInput(_("This page link is not valid. Please start from the first page."), field="cursor")


def is_unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, UniqueViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)


def _today() -> str:
    return format_date(datetime.now(UTC))


def _require_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise NotAllowed(_("Only an administrator can do this."))


# ---------------------------------------------------------------- departments


def _department(row: dict) -> DepartmentInfo:
    return DepartmentInfo(id=row["id"], name=row["name"])


async def list_departments(caller: Caller) -> list[DepartmentInfo]:
    if not caller.is_staff:
        raise NotAllowed(_("This page is for vendor staff."))
    rows = await Department.select(Department.id, Department.name).order_by(Department.name)
    return [_department(r) for r in rows]


async def create_department(caller: Caller, name: str) -> DepartmentInfo:
    _require_admin(caller)
    name = clean_text(name, "name", max_length=100)
    if await Department.exists().where(Department.name == name):
        raise Duplicate(_("A department named \"{name}\" already exists.", name=name), field="name")
    try:
        row = await Department.insert(Department(name=name, created_at=datetime.now(UTC))).returning(Department.id)
    except Exception as exc:
        if is_unique_violation(exc):
            raise Duplicate(_("A department named \"{name}\" already exists.", name=name), field="name") from None
        raise
    return DepartmentInfo(id=row[0]["id"], name=name)


async def rename_department(caller: Caller, department_id: int, name: str) -> DepartmentInfo:
    _require_admin(caller)
    name = clean_text(name, "name", max_length=100)
    if await Department.exists().where((Department.name == name) & (Department.id != department_id)):
        raise Duplicate(_("A department named \"{name}\" already exists.", name=name), field="name")
    try:
        updated = await Department.update({Department.name: name}).where(Department.id == department_id).returning(
            Department.id
        )
    except Exception as exc:
        if is_unique_violation(exc):
            raise Duplicate(_("A department named \"{name}\" already exists.", name=name), field="name") from None
        raise
    if not updated:
        raise NotFound(_("This department does not exist."))
    return DepartmentInfo(id=department_id, name=name)


async def _department_id(department: int | str | None) -> int | None:
    """A department given by id or by name (the CLI and the API accept either)."""
    if department is None or department == "":
        return None
    if isinstance(department, int):
        condition = Department.id == department
    else:
        condition = Department.name == reject_control_characters(department.strip(), "department")
    row = await Department.select(Department.id).where(condition).first()
    if row is None:
        raise InvalidInput(_("There is no department \"{name}\".", name=department), field="department")
    return row["id"]


# ---------------------------------------------------------------- organisations


_ORGANIZATION_COLUMNS = (
    Organization.id,
    Organization.code,
    Organization.name,
    Organization.address,
    Organization.billing_contact_name,
    Organization.billing_email,
    Organization.phone,
    Organization.created_at,
)


async def _organizations(rows: list[dict]) -> list[OrganizationInfo]:
    ids = [r["id"] for r in rows]
    routing = {}
    if ids:
        routing = {
            r["organization"]: r
            for r in await OrganizationRouting.select().where(OrganizationRouting.organization.is_in(ids))
        }
    return [
        OrganizationInfo(
            id=r["id"],
            code=r["code"],
            name=r["name"],
            address=r["address"],
            billing_contact_name=r["billing_contact_name"],
            billing_email=r["billing_email"],
            phone=r["phone"],
            default_department_id=routing.get(r["id"], {}).get("department"),
            default_assignee_id=routing.get(r["id"], {}).get("assignee"),
            created_at=r["created_at"],
        )
        for r in rows
    ]


def _organization_fields(
    name: str, address: str, billing_contact_name: str, billing_email: str, phone: str
) -> dict:
    phone = clean_text(phone, "phone", max_length=40, required=False)
    if not PHONE.fullmatch(phone):
        raise InvalidInput(_("Use digits, spaces, \"+\", \"-\" and brackets only."), field="phone")
    billing_email = (billing_email or "").strip()
    return {
        Organization.name: clean_text(name, "name", max_length=200),
        Organization.address: clean_text(address, "address", max_length=1000, required=False),
        Organization.billing_contact_name: clean_text(
            billing_contact_name, "billing_contact_name", max_length=100, required=False
        ),
        Organization.billing_email: normalize_email(billing_email, "billing_email") if billing_email else "",
        Organization.phone: phone,
    }


async def create_organization(
    caller: Caller,
    *,
    code: str,
    name: str,
    address: str = "",
    billing_contact_name: str = "",
    billing_email: str = "",
    phone: str = "",
) -> OrganizationInfo:
    """A customer organisation (得意先), admin only; its customer code is unique."""
    _require_admin(caller)
    code = normalize_organization_code(code)
    fields = _organization_fields(name, address, billing_contact_name, billing_email, phone)
    duplicate = Duplicate(_("The customer code \"{code}\" is already in use.", code=code), field="code")
    try:
        async with db.write_transaction():
            if await Organization.exists().where(Organization.code == code):
                raise duplicate
            row = Organization(code=code, created_at=datetime.now(UTC))
            for column, value in fields.items():
                setattr(row, column._meta.name, value)
            await row.save()
            await OrganizationRouting(organization=row.id).save()
    except Exception as exc:
        if is_unique_violation(exc):
            raise duplicate from None
        raise
    return await get_organization(caller, row.id)


async def update_organization(
    caller: Caller,
    organization_id: int,
    *,
    name: str,
    address: str = "",
    billing_contact_name: str = "",
    billing_email: str = "",
    phone: str = "",
) -> OrganizationInfo:
    _require_admin(caller)
    fields = _organization_fields(name, address, billing_contact_name, billing_email, phone)
    updated = await Organization.update(fields).where(Organization.id == organization_id).returning(Organization.id)
    if not updated:
        raise NotFound(_("This organisation does not exist."))
    return await get_organization(caller, organization_id)


async def set_routing(
    caller: Caller, organization_id: int, *, department_id: int | None, assignee_id: int | None
) -> OrganizationInfo:
    """Where the organisation's new requests go by default (担当割当)."""
    _require_admin(caller)
    if department_id is not None and not await Department.exists().where(Department.id == department_id):
        raise InvalidInput(_("Choose an existing department."), field="department")
    if assignee_id is not None:
        assignee = await User.select(User.role, User.is_active).where(User.id == assignee_id).first()
        if assignee is None or assignee["role"] not in STAFF_ROLES or not assignee["is_active"]:
            raise InvalidInput(_("Choose an active member of staff."), field="assignee")
    async with db.write_transaction():
        if not await Organization.exists().where(Organization.id == organization_id):
            raise NotFound(_("This organisation does not exist."))
        updated = (
            await OrganizationRouting.update(
                {OrganizationRouting.department: department_id, OrganizationRouting.assignee: assignee_id}
            )
            .where(OrganizationRouting.organization == organization_id)
            .returning(OrganizationRouting.id)
        )
        if not updated:
            await OrganizationRouting(
                organization=organization_id, department=department_id, assignee=assignee_id
            ).save()
    return await get_organization(caller, organization_id)


async def get_organization(caller: Caller, organization_id: int) -> OrganizationInfo:
    if not caller.can_see_organization(organization_id):
        raise NotFound(_("This organisation does not exist."))
    row = await Organization.select(*_ORGANIZATION_COLUMNS).where(Organization.id == organization_id).first()
    if row is None:
        raise NotFound(_("This organisation does not exist."))
    return (await _organizations([row]))[0]


async def find_organization(caller: Caller, code: str) -> OrganizationInfo:
    row = await Organization.select(Organization.id).where(
        Organization.code == reject_control_characters(code.strip(), "code")
    ).first()
    if row is None or not caller.can_see_organization(row["id"]):
        raise NotFound(_("There is no organisation with the customer code \"{code}\".", code=code))
    return await get_organization(caller, row["id"])


async def list_organizations(caller: Caller, *, cursor: str | None = None, limit: int = PAGE_SIZE) -> Page:
    """Staff see every organisation, a customer only its own; newest first."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = Organization.select(*_ORGANIZATION_COLUMNS).order_by(Organization.id, ascending=False).limit(limit + 1)
    before = decode_cursor("o", cursor)
    if before is not None:
        query = query.where(Organization.id < before)
    if not caller.is_staff:
        query = query.where(Organization.id == caller.organization_id)
    rows = await query
    items = await _organizations(rows[:limit])
    return Page(items=items, next_cursor=encode_cursor("o", items[-1].id) if len(rows) > limit else None)


# ---------------------------------------------------------------- users


def _user(row: dict) -> UserInfo:
    return UserInfo(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        organization_id=row["organization"],
        department_id=row["department"],
        locale=row["locale"],
        is_active=row["is_active"],
        has_password=bool(row["password_hash"]),
        created_at=row["created_at"],
        last_login_at=row["last_login_at"],
    )


async def _insert_user(
    *,
    email: str,
    name: str,
    role: str,
    password: str | None,
    organization_id: int | None,
    department_id: int | None,
    locale: str,
) -> UserInfo:
    duplicate = Duplicate(_("The e-mail address {email} is already registered.", email=email), field="email")
    if await User.exists().where(User.email == email):
        raise duplicate
    row = User(
        email=email,
        name=name,
        role=role,
        organization=organization_id,
        department=department_id,
        password_hash=hash_password(password) if password else "",
        locale=locale,
        created_at=datetime.now(UTC),
    )
    try:
        await row.save()
    except Exception as exc:
        if is_unique_violation(exc):
            raise duplicate from None
        raise
    return await _get_user(row.id)


async def get_user(caller: Caller, user_id: int) -> UserInfo:
    """One user, for an administrator (or the user themselves)."""
    if user_id != caller.id and not caller.is_admin:
        raise NotFound(_("This user does not exist."))
    return await _get_user(user_id)


async def _get_user(user_id: int) -> UserInfo:
    row = await User.select().where(User.id == user_id).first()
    if row is None:
        raise NotFound(_("This user does not exist."))
    return _user(row)


def _new_user_fields(email: str, name: str, password: str | None, locale: str) -> tuple[str, str, str | None, str]:
    email = normalize_email(email)
    name = clean_text(name, "name", max_length=100)
    if password:
        check_password(password)
    return email, name, password or None, check_locale(locale)


def _may_manage_organization_users(caller: Caller, organization_id: int) -> None:
    """Admins manage every organisation's users; a customer admin only its own organisation's."""
    if not caller.can_see_organization(organization_id):
        raise NotFound(_("This organisation does not exist."))
    if not (caller.is_admin or (caller.is_customer_admin and caller.organization_id == organization_id)):
        raise NotAllowed(_("Only an administrator can manage these users."))


async def create_customer_user(
    caller: Caller,
    organization_id: int,
    *,
    email: str,
    name: str,
    role: str,
    password: str | None = None,
    locale: str = "ja",
) -> UserInfo:
    """A customer user (customer_admin or customer_member) of one organisation.

    Without a password the account exists but cannot sign in until one is set.
    """
    _may_manage_organization_users(caller, organization_id)
    if role not in CUSTOMER_ROLES:
        raise InvalidInput(_("Choose customer administrator or customer member."), field="role")
    email, name, password, locale = _new_user_fields(email, name, password, locale)
    if not await Organization.exists().where(Organization.id == organization_id):
        raise NotFound(_("This organisation does not exist."))
    return await _insert_user(
        email=email, name=name, role=role, password=password,
        organization_id=organization_id, department_id=None, locale=locale,
    )


async def create_staff_user(
    caller: Caller,
    *,
    email: str,
    name: str,
    role: str,
    department: int | str | None = None,
    password: str | None = None,
    locale: str = "ja",
) -> UserInfo:
    """Vendor staff (agent, finance or admin), optionally in a department given by id or name."""
    _require_admin(caller)
    if role not in STAFF_ROLES:
        raise InvalidInput(_("Choose agent, finance or administrator."), field="role")
    email, name, password, locale = _new_user_fields(email, name, password, locale)
    department_id = await _department_id(department)
    return await _insert_user(
        email=email, name=name, role=role, password=password,
        organization_id=None, department_id=department_id, locale=locale,
    )


async def list_staff(caller: Caller, *, include_inactive: bool = True) -> list[UserInfo]:
    if not caller.is_staff:
        raise NotAllowed(_("This page is for vendor staff."))
    query = User.select().where(User.role.is_in(list(STAFF_ROLES))).order_by(User.id)
    if not include_inactive:
        query = query.where(User.is_active == True)  # noqa: E712
    return [_user(r) for r in await query]


async def list_organization_users(caller: Caller, organization_id: int) -> list[UserInfo]:
    """An organisation's users: for staff and that organisation's customer admin."""
    if not caller.can_see_organization(organization_id):
        raise NotFound(_("This organisation does not exist."))
    if not (caller.is_staff or caller.is_customer_admin):
        raise NotAllowed(_("Only an administrator can manage these users."))
    if not await Organization.exists().where(Organization.id == organization_id):
        raise NotFound(_("This organisation does not exist."))
    rows = await User.select().where(User.organization == organization_id).order_by(User.id)
    return [_user(r) for r in rows]


async def _managed_user(caller: Caller, user_id: int) -> UserInfo:
    """A user the caller may change; anyone outside its reach does not exist for it."""
    row = await User.select().where(User.id == user_id).first()
    if row is None:
        raise NotFound(_("This user does not exist."))
    user = _user(row)
    if caller.is_admin:
        return user
    if caller.is_customer_admin and user.organization_id == caller.organization_id:
        return user
    if caller.is_staff and user.organization_id is not None:
        raise NotAllowed(_("Only an administrator can manage these users."))
    if caller.is_staff:
        raise NotAllowed(_("Only an administrator can do this."))
    raise NotFound(_("This user does not exist."))


async def set_user_active(caller: Caller, user_id: int, active: bool) -> UserInfo:
    """Deactivate (or reactivate) an account; a deactivated user can neither sign in nor use tokens,
    and their browser sessions end."""
    user = await _managed_user(caller, user_id)
    if user.id == caller.id and not active:
        raise InvalidInput(_("You cannot deactivate your own account."), field="user")
    async with db.write_transaction():
        await User.update({User.is_active: active}).where(User.id == user_id)
        if not active:
            await BrowserSession.delete().where(BrowserSession.user == user_id)
    return await _get_user(user_id)


async def deactivate_user(caller: Caller, user_id: int) -> UserInfo:
    return await set_user_active(caller, user_id, False)


async def set_user_department(caller: Caller, user_id: int, department: int | str | None) -> UserInfo:
    _require_admin(caller)
    user = await _managed_user(caller, user_id)
    if user.role not in STAFF_ROLES:
        raise InvalidInput(_("Only staff belong to a department."), field="department")
    department_id = await _department_id(department)
    await User.update({User.department: department_id}).where(User.id == user_id)
    return await _get_user(user_id)


async def set_user_password(caller: Caller, user_id: int, password: str, client: ClientInfo) -> UserInfo:
    """An administrator (or the organisation's customer admin) sets someone's password: every
    session of that user ends and every API token of theirs is revoked (a reset assumes the old
    password was lost or known to someone else)."""
    await _managed_user(caller, user_id)
    check_password(password)
    password_hash = await asyncio.to_thread(hash_password, password)
    async with db.write_transaction():
        await User.update({User.password_hash: password_hash}).where(User.id == user_id)
        await BrowserSession.delete().where(BrowserSession.user == user_id)
        revoked = await tokens.revoke_all_tokens(user_id)
        await security_log.record(
            user_id, SecurityEventKind.PASSWORD_RESET, client, actor_id=caller.id,
            detail=_("API tokens revoked: {count}", count=revoked) if revoked else "",
        )
    return await _get_user(user_id)


# ---------------------------------------------------------------- one's own account


async def describe(caller: Caller) -> Me:
    """The caller with its organisation and department (`GET /api/v1/me`)."""
    user = await _get_user(caller.id)
    organization = await get_organization(caller, user.organization_id) if user.organization_id else None
    department = None
    if user.department_id is not None:
        row = await Department.select(Department.id, Department.name).where(Department.id == user.department_id).first()
        department = _department(row) if row else None
    return Me(user=user, organization=organization, department=department)


async def update_profile(caller: Caller, *, name: str, locale: str) -> UserInfo:
    name = clean_text(name, "name", max_length=100)
    locale = check_locale(locale)
    await User.update({User.name: name, User.locale: locale}).where(User.id == caller.id)
    return await _get_user(caller.id)


async def set_own_locale(caller: Caller, locale: str) -> UserInfo:
    await User.update({User.locale: check_locale(locale)}).where(User.id == caller.id)
    return await _get_user(caller.id)


async def change_own_password(
    caller: Caller,
    *,
    current_password: str,
    new_password: str,
    client: ClientInfo,
    keep_session: str | None,
    revoke_tokens: bool,
) -> int:
    """Change one's own password. Every other session of the user ends (`keep_session`, the
    hashed id of the one the change was made in, stays); API tokens are revoked only if asked
    (programs using them would stop). Returns how many other sessions ended."""
    row = await User.select(User.password_hash).where(User.id == caller.id).first()
    if row is None or not await asyncio.to_thread(verify_password, row["password_hash"], current_password):
        raise InvalidInput(_("The current password is incorrect."), field="current_password")
    check_password(new_password, "new_password")
    password_hash = await asyncio.to_thread(hash_password, new_password)
    async with db.write_transaction():
        await User.update({User.password_hash: password_hash}).where(User.id == caller.id)
        ended = await _end_sessions(caller.id, keep=keep_session)
        revoked = await tokens.revoke_all_tokens(caller.id) if revoke_tokens else 0
        detail = [_("Other sessions signed out: {count}", count=ended)]
        if revoked:
            detail.append(_("API tokens revoked: {count}", count=revoked))
        await security_log.record(caller.id, SecurityEventKind.PASSWORD_CHANGED, client, detail="; ".join(detail))
    return ended


async def record_sign_out(caller: Caller, client: ClientInfo) -> None:
    await security_log.record(caller.id, SecurityEventKind.SIGNED_OUT, client)


# ---------------------------------------------------------------- one's own sessions


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: int
    current: bool
    ip_address: str
    user_agent: str
    created_at: datetime
    last_seen_at: datetime


async def list_sessions(caller: Caller, current: str | None) -> list[SessionInfo]:
    """The browsers signed in as the caller, this one first."""
    rows = await BrowserSession.select(
        BrowserSession.id, BrowserSession.id_hash, BrowserSession.ip_address, BrowserSession.user_agent,
        BrowserSession.created_at, BrowserSession.last_seen_at,
    ).where((BrowserSession.user == caller.id) & (BrowserSession.expires_at > datetime.now(UTC)))
    sessions = [
        SessionInfo(
            id=r["id"], current=r["id_hash"] == current, ip_address=r["ip_address"], user_agent=r["user_agent"],
            created_at=r["created_at"], last_seen_at=r["last_seen_at"],
        )
        for r in rows
    ]
    return sorted(sessions, key=lambda s: (not s.current, -s.last_seen_at.timestamp()))


async def end_other_sessions(caller: Caller, *, keep_session: str | None, client: ClientInfo) -> int:
    """Sign the caller out everywhere but here; returns how many sessions ended."""
    async with db.write_transaction():
        ended = await _end_sessions(caller.id, keep=keep_session)
        await security_log.record(
            caller.id, SecurityEventKind.SESSIONS_ENDED, client,
            detail=_("Other sessions signed out: {count}", count=ended),
        )
    return ended


async def _end_sessions(user_id: int, *, keep: str | None) -> int:
    condition = BrowserSession.user == user_id
    if keep is not None:
        condition &= BrowserSession.id_hash != keep
    return len(await BrowserSession.delete().where(condition).returning(BrowserSession.id))


# ---------------------------------------------------------------- API tokens


async def create_api_token(caller: Caller, name: str, client: ClientInfo) -> tuple[str, TokenInfo]:
    """A new bearer token: the token itself is returned here once and never again."""
    name = clean_text(name, "name", max_length=100, required=False) or _("API token ({date})", date=_today())
    token, token_id = await tokens.create_token(caller.id, name)
    await security_log.record(caller.id, SecurityEventKind.TOKEN_CREATED, client, detail=name)
    return token, (await _tokens(caller, ApiToken.id == token_id))[0]


async def list_api_tokens(caller: Caller) -> list[TokenInfo]:
    return await _tokens(caller)


async def revoke_api_token(caller: Caller, token_id: int, client: ClientInfo) -> None:
    revoked = await tokens.revoke_token(caller.id, token_id)
    if revoked is None:
        if await ApiToken.exists().where((ApiToken.id == token_id) & (ApiToken.user == caller.id)):
            return  # already revoked
        raise NotFound(_("This token does not exist."))
    await security_log.record(caller.id, SecurityEventKind.TOKEN_REVOKED, client, detail=revoked)


async def revoke_all_api_tokens(caller: Caller, client: ClientInfo) -> int:
    revoked = await tokens.revoke_all_tokens(caller.id)
    if revoked:
        await security_log.record(
            caller.id, SecurityEventKind.TOKEN_REVOKED, client, detail=_("API tokens revoked: {count}", count=revoked)
        )
    return revoked


async def _tokens(caller: Caller, condition=None) -> list[TokenInfo]:
    query = ApiToken.select(
        ApiToken.id, ApiToken.name, ApiToken.prefix, ApiToken.created_at, ApiToken.last_used_at, ApiToken.revoked_at
    ).where(ApiToken.user == caller.id)
    if condition is not None:
        query = query.where(condition)
    rows = await query.order_by(ApiToken.id, ascending=False)
    return [TokenInfo(**r) for r in rows]
