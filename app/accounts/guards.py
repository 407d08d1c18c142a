"""Route guards by role. Organisation checks happen in the services (answering 404)."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from app.accounts.caller import Caller
from app.accounts.security_log import ClientInfo
from app.errors import NotAllowed, NotAuthenticated
from app.i18n import _


def caller_of(connection: ASGIConnection) -> Caller:
    caller = connection.scope.get("user")
    if caller is None:
        raise NotAuthenticated(_("Please sign in."))
    return caller


def client_info(connection: ASGIConnection) -> ClientInfo:
    """Where the request came from (the address as uvicorn gives it, after the trusted proxies)."""
    return ClientInfo(
        ip_address=connection.client.host if connection.client else "",
        user_agent=connection.headers.get("user-agent", ""),
    )


def requires_login(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    caller_of(connection)


def requires_staff(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    if not caller_of(connection).is_staff:
        raise NotAllowed(_("This page is for vendor staff."))


def requires_admin(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    if not caller_of(connection).is_admin:
        raise NotAllowed(_("This page is for administrators."))


def requires_finance(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    if not caller_of(connection).is_finance:
        raise NotAllowed(_("This page is for finance staff."))


def requires_customer(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    if not caller_of(connection).is_customer:
        raise NotAllowed(_("This page is for customers."))
