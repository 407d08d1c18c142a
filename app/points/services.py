"""What people see of points: balances, lot lists, the ledger history, the price list, and the
staff's adjustments and the admin's editing of the point table and bundles.

A thin layer over billing.ledger and pricing.services (where the work is): it authorises the
`Caller` (another organisation's points do not exist for a customer: 404), reads text typed into
forms into the plain values those take, adds what a page needs beside them (request numbers,
names of the staff who acted) in one query per page, and turns their refusals into app errors
naming the field (app.errors.from_domain).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from app.accounts.caller import Caller
from app.accounts.services import clean_text, decode_cursor, encode_cursor, reject_control_characters
from app.accounts.tables import Organization, User
from app.admin.services import REQUEST_TYPE_CODE
from app.errors import InvalidInput, NotAllowed, NotFound, from_domain
from app.i18n import N_, _
from app.schema import MAX_ID
from app.settings import get_settings
from app.tickets.tables import Ticket
from billing import clock, ledger
from billing.errors import LedgerError
from pricing import services as pricing
from pricing.errors import NoPointTableInForce, PricingError
from pricing.rules import PRIORITIES, Bundle, PointTable, PriceList, PrioritySurcharge, RequestTypePrice

HISTORY_PAGE_SIZE = 50
ORGANIZATIONS_PAGE_SIZE = 50
REASON_MAX = 500
NAME_MAX = 100
SCOPE_MAX = 2000
# Points of one adjustment, either way: beyond this it is a typo, not a correction.
ADJUSTMENT_MAX = 1_000_000

# English source text, translated where shown.
ENTRY_KINDS = {
    "grant": N_("Granted"),
    "purchase": N_("Purchased"),
    "hold": N_("Held for a request"),
    "capture": N_("Used by a request"),
    "release": N_("Returned from a request"),
    "expire": N_("Expired"),
    "refund": N_("Refunded"),
    "adjustment": N_("Adjustment"),
}
LOT_SOURCES = {"grant": N_("Granted (free)"), "purchase": N_("Paid"), "adjustment": N_("Adjustment")}
PRIORITY_LABELS = {"urgent": N_("Urgent"), "normal": N_("Normal"), "low": N_("Low")}
# The ledger's own reasons for the entries it writes by itself.
LEDGER_REASONS = {"expired": N_("Expiry date passed"), "filed": N_("Request filed")}


def entry_kind_label(kind: str) -> str:
    return _(ENTRY_KINDS.get(kind, kind))


def lot_source_label(source: str) -> str:
    return _(LOT_SOURCES.get(source, source))


def priority_label(priority: str) -> str:
    return _(PRIORITY_LABELS.get(priority, priority))


def refused(exc: LedgerError | PricingError) -> Exception:
    """A ledger or pricing refusal as the app error to show (with the field it is about)."""
    return from_domain(exc)


# ---------------------------------------------------------------------------------------------
# Plain results


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One ledger entry as people read it."""

    id: int
    kind: str
    kind_label: str
    available_delta: int
    held_delta: int
    available_after: int
    held_after: int
    yen: int
    ticket_id: int | None
    ticket_number: str | None
    reason: str
    actor_name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class History:
    items: list[HistoryEntry]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class OrganizationBalance:
    id: int
    code: str
    name: str
    available: int
    held: int


@dataclass(frozen=True, slots=True)
class OrganizationBalances:
    items: list[OrganizationBalance]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class VersionInfo:
    id: int
    number: int
    status: str
    note: str
    effective_from: datetime | None
    published_at: datetime | None
    created_at: datetime
    in_force: bool


# ---------------------------------------------------------------------------------------------
# Reading values typed into forms


