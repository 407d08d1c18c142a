"""Requests and points: every support request holds, captures or releases points.

Where a request's price comes from (the single source of truth):

- The **point table version in force** (pricing/) says which request types can be filed and what
  each is called, covers (its scope) and costs. The portal's form, the console's reclassify list
  and the price shown next to a request all read it through this module.
- **RequestType** (app/tickets/tables.py) is only the stable registry of codes that requests
  point to, so that a request keeps its type when a later table drops it. Filing a code that the
  table in force prices but the registry does not know yet registers it, and its names follow the
  table in force (`register_request_types`). An administrator who deactivates a code in the
  registry withdraws it from filing even while a table still prices it.
- A filed request keeps the **version that priced it** (`Ticket.price_version`) forever and its
  **current price** in `Ticket.quoted_points`: re-quotes (another type or priority, extra work)
  are priced by that same version, so publishing a new table never changes a filed request.

What happens to the points (billing.ledger; idempotency keys derive from the request):

- filing quotes the request and holds the quote in the same transaction (`ticket:{id}:hold`);
  not enough points → the whole filing is rolled back (402 with `required` and `available`);
- resolving captures the hold (`ticket:{id}:capture`); a request reopened after that keeps its
  charge, and closing it changes nothing;
- cancelling releases the hold (`ticket:{id}:release`); an agent may waive the charge with a
  reason while the points are still held (`ticket:{id}:waive`), which releases them too — after
  the charge is captured a correction is a finance adjustment;
- a re-quote that lowers the price releases the difference at once; one that raises it applies
  at once when the rise is within the organisation's approval limit (PointsPolicy, set by a
  customer admin in the portal), otherwise it becomes a pending PointChangeRequest that the
  **requester or a customer admin** of the organisation approves (the hold grows by the
  difference) or declines (nothing changes). Only one change waits at a time; once the charge is
  settled (captured, released or waived) the price no longer changes;
- a reply to a closed request starts a follow-up request: a new request, quoted by the table in
  force and holding its own points like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app import db
from app.accounts.caller import Caller
from app.accounts.services import reject_control_characters
from app.errors import Conflict, IllegalTransition, InsufficientPoints, InvalidInput, NotAllowed, NotFound, from_domain
from app.i18n import _, current_locale, format_number, format_points, ngettext
from app.notifications import services as notify
from app.tickets.tables import PointChangeRequest, PointsPolicy, RequestType, Ticket, TicketEvent
from billing import ledger
from billing.errors import LedgerError
from billing.tables import LedgerEntry
from pricing import services as pricing
from pricing.errors import PricingError
from pricing.rules import PointTable, Quote, RequestTypePrice

# Where a customer short of points goes to buy more (members are told to ask their admin there).
BALANCE_PATH = "/portal/purchase"
REASON_MAX = 1000
EXTRA_MINUTES_MAX = 10000
APPROVAL_LIMIT_MAX = 100000


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, kw_only=True)
class PricedType:
    """A request type as the point table prices it, named in the current locale."""

    code: str
    name: str
    scope: str
    points: int
    included_minutes: int | None
    block_minutes: int | None
    points_per_block: int | None

    @classmethod
    def of(cls, price: RequestTypePrice) -> PricedType:
        locale = current_locale()
        return cls(
            code=price.code, name=price.name(locale) or price.name_ja, scope=price.scope(locale) or price.scope_ja,
            points=price.points, included_minutes=price.included_minutes, block_minutes=price.block_minutes,
            points_per_block=price.points_per_block,
        )


@dataclass(frozen=True, kw_only=True)
class FilingPrice:
    """What the new-request form shows before sending: the price and what the company has."""

    request_type: PricedType | None
    quote: Quote | None
    available: int
    held: int

    @property
    def points(self) -> int:
        return self.quote.points if self.quote else 0

    @property
    def enough(self) -> bool:
        return self.quote is None or self.available >= self.quote.points

    @property
    def shortfall(self) -> int:
        return max(0, self.points - self.available)


@dataclass(frozen=True, kw_only=True)
class ChangeView:
    id: int
    kind: str
    status: str
    from_points: int
    to_points: int
    from_request_type: str
    to_request_type: str
    from_priority: str
    to_priority: str
    from_extra_minutes: int
    to_extra_minutes: int
    reason: str
    requested_by_name: str
    requested_at: datetime
    decided_by_name: str | None
    decided_at: datetime | None

    @property
    def increase(self) -> int:
        return self.to_points - self.from_points


@dataclass(frozen=True, kw_only=True)
class PointsLine:
    """One line of a request's points story: when, who, what, why."""

    at: datetime
    actor_name: str | None
    text: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class PointsStory:
    """A request's points: its quote and what became of it, line by line."""

    priced: bool
    version_number: int | None
    quoted: int
    extra_minutes: int
    held: int
    captured: int
    released: int
    waived: bool
    waive_reason: str
    pending_change: ChangeView | None
    changes: tuple[ChangeView, ...]
    lines: tuple[PointsLine, ...]
    can_decide: bool  # the caller may approve or decline the pending change

    @property
    def settled(self) -> bool:
        return self.priced and self.held == 0 and (self.captured > 0 or self.released > 0)


