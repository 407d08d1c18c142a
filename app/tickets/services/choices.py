"""The options the request forms of the portal and the console offer: request types, custom
fields, requesters."""

from __future__ import annotations

from typing import Any

from app.accounts.caller import Caller
from app.accounts.tables import User
from app.tickets.services._rows import active_custom_fields, require_staff
from app.tickets.services.results import CustomFieldDefinition, CustomFieldInput, PersonChoice, RequestTypeChoice
from app.tickets.services.rules import localised
from app.tickets.services.validation import choice_values
from app.tickets.tables import RequestType


async def request_type_choices(
    caller: Caller | None = None, *, include_inactive: bool = False
) -> list[RequestTypeChoice]:
    """Request types in their display order, named in the current locale.

    Only active ones, unless a staff caller asks for the inactive ones too (a queue filter
    wants them: old requests still carry them; filing and reclassifying do not)."""
    query = RequestType.select(RequestType.code, RequestType.name_ja, RequestType.name_en, RequestType.is_active)
    if not (include_inactive and caller is not None and caller.is_staff):
        query = query.where(RequestType.is_active == True)  # noqa: E712
    rows = await query.order_by(RequestType.sort_order).order_by(RequestType.id)
    return [
        RequestTypeChoice(code=r["code"], name=localised(r["name_ja"], r["name_en"]), is_active=r["is_active"])
        for r in rows
    ]


async def custom_field_definitions(caller: Caller) -> list[CustomFieldDefinition]:
    """The active custom fields a staff member fills on a request, in display order."""
    require_staff(caller)
    return [
        CustomFieldDefinition(**_field(d), visible_to_customers=d["visible_to_customers"])
        for d in await active_custom_fields()
    ]


async def custom_field_inputs(caller: Caller) -> list[CustomFieldInput]:
    """The active custom fields the caller fills when filing (customers: those visible to them)."""
    return [
        CustomFieldInput(**_field(d))
        for d in await active_custom_fields()
        if d["visible_to_customers"] or caller.is_staff
    ]


def _field(definition: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": definition["key"], "label": localised(definition["label_ja"], definition["label_en"]),
        "field_type": definition["field_type"], "choices": tuple(choice_values(definition["choices"])),
        "required": definition["required"],
    }


async def requester_choices(caller: Caller, organization_id: int | None = None) -> list[PersonChoice]:
    """People who can be the requester of an organisation's requests (a list filter's options).

    Customers get their own organisation's users; staff name the organisation."""
    target = caller.organization_id if caller.is_customer else organization_id
    if target is None:
        return []
    rows = await User.select(User.id, User.name).where(User.organization == target).order_by(User.name).order_by(
        User.id
    )
    return [PersonChoice(id=r["id"], name=r["name"]) for r in rows]