def whole_number(value: Any, field: str, *, minimum: int | None = None, maximum: int | None = None,
                 required: bool = True) -> int | None:
    """A whole number typed into a form field (digits, optionally signed), or a message naming it."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value if value is not None else "").strip().replace(",", "")
        if not text:
            if required:
                raise InvalidInput(_("Enter a whole number."), field=field)
            return None
        digits = text[1:] if text[:1] in "+-" else text
        if not digits.isdecimal() or len(digits) > 12:
            raise InvalidInput(_("Enter a whole number."), field=field)
        number = int(text)
    if minimum is not None and number < minimum:
        raise InvalidInput(_("Enter a whole number of at least {minimum}.", minimum=minimum), field=field)
    if maximum is not None and number > maximum:
        raise InvalidInput(_("Enter a whole number of at most {maximum}.", maximum=maximum), field=field)
    return number


def day(value: Any, field: str) -> date | None:
    """A date typed as YYYY/MM/DD (or YYYY-MM-DD); empty means none."""
    if isinstance(value, date) or value is None:
        return value
    text = str(value).strip().replace("/", "-")
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(_("Enter a date as YYYY/MM/DD."), field=field) from None


def text(value: Any, field: str, *, max_length: int, required: bool = False) -> str:
    return clean_text(str(value if value is not None else ""), field, max_length=max_length, required=required)


def parse_code(value: Any, field: str = "code") -> str:
    value = str(value if value is not None else "").strip()
    if not REQUEST_TYPE_CODE.fullmatch(value):
        raise InvalidInput(_("The code must be 1 to 32 letters, digits, \"-\" or \"_\"."), field=field)
    return value


# ---------------------------------------------------------------------------------------------
# Balances and history


async def _visible_organization(caller: Caller, organization_id: int) -> dict[str, Any]:
    if not caller.can_see_organization(organization_id):
        raise NotFound(_("This organisation does not exist."))
    row = await Organization.select(Organization.id, Organization.code, Organization.name).where(
        Organization.id == organization_id
    ).first()
    if row is None:
        raise NotFound(_("This organisation does not exist."))
    return row


async def balance(caller: Caller, organization_id: int) -> ledger.Balance:
    """Available and held points, the lots with points left, and what expires within 30/60/90 days.

    Every member of the organisation may see it (DESIGN.md: members see the balance); staff see
    every organisation's."""
    await _visible_organization(caller, organization_id)
    return await ledger.balance(organization_id)


async def own_balance(caller: Caller) -> ledger.Balance | None:
    """The balance in the portal's header: the customer's own organisation's (None for staff)."""
    if caller.organization_id is None:
        return None
    return await ledger.balance(caller.organization_id)


async def history(caller: Caller, organization_id: int, cursor: str | None = None,
                  limit: int = HISTORY_PAGE_SIZE) -> History:
    """The organisation's ledger entries, newest first, a page at a time.

    Members see the history as well as the balance: they already see every request of their
    company, and the history is what explains the balance."""
    await _visible_organization(caller, organization_id)
    if cursor and not (cursor.isascii() and cursor.isdecimal() and len(cursor) <= 10 and int(cursor) <= MAX_ID):
        raise InvalidInput(_("This page link is not valid. Please start from the first page."), field="cursor")
    page = await ledger.entries(organization_id, cursor=cursor or None, limit=limit)
    ticket_ids = {e.ticket_id for e in page.items if e.ticket_id is not None}
    actor_ids = {e.actor_id for e in page.items if e.actor_id is not None}
    numbers: dict[int, str] = {}
    if ticket_ids:
        rows = await Ticket.select(Ticket.id, Ticket.number).where(
            (Ticket.id.is_in(list(ticket_ids))) & (Ticket.organization == organization_id)
        )
        numbers = {r["id"]: r["number"] for r in rows}
    names: dict[int, str] = {}
    if actor_ids:
        names = {r["id"]: r["name"] for r in await User.select(User.id, User.name).where(User.id.is_in(list(actor_ids)))}
    items = [
        HistoryEntry(
            id=e.id, kind=e.kind, kind_label=entry_kind_label(e.kind), available_delta=e.available_delta,
            held_delta=e.held_delta, available_after=e.available_after, held_after=e.held_after, yen=e.yen,
            ticket_id=e.ticket_id if e.ticket_id in numbers else None, ticket_number=numbers.get(e.ticket_id),
            reason=_(LEDGER_REASONS[e.reason]) if e.reason in LEDGER_REASONS else e.reason,
            actor_name=names.get(e.actor_id) if caller.is_staff else None, created_at=e.created_at,
        )
        for e in page.items
    ]
    return History(items=items, next_cursor=page.next_cursor)