# ---------------------------------------------------------------------------------------------
# The point table as the forms see it


async def table_in_force() -> PointTable:
    try:
        return await pricing.table_in_force()
    except PricingError as exc:
        raise from_domain(exc) from exc


async def fileable_types() -> list[PricedType]:
    """The request types a customer can file now: priced by the table in force and not withdrawn
    in the registry. Empty when no table is in force."""
    try:
        table = await pricing.table_in_force()
    except PricingError:
        return []
    withdrawn = {
        r["code"] for r in await RequestType.select(RequestType.code).where(RequestType.is_active == False)  # noqa: E712
    }
    return [PricedType.of(t) for t in table.request_types if t.code not in withdrawn]


async def types_of_version(version_id: int | None) -> list[PricedType]:
    """The request types a filed request can be reclassified to: those of its own version."""
    if version_id is None:
        return await fileable_types()
    try:
        table = await pricing.table_version(version_id)
    except PricingError as exc:
        raise from_domain(exc) from exc
    return [PricedType.of(t) for t in table.request_types]


async def register_request_types(table: PointTable) -> None:
    """Make the registry know every code of `table`, named as the table names it (idempotent)."""
    known = {
        r["code"]: r
        for r in await RequestType.select(RequestType.code, RequestType.name_ja, RequestType.name_en).where(
            RequestType.code.is_in([t.code for t in table.request_types] or ["-"])
        )
    }
    for order, price in enumerate(table.request_types, start=1):
        row = known.get(price.code)
        if row is None:
            await RequestType.insert(
                RequestType(code=price.code, name_ja=price.name_ja, name_en=price.name_en, sort_order=order * 10)
            ).on_conflict(target=RequestType.code, action="DO NOTHING")
        elif (row["name_ja"], row["name_en"]) != (price.name_ja, price.name_en):
            await RequestType.update({RequestType.name_ja: price.name_ja, RequestType.name_en: price.name_en}).where(
                RequestType.code == price.code
            )


async def filing_price(caller: Caller, code: str | None, priority: str = "normal") -> FilingPrice:
    """The price of a request about to be filed and the organisation's balance (for the form)."""
    organization_id = caller.organization_id
    balance = await ledger.balance(organization_id) if organization_id else None
    available, held = (balance.available, balance.held) if balance else (0, 0)
    if not code:
        return FilingPrice(request_type=None, quote=None, available=available, held=held)
    try:
        table = await pricing.table_in_force()
        price = table.request_type(code)
        quote = table.quote(code, priority if priority in ("urgent", "normal", "low") else "normal")
    except PricingError:
        return FilingPrice(request_type=None, quote=None, available=available, held=held)
    return FilingPrice(request_type=PricedType.of(price), quote=quote, available=available, held=held)


