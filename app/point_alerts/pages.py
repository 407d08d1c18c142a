"""The point alerts' settings page: the low-balance threshold, in the portal (customer admins) and
in the console (finance staff and administrators, for any organisation)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from pydantic import BaseModel

from app.accounts import services as people
from app.accounts.guards import caller_of, requires_customer, requires_finance
from app.accounts.pages import FORM, flash, form_errors, pop_flash
from app.errors import InvalidInput
from app.i18n import _, format_number, ngettext
from app.point_alerts import services
from app.point_alerts.jobs import BALANCE_PAGE
from billing.alerts import REMINDER_DAYS


class ThresholdForm(BaseModel):
    low_balance_threshold: str = ""


def _saved_message(saved: services.ThresholdSaved) -> str:
    if saved.alerts.threshold is None:
        return _("The low-balance alert is switched off.")
    if saved.mailed:
        return ngettext(
            "Saved. The balance is already below {threshold} point, so the customer administrators were alerted now.",
            "Saved. The balance is already below {threshold} points, so the customer administrators were alerted now.",
            saved.alerts.threshold, threshold=format_number(saved.alerts.threshold),
        )
    return ngettext("Saved: the customer administrators are alerted when the balance drops below {threshold} point.",
                    "Saved: the customer administrators are alerted when the balance drops below {threshold} points.",
                    saved.alerts.threshold, threshold=format_number(saved.alerts.threshold))


async def _page(
    request: Request, template: str, organization_id: int, action: str, *, status_code: int = 200,
    value: str | None = None, errors: dict[str, str] | None = None, **context,
) -> Template:
    caller = caller_of(request)
    current = await services.get_point_alerts(caller, organization_id)
    return Template(
        template,
        context={
            "company": await people.get_organization(caller, organization_id),
            "section": "point_alerts",
            "alerts": current,
            "value": value if value is not None else ("" if current.threshold is None else str(current.threshold)),
            "errors": errors or {},
            "action": action,
            "reminder_days": sorted(REMINDER_DAYS, reverse=True),
            "flash": pop_flash(request),
            **context,
        },
        status_code=status_code,
    )


class PointAlertsController(Controller):
    """/portal/settings/points: a customer admin sets the company's low-balance alert."""

    path = "/portal/settings/points"
    guards = [requires_customer]
    include_in_schema = False

    @get("/")
    async def point_alerts_page(self, request: Request) -> Template:
        caller = caller_of(request)
        return await _page(request, "point_alerts/portal.html.jinja2", caller.organization_id,
                           "/portal/settings/points", balance_page=BALANCE_PAGE)

    @post("/")
    async def set_point_alerts(self, request: Request, data: Annotated[ThresholdForm, FORM]) -> Template | Redirect:
        caller = caller_of(request)
        try:
            saved = await services.set_low_balance_threshold(caller, caller.organization_id, data.low_balance_threshold)
        except InvalidInput as exc:
            return await _page(request, "point_alerts/portal.html.jinja2", caller.organization_id,
                               "/portal/settings/points", status_code=422, value=data.low_balance_threshold,
                               errors=form_errors(exc), balance_page=BALANCE_PAGE)
        flash(request, _saved_message(saved))
        return Redirect(path="/portal/settings/points")


class ConsolePointAlertsController(Controller):
    """/console/organizations/{id}/point-alerts: finance staff set an organisation's alert."""

    path = "/console/organizations/{organization_id:int}/point-alerts"
    guards = [requires_finance]
    include_in_schema = False

    @get("/")
    async def organization_point_alerts_page(self, request: Request, organization_id: FromPath[int]) -> Template:
        return await _page(request, "point_alerts/console.html.jinja2", organization_id,
                           f"/console/organizations/{organization_id}/point-alerts")

    @post("/")
    async def set_organization_point_alerts(
        self, request: Request, organization_id: FromPath[int], data: Annotated[ThresholdForm, FORM]
    ) -> Template | Redirect:
        path = f"/console/organizations/{organization_id}/point-alerts"
        try:
            saved = await services.set_low_balance_threshold(
                caller_of(request), organization_id, data.low_balance_threshold
            )
        except InvalidInput as exc:
            return await _page(request, "point_alerts/console.html.jinja2", organization_id, path,
                               status_code=422, value=data.low_balance_threshold, errors=form_errors(exc))
        flash(request, _saved_message(saved))
        return Redirect(path=path)
