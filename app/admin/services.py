"""What the administrator configures besides people: request types and custom fields."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.accounts.caller import Caller
from app.accounts.services import clean_text, is_unique_violation, reject_control_characters
from app.errors import Duplicate, InvalidInput, NotAllowed, NotFound
from app.i18n import _
from app.tickets.tables import CustomField, RequestType

REQUEST_TYPE_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
CUSTOM_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
FIELD_TYPES = ("text", "number", "date", "choice")
MAX_CHOICES = 100
SORT_ORDER_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class RequestTypeInfo:
    id: int
    code: str
    name_ja: str
    name_en: str
    sort_order: int
    is_active: bool


@dataclass(frozen=True, slots=True)
class CustomFieldInfo:
    id: int
    key: str
    label_ja: str
    label_en: str
    field_type: str
    choices: list[str]
    required: bool
    visible_to_customers: bool
    is_active: bool
    sort_order: int


def _require_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise NotAllowed(_("Only an administrator can do this."))


def parse_sort_order(value: int | str | None) -> int:
    """A sort order typed into a form or sent as a number."""
    if value is None or value == "":
        return 0
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(_("Enter a whole number."), field="sort_order") from None
    if abs(number) > SORT_ORDER_LIMIT:
        raise InvalidInput(_("Enter a number between -{limit} and {limit}.", limit=SORT_ORDER_LIMIT), field="sort_order")
    return number


# ---------------------------------------------------------------- request types


def _request_type(row: dict) -> RequestTypeInfo:
    return RequestTypeInfo(
        id=row["id"], code=row["code"], name_ja=row["name_ja"], name_en=row["name_en"],
        sort_order=row["sort_order"], is_active=row["is_active"],
    )


async def list_request_types(caller: Caller, *, include_inactive: bool = True) -> list[RequestTypeInfo]:
    _require_admin(caller)
    query = RequestType.select().order_by(RequestType.sort_order).order_by(RequestType.id)
    if not include_inactive:
        query = query.where(RequestType.is_active == True)  # noqa: E712
    return [_request_type(r) for r in await query]


async def get_request_type(caller: Caller, request_type_id: int) -> RequestTypeInfo:
    _require_admin(caller)
    row = await RequestType.select().where(RequestType.id == request_type_id).first()
    if row is None:
        raise NotFound(_("This request type does not exist."))
    return _request_type(row)


async def create_request_type(
    caller: Caller, *, code: str, name_ja: str, name_en: str, sort_order: int | str | None = 0
) -> RequestTypeInfo:
    _require_admin(caller)
    code = (code or "").strip()
    if not REQUEST_TYPE_CODE.fullmatch(code):
        raise InvalidInput(_("The code must be 1 to 32 letters, digits, \"-\" or \"_\"."), field="code")
    values = {
        "name_ja": clean_text(name_ja, "name_ja", max_length=100),
        "name_en": clean_text(name_en, "name_en", max_length=100),
        "sort_order": parse_sort_order(sort_order),
    }
    duplicate = Duplicate(_("The code \"{code}\" is already in use.", code=code), field="code")
    if await RequestType.exists().where(RequestType.code == code):
        raise duplicate
    row = RequestType(code=code, is_active=True, **values)
    try:
        await row.save()
    except Exception as exc:
        if is_unique_violation(exc):
            raise duplicate from None
        raise
    return await get_request_type(caller, row.id)


async def update_request_type(
    caller: Caller,
    request_type_id: int,
    *,
    name_ja: str,
    name_en: str,
    sort_order: int | str | None = 0,
    is_active: bool = True,
) -> RequestTypeInfo:
    """Rename, reorder or (de)activate a request type; its code stays, as requests refer to it."""
    _require_admin(caller)
    values = {
        RequestType.name_ja: clean_text(name_ja, "name_ja", max_length=100),
        RequestType.name_en: clean_text(name_en, "name_en", max_length=100),
        RequestType.sort_order: parse_sort_order(sort_order),
        RequestType.is_active: bool(is_active),
    }
    updated = await RequestType.update(values).where(RequestType.id == request_type_id).returning(RequestType.id)
    if not updated:
        raise NotFound(_("This request type does not exist."))
    return await get_request_type(caller, request_type_id)


async def deactivate_request_type(caller: Caller, request_type_id: int) -> RequestTypeInfo:
    """New requests can no longer choose it; existing requests keep it."""
    _require_admin(caller)
    updated = (
        await RequestType.update({RequestType.is_active: False})
        .where(RequestType.id == request_type_id)
        .returning(RequestType.id)
    )
    if not updated:
        raise NotFound(_("This request type does not exist."))
    return await get_request_type(caller, request_type_id)


# ---------------------------------------------------------------- custom fields


def _custom_field(row: dict) -> CustomFieldInfo:
    return CustomFieldInfo(
        id=row["id"], key=row["key"], label_ja=row["label_ja"], label_en=row["label_en"],
        field_type=row["field_type"], choices=list(row["choices"] or []), required=row["required"],
        visible_to_customers=row["visible_to_customers"], is_active=row["is_active"], sort_order=row["sort_order"],
    )


def parse_choices(choices: list[str] | str | None) -> list[str]:
    """Choices as a list, or as text with one choice per line (the admin form)."""
    if choices is None:
        return []
    items = choices.splitlines() if isinstance(choices, str) else list(choices)
    cleaned: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput(_("Each choice must be text."), field="choices")
        item = reject_control_characters(item.strip(), "choices")
        if not item:
            continue
        if len(item) > 100:
            raise InvalidInput(_("Each choice may have at most {max} characters.", max=100), field="choices")
        if item not in cleaned:
            cleaned.append(item)
    if len(cleaned) > MAX_CHOICES:
        raise InvalidInput(_("Use at most {max} choices.", max=MAX_CHOICES), field="choices")
    return cleaned


def _field_values(
    label_ja: str, label_en: str, field_type: str, choices: list[str] | str | None,
    required: bool, visible_to_customers: bool, sort_order: int | str | None, is_active: bool,
) -> dict:
    if field_type not in FIELD_TYPES:
        raise InvalidInput(_("Choose text, number, date or choice."), field="field_type")
    parsed = parse_choices(choices)
    if field_type == "choice" and not parsed:
        raise InvalidInput(_("A choice field needs at least one choice."), field="choices")
    return {
        "label_ja": clean_text(label_ja, "label_ja", max_length=100),
        "label_en": clean_text(label_en, "label_en", max_length=100),
        "field_type": field_type,
        "choices": parsed if field_type == "choice" else [],
        "required": bool(required),
        "visible_to_customers": bool(visible_to_customers),
        "sort_order": parse_sort_order(sort_order),
        "is_active": bool(is_active),
    }


async def list_custom_fields(caller: Caller, *, include_inactive: bool = True) -> list[CustomFieldInfo]:
    _require_admin(caller)
    query = CustomField.select().output(load_json=True).order_by(CustomField.sort_order).order_by(CustomField.id)
    if not include_inactive:
        query = query.where(CustomField.is_active == True)  # noqa: E712
    return [_custom_field(r) for r in await query]


async def get_custom_field(caller: Caller, field_id: int) -> CustomFieldInfo:
    _require_admin(caller)
    row = await CustomField.select().output(load_json=True).where(CustomField.id == field_id).first()
    if row is None:
        raise NotFound(_("This custom field does not exist."))
    return _custom_field(row)


async def create_custom_field(
    caller: Caller,
    *,
    key: str,
    label_ja: str,
    label_en: str,
    field_type: str,
    choices: list[str] | str | None = None,
    required: bool = False,
    visible_to_customers: bool = True,
    sort_order: int | str | None = 0,
) -> CustomFieldInfo:
    _require_admin(caller)
    key = (key or "").strip()
    if not CUSTOM_FIELD_KEY.fullmatch(key):
        raise InvalidInput(
            _("The key must start with a lower-case letter and use only a-z, 0-9 and \"_\" (at most 40)."),
            field="key",
        )
    values = _field_values(label_ja, label_en, field_type, choices, required, visible_to_customers, sort_order, True)
    duplicate = Duplicate(_("The key \"{key}\" is already in use.", key=key), field="key")
    if await CustomField.exists().where(CustomField.key == key):
        raise duplicate
    row = CustomField(key=key, **values)
    try:
        await row.save()
    except Exception as exc:
        if is_unique_violation(exc):
            raise duplicate from None
        raise
    return await get_custom_field(caller, row.id)


async def update_custom_field(
    caller: Caller,
    field_id: int,
    *,
    label_ja: str,
    label_en: str,
    field_type: str,
    choices: list[str] | str | None = None,
    required: bool = False,
    visible_to_customers: bool = True,
    sort_order: int | str | None = 0,
    is_active: bool = True,
) -> CustomFieldInfo:
    """Everything but the key, which the stored values of existing requests are filed under."""
    _require_admin(caller)
    values = _field_values(label_ja, label_en, field_type, choices, required, visible_to_customers, sort_order, is_active)
    updated = (
        await CustomField.update({getattr(CustomField, name): value for name, value in values.items()})
        .where(CustomField.id == field_id)
        .returning(CustomField.id)
    )
    if not updated:
        raise NotFound(_("This custom field does not exist."))
    return await get_custom_field(caller, field_id)


async def deactivate_custom_field(caller: Caller, field_id: int) -> CustomFieldInfo:
    _require_admin(caller)
    updated = (
        await CustomField.update({CustomField.is_active: False})
        .where(CustomField.id == field_id)
        .returning(CustomField.id)
    )
    if not updated:
        raise NotFound(_("This custom field does not exist."))
    return await get_custom_field(caller, field_id)