async def quote_for_filing(code: str, priority: str) -> pricing.PricedRequest:
    """Quote a request by the table in force (and keep the registry in step with that table)."""
    try:
        table = await pricing.table_in_force()
        quote = table.quote(code, priority)
    except PricingError as exc:
        raise from_domain(exc) from exc
    await register_request_types(table)
    return pricing.PricedRequest(quote=quote, version_id=table.id)


# ---------------------------------------------------------------------------------------------
# Inside the ticket services' write transactions


def _key(ticket_id: int, what: str) -> str:
    return f"ticket:{ticket_id}:{what}"


async def hold_for_new_ticket(*, ticket_id: int, organization_id: int, points: int, actor_id: int) -> None:
    """Hold the quote of a request just inserted (same transaction: a refusal undoes the filing).
    The entry's reason is the code "filed" (shown as 「お問い合わせの受付」 beside the request's
    number): the hold is written before the request has its number."""
    if points <= 0:
        return
    try:
        await ledger.hold(
            organization_id, points, ticket_id, _key(ticket_id, "hold"), actor_id=actor_id,
            reason="filed",
        )
    except LedgerError as exc:
        raise from_domain(exc) from exc


async def _open_hold(ticket_id: int) -> dict[str, Any] | None:
    holds = await ledger.holds_of_ticket(ticket_id)
    return next((h for h in holds if h["status"] == "held"), None)


async def settle_for_status(row: dict[str, Any], old: str, new: str, actor_id: int | None) -> None:
    """After a status change inside its transaction: resolving captures, cancelling releases."""
    if new not in ("resolved", "cancelled"):
        return
    hold = await _open_hold(row["id"])
    if hold is None:
        return
    try:
        if new == "resolved":
            await ledger.capture(
                hold["id"], _key(row["id"], "capture"), actor_id=actor_id, reason=f"{row['number']}: resolved"
            )
        else:
            await ledger.release(
                hold["id"], _key(row["id"], "release"), f"{row['number']}: cancelled", actor_id=actor_id
            )
    except LedgerError as exc:
        raise from_domain(exc) from exc


# ---------------------------------------------------------------------------------------------
# Re-quotes


@dataclass(frozen=True, kw_only=True)
class Requote:
    """What a re-quote did: `applied` (the price and classification changed now) or a pending
    change waiting for the customer (`change_id`)."""

    applied: bool
    change_id: int | None
    from_points: int
    to_points: int


async def _codes(ids: list[int]) -> dict[int, str]:
    rows = await RequestType.select(RequestType.id, RequestType.code).where(RequestType.id.is_in(ids or [-1]))
    return {r["id"]: r["code"] for r in rows}


async def approval_limit_of(organization_id: int) -> int:
    row = await PointsPolicy.select(PointsPolicy.approval_limit).where(
        PointsPolicy.organization == organization_id
    ).first()
    return row["approval_limit"] if row else 0


async def _pending(ticket_id: int) -> dict[str, Any] | None:
    return await PointChangeRequest.select().where(
        (PointChangeRequest.ticket == ticket_id) & (PointChangeRequest.status == "pending")
    ).first()