async def organizations_with_balances(caller: Caller, cursor: str | None = None, q: str = "",
                                      limit: int = ORGANIZATIONS_PAGE_SIZE, *,
                                      today: date | None = None) -> OrganizationBalances:
    """Every organisation with its available and held points, newest first: one query a page.

    Available leaves out points whose lot has passed its last day but which the expiry job has
    not reached yet, as `billing.ledger.balance` does."""
    if not caller.is_staff:
        raise NotAllowed(_("This page is for vendor staff."))
    limit = max(1, min(int(limit), 200))
    before = decode_cursor("pb", cursor)
    sql = (
        "SELECT o.id AS id, o.code AS code, o.name AS name, COALESCE(a.available, 0) - COALESCE(("
        "  SELECT SUM(l.remaining) FROM point_lots l"
        "  WHERE l.account = a.id AND l.remaining > 0 AND l.expires_on < {}), 0) AS available,"
        " COALESCE(a.held, 0) AS held"
        " FROM organizations o LEFT JOIN points_accounts a ON a.organization = o.id WHERE 1 = 1"
    )
    args: list[Any] = [today or clock.today()]
    if before is not None:
        sql += " AND o.id < {}"
        args.append(before)
    q = reject_control_characters(q.strip(), "q")[:100]
    if q:
        sql += " AND (LOWER(o.name) LIKE {} OR LOWER(o.code) LIKE {})"
        pattern = "%" + q.lower().replace("\\", "").replace("%", "").replace("_", "") + "%"
        args += [pattern, pattern]
    rows = await Organization.raw(sql + " ORDER BY o.id DESC LIMIT {}", *args, limit + 1)
    items = [
        OrganizationBalance(id=r["id"], code=r["code"], name=r["name"], available=int(r["available"]),
                            held=int(r["held"]))
        for r in rows[:limit]
    ]
    return OrganizationBalances(
        items=items, next_cursor=encode_cursor("pb", items[-1].id) if len(rows) > limit else None
    )


async def organization_name(caller: Caller, organization_id: int) -> dict[str, Any]:
    """The organisation's id, code and name (404 when the caller may not see it)."""
    return await _visible_organization(caller, organization_id)


# ---------------------------------------------------------------------------------------------
# Adjustments and grants (finance and admin)


def ledger_key(caller: Caller, purpose: str, key: str | None) -> str:
    """The ledger's idempotency key for a call made with `key` (an Idempotency-Key header or a
    form's one-time token), or a fresh one when there is none."""
    if not key:
        return f"{purpose}:{uuid.uuid4().hex}"
    return f"{purpose}:{hashlib.sha256(f'{caller.id}:{key}'.encode()).hexdigest()}"


async def adjust(caller: Caller, organization_id: int, *, points: Any, reason: Any, expires_on: Any = None,
                 key: str | None = None, grant: bool = False) -> ledger.Posted:
    """Correct an organisation's balance (finance/admin): +points become a new zero-yen lot,
    expiring on `expires_on` if given; -points are taken from the available lots. With `grant`,
    free points given (compensation, promotion) rather than a correction: positive only.

    The reason is mandatory and shown in the history. The same `key` again replays the first
    result."""
    await _visible_organization(caller, organization_id)
    if not caller.is_finance:
        raise NotAllowed(_("Only finance staff and administrators can adjust points."))
    number = whole_number(points, "points", minimum=-ADJUSTMENT_MAX, maximum=ADJUSTMENT_MAX)
    if number == 0:
        raise InvalidInput(_("Enter a number of points other than 0."), field="points")
    if grant and number < 0:
        raise InvalidInput(_("Granted points must be more than 0; use an adjustment to take points away."),
                           field="points")
    why = text(reason, "reason", max_length=REASON_MAX, required=True)
    expiry = day(expires_on, "expires_on")
    if expiry is not None and number < 0:
        raise InvalidInput(_("Only points added can have an expiry date."), field="expires_on")
    if expiry is not None and expiry < clock.today():
        raise InvalidInput(_("The expiry date has already passed."), field="expires_on")
    try:
        if grant:
            return await ledger.grant(
                organization_id, number, why, expiry, key=ledger_key(caller, "grant", key), actor_id=caller.id
            )
        return await ledger.adjust(
            organization_id, number, why, ledger_key(caller, "adjust", key), expires_on=expiry, actor_id=caller.id
        )
    except LedgerError as exc:
        raise refused(exc) from exc


# ---------------------------------------------------------------------------------------------
# The price list (customers, API, PDF)


async def price_list() -> PriceList | None:
    """The table in force and the bundles on sale; None before any table is published."""
    try:
        return await pricing.price_list()
    except NoPointTableInForce:
        return None


