"""The points side of a request: what each step of a request does to the points it holds.

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

This module decides and the ticket services apply: it reads a request's holds, pending change
and approval limit and returns a decision — the ledger `Movement` to make, the re-pricing, the
change to answer — which filing, workflow and classification carry out under their lock on the
request, with the history line and the mail that go with it. It writes only the points' own
records (ledger movements through `carry_out`, PointChangeRequest rows) and never imports the
ticket services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.accounts.caller import Caller
from app.errors import Conflict, IllegalTransition, InsufficientPoints, NotAllowed, NotFound, from_domain
from app.i18n import _, format_points
from app.tickets.tables import PointChangeRequest, PointsPolicy
from billing import ledger
from billing.errors import LedgerError
from pricing import services as pricing
from pricing.errors import PricingError


def _key(ticket_id: int, what: str) -> str:
    return f"ticket:{ticket_id}:{what}"


@dataclass(frozen=True, kw_only=True)
class Movement:
    """One movement of a request's points in the ledger, made by `carry_out`."""

    kind: str  # "hold", "increase" (of a hold), "capture" or "release"
    ticket_id: int
    key: str  # the ledger's idempotency key, derived from the request
    reason: str
    points: int | None = None  # hold and increase: how many; release: how many (None: all that is held)
    hold_id: int | None = None  # every kind but "hold"
    organization_id: int | None = None  # "hold"


async def carry_out(movement: Movement | None, actor_id: int | None) -> None:
    """Make `movement` (None: nothing) in the ledger, inside the caller's transaction."""
    if movement is None:
        return
    try:
        if movement.kind == "hold":
            await ledger.hold(movement.organization_id, movement.points, movement.ticket_id, movement.key,
                              actor_id=actor_id, reason=movement.reason)
        elif movement.kind == "increase":
            await ledger.increase_hold(movement.hold_id, movement.points, movement.key, actor_id=actor_id,
                                       reason=movement.reason)
        elif movement.kind == "capture":
            await ledger.capture(movement.hold_id, movement.key, actor_id=actor_id, reason=movement.reason)
        else:
            await ledger.release(movement.hold_id, movement.key, movement.reason, points=movement.points,
                                 actor_id=actor_id)
    except LedgerError as exc:
        error = from_domain(exc)
        if movement.kind == "increase" and isinstance(error, InsufficientPoints):
            raise InsufficientPoints(
                _("The price would rise by {points}, but only {available} are available. Buy more points first.",
                  points=format_points(movement.points), available=format_points(exc.available)),
                required=exc.required, available=exc.available,
            ) from exc
        raise error from exc


async def _open_hold(ticket_id: int) -> dict[str, Any] | None:
    holds = await ledger.holds_of_ticket(ticket_id)
    return next((h for h in holds if h["status"] == "held"), None)


# ---------------------------------------------------------------------------------------------
# Filing and status changes


def filing_hold(ticket_id: int, organization_id: int, points: int) -> Movement | None:
    """Filing holds the quote (nothing for a request that costs nothing). The entry's reason is the
    code "filed" (shown as 「お問い合わせの受付」 beside the request's number): the hold is written
    before the request has its number."""
    if points <= 0:
        return None
    return Movement(kind="hold", ticket_id=ticket_id, key=_key(ticket_id, "hold"), reason="filed", points=points,
                    organization_id=organization_id)


async def settlement(row: dict[str, Any], new_status: str) -> Movement | None:
    """What a status change does to the held points: resolving captures them, cancelling releases
    them; any other change, or points already settled, moves nothing."""
    if new_status not in ("resolved", "cancelled"):
        return None
    hold = await _open_hold(row["id"])
    if hold is None:
        return None
    if new_status == "resolved":
        return Movement(kind="capture", ticket_id=row["id"], key=_key(row["id"], "capture"),
                        reason=f"{row['number']}: resolved", hold_id=hold["id"])
    return Movement(kind="release", ticket_id=row["id"], key=_key(row["id"], "release"),
                    reason=f"{row['number']}: cancelled", hold_id=hold["id"])


# ---------------------------------------------------------------------------------------------
# Waiving the charge


@dataclass(frozen=True, kw_only=True)
class Waiver:
    release: Movement  # all the held points go back
    points: int  # how many
    declines: int | None  # the pending change this answers as declined, if one waits


async def waiver(row: dict[str, Any], reason: str) -> Waiver:
    """Waiving releases every held point, and declines the change waiting for the customer.
    IllegalTransition once the charge is settled (a correction is then a finance adjustment)."""
    hold = await _open_hold(row["id"])
    if hold is None:
        raise IllegalTransition(_(
            "There are no held points to waive: the charge of this request is already settled."
        ), field="reason")
    pending = await pending_change(row["id"])
    release = Movement(kind="release", ticket_id=row["id"], key=_key(row["id"], "waive"),
                       reason=f"{row['number']}: waived ({reason})", hold_id=hold["id"])
    return Waiver(release=release, points=hold["points"], declines=pending["id"] if pending else None)


# ---------------------------------------------------------------------------------------------
# Re-quotes (another type or priority, extra time) and the customer's answer


@dataclass(frozen=True, kw_only=True)
class Repricing:
    """A request priced again by its own point table version, and what becomes of the difference:
    it applies now (a fall, or a rise within the approval limit) or waits for the customer."""

    ticket_id: int
    number: str
    from_code: str
    to_code: str
    from_priority: str
    to_priority: str
    from_extra_minutes: int
    to_extra_minutes: int
    from_points: int
    to_points: int
    applies_now: bool
    hold_id: int | None = None  # the hold that moves (None when the price stays)

    @property
    def changes_price(self) -> bool:
        return self.to_points != self.from_points

    def movement(self, change_id: int, reason: str) -> Movement:
        """The hold grows by a rise or gives back a fall, keyed by the change."""
        return _hold_change(self.ticket_id, self.number, self.hold_id, self.to_points - self.from_points, change_id,
                            reason)