async def requote(
    caller: Caller, row: dict[str, Any], *, kind: str, to_code: str, to_priority: str, to_extra_minutes: int,
    reason: str, now: datetime,
) -> Requote:
    """Inside the ticket's write transaction (row locked): price the request again by its own
    version and apply or propose the difference (see the module docstring).

    The caller (ticket services) saves the classification only when `applied` is true.
    """
    from_points = row["quoted_points"]
    from_code = (await _codes([row["request_type"]]))[row["request_type"]]
    if row["price_version"] is None:
        # Filed before pricing: nothing was held, so nothing is re-quoted.
        return Requote(applied=True, change_id=None, from_points=from_points, to_points=from_points)
    try:
        priced = await pricing.quote_request(
            to_code, to_priority, to_extra_minutes, version_id=row["price_version"]
        )
    except PricingError as exc:
        raise from_domain(exc) from exc
    to_points = priced.points
    if await _pending(row["id"]) is not None:
        raise Conflict(_(
            "A change of this request's price is waiting for the customer's answer; "
            "wait for it before changing the price again."
        ), field="request_type")
    if to_points == from_points:
        return Requote(applied=True, change_id=None, from_points=from_points, to_points=to_points)
    hold = await _open_hold(row["id"])
    if hold is None:
        raise IllegalTransition(_(
            "The points of this request are already settled, so its price can no longer change."
        ), field="request_type")
    increase = to_points - from_points
    limit = await approval_limit_of(row["organization"])
    applies_now = increase < 0 or increase <= limit
    change = PointChangeRequest(
        ticket=row["id"], kind=kind, from_points=from_points, to_points=to_points, from_request_type=from_code,
        to_request_type=to_code, from_priority=row["priority"], to_priority=to_priority,
        from_extra_minutes=row["extra_minutes"], to_extra_minutes=to_extra_minutes, reason=reason,
        status="applied" if applies_now else "pending", requested_by=caller.id, requested_at=now,
        decided_by=caller.id if applies_now else None, decided_at=now if applies_now else None,
    )
    await change.save()
    if applies_now:
        await _move_hold(hold["id"], row, increase, change.id, caller.id, reason)
        await _event(row["id"], caller.id, "points_requoted", {
            "change": change.id, "from": from_points, "to": to_points, "reason": reason,
        }, now)
        return Requote(applied=True, change_id=change.id, from_points=from_points, to_points=to_points)
    await _event(row["id"], caller.id, "points_change_requested", {
        "change": change.id, "from": from_points, "to": to_points, "reason": reason,
    }, now)
    await notify.point_change_pending(row["id"], change.id)
    return Requote(applied=False, change_id=change.id, from_points=from_points, to_points=to_points)


async def _move_hold(hold_id: int, row: dict[str, Any], increase: int, change_id: int, actor_id: int,
                     reason: str) -> None:
    key = _key(row["id"], f"change:{change_id}")
    text = f"{row['number']}: re-quote" + (f" ({reason})" if reason else "")
    try:
        if increase > 0:
            await ledger.increase_hold(hold_id, increase, key, actor_id=actor_id, reason=text)
        else:
            await ledger.release(hold_id, key, text, points=-increase, actor_id=actor_id)
    except LedgerError as exc:
        error = from_domain(exc)
        if isinstance(error, InsufficientPoints):
            raise InsufficientPoints(
                _("The price would rise by {points}, but only {available} are available. Buy more points first.",
                  points=format_points(increase), available=format_points(exc.available)),
                required=exc.required, available=exc.available,
            ) from exc
        raise error from exc


async def _event(ticket_id: int, actor_id: int | None, kind: str, detail: dict[str, Any], now: datetime) -> None:
    await TicketEvent.insert(TicketEvent(ticket=ticket_id, actor=actor_id, kind=kind, detail=detail, created_at=now))


def clean_reason(reason: str | None, *, required: bool) -> str:
    text = " ".join(reject_control_characters(reason or "", "reason").split())
    if required and not text:
        raise InvalidInput(_("Please give a reason."), field="reason")
    if len(text) > REASON_MAX:
        raise InvalidInput(_("The reason is too long (at most {max} characters).", max=REASON_MAX), field="reason")
    return text


def clean_extra_minutes(minutes: Any) -> int:
    text = str(minutes if minutes is not None else "").strip()
    if not text.isascii() or not text.isdecimal() or len(text) > 6 or not 1 <= int(text) <= EXTRA_MINUTES_MAX:
        raise InvalidInput(
            _("Extra time must be a whole number of minutes between 1 and {max}.", max=EXTRA_MINUTES_MAX),
            field="extra_minutes",
        )
    return int(text)


# ---------------------------------------------------------------------------------------------
# The customer's answer to a pending change


def may_decide(caller: Caller, ticket: dict[str, Any]) -> bool:
    """The requester or a customer admin of the request's organisation."""
    return caller.is_customer and caller.organization_id == ticket["organization"] and (
        caller.is_customer_admin or caller.id == ticket["requester"]
    )


