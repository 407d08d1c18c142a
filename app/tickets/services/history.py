"""A request's history: its lines (TicketEvent rows, written by `_rows.record`) and what each says.

Every change of a request writes one line of a kind: "created", "status_changed",
"field_changed" (with the field and its old and new value), "follow_up_created", the points'
"points_waived" / "points_requoted" / "points_change_requested|approved|declined", and
"watch_started" / "watch_stopped".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.i18n import _, format_number, ngettext
from app.tickets.services.rules import category_label, priority_label, status_label

# History lines a customer sees; assignment, departments and reclassification stay internal.
CUSTOMER_EVENT_KINDS = (
    "created", "status_changed", "follow_up_created", "points_waived", "points_requoted",
    "points_change_requested", "points_change_approved", "points_change_declined",
)
WATCH_EVENT_KINDS = ("watch_started", "watch_stopped")


@dataclass(frozen=True, kw_only=True)
class EventView:
    """One line of history. `detail` holds {"from", "to"} (plus "field" for field changes)."""

    id: int
    kind: str
    actor_id: int | None
    actor_name: str | None
    detail: dict[str, Any]
    created_at: datetime

    @property
    def text(self) -> str:
        return describe_event(self)


def describe_event(event: EventView) -> str:
    """One history line as a sentence in the current locale."""
    if event.kind in WATCH_EVENT_KINDS:
        return describe_watch_event(event.kind)
    detail = event.detail
    if event.kind == "created":
        if detail.get("follow_up_of"):
            return _("Filed as a follow-up request.")
        return _("Filed the request.")
    if event.kind == "status_changed":
        old, new = status_label(detail.get("from", "")), status_label(detail.get("to", ""))
        text = _("Status: {old} → {new}", old=old, new=new)
        if detail.get("reason") == "auto_close":
            text += " " + _("(closed automatically)")
        return text
    if event.kind == "follow_up_created":
        return _("Follow-up request {number} was filed.", number=detail.get("number", ""))
    if event.kind == "points_waived":
        points = detail.get("points", 0)
        return ngettext("The charge of {points} point was waived: {reason}",
                        "The charge of {points} points was waived: {reason}",
                        points, points=format_number(points), reason=detail.get("reason", ""))
    if event.kind in ("points_requoted", "points_change_requested", "points_change_approved",
                      "points_change_declined"):
        old, new = detail.get("from", 0), detail.get("to", 0)
        values = {"old": format_number(old), "new": format_number(new)}
        if event.kind == "points_requoted":
            text = ngettext("Price changed: {old} → {new} point", "Price changed: {old} → {new} points", new, **values)
        elif event.kind == "points_change_requested":
            text = ngettext("Price change asked: {old} → {new} point (waiting for approval)",
                            "Price change asked: {old} → {new} points (waiting for approval)", new, **values)
        elif event.kind == "points_change_approved":
            text = ngettext("Price change approved: {old} → {new} point", "Price change approved: {old} → {new} points",
                            new, **values)
        else:
            text = ngettext("Price change declined: stays at {old} point",
                            "Price change declined: stays at {old} points",
                            old, **values)
        return text + (f" ({detail['reason']})" if detail.get("reason") else "")
    if event.kind == "field_changed":
        name = detail.get("field")
        none = _("(none)")
        if name == "priority":
            old, new = priority_label(detail.get("from") or ""), priority_label(detail.get("to") or "")
        elif name == "category":
            old, new = category_label(detail.get("from") or ""), category_label(detail.get("to") or "")
        elif name == "custom_fields":
            return _("Custom fields were changed.")
        elif name in ("assignee", "department"):
            old, new = detail.get("from_label") or none, detail.get("to_label") or none
        else:
            old, new = detail.get("from") or none, detail.get("to") or none
        labels = {"priority": _("Priority"), "category": _("Category"), "request_type": _("Request type"),
                  "assignee": _("Assignee"), "department": _("Department")}
        return _("{field}: {old} → {new}", field=labels.get(name, name), old=old, new=new)
    return event.kind


def describe_watch_event(kind: str) -> str:
    """The history line of a watch event (the actor's name is shown next to it)."""
    return _("started watching this request") if kind == "watch_started" else _("stopped watching this request")
