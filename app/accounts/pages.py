"""Sign-in and sign-out pages, and the signed-in user's own settings page (/account)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel

from app.accounts import security_log, services
from app.accounts.caller import Caller
from app.accounts.guards import caller_of, client_info, requires_login
from app.accounts.sessions import current_session_hash, end_session, renew_session_id, start_session
from app.accounts.services import authenticate
from app.errors import Conflict, InvalidInput, KippuError, NotAuthenticated, NotFound, TooManyAttempts
from app.i18n import N_, _, set_locale


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
        try:
            caller = await authenticate(data.email, data.password, client_info(request))
        except (NotAuthenticated, TooManyAttempts) as exc:
            return Template(
                "accounts/login.html.jinja2",
                context={"next": data.next, "error": exc.message, "email": data.email},
                status_code=exc.status_code,
                headers=exc.headers,
            )
        start_session(request, caller.id)
        return Redirect(path=safe_next(data.next) or home_for(caller))

    @post("/logout")
    async def sign_out(self, request: Request) -> Redirect:
        caller = request.scope.get("user")
        if caller is not None:
            await services.record_sign_out(caller, client_info(request))
        end_session(request)
        return Redirect(path="/login")


# ---------------------------------------------------------------- one's own account


def flash(request: Request, message: str) -> None:
    """A one-time message shown on the next page (kept in the server-side session)."""
    request.set_session({**(request.session or {}), "flash": message})


def pop_flash(request: Request) -> str | None:
    session = request.session or {}
    message = session.get("flash")
    if message is not None:
        request.set_session({k: v for k, v in session.items() if k != "flash"})
    return message


def form_errors(exc: KippuError) -> dict[str, str]:
    """The message of a refused form, keyed by the field it is about ("form" when none)."""
    return {str(exc.extra.get("field") or "form"): exc.message}


FORM = Body(media_type=RequestEncodingType.URL_ENCODED)

# English source text, translated where shown.
ROLE_LABELS = {
    "admin": N_("Administrator"),
    "agent": N_("Agent"),
    "finance": N_("Finance"),
    "customer_admin": N_("Customer administrator"),
    "customer_member": N_("Customer member"),
}


def role_label(role: str) -> str:
    return _(ROLE_LABELS.get(role, role))


class ProfileForm(BaseModel):
    name: str = ""
    locale: str = ""


class PasswordForm(BaseModel):
    current_password: str = ""
    new_password: str = ""
    confirm_password: str = ""
    revoke_tokens: str = ""


class TokenForm(BaseModel):
    name: str = ""


class MemberForm(BaseModel):
    email: str = ""
    name: str = ""
    role: str = "customer_member"
    password: str = ""


class ActiveForm(BaseModel):
    active: str = ""


class AccountController(Controller):
    """The user's own settings: name, language, password, API tokens; members for customer admins."""

    path = "/account"
    guards = [requires_login]
    include_in_schema = False

    async def _page(self, request: Request, status_code: int = 200, **context) -> Template:
        caller = caller_of(request)
        me = await services.describe(caller)
        context.setdefault("profile", {"name": me.user.name, "locale": me.user.locale})
        return Template(
            "accounts/settings.html.jinja2",
            context={
                "account": me,
                "tokens": await services.list_api_tokens(caller),
                "sessions": await services.list_sessions(caller, current_session_hash(request)),
                "security_events": await security_log.list_events(caller, caller.id),
                "flash": pop_flash(request),
                "role_label": role_label,
                "profile_errors": {},
                "password_errors": {},
                "token_errors": {},
                "token_name": "",
                "new_token": None,
                **context,
            },
            status_code=status_code,
        )

    @get("/")
    async def account_page(self, request: Request) -> Template:
        return await self._page(request)

    @post("/profile")
    async def update_profile(self, request: Request, data: Annotated[ProfileForm, FORM]) -> Template | Redirect:
        try:
            user = await services.update_profile(caller_of(request), name=data.name, locale=data.locale)
        except InvalidInput as exc:
            return await self._page(request, 422, profile_errors=form_errors(exc), profile=data.model_dump())
        set_locale(user.locale)  # the confirmation already speaks the newly chosen language
        flash(request, _("Your settings were saved."))
        return Redirect(path="/account")

    @post("/password")
    async def change_password(self, request: Request, data: Annotated[PasswordForm, FORM]) -> Template | Redirect:
        try:
            if data.new_password != data.confirm_password:
                raise InvalidInput(_("The two new passwords differ."), field="confirm_password")
            await services.change_own_password(
                caller_of(request),
                current_password=data.current_password,
                new_password=data.new_password,
                client=client_info(request),
                keep_session=current_session_hash(request),
                revoke_tokens=data.revoke_tokens == "on",
            )
        except InvalidInput as exc:
            return await self._page(request, 422, password_errors=form_errors(exc))
        # A fresh session id for this browser too: its old one may have been seen with the old password.
        renew_session_id(request)
        flash(request, _("Your password was changed. You were signed out on every other browser.")
              + (" " + _("Your API tokens were revoked.") if data.revoke_tokens == "on" else ""))
        return Redirect(path="/account")

    @post("/sessions/end-others")
    async def end_other_sessions(self, request: Request) -> Redirect:
        ended = await services.end_other_sessions(
            caller_of(request), keep_session=current_session_hash(request), client=client_info(request)
        )
        flash(request, _("Signed out on other browsers: {count}.", count=ended))
        return Redirect(path="/account#sessions")

    @post("/tokens")
    async def create_token(self, request: Request, data: Annotated[TokenForm, FORM]) -> Template:
        try:
            token, info = await services.create_api_token(caller_of(request), data.name, client_info(request))
        except InvalidInput as exc:
            return await self._page(request, 422, token_errors=form_errors(exc), token_name=data.name)
        # Shown on this response only: the token is stored hashed and cannot be displayed again.
        return await self._page(request, 201, new_token={"token": token, "name": info.name})

    @post("/tokens/{token_id:int}/revoke")
    async def revoke_token(self, request: Request, token_id: FromPath[int]) -> Redirect:
        await services.revoke_api_token(caller_of(request), token_id, client_info(request))
        flash(request, _("The token was revoked. Programs using it can no longer sign in with it."))
        return Redirect(path="/account")

    @post("/tokens/revoke-all")
    async def revoke_all_tokens(self, request: Request) -> Redirect:
        count = await services.revoke_all_api_tokens(caller_of(request), client_info(request))
        flash(request, _("API tokens revoked: {count}", count=count))
        return Redirect(path="/account#tokens")

    # A customer admin manages its own organisation's members here.

    async def _members_page(self, request: Request, status_code: int = 200, **context) -> Template:
        caller = caller_of(request)
        if caller.organization_id is None:
            raise NotFound(_("This page does not exist."))
        return Template(
            "accounts/members.html.jinja2",
            context={
                "organization": await services.get_organization(caller, caller.organization_id),
                "users": await services.list_organization_users(caller, caller.organization_id),
                "flash": pop_flash(request),
                "role_label": role_label,
                "errors": {},
                "values": {"role": "customer_member"},
                **context,
            },
            status_code=status_code,
        )

    @get("/members")
    async def members_page(self, request: Request) -> Template:
        return await self._members_page(request)

    @post("/members")
    async def add_member(self, request: Request, data: Annotated[MemberForm, FORM]) -> Template | Redirect:
        caller = caller_of(request)
        if caller.organization_id is None:
            raise NotFound(_("This page does not exist."))
        try:
            user = await services.create_customer_user(
                caller, caller.organization_id, email=data.email, name=data.name, role=data.role,
                password=data.password or None,
            )
        except (InvalidInput, Conflict) as exc:
            return await self._members_page(request, exc.status_code, errors=form_errors(exc), values=data.model_dump())
        flash(request, _("{name} was added.", name=user.name))
        return Redirect(path="/account/members")

    @post("/members/{user_id:int}/active")
    async def set_member_active(
        self, request: Request, user_id: FromPath[int], data: Annotated[ActiveForm, FORM]
    ) -> Template | Redirect:
        try:
            user = await services.set_user_active(caller_of(request), user_id, data.active == "1")
        except InvalidInput as exc:
            return await self._members_page(request, 422, errors=form_errors(exc))
        flash(request, _("{name} was reactivated.", name=user.name) if user.is_active
              else _("{name} was deactivated.", name=user.name))
        return Redirect(path="/account/members")