async def decide_change(caller: Caller, ticket_id: int, change_id: int, *, approve: bool) -> ChangeView:
    """Approve (the hold grows, the new classification applies) or decline (nothing changes)."""
    from app.tickets import services as tickets

    now = datetime.now(UTC)
    async with db.write_transaction():
        row = await tickets.lock_ticket(caller, ticket_id)
        change = await PointChangeRequest.select().where(
            (PointChangeRequest.id == change_id) & (PointChangeRequest.ticket == ticket_id)
        ).first()
        if change is None:
            raise NotFound(_("This change does not exist."))
        if not may_decide(caller, row):
            raise NotAllowed(_("Only the requester or a customer administrator can answer a change of price."))
        if change["status"] != "pending":
            raise IllegalTransition(_("This change was already answered."), current=change["status"])
        if approve:
            hold = await _open_hold(ticket_id)
            if hold is None:
                raise IllegalTransition(_(
                    "The points of this request are already settled, so its price can no longer change."
                ))
            await _move_hold(hold["id"], row, change["to_points"] - change["from_points"], change_id, caller.id,
                             change["reason"])
            to_type = await tickets.request_type_id(change["to_request_type"], active_only=False)
            await tickets.apply_classification(
                caller, row, request_type_id=to_type, priority=change["to_priority"],
                extra_minutes=change["to_extra_minutes"], quoted_points=change["to_points"], now=now,
            )
        status = "approved" if approve else "declined"
        await PointChangeRequest.update({
            PointChangeRequest.status: status, PointChangeRequest.decided_by: caller.id,
            PointChangeRequest.decided_at: now,
        }).where(PointChangeRequest.id == change_id)
        await _event(ticket_id, caller.id, f"points_change_{status}", {
            "change": change_id, "from": change["from_points"], "to": change["to_points"],
        }, now)
    return (await _changes(ticket_id, change_id))[0]


# ---------------------------------------------------------------------------------------------
# Waiving the charge (staff)


async def waive(caller: Caller, ticket_id: int, reason: str, *, version: int | None = None) -> None:
    """Release the request's held points (the vendor does not charge it), with a reason."""
    from app.tickets import services as tickets

    if not caller.is_staff:
        raise NotAllowed(_("Only our staff can waive the charge of a request."))
    reason = clean_reason(reason, required=True)
    now = datetime.now(UTC)
    async with db.write_transaction():
        row = await tickets.lock_ticket(caller, ticket_id, version)
        hold = await _open_hold(ticket_id)
        if hold is None:
            raise IllegalTransition(_(
                "There are no held points to waive: the charge of this request is already settled."
            ), field="reason")
        pending = await _pending(ticket_id)
        if pending is not None:
            await PointChangeRequest.update({
                PointChangeRequest.status: "declined", PointChangeRequest.decided_by: caller.id,
                PointChangeRequest.decided_at: now,
            }).where(PointChangeRequest.id == pending["id"])
        try:
            await ledger.release(
                hold["id"], _key(ticket_id, "waive"), f"{row['number']}: waived ({reason})", actor_id=caller.id
            )
        except LedgerError as exc:
            raise from_domain(exc) from exc
        await tickets.touch(row, now)
        await _event(ticket_id, caller.id, "points_waived", {"points": hold["points"], "reason": reason}, now)


async def request_overage(
    caller: Caller, ticket_id: int, minutes: Any, reason: str, *, version: int | None = None
) -> Requote:
    """An agent asks for `minutes` more work beyond what the request type includes."""
    from app.tickets import services as tickets

    if not caller.is_staff:
        raise NotAllowed(_("Only our staff can ask for extra time."))
    minutes = clean_extra_minutes(minutes)
    reason = clean_reason(reason, required=True)
    now = datetime.now(UTC)
    async with db.write_transaction():
        row = await tickets.lock_ticket(caller, ticket_id, version)
        if row["status"] in ("closed", "cancelled"):
            raise IllegalTransition(_("A {status} request takes no extra time.",
                                      status=tickets.status_label(row["status"])), field="extra_minutes")
        code = (await _codes([row["request_type"]]))[row["request_type"]]
        outcome = await requote(
            caller, row, kind="overage", to_code=code, to_priority=row["priority"],
            to_extra_minutes=row["extra_minutes"] + minutes, reason=reason, now=now,
        )
        if outcome.applied:
            await tickets.apply_classification(
                caller, row, request_type_id=row["request_type"], priority=row["priority"],
                extra_minutes=row["extra_minutes"] + minutes, quoted_points=outcome.to_points, now=now,
            )
        else:
            await tickets.touch(row, now)
    return outcome