async def bundles_on_sale() -> list[Bundle]:
    return await pricing.bundles()


# ---------------------------------------------------------------------------------------------
# The point table editor (admin)


def _require_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise NotAllowed(_("Only an administrator can do this."))


async def versions(caller: Caller) -> list[VersionInfo]:
    """Every version of the point table, newest first, marking the one in force now."""
    _require_admin(caller)
    try:
        in_force = (await pricing.table_in_force()).id
    except NoPointTableInForce:
        in_force = None
    return [
        VersionInfo(
            id=r["id"], number=r["number"], status=r["status"], note=r["note"], effective_from=r["effective_from"],
            published_at=r["published_at"], created_at=r["created_at"], in_force=r["id"] == in_force,
        )
        for r in await pricing.versions()
    ]


async def version(caller: Caller, number: int) -> tuple[VersionInfo, PointTable]:
    """One version (by its number) and its table."""
    for info in await versions(caller):
        if info.number == number:
            try:
                return info, await pricing.table_version(info.id)
            except PricingError as exc:
                raise refused(exc) from exc
    raise NotFound(_("There is no version {number} of the point table.", number=number))


async def version_for_document(caller: Caller, number: int) -> PointTable:
    """The table of a version for its PDF (staff may hand out any version)."""
    _info, table = await version(caller, number)
    return table


async def create_draft(caller: Caller, note: Any = "") -> VersionInfo:
    """A new draft, starting as a copy of the version in force (or of the latest, if none is)."""
    _require_admin(caller)
    note = text(note, "note", max_length=200)
    try:
        copy_from = (await pricing.table_in_force()).id
    except NoPointTableInForce:
        copy_from = None
    version_id = await pricing.create_draft(note, copy_from=copy_from)
    return next(v for v in await versions(caller) if v.id == version_id)


async def _draft(caller: Caller, number: int) -> VersionInfo:
    info, _table = await version(caller, number)
    if info.status != "draft":
        raise InvalidInput(
            _("Version {number} of the point table is published and can no longer be changed; make a new draft.",
              number=number),
            field="form",
        )
    return info


def request_type_price(values: Mapping[str, Any]) -> RequestTypePrice:
    """A point table line from a form (each figure checked, with the field named on refusal)."""
    code_ = parse_code(values.get("code"))
    # Bounded like the points: the columns are INTEGER (a larger figure would fail the insert).
    included = whole_number(values.get("included_minutes"), "included_minutes", minimum=0, maximum=100_000,
                            required=False)
    block = whole_number(values.get("block_minutes"), "block_minutes", minimum=1, maximum=100_000, required=False)
    per_block = whole_number(values.get("points_per_block"), "points_per_block", minimum=1, maximum=100_000,
                             required=False)
    overage = (included, block, per_block)
    if any(v is not None for v in overage) and any(v is None for v in overage):
        missing = next(name for name, v in zip(("included_minutes", "block_minutes", "points_per_block"), overage)
                       if v is None)
        raise InvalidInput(
            _("Included minutes, block minutes and points per block go together: give all three or none."),
            field=missing,
        )
    try:
        return RequestTypePrice(
            code=code_,
            name_ja=text(values.get("name_ja"), "name_ja", max_length=NAME_MAX, required=True),
            name_en=text(values.get("name_en"), "name_en", max_length=NAME_MAX, required=True),
            points=whole_number(values.get("points"), "points", minimum=0, maximum=100_000),
            scope_ja=text(values.get("scope_ja"), "scope_ja", max_length=SCOPE_MAX),
            scope_en=text(values.get("scope_en"), "scope_en", max_length=SCOPE_MAX),
            included_minutes=included,
            block_minutes=block,
            points_per_block=per_block,
        )
    except PricingError as exc:
        raise refused(exc) from exc


async def set_request_type(caller: Caller, number: int, values: Mapping[str, Any]) -> RequestTypePrice:
    """Add or change one request type's line in a draft (by its code)."""
    info = await _draft(caller, number)
    price = request_type_price(values)
    sort_order = whole_number(values.get("sort_order") or 0, "sort_order", minimum=0, maximum=10_000)
    try:
        await pricing.set_request_type(info.id, price, sort_order=sort_order)
    except PricingError as exc:
        raise refused(exc) from exc
    return price


