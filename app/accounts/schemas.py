"""What the people-and-access API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.accounts.passwords import MIN_LENGTH
from app.accounts.services import (
    MAX_PASSWORD_LENGTH,
    DepartmentInfo,
    Me,
    OrganizationInfo,
    Page,
    UserInfo,
)
from app.openapi import json_int
from app.schema import MAX_ID

# An address is checked here for its form only (400) and fully by the services (422 naming it):
# email-validator refuses some addresses that the document's `format: email` allows (those of
# special-use domains such as .test), and the document must not promise what is then refused.
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$", json_schema_extra={"format": "email"})]
Password = Annotated[str, Field(min_length=MIN_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
PersonName = Annotated[str, Field(min_length=1, max_length=100)]
CustomerRole = Literal["customer_admin", "customer_member"]  # app.accounts.tables.CUSTOMER_ROLES
StaffRole = Literal["agent", "finance", "admin"]  # app.accounts.tables.STAFF_ROLES
Locale = Literal["ja", "en"]  # app.i18n.LOCALES


class _Input(BaseModel):
    # Strict: 5 is not a name and "true" is not a boolean; unknown fields are refused by name.
    # Values are checked as sent, as the document states them (the services trim names, codes
    # and addresses, and refuse a blank one with 422); a password is taken as typed.
    model_config = ConfigDict(strict=True, extra="forbid")


class TokenRequest(_Input):
    email: Annotated[str, Field(min_length=1, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class TokenRead(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class OrganizationCreate(_Input):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{2,32}$", description="Customer code, unique")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    address: Annotated[str, Field(max_length=1000)] = ""
    billing_contact_name: Annotated[str, Field(max_length=100)] = ""
    billing_email: Email | Literal[""] = ""
    phone: Annotated[str, Field(max_length=40, pattern=r"^[0-9+\-() ]*$")] = ""


class CustomerUserCreate(_Input):
    email: Email
    name: PersonName
    role: CustomerRole
    password: Password | None = Field(default=None, description="Without one, the user cannot sign in yet")
    locale: Locale = "ja"


class StaffCreate(_Input):
    email: Email
    name: PersonName
    role: StaffRole
    department: (
        json_int(gt=0, le=MAX_ID) | Annotated[str, Field(min_length=1, max_length=100)] | None
    ) = Field(default=None, description="A department id or name")
    password: Password | None = Field(default=None, description="Without one, the user cannot sign in yet")
    locale: Locale = "ja"


class DepartmentRead(BaseModel):
    id: int
    name: str

    @classmethod
    def of(cls, department: DepartmentInfo) -> DepartmentRead:
        return cls(id=department.id, name=department.name)


class OrganizationRead(BaseModel):
    id: int
    code: str
    name: str
    address: str
    billing_contact_name: str
    billing_email: str
    phone: str
    default_department_id: int | None
    default_assignee_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, organization: OrganizationInfo) -> OrganizationRead:
        return cls.model_validate(organization, from_attributes=True)


class OrganizationPage(BaseModel):
    items: list[OrganizationRead]
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page) -> OrganizationPage:
        return cls(items=[OrganizationRead.of(o) for o in page.items], next_cursor=page.next_cursor)


class UserRead(BaseModel):
    id: int
    email: str
    name: str
    role: StaffRole | CustomerRole
    organization_id: int | None
    department_id: int | None
    locale: Locale
    is_active: bool
    can_sign_in: bool
    created_at: datetime

    @classmethod
    def of(cls, user: UserInfo) -> UserRead:
        return cls(
            id=user.id, email=user.email, name=user.name, role=user.role,
            organization_id=user.organization_id, department_id=user.department_id, locale=user.locale,
            is_active=user.is_active, can_sign_in=user.is_active and user.has_password, created_at=user.created_at,
        )


class UserList(BaseModel):
    items: list[UserRead]
    next_cursor: str | None = None


class OrganizationBrief(BaseModel):
    id: int
    code: str
    name: str


class MeRead(BaseModel):
    id: int
    email: str
    name: str
    role: StaffRole | CustomerRole
    locale: Locale
    organization: OrganizationBrief | None
    department: DepartmentRead | None

    @classmethod
    def of(cls, me: Me) -> MeRead:
        organization = me.organization
        return cls(
            id=me.user.id, email=me.user.email, name=me.user.name, role=me.user.role, locale=me.user.locale,
            organization=(
                OrganizationBrief(id=organization.id, code=organization.code, name=organization.name)
                if organization else None
            ),
            department=DepartmentRead.of(me.department) if me.department else None,
        )