# ---------------------------------------------------------------------------------------------
# Approval limit (customer admin)


async def set_approval_limit(caller: Caller, limit: Any) -> int:
    """The customer admin's limit: price rises up to this many points apply without asking."""
    if not caller.is_customer_admin or caller.organization_id is None:
        raise NotAllowed(_("Only a customer administrator can change the approval limit."))
    text = str(limit if limit is not None else "").strip()
    if not text.isascii() or not text.isdecimal() or len(text) > 7 or int(text) > APPROVAL_LIMIT_MAX:
        raise InvalidInput(
            _("The approval limit must be a whole number of points between 0 and {max}.", max=APPROVAL_LIMIT_MAX),
            field="approval_limit",
        )
    value, now = int(text), datetime.now(UTC)
    async with db.write_transaction():
        updated = await PointsPolicy.update({
            PointsPolicy.approval_limit: value, PointsPolicy.updated_by: caller.id, PointsPolicy.updated_at: now,
        }).where(PointsPolicy.organization == caller.organization_id).returning(PointsPolicy.id)
        if not updated:
            await PointsPolicy.insert(PointsPolicy(
                organization=caller.organization_id, approval_limit=value, updated_by=caller.id, updated_at=now,
            ))
    return value


async def approval_limit(caller: Caller) -> int:
    if caller.organization_id is None:
        raise NotFound(_("This page does not exist."))
    return await approval_limit_of(caller.organization_id)


# ---------------------------------------------------------------------------------------------
# The points story of a request


async def _changes(ticket_id: int, change_id: int | None = None) -> list[ChangeView]:
    query = PointChangeRequest.select(
        *PointChangeRequest.all_columns(),
        PointChangeRequest.requested_by.name.as_alias("requested_by_name"),
        PointChangeRequest.decided_by.name.as_alias("decided_by_name"),
    ).where(PointChangeRequest.ticket == ticket_id).order_by(PointChangeRequest.id)
    if change_id is not None:
        query = query.where(PointChangeRequest.id == change_id)
    return [
        ChangeView(
            id=c["id"], kind=c["kind"], status=c["status"], from_points=c["from_points"], to_points=c["to_points"],
            from_request_type=c["from_request_type"], to_request_type=c["to_request_type"],
            from_priority=c["from_priority"], to_priority=c["to_priority"],
            from_extra_minutes=c["from_extra_minutes"], to_extra_minutes=c["to_extra_minutes"], reason=c["reason"],
            requested_by_name=c["requested_by_name"] or "", requested_at=c["requested_at"],
            decided_by_name=c["decided_by_name"], decided_at=c["decided_at"],
        )
        for c in await query
    ]


def _entry_text(kind: str, key: str, points: int) -> str:
    what = key.rsplit(":", 1)[-1] if not key.startswith("~") else ""
    n, shown = points, format_number(points)
    if kind == "hold":
        if ":change:" in key:
            return ngettext("{points} more point held (re-quote)",
                            "{points} more points held (re-quote)", n, points=shown)
        return ngettext("{points} point held for the quote", "{points} points held for the quote", n, points=shown)
    if kind == "capture":
        return ngettext("{points} point charged (resolved)", "{points} points charged (resolved)", n, points=shown)
    if kind == "release":
        if what == "waive":
            return ngettext("{points} point released: the charge was waived",
                            "{points} points released: the charge was waived", n, points=shown)
        if what == "release":
            return ngettext("{points} point released (cancelled)",
                            "{points} points released (cancelled)", n, points=shown)
        if ":change:" in key:
            return ngettext("{points} point released (lower re-quote)", "{points} points released (lower re-quote)", n,
                            points=shown)
        return ngettext("{points} point released", "{points} points released", n, points=shown)
    if kind == "expire":
        return ngettext("{points} released point expired with its lot",
                        "{points} released points expired with their lot", n, points=shown)
    return f"{kind} {points}"


