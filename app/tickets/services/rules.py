"""The status machine of a request and the words for its statuses, priorities and categories (pure).

    new ──→ open ──→ waiting ──→ resolved ──→ closed (final)
     │        ↑ ╲______↗ │          │  ↑
     │        └──────────┴──────────┘  └─ auto-close job after settings.auto_close_after_days
     └─→ cancelled (final), also from open/waiting while no staff member has replied publicly

- staff: new→open, open→waiting, waiting→open, open/waiting→resolved, resolved→open (reopen),
  resolved→closed, and cancel before work starts;
- customers: resolve their organisation's open/waiting request, cancel before work starts
  (no public staff reply yet), and reopen by replying: a customer reply moves a resolved or
  waiting request back to open. A reply to a closed request starts a follow-up request linked by
  `follow_up_of`; a cancelled request takes no more replies.
- the first public staff reply sets `first_responded_at` and moves new→open (without a separate
  status mail: the reply mail says it); a reply may also ask for a status (`then_status`).
"""

from __future__ import annotations

from app.errors import IllegalTransition, InvalidInput, NotAllowed
from app.i18n import _, current_locale
from app.tickets.tables import STATUSES

OPEN_STATUSES = ("new", "open", "waiting")
FINAL_STATUSES = ("closed", "cancelled")

# (from, to) → who may ask for it. "work not started" adds a condition to cancellation.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("new", "open"): frozenset({"staff"}),
    ("new", "cancelled"): frozenset({"staff", "customer"}),
    ("open", "waiting"): frozenset({"staff"}),
    ("open", "resolved"): frozenset({"staff", "customer"}),
    ("open", "cancelled"): frozenset({"staff", "customer"}),
    ("waiting", "open"): frozenset({"staff"}),
    ("waiting", "resolved"): frozenset({"staff", "customer"}),
    ("waiting", "cancelled"): frozenset({"staff", "customer"}),
    ("resolved", "open"): frozenset({"staff"}),
    ("resolved", "closed"): frozenset({"staff"}),
}


# ---------------------------------------------------------------------------------------------
# Labels (for pages, exports and messages)


def status_label(status: str) -> str:
    return {
        "new": _("New"),
        "open": _("Open"),
        "waiting": _("Waiting on customer"),
        "resolved": _("Resolved"),
        "closed": _("Closed"),
        "cancelled": _("Cancelled"),
    }.get(status, status)


def priority_label(priority: str) -> str:
    return {"urgent": _("Urgent"), "normal": _("Normal"), "low": _("Low")}.get(priority, priority)


def category_label(category: str) -> str:
    return {
        "question": _("Question"),
        "incident": _("Incident"),
        "change_request": _("Change request"),
        "notice": _("Notice"),
        "other": _("Other"),
    }.get(category, category)


def localised(ja: str | None, en: str | None) -> str:
    """A name kept in both languages, in the current locale (the other one when it is empty)."""
    return (en if current_locale() == "en" else ja) or ja or en or ""


# ---------------------------------------------------------------------------------------------
# The status machine


def allowed_statuses(current: str, *, staff: bool, work_started: bool) -> tuple[str, ...]:
    """The statuses a caller may move a request to from `current`."""
    who = "staff" if staff else "customer"
    return tuple(
        target
        for (source, target), roles in TRANSITIONS.items()
        if source == current and who in roles and not (target == "cancelled" and work_started)
    )


def check_transition(current: str, target: str, *, staff: bool, work_started: bool) -> None:
    """Raise unless the caller may move a request from `current` to `target`.

    IllegalTransition (409) when the machine has no such step (or work has started and the
    target is cancelled); NotAllowed (403) when only staff may take the step.
    """
    if target not in STATUSES:
        raise InvalidInput(_("Unknown status: {status}.", status=target), field="status")
    if current == target:
        raise IllegalTransition(
            _("The request is already {status}.", status=status_label(current)), current=current, requested=target
        )
    roles = TRANSITIONS.get((current, target))
    if roles is None:
        if current in FINAL_STATUSES:
            message = _("A {status} request cannot be changed any more.", status=status_label(current))
        else:
            message = _("A request cannot go from {current} to {target}.",
                        current=status_label(current), target=status_label(target))
        raise IllegalTransition(message, current=current, requested=target)
    if target == "cancelled" and work_started:
        raise IllegalTransition(
            _("This request can no longer be cancelled: our staff have already started on it."),
            current=current, requested=target,
        )
    if ("staff" if staff else "customer") not in roles:
        if current == "resolved" and target == "open":
            raise NotAllowed(_("To reopen a resolved request, reply to it."))
        raise NotAllowed(
            _("Only our staff can change a request from {current} to {target}.",
              current=status_label(current), target=status_label(target))
        )
