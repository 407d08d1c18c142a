"""What people type into a request, checked and cleaned (pure): subject, message, minutes spent,
custom field values, the reason for a change of price, extra time. A bad value is an
`InvalidInput` naming its field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.accounts.services import reject_control_characters
from app.errors import InvalidInput
from app.i18n import _
from app.tickets.services.rules import localised

SUBJECT_MAX = 200
BODY_MAX = 20000
MINUTES_MAX = 10000
CUSTOM_TEXT_MAX = 1000
REASON_MAX = 1000
EXTRA_MINUTES_MAX = 10000


def _text(value: str, *, field_name: str, label: str, max_length: int, single_line: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInput(_("{label} must be text.", label=label), field=field_name)
    reject_control_characters(value, field_name)  # PostgreSQL refuses NUL in text outright
    if single_line:
        value = " ".join(value.split())
    value = value.strip()
    if not value:
        raise InvalidInput(_("Please enter {label}.", label=label), field=field_name)
    if len(value) > max_length:
        raise InvalidInput(
            _("{label} is too long (at most {max} characters).", label=label, max=max_length), field=field_name
        )
    return value


def clean_subject(subject: str) -> str:
    return _text(subject, field_name="subject", label=_("the subject"), max_length=SUBJECT_MAX, single_line=True)


def clean_body(body: str) -> str:
    return _text(body, field_name="body", label=_("the message"), max_length=BODY_MAX)


def clean_minutes(minutes: int | None) -> int:
    if minutes is None:
        return 0
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0 or minutes > MINUTES_MAX:
        raise InvalidInput(
            _("Time spent must be a whole number of minutes between 0 and {max}.", max=MINUTES_MAX),
            field="minutes_spent",
        )
    return minutes


def clean_reason(reason: str | None, *, required: bool) -> str:
    """Why a price changes or a charge is waived: one line of text."""
    text = " ".join(reject_control_characters(reason or "", "reason").split())
    if required and not text:
        raise InvalidInput(_("Please give a reason."), field="reason")
    if len(text) > REASON_MAX:
        raise InvalidInput(_("The reason is too long (at most {max} characters).", max=REASON_MAX), field="reason")
    return text


def clean_extra_minutes(minutes: Any) -> int:
    """Extra time an agent asks for, as typed: whole minutes, at least one."""
    text = str(minutes if minutes is not None else "").strip()
    if not text.isascii() or not text.isdecimal() or len(text) > 6 or not 1 <= int(text) <= EXTRA_MINUTES_MAX:
        raise InvalidInput(
            _("Extra time must be a whole number of minutes between 1 and {max}.", max=EXTRA_MINUTES_MAX),
            field="extra_minutes",
        )
    return int(text)


def choice_values(choices: Any) -> list[str]:
    """The allowed values of a choice field (stored as plain values or {"value": ...} items)."""
    values = []
    for item in choices or []:
        values.append(str(item.get("value")) if isinstance(item, Mapping) else str(item))
    return values


def validate_custom_fields(
    definitions: Sequence[Mapping[str, Any]], values: Mapping[str, Any] | None, *, customer: bool
) -> dict[str, Any]:
    """Check custom field values against their definitions; return the values to store.

    `definitions` are CustomField rows (active ones). Customers may only fill fields visible to
    customers and are only held to those fields' `required`. Empty values count as absent.
    Numbers are stored as int (or float when not whole), dates as YYYY-MM-DD, choices as given.
    """
    values = dict(values or {})
    usable = {d["key"]: d for d in definitions if d["is_active"] and (d["visible_to_customers"] or not customer)}
    unknown = [key for key in values if key not in usable]
    if unknown:
        raise InvalidInput(_("Unknown field: {key}.", key=unknown[0]), field=f"custom_fields.{unknown[0]}")
    cleaned: dict[str, Any] = {}
    for key, definition in usable.items():
        raw = values.get(key)
        label = localised(definition["label_ja"], definition["label_en"])
        where = f"custom_fields.{key}"
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if definition["required"]:
                raise InvalidInput(_("Please fill in {label}.", label=label), field=where)
            continue
        kind = definition["field_type"]
        if kind == "text":
            if not isinstance(raw, str):
                raise InvalidInput(_("{label} must be text.", label=label), field=where)
            text = reject_control_characters(raw.strip(), where)
            if len(text) > CUSTOM_TEXT_MAX:
                raise InvalidInput(
                    _("{label} is too long (at most {max} characters).", label=label, max=CUSTOM_TEXT_MAX), field=where
                )
            cleaned[key] = text
        elif kind == "number":
            cleaned[key] = _number(raw, label, where)
        elif kind == "date":
            cleaned[key] = _date(raw, label, where)
        elif kind == "choice":
            text = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else None
            if text is None or text not in choice_values(definition["choices"]):
                raise InvalidInput(_("Please choose one of the options for {label}.", label=label), field=where)
            cleaned[key] = text
    return cleaned


def _number(raw: Any, label: str, where: str) -> int | float:
    if isinstance(raw, bool):
        raise InvalidInput(_("{label} must be a number.", label=label), field=where)
    try:
        number = Decimal(raw.strip().replace(",", "")) if isinstance(raw, str) else Decimal(str(raw))
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(_("{label} must be a number.", label=label), field=where) from None
    if not number.is_finite() or abs(number) > Decimal(10) ** 15:
        raise InvalidInput(_("{label} must be a number.", label=label), field=where)
    return int(number) if number == number.to_integral_value() else float(number)


def _date(raw: Any, label: str, where: str) -> str:
    if isinstance(raw, datetime):
        raw = raw.date()
    if isinstance(raw, date):
        return raw.isoformat()
    if isinstance(raw, str):
        text = raw.strip().replace("/", "-")
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise InvalidInput(_("{label} must be a date (YYYY/MM/DD).", label=label), field=where)