def _change_text(change: ChangeView) -> str:
    if change.kind == "overage":
        return ngettext("Extra time {minutes} min: {old} → {new} point",
                        "Extra time {minutes} min: {old} → {new} points",
                        change.to_points, minutes=change.to_extra_minutes - change.from_extra_minutes,
                        old=format_number(change.from_points), new=format_number(change.to_points))
    return ngettext("Re-quote: {old} → {new} point", "Re-quote: {old} → {new} points", change.to_points,
                    old=format_number(change.from_points), new=format_number(change.to_points))


def _decision_text(change: ChangeView) -> str:
    return {
        "pending": _("waiting for the customer's approval"),
        "approved": _("approved by the customer"),
        "declined": _("declined"),
        "applied": _("applied at once"),
    }.get(change.status, change.status)


async def points_story(caller: Caller, ticket_id: int) -> PointsStory:
    """The points story of a request the caller can see."""
    row = await Ticket.select(
        Ticket.price_version, Ticket.price_version.number.as_alias("version_number"), Ticket.quoted_points,
        Ticket.extra_minutes, Ticket.organization, Ticket.requester,
    ).where(Ticket.id == ticket_id).first()
    if row is None or not caller.can_see_organization(row["organization"]):
        raise NotFound(_("This request does not exist."))
    holds = await ledger.holds_of_ticket(ticket_id)
    # Joined here: billing's entries keep only the actor's id (billing does not know app's users).
    entries = await LedgerEntry.raw(
        "SELECT e.kind, e.points, e.reason, e.idempotency_key, e.created_at, u.name AS actor_name "
        "FROM ledger_entries e LEFT JOIN users u ON u.id = e.actor WHERE e.ticket_id = {} ORDER BY e.id",
        ticket_id,
    )
    changes = await _changes(ticket_id)
    lines: list[PointsLine] = []
    waive_reason = ""
    waived = False
    for e in entries:
        reason = ""
        if e["idempotency_key"].endswith(":waive"):
            waived = True
            reason = e["reason"].split("(", 1)[-1].rstrip(")") if "(" in e["reason"] else ""
            waive_reason = reason
        lines.append(PointsLine(
            at=e["created_at"], actor_name=e["actor_name"], text=_entry_text(e["kind"], e["idempotency_key"], e["points"]),
            reason=reason,
        ))
    for c in changes:
        lines.append(PointsLine(at=c.requested_at, actor_name=c.requested_by_name, text=_change_text(c), reason=c.reason))
        if c.status in ("approved", "declined"):
            lines.append(PointsLine(at=c.decided_at, actor_name=c.decided_by_name,
                                    text=_change_text(c) + " · " + _decision_text(c)))
    lines.sort(key=lambda line: line.at)
    pending = next((c for c in changes if c.status == "pending"), None)
    return PointsStory(
        priced=row["price_version"] is not None,
        version_number=row["version_number"],
        quoted=row["quoted_points"],
        extra_minutes=row["extra_minutes"],
        held=sum(h["points"] for h in holds),
        captured=sum(h["captured"] for h in holds),
        released=sum(h["released"] for h in holds),
        waived=waived,
        waive_reason=waive_reason,
        pending_change=pending,
        changes=tuple(changes),
        lines=tuple(lines),
        can_decide=pending is not None and may_decide(caller, row),
    )


def decision_text(change: ChangeView) -> str:
    return _decision_text(change)


async def pending_change_of(ticket_id: int) -> ChangeView | None:
    pending = await _pending(ticket_id)
    return (await _changes(ticket_id, pending["id"]))[0] if pending else None


async def price_version_of(ticket_id: int) -> int | None:
    row = await Ticket.select(Ticket.price_version).where(Ticket.id == ticket_id).first()
    return row["price_version"] if row else None
