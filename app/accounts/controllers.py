"""The people-and-access JSON API: tokens, the caller, organisations, their users, staff."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from app.accounts import services
from app.accounts.guards import caller_of, client_info, requires_login
from app.accounts.schemas import (
    CustomerUserCreate,
    MeRead,
    OrganizationCreate,
    OrganizationPage,
    OrganizationRead,
    StaffCreate,
    TokenRead,
    TokenRequest,
    UserList,
    UserRead,
)
from app.errors import Duplicate, InvalidInput, NotAllowed, NotAuthenticated
from app.idempotency import IdempotencyKey, respond_once
from app.openapi import CURSOR, errors


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["access"]

    @post("/token", operation_id="CreateAccessToken", status_code=200, summary="A bearer token for e-mail and password",
          responses=errors(NotAuthenticated))
    async def create_access_token(self, request: Request, data: JSONBody[TokenRequest]) -> TokenRead:
        token = await services.issue_token(data.email, data.password, client_info(request))
        return TokenRead(access_token=token)


class MeController(Controller):
    path = "/api/v1/me"
    guards = [requires_login]
    tags = ["access"]

    @get("/", operation_id="GetMe", summary="The caller, its role and organisation")
    async def get_me(self, request: Request) -> MeRead:
        return MeRead.of(await services.describe(caller_of(request)))


class OrganizationController(Controller):
    path = "/api/v1/organizations"
    guards = [requires_login]
    tags = ["organizations"]

    @post("/", operation_id="CreateOrganization", status_code=201, summary="A customer organisation (admin)",
          responses=errors(NotAllowed, Duplicate, InvalidInput))
    async def create_organization(
        self, request: Request, data: JSONBody[OrganizationCreate], idempotency_key: IdempotencyKey = None
    ) -> Response[OrganizationRead]:
        caller = caller_of(request)

        async def run() -> OrganizationRead:
            return OrganizationRead.of(await services.create_organization(caller, **data.model_dump()))

        return await respond_once(request, caller, run, key=idempotency_key, status_code=201)

    @get("/", operation_id="ListOrganizations", summary="Organisations, newest first (a customer sees its own)",
         responses=errors(InvalidInput))
    async def list_organizations(
        self,
        request: Request,
        cursor: Annotated[str | None, QueryParameter(description=CURSOR)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=services.MAX_PAGE_SIZE)] = services.PAGE_SIZE,
    ) -> OrganizationPage:
        return OrganizationPage.of(await services.list_organizations(caller_of(request), cursor=cursor, limit=limit))

    @get("/{organization_id:int}", operation_id="GetOrganization", summary="One organisation")
    async def get_organization(self, request: Request, organization_id: FromPath[int]) -> OrganizationRead:
        return OrganizationRead.of(await services.get_organization(caller_of(request), organization_id))

    @get("/{organization_id:int}/users", operation_id="ListOrganizationUsers", summary="An organisation's users",
         responses=errors(NotAllowed))
    async def list_organization_users(self, request: Request, organization_id: FromPath[int]) -> UserList:
        users = await services.list_organization_users(caller_of(request), organization_id)
        return UserList(items=[UserRead.of(u) for u in users])

    @post("/{organization_id:int}/users", operation_id="CreateOrganizationUser", status_code=201,
          summary="A customer user (admin, or the organisation's customer admin)",
          responses=errors(NotAllowed, Duplicate, InvalidInput))
    async def create_organization_user(
        self, request: Request, organization_id: FromPath[int], data: JSONBody[CustomerUserCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[UserRead]:
        caller = caller_of(request)

        async def run() -> UserRead:
            return UserRead.of(await services.create_customer_user(
                caller, organization_id, email=data.email, name=data.name, role=data.role,
                password=data.password, locale=data.locale,
            ))

        return await respond_once(request, caller, run, key=idempotency_key, status_code=201)


class StaffController(Controller):
    path = "/api/v1/staff"
    guards = [requires_login]
    tags = ["organizations"]

    @post("/", operation_id="CreateStaff", status_code=201, summary="A member of staff: agent, finance or admin (admin)",
          responses=errors(NotAllowed, Duplicate, InvalidInput))
    async def create_staff(
        self, request: Request, data: JSONBody[StaffCreate], idempotency_key: IdempotencyKey = None
    ) -> Response[UserRead]:
        caller = caller_of(request)

        async def run() -> UserRead:
            return UserRead.of(await services.create_staff_user(
                caller, email=data.email, name=data.name, role=data.role, department=data.department,
                password=data.password, locale=data.locale,
            ))

        return await respond_once(request, caller, run, key=idempotency_key, status_code=201)

    @get("/", operation_id="ListStaff", summary="Vendor staff (staff only)", responses=errors(NotAllowed))
    async def list_staff(self, request: Request) -> UserList:
        return UserList(items=[UserRead.of(u) for u in await services.list_staff(caller_of(request))])
