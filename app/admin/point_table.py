"""The administrator's point table editor and bundles (/admin/point-table, /admin/bundles).

A version of the point table is edited as a draft (a copy of the version in force) and then
published, in force now or from a later day; a published version never changes, so requests
already filed keep their price (pricing.services guarantees it). A refused form is shown again
with the message next to its field and what was typed kept.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel

from app.accounts.guards import caller_of, requires_admin
from app.accounts.pages import FORM, flash, form_errors, pop_flash
from app.admin import services as admin_services
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import _, format_datetime
from app.points import services
from app.points.pages import DOCUMENT, document_context, document_pdf, helpers
from pricing.rules import PRIORITIES

REFUSED = (InvalidInput, Conflict)


class NoteForm(BaseModel):
    note: str = ""


class RequestTypePriceForm(BaseModel):
    code: str = ""
    name_ja: str = ""
    name_en: str = ""
    scope_ja: str = ""
    scope_en: str = ""
    points: str = ""
    included_minutes: str = ""
    block_minutes: str = ""
    points_per_block: str = ""
    sort_order: str = "0"


class SurchargeForm(BaseModel):
    urgent: str = "0"
    normal: str = "0"
    low: str = "0"


class PublishForm(BaseModel):
    effective_on: str = ""


class BundleForm(BaseModel):
    code: str = ""
    name_ja: str = ""
    name_en: str = ""
    points: str = ""
    price_jpy: str = ""
    tax_rate: str = "10"
    validity_months: str = "12"
    min_quantity: str = "1"
    max_quantity: str = ""
    sort_order: str = "0"
    active: str = ""


def page(request: Request, name: str, section: str, status_code: int = 200, **context: Any) -> Template:
    return Template(
        f"points/{name}.html.jinja2",
        context={"flash": pop_flash(request), "section": section, **helpers(), **context},
        status_code=status_code,
    )


def price_values(price) -> dict[str, Any]:
    return {
        "code": price.code, "name_ja": price.name_ja, "name_en": price.name_en, "scope_ja": price.scope_ja,
        "scope_en": price.scope_en, "points": price.points, "included_minutes": price.included_minutes,
        "block_minutes": price.block_minutes, "points_per_block": price.points_per_block,
    }


def bundle_values(bundle) -> dict[str, Any]:
    return {
        "code": bundle.code, "name_ja": bundle.name_ja, "name_en": bundle.name_en, "points": bundle.points,
        "price_jpy": bundle.price_jpy, "tax_rate": bundle.tax_rate, "validity_months": bundle.validity_months,
        "min_quantity": bundle.min_quantity, "max_quantity": bundle.max_quantity, "active": bundle.active,
    }


def version_number(ref: str) -> int:
    if not ref.isdecimal() or len(ref) > 9:
        raise NotFound(_("This page does not exist."))
    return int(ref)


class PointTableAdminController(Controller):
    path = "/admin"
    guards = [requires_admin]
    include_in_schema = False

    # ------------------------------------------------------------ versions

    async def _versions(self, request: Request, status_code: int = 200, **context: Any) -> Template:
        return page(
            request, "admin_versions", "point_table", status_code,
            versions=await services.versions(caller_of(request)), **{"errors": {}, "values": {}, **context},
        )

    @get("/point-table")
    async def versions_page(self, request: Request) -> Template:
        return await self._versions(request)

    @post("/point-table")
    async def create_draft(self, request: Request, data: Annotated[NoteForm, FORM]) -> Template | Redirect:
        try:
            draft = await services.create_draft(caller_of(request), data.note)
        except REFUSED as exc:
            return await self._versions(request, exc.status_code, errors=form_errors(exc), values=data.model_dump())
        flash(request, _("Draft version {number} was made; change it, then publish it.", number=draft.number))
        return Redirect(path=f"/admin/point-table/{draft.number}")

    async def _version(self, request: Request, number: int, status_code: int = 200, *, edit: str = "",
                       **context: Any) -> Template:
        caller = caller_of(request)
        info, table = await services.version(caller, number)
        request_types = [t for t in await admin_services.list_request_types(caller) if t.is_active]
        priced = [p.code for p in table.request_types]
        values: dict[str, Any] = {"sort_order": len(priced)}
        if edit in priced:
            values = {**price_values(table.request_type(edit)), "sort_order": priced.index(edit)}
        context = {
            "errors": {}, "values": values, "edit_code": None,
            "surcharge_errors": {}, "surcharge_values": {p: table.surcharge(p).points for p in PRIORITIES},
            "publish_errors": {}, "publish_values": {}, **context,
        }
        return page(
            request, "admin_version", "point_table", status_code, info=info, table=table,
            request_type_codes=[(t.code, t.name_ja) for t in request_types],
            unpriced=[t.code for t in request_types if t.code not in priced], priorities=PRIORITIES, **context,
        )

    @get("/point-table/{ref:str}")
    async def version_page(self, request: Request, ref: FromPath[str], edit: FromQuery[str] = "") -> Template | Response:
        """A version's page; `3.pdf` is version 3 as the PDF to hand out, `3.html` the same document."""
        caller = caller_of(request)
        for suffix in (".pdf", ".html"):
            if ref.endswith(suffix):
                number = version_number(ref.removesuffix(suffix))
                table = await services.version_for_document(caller, number)
                context = document_context(table, await services.bundles_on_sale())
                if suffix == ".pdf":
                    return await document_pdf(request, context, f"point-table-v{number}.pdf")
                return Template(DOCUMENT, context=context)
        return await self._version(request, version_number(ref), edit=edit)

    @post("/point-table/{number:int}/request-types")
    async def set_request_type(
        self, request: Request, number: FromPath[int], data: Annotated[RequestTypePriceForm, FORM]
    ) -> Template | Redirect:
        try:
            price = await services.set_request_type(caller_of(request), number, data.model_dump())
        except REFUSED as exc:
            return await self._version(
                request, number, exc.status_code, errors=form_errors(exc), values=data.model_dump(),
                edit_code=data.code,
            )
        flash(request, _("The price of \"{code}\" was saved in the draft.", code=price.code))
        return Redirect(path=f"/admin/point-table/{number}")

    @post("/point-table/{number:int}/request-types/{code:str}/delete")
    async def remove_request_type(self, request: Request, number: FromPath[int], code: FromPath[str]) -> Template | Redirect:
        try:
            await services.remove_request_type(caller_of(request), number, code)
        except REFUSED as exc:
            return await self._version(request, number, exc.status_code, errors=form_errors(exc))
        flash(request, _("\"{code}\" was removed from the draft.", code=code))
        return Redirect(path=f"/admin/point-table/{number}")

    @post("/point-table/{number:int}/surcharges")
    async def set_surcharges(
        self, request: Request, number: FromPath[int], data: Annotated[SurchargeForm, FORM]
    ) -> Template | Redirect:
        try:
            await services.set_surcharges(caller_of(request), number, data.model_dump())
        except REFUSED as exc:
            return await self._version(
                request, number, exc.status_code, surcharge_errors=form_errors(exc), surcharge_values=data.model_dump()
            )
        flash(request, _("The priority surcharges were saved in the draft."))
        return Redirect(path=f"/admin/point-table/{number}")

    @post("/point-table/{number:int}/publish")
    async def publish(self, request: Request, number: FromPath[int], data: Annotated[PublishForm, FORM]) -> Template | Redirect:
        try:
            table = await services.publish(caller_of(request), number, data.effective_on)
        except REFUSED as exc:
            return await self._version(
                request, number, exc.status_code, publish_errors=form_errors(exc), publish_values=data.model_dump()
            )
        flash(request, _("Version {number} was published; it is in force from {date}.", number=number,
                         date=format_datetime(table.effective_from)))
        return Redirect(path="/admin/point-table")

    # ------------------------------------------------------------ bundles

    async def _bundles(self, request: Request, status_code: int = 200, **context: Any) -> Template:
        context = {
            "errors": {}, "values": {"tax_rate": 10, "validity_months": 12, "min_quantity": 1, "active": True},
            **context,
        }
        return page(request, "admin_bundles", "bundles", status_code,
                    bundles=await services.all_bundles(caller_of(request)), **context)

    @get("/bundles")
    async def bundles_page(self, request: Request) -> Template:
        return await self._bundles(request)

    @post("/bundles")
    async def create_bundle(self, request: Request, data: Annotated[BundleForm, FORM]) -> Template | Redirect:
        values = {**data.model_dump(), "active": data.active not in ("", "0", "off", "false")}
        try:
            bundle = await services.save_bundle(caller_of(request), values)
        except REFUSED as exc:
            return await self._bundles(request, exc.status_code, errors=form_errors(exc), values=values)
        flash(request, _("The bundle \"{code}\" was added.", code=bundle.code))
        return Redirect(path="/admin/bundles")

    @get("/bundles/{code:str}")
    async def bundle_page(self, request: Request, code: FromPath[str]) -> Template:
        bundle = await services.get_bundle(caller_of(request), code)
        return page(request, "admin_bundle", "bundles", bundle=bundle, values=bundle_values(bundle), errors={})

    @post("/bundles/{code:str}")
    async def update_bundle(self, request: Request, code: FromPath[str], data: Annotated[BundleForm, FORM]) -> Template | Redirect:
        caller = caller_of(request)
        values = {**data.model_dump(), "code": code, "active": data.active not in ("", "0", "off", "false")}
        try:
            bundle = await services.save_bundle(caller, values, code=code)
        except REFUSED as exc:
            return page(request, "admin_bundle", "bundles", exc.status_code,
                        bundle=await services.get_bundle(caller, code), values=values, errors=form_errors(exc))
        flash(request, _("The bundle \"{code}\" was saved.", code=bundle.code))
        return Redirect(path="/admin/bundles")
