"""Sign-in and sign-out pages."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel

from app.accounts.caller import Caller
from app.accounts.services import authenticate
from app.errors import NotAuthenticated, TooManyAttempts


class SignInForm(BaseModel):
    email: str = ""
    password: str = ""
    next: str = ""


def home_for(caller: Caller) -> str:
    return "/portal" if caller.is_customer else "/console"


def safe_next(target: str) -> str | None:
    """Only same-site paths, so the sign-in page cannot be used to redirect elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") else None


class SignInController(Controller):
    include_in_schema = False

    @get("/", sync_to_thread=False)
    def root(self, request: Request) -> Redirect:
        caller = request.scope.get("user")
        return Redirect(path=home_for(caller) if caller else "/login")

    @get("/login", sync_to_thread=False)
    def sign_in_page(self, request: Request, next: FromQuery[str] = "") -> Template | Redirect:
        caller = request.scope.get("user")
        if caller:
            return Redirect(path=safe_next(next) or home_for(caller))
        return Template("accounts/login.html.jinja2", context={"next": next, "error": None, "email": ""})

    @post("/login")
    async def sign_in(
        self,
        request: Request,
        data: Annotated[SignInForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        client = request.client.host if request.client else "-"
        store = request.app.stores.get("login_failures")
        try:
            caller = await authenticate(data.email, data.password, store, client)
        except (NotAuthenticated, TooManyAttempts) as exc:
            return Template(
                "accounts/login.html.jinja2",
                context={"next": data.next, "error": exc.message, "email": data.email},
                status_code=exc.status_code,
            )
        request.clear_session()
        request.set_session({"user_id": caller.id})
        return Redirect(path=safe_next(data.next) or home_for(caller))

    @post("/logout")
    async def sign_out(self, request: Request) -> Redirect:
        request.clear_session()
        return Redirect(path="/login")