def _hold_change(ticket_id: int, number: str, hold_id: int, increase: int, change_id: int, reason: str) -> Movement:
    key = _key(ticket_id, f"change:{change_id}")
    text = f"{number}: re-quote" + (f" ({reason})" if reason else "")
    if increase > 0:
        return Movement(kind="increase", ticket_id=ticket_id, key=key, reason=text, points=increase, hold_id=hold_id)
    return Movement(kind="release", ticket_id=ticket_id, key=key, reason=text, points=-increase, hold_id=hold_id)


async def approval_limit_of(organization_id: int) -> int:
    row = await PointsPolicy.select(PointsPolicy.approval_limit).where(
        PointsPolicy.organization == organization_id
    ).first()
    return row["approval_limit"] if row else 0


async def pending_change(ticket_id: int) -> dict[str, Any] | None:
    """The PointChangeRequest of the request waiting for the customer's answer, if any."""
    return await PointChangeRequest.select().where(
        (PointChangeRequest.ticket == ticket_id) & (PointChangeRequest.status == "pending")
    ).first()


async def reprice(
    row: dict[str, Any], *, from_code: str, to_code: str, to_priority: str, to_extra_minutes: int
) -> Repricing:
    """Price the locked request (`row`, whose type is `from_code`) as `to_code`, `to_priority` and
    `to_extra_minutes` by its own version. Conflict while another change waits for the customer;
    IllegalTransition when the price would change but the charge is settled."""
    decision = {
        "ticket_id": row["id"], "number": row["number"], "from_code": from_code, "to_code": to_code,
        "from_priority": row["priority"], "to_priority": to_priority,
        "from_extra_minutes": row["extra_minutes"], "to_extra_minutes": to_extra_minutes,
        "from_points": row["quoted_points"],
    }
    if row["price_version"] is None:
        # Filed before pricing: nothing was held, so nothing is re-quoted.
        return Repricing(**decision, to_points=row["quoted_points"], applies_now=True)
    try:
        priced = await pricing.quote_request(to_code, to_priority, to_extra_minutes, version_id=row["price_version"])
    except PricingError as exc:
        raise from_domain(exc) from exc
    if await pending_change(row["id"]) is not None:
        raise Conflict(_(
            "A change of this request's price is waiting for the customer's answer; "
            "wait for it before changing the price again."
        ), field="request_type")
    if priced.points == row["quoted_points"]:
        return Repricing(**decision, to_points=priced.points, applies_now=True)
    hold = await _open_hold(row["id"])
    if hold is None:
        raise IllegalTransition(_(
            "The points of this request are already settled, so its price can no longer change."
        ), field="request_type")
    increase = priced.points - row["quoted_points"]
    applies_now = increase < 0 or increase <= await approval_limit_of(row["organization"])
    return Repricing(**decision, to_points=priced.points, applies_now=applies_now, hold_id=hold["id"])


async def record_change(decision: Repricing, *, kind: str, reason: str, by: int, now: datetime) -> int:
    """Keep a re-pricing that changes the price as a PointChangeRequest of `kind` ("reclassify" or
    "overage"): applied at once, or pending the customer's answer. Returns its id."""
    applied = decision.applies_now
    change = PointChangeRequest(
        ticket=decision.ticket_id, kind=kind, from_points=decision.from_points, to_points=decision.to_points,
        from_request_type=decision.from_code, to_request_type=decision.to_code,
        from_priority=decision.from_priority, to_priority=decision.to_priority,
        from_extra_minutes=decision.from_extra_minutes, to_extra_minutes=decision.to_extra_minutes, reason=reason,
        status="applied" if applied else "pending", requested_by=by, requested_at=now,
        decided_by=by if applied else None, decided_at=now if applied else None,
    )
    await change.save()
    return change.id


def may_decide(caller: Caller, ticket: dict[str, Any]) -> bool:
    """The requester or a customer admin of the request's organisation."""
    return caller.is_customer and caller.organization_id == ticket["organization"] and (
        caller.is_customer_admin or caller.id == ticket["requester"]
    )


async def change_to_answer(caller: Caller, row: dict[str, Any], change_id: int) -> dict[str, Any]:
    """The change `change_id` of the locked request, if it waits and the caller may answer it."""
    change = await PointChangeRequest.select().where(
        (PointChangeRequest.id == change_id) & (PointChangeRequest.ticket == row["id"])
    ).first()
    if change is None:
        raise NotFound(_("This change does not exist."))
    if not may_decide(caller, row):
        raise NotAllowed(_("Only the requester or a customer administrator can answer a change of price."))
    if change["status"] != "pending":
        raise IllegalTransition(_("This change was already answered."), current=change["status"])
    return change


async def approval(row: dict[str, Any], change: dict[str, Any]) -> Movement:
    """Approving a change moves the hold by the difference. IllegalTransition once the charge is
    settled."""
    hold = await _open_hold(row["id"])
    if hold is None:
        raise IllegalTransition(_(
            "The points of this request are already settled, so its price can no longer change."
        ))
    return _hold_change(row["id"], row["number"], hold["id"], change["to_points"] - change["from_points"],
                        change["id"], change["reason"])


async def answer_change(change_id: int, status: str, *, by: int, now: datetime) -> None:
    """Close a waiting change as "approved" or "declined"."""
    await PointChangeRequest.update({
        PointChangeRequest.status: status, PointChangeRequest.decided_by: by, PointChangeRequest.decided_at: now,
    }).where(PointChangeRequest.id == change_id)