async def remove_request_type(caller: Caller, number: int, code: str) -> None:
    info = await _draft(caller, number)
    try:
        await pricing.remove_request_type(info.id, code)
    except PricingError as exc:
        raise refused(exc) from exc


async def set_surcharges(caller: Caller, number: int, values: Mapping[str, Any]) -> None:
    """The priority surcharges of a draft, one field per priority (empty means 0)."""
    info = await _draft(caller, number)
    surcharges = [
        PrioritySurcharge(p, whole_number(values.get(p) or 0, p, minimum=0, maximum=100_000)) for p in PRIORITIES
    ]
    try:
        for surcharge in surcharges:
            await pricing.set_surcharge(info.id, surcharge)
    except PricingError as exc:
        raise refused(exc) from exc


async def publish(caller: Caller, number: int, effective_on: Any = None) -> PointTable:
    """Publish a draft, in force now (no date, or today) or from the start of a later day in the
    vendor's time zone. Requests already filed keep the version they were priced by."""
    info = await _draft(caller, number)
    starts_on = day(effective_on, "effective_on")
    effective_from = None
    if starts_on is not None:
        today = clock.today()
        if starts_on < today:
            raise InvalidInput(_("A point table cannot take effect in the past."), field="effective_on")
        if starts_on > today:
            effective_from = datetime.combine(starts_on, time(0), get_settings().zone).astimezone(UTC)
    try:
        return await pricing.publish(info.id, effective_from)
    except PricingError as exc:
        raise refused(exc) from exc


# ---------------------------------------------------------------------------------------------
# Bundles (admin)


async def all_bundles(caller: Caller) -> list[Bundle]:
    _require_admin(caller)
    return await pricing.bundles(active_only=False)


async def get_bundle(caller: Caller, code: str) -> Bundle:
    _require_admin(caller)
    for bundle in await pricing.bundles(active_only=False):
        if bundle.code == code:
            return bundle
    raise NotFound(_("There is no bundle {code}.", code=code))


async def save_bundle(caller: Caller, values: Mapping[str, Any], *, code: str | None = None) -> Bundle:
    """Add a bundle (`code` None: the form's code, which must be new) or change bundle `code`."""
    _require_admin(caller)
    existing = {b.code for b in await pricing.bundles(active_only=False)}
    if code is None:
        code = parse_code(values.get("code"))
        if code in existing:
            raise InvalidInput(_("A bundle with the code {code} already exists.", code=code), field="code")
    elif code not in existing:
        raise NotFound(_("There is no bundle {code}.", code=code))
    min_quantity = whole_number(values.get("min_quantity") or 1, "min_quantity", minimum=1, maximum=100_000)
    max_quantity = whole_number(values.get("max_quantity"), "max_quantity", minimum=1, maximum=100_000,
                                required=False)
    if max_quantity is not None and max_quantity < min_quantity:
        raise InvalidInput(_("The maximum quantity cannot be below the minimum quantity."), field="max_quantity")
    active = values.get("active")
    try:
        bundle = Bundle(
            code=code,
            name_ja=text(values.get("name_ja"), "name_ja", max_length=NAME_MAX, required=True),
            name_en=text(values.get("name_en"), "name_en", max_length=NAME_MAX, required=True),
            points=whole_number(values.get("points"), "points", minimum=1, maximum=1_000_000),
            price_jpy=whole_number(values.get("price_jpy"), "price_jpy", minimum=0, maximum=1_000_000_000),
            tax_rate=whole_number(values.get("tax_rate"), "tax_rate", minimum=0, maximum=100),
            validity_months=whole_number(values.get("validity_months"), "validity_months", minimum=1, maximum=120),
            min_quantity=min_quantity,
            max_quantity=max_quantity,
            active=active if isinstance(active, bool) else str(active or "") not in ("", "0", "off", "false"),
        )
        await pricing.save_bundle(bundle, sort_order=whole_number(values.get("sort_order") or 0, "sort_order",
                                                                  minimum=0, maximum=10_000))
    except PricingError as exc:
        raise refused(exc) from exc
    return bundle


def expiring_label_days() -> tuple[int, ...]:
    return ledger.EXPIRY_WINDOWS


def today() -> date:
    return clock.today()


def days_until(expires_on: date | None) -> int | None:
    return None if expires_on is None else (expires_on - clock.today()).days

