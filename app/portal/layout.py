"""The customer portal's layout: what every portal page shows (the company's name, the portal's
menu, the points balance), and whether a request wants a whole page or an HTMX fragment.

The portal's pages live beside the domain they show: the home page and the requests in
app/tickets/pages/portal.py, points in app/points/pages.py, buying points and documents in
app/purchases/pages.py.
"""

from __future__ import annotations

from typing import Any

from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from app.accounts import services as people
from app.accounts.guards import caller_of
from app.accounts.pages import pop_flash
from app.errors import NotFound
from app.i18n import _
from app.points import services as points


async def page(request: HTMXRequest, name: str, status_code: int = 200, **context: Any) -> Template:
    """A whole portal page: the company name and the portal's menu come with every one."""
    caller = caller_of(request)
    if caller.organization_id is None:
        raise NotFound(_("This page does not exist."))
    company = await people.get_organization(caller, caller.organization_id)
    return Template(
        f"portal/{name}.html.jinja2",
        context={
            "company": company, "flash": pop_flash(request), "section": name,
            "points_balance": await points.own_balance(caller), **context,
        },
        status_code=status_code,
    )


def wants_fragment(request: HTMXRequest) -> bool:
    """An HTMX swap gets the fragment; a normal visit or an HTMX history restore the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request
