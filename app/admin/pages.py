"""The administrator's pages (/admin): departments, staff, organisations and their users,
request types, custom fields.

Plain forms: a refused form is shown again with the message next to the field and what was
typed kept; a change that worked redirects back with a one-time message.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel

from app.accounts import security_log
from app.accounts import services as people
from app.accounts.guards import caller_of, client_info, requires_admin
from app.accounts.pages import FORM, flash, form_errors, pop_flash, role_label
from app.accounts.tables import CUSTOMER_ROLES, STAFF_ROLES
from app.admin import services
from app.errors import Conflict, InvalidInput
from app.i18n import _, pgettext
from app.invoices import services as invoices
from app.schema import MAX_ID
from app.tickets.attachments import storage_use

REFUSED = (InvalidInput, Conflict)
# Which entry of the admin menu a page belongs to.
SECTIONS = {
    "organization_new": "organizations",
    "organization": "organizations",
    "request_type": "request_types",
    "custom_field": "custom_fields",
    "user_security": "staff",
}


def field_type_label(field_type: str) -> str:
    labels = {
        "text": _("Text"),
        # "Number" alone is a request's number (受付番号); a field's type is a kind of value (数値).
        "number": pgettext("field type", "Number"),
        "date": _("Date"),
        "choice": _("Choice"),
    }
    return labels.get(field_type, field_type)


def optional_id(value: str, field: str) -> int | None:
    """An id chosen in a <select>; empty means none."""
    value = value.strip()
    if not value:
        return None
    if not value.isdecimal() or len(value) > 10 or int(value) > MAX_ID:
        raise InvalidInput(_("Choose one of the listed options."), field=field)
    return int(value)


def checked(value: str) -> bool:
    return value not in ("", "0", "off", "false")


class NameForm(BaseModel):
    name: str = ""


class StaffForm(BaseModel):
    email: str = ""
    name: str = ""
    role: str = "agent"
    department: str = ""
    password: str = ""


class DepartmentChoiceForm(BaseModel):
    department: str = ""


class ActiveForm(BaseModel):
    active: str = ""
    back: str = ""


class PasswordForm(BaseModel):
    password: str = ""
    back: str = ""


class OrganizationForm(BaseModel):
    code: str = ""
    name: str = ""
    address: str = ""
    billing_contact_name: str = ""
    billing_email: str = ""
    phone: str = ""


class RoutingForm(BaseModel):
    department: str = ""
    assignee: str = ""


class CustomerUserForm(BaseModel):
    email: str = ""
    name: str = ""
    role: str = "customer_member"
    password: str = ""


class RequestTypeForm(BaseModel):
    code: str = ""
    name_ja: str = ""
    name_en: str = ""
    sort_order: str = "0"
    is_active: str = ""


class CustomFieldForm(BaseModel):
    key: str = ""
    label_ja: str = ""
    label_en: str = ""
    field_type: str = "text"
    choices: str = ""
    required: str = ""
    visible_to_customers: str = ""
    sort_order: str = "0"
    is_active: str = ""


def admin_back(target: str, fallback: str) -> str:
    """Return to an admin page only (a form's `back` field is never trusted beyond /admin/)."""
    return target if target.startswith("/admin/") and not target.startswith("//") else fallback


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Template:
    return Template(
        f"admin/{name}.html.jinja2",
        context={
            "flash": pop_flash(request),
            "role_label": role_label,
            "field_type_label": field_type_label,
            "role_options": lambda roles: [(r, role_label(r)) for r in roles],
            "type_options": lambda types: [(t, field_type_label(t)) for t in types],
            "section": SECTIONS.get(name, name),
            **context,
        },
        status_code=status_code,
    )


class AdminController(Controller):
    path = "/admin"
    guards = [requires_admin]
    include_in_schema = False

    @get("/")
    async def admin_home(self, request: Request) -> Template:
        return page(request, "index", issuer_ready=await invoices.issuer_ready())

    # ------------------------------------------------------------ departments

    async def _departments(self, request: Request, status_code: int = 200, **context: Any) -> Template:
        caller = caller_of(request)
        departments = await people.list_departments(caller)
        staff = await people.list_staff(caller)
        counts = {d.id: sum(1 for s in staff if s.department_id == d.id and s.is_active) for d in departments}
        context = {"errors": {}, "values": {}, "rename_errors": {}, "rename_id": None, **context}
        return page(request, "departments", status_code, departments=departments, counts=counts, **context)

    @get("/departments")
    async def departments_page(self, request: Request) -> Template:
        return await self._departments(request)

    @post("/departments")
    async def create_department(self, request: Request, data: Annotated[NameForm, FORM]) -> Template | Redirect:
        try:
            department = await people.create_department(caller_of(request), data.name)
        except REFUSED as exc:
            return await self._departments(request, exc.status_code, errors=form_errors(exc), values=data.model_dump())
        flash(request, _("The department \"{name}\" was added.", name=department.name))
        return Redirect(path="/admin/departments")

    @post("/departments/{department_id:int}")
    async def rename_department(
        self, request: Request, department_id: FromPath[int], data: Annotated[NameForm, FORM]
    ) -> Template | Redirect:
        try:
            department = await people.rename_department(caller_of(request), department_id, data.name)
        except REFUSED as exc:
            return await self._departments(
                request, exc.status_code, rename_errors=form_errors(exc), rename_id=department_id,
                rename_value=data.name,
            )
        flash(request, _("The department was renamed to \"{name}\".", name=department.name))
        return Redirect(path="/admin/departments")

    # ------------------------------------------------------------ staff

    async def _staff(self, request: Request, status_code: int = 200, **context: Any) -> Template:
        caller = caller_of(request)
        context = {"errors": {}, "values": {"role": "agent"}, **context}
        return page(
            request, "staff", status_code,
            staff=await people.list_staff(caller),
            department_options=[(d.id, d.name) for d in await people.list_departments(caller)],
            staff_roles=STAFF_ROLES,
            **context,
        )

    @get("/staff")
    async def staff_page(self, request: Request) -> Template:
        return await self._staff(request)

    @post("/staff")
    async def create_staff(self, request: Request, data: Annotated[StaffForm, FORM]) -> Template | Redirect:
        try:
            user = await people.create_staff_user(
                caller_of(request), email=data.email, name=data.name, role=data.role,
                department=optional_id(data.department, "department"), password=data.password or None,
            )
        except REFUSED as exc:
            return await self._staff(request, exc.status_code, errors=form_errors(exc), values=data.model_dump())
        flash(request, _("{name} was added.", name=user.name))
        return Redirect(path="/admin/staff")

    @post("/staff/{user_id:int}/department")
    async def move_staff(
        self, request: Request, user_id: FromPath[int], data: Annotated[DepartmentChoiceForm, FORM]
    ) -> Template | Redirect:
        try:
            user = await people.set_user_department(
                caller_of(request), user_id, optional_id(data.department, "department")
            )
        except REFUSED as exc:
            return await self._staff(request, exc.status_code, errors=form_errors(exc))
        flash(request, _("The department of {name} was changed.", name=user.name))
        return Redirect(path="/admin/staff")

    # ------------------------------------------------------------ any user: (de)activate, password

    @post("/users/{user_id:int}/active")
    async def set_user_active(
        self, request: Request, user_id: FromPath[int], data: Annotated[ActiveForm, FORM]
    ) -> Redirect:
        back = admin_back(data.back, "/admin/staff")
        try:
            user = await people.set_user_active(caller_of(request), user_id, checked(data.active))
        except InvalidInput as exc:
            flash(request, exc.message)
            return Redirect(path=back)
        flash(request, _("{name} was reactivated.", name=user.name) if user.is_active
              else _("{name} was deactivated.", name=user.name))
        return Redirect(path=back)

    @post("/users/{user_id:int}/password")
    async def set_user_password(
        self, request: Request, user_id: FromPath[int], data: Annotated[PasswordForm, FORM]
    ) -> Redirect:
        back = admin_back(data.back, "/admin/staff")
        try:
            user = await people.set_user_password(caller_of(request), user_id, data.password, client_info(request))
        except InvalidInput as exc:
            flash(request, exc.message)
            return Redirect(path=back)
        flash(request, _("A new password was set for {name}. Their sessions were ended and their API tokens revoked.",
                         name=user.name))
        return Redirect(path=back)

    @get("/users/{user_id:int}/security")
    async def user_security_log(self, request: Request, user_id: FromPath[int]) -> Template:
        caller = caller_of(request)
        user = await people.get_user(caller, user_id)
        events = await security_log.list_events(caller, user_id)
        return page(request, "user_security", user=user, events=events)

    # ------------------------------------------------------------ organisations

    @get("/organizations")
    async def organizations_page(self, request: Request, cursor: FromQuery[str] = "") -> Template:
        organizations = await people.list_organizations(caller_of(request), cursor=cursor or None)
        return page(request, "organizations", organizations=organizations)

    @get("/organizations/new")
    async def new_organization_page(self, request: Request) -> Template:
        return page(request, "organization_new", errors={}, values={})

    @post("/organizations")
    async def create_organization(
        self, request: Request, data: Annotated[OrganizationForm, FORM]
    ) -> Template | Redirect:
        try:
            organization = await people.create_organization(caller_of(request), **data.model_dump())
        except REFUSED as exc:
            return page(request, "organization_new", exc.status_code, errors=form_errors(exc), values=data.model_dump())
        flash(request, _("The organisation \"{name}\" was added.", name=organization.name))
        return Redirect(path=f"/admin/organizations/{organization.id}")

    async def _organization(
        self, request: Request, organization_id: int, status_code: int = 200, **context: Any
    ) -> Template:
        caller = caller_of(request)
        organization = await people.get_organization(caller, organization_id)
        staff = await people.list_staff(caller, include_inactive=False)
        context = {
            "values": {k: getattr(organization, k) for k in OrganizationForm.model_fields},
            "errors": {},
            "routing": {
                "department": organization.default_department_id or "",
                "assignee": organization.default_assignee_id or "",
            },
            "routing_errors": {},
            "user_values": {"role": "customer_member"},
            "user_errors": {},
            **context,
        }
        return page(
            request, "organization", status_code,
            organization=organization,
            users=await people.list_organization_users(caller, organization_id),
            department_options=[(d.id, d.name) for d in await people.list_departments(caller)],
            staff_options=[(s.id, f"{s.name} ({role_label(s.role)})") for s in staff],
            customer_roles=CUSTOMER_ROLES,
            storage=await storage_use(caller, organization_id),
            **context,
        )

    @get("/organizations/{organization_id:int}")
    async def organization_page(self, request: Request, organization_id: FromPath[int]) -> Template:
        return await self._organization(request, organization_id)

    @post("/organizations/{organization_id:int}")
    async def update_organization(
        self, request: Request, organization_id: FromPath[int], data: Annotated[OrganizationForm, FORM]
    ) -> Template | Redirect:
        fields = data.model_dump(exclude={"code"})
        try:
            organization = await people.update_organization(caller_of(request), organization_id, **fields)
        except REFUSED as exc:
            values = {**data.model_dump(), "code": (await people.get_organization(caller_of(request), organization_id)).code}
            return await self._organization(request, organization_id, exc.status_code, errors=form_errors(exc), values=values)
        flash(request, _("The organisation \"{name}\" was saved.", name=organization.name))
        return Redirect(path=f"/admin/organizations/{organization_id}")

    @post("/organizations/{organization_id:int}/routing")
    async def set_routing(
        self, request: Request, organization_id: FromPath[int], data: Annotated[RoutingForm, FORM]
    ) -> Template | Redirect:
        try:
            await people.set_routing(
                caller_of(request), organization_id,
                department_id=optional_id(data.department, "department"),
                assignee_id=optional_id(data.assignee, "assignee"),
            )
        except REFUSED as exc:
            return await self._organization(
                request, organization_id, exc.status_code, routing_errors=form_errors(exc), routing=data.model_dump()
            )
        flash(request, _("The routing defaults were saved."))
        return Redirect(path=f"/admin/organizations/{organization_id}")

    @post("/organizations/{organization_id:int}/users")
    async def create_customer_user(
        self, request: Request, organization_id: FromPath[int], data: Annotated[CustomerUserForm, FORM]
    ) -> Template | Redirect:
        try:
            user = await people.create_customer_user(
                caller_of(request), organization_id, email=data.email, name=data.name, role=data.role,
                password=data.password or None,
            )
        except REFUSED as exc:
            return await self._organization(
                request, organization_id, exc.status_code, user_errors=form_errors(exc),
                user_values={**data.model_dump(), "password": ""},
            )
        flash(request, _("{name} was added.", name=user.name))
        return Redirect(path=f"/admin/organizations/{organization_id}")

    # ------------------------------------------------------------ request types

    async def _request_types(self, request: Request, status_code: int = 200, **context: Any) -> Template:
        context = {"errors": {}, "values": {"sort_order": "0"}, **context}
        return page(
            request, "request_types", status_code,
            request_types=await services.list_request_types(caller_of(request)), **context,
        )

    @get("/request-types")
    async def request_types_page(self, request: Request) -> Template:
        return await self._request_types(request)

    @post("/request-types")
    async def create_request_type(
        self, request: Request, data: Annotated[RequestTypeForm, FORM]
    ) -> Template | Redirect:
        try:
            request_type = await services.create_request_type(
                caller_of(request), code=data.code, name_ja=data.name_ja, name_en=data.name_en,
                sort_order=data.sort_order,
            )
        except REFUSED as exc:
            return await self._request_types(request, exc.status_code, errors=form_errors(exc), values=data.model_dump())
        flash(request, _("The request type \"{code}\" was added.", code=request_type.code))
        return Redirect(path="/admin/request-types")

    @get("/request-types/{request_type_id:int}")
    async def request_type_page(self, request: Request, request_type_id: FromPath[int]) -> Template:
        request_type = await services.get_request_type(caller_of(request), request_type_id)
        values = {
            "name_ja": request_type.name_ja, "name_en": request_type.name_en,
            "sort_order": request_type.sort_order, "is_active": request_type.is_active,
        }
        return page(request, "request_type", request_type=request_type, values=values, errors={})

    @post("/request-types/{request_type_id:int}")
    async def update_request_type(
        self, request: Request, request_type_id: FromPath[int], data: Annotated[RequestTypeForm, FORM]
    ) -> Template | Redirect:
        caller = caller_of(request)
        try:
            request_type = await services.update_request_type(
                caller, request_type_id, name_ja=data.name_ja, name_en=data.name_en,
                sort_order=data.sort_order, is_active=checked(data.is_active),
            )
        except REFUSED as exc:
            values = {**data.model_dump(), "is_active": checked(data.is_active)}
            return page(
                request, "request_type", exc.status_code,
                request_type=await services.get_request_type(caller, request_type_id),
                values=values, errors=form_errors(exc),
            )
        flash(request, _("The request type \"{code}\" was saved.", code=request_type.code))
        return Redirect(path="/admin/request-types")

    # ------------------------------------------------------------ custom fields

    async def _custom_fields(self, request: Request, status_code: int = 200, **context: Any) -> Template:
        context = {
            "errors": {},
            "values": {"field_type": "text", "sort_order": "0", "visible_to_customers": True},
            **context,
        }
        return page(
            request, "custom_fields", status_code,
            custom_fields=await services.list_custom_fields(caller_of(request)),
            field_types=services.FIELD_TYPES, **context,
        )

    @get("/custom-fields")
    async def custom_fields_page(self, request: Request) -> Template:
        return await self._custom_fields(request)

    @post("/custom-fields")
    async def create_custom_field(
        self, request: Request, data: Annotated[CustomFieldForm, FORM]
    ) -> Template | Redirect:
        try:
            field = await services.create_custom_field(
                caller_of(request), key=data.key, label_ja=data.label_ja, label_en=data.label_en,
                field_type=data.field_type, choices=data.choices, required=checked(data.required),
                visible_to_customers=checked(data.visible_to_customers), sort_order=data.sort_order,
            )
        except REFUSED as exc:
            values = {
                **data.model_dump(), "required": checked(data.required),
                "visible_to_customers": checked(data.visible_to_customers),
            }
            return await self._custom_fields(request, exc.status_code, errors=form_errors(exc), values=values)
        flash(request, _("The custom field \"{key}\" was added.", key=field.key))
        return Redirect(path="/admin/custom-fields")

    @get("/custom-fields/{field_id:int}")
    async def custom_field_page(self, request: Request, field_id: FromPath[int]) -> Template:
        field = await services.get_custom_field(caller_of(request), field_id)
        values = {
            "label_ja": field.label_ja, "label_en": field.label_en, "field_type": field.field_type,
            "choices": "\n".join(field.choices), "required": field.required,
            "visible_to_customers": field.visible_to_customers, "sort_order": field.sort_order,
            "is_active": field.is_active,
        }
        return page(
            request, "custom_field", field=field, values=values, errors={}, field_types=services.FIELD_TYPES
        )

    @post("/custom-fields/{field_id:int}")
    async def update_custom_field(
        self, request: Request, field_id: FromPath[int], data: Annotated[CustomFieldForm, FORM]
    ) -> Template | Redirect:
        caller = caller_of(request)
        try:
            field = await services.update_custom_field(
                caller, field_id, label_ja=data.label_ja, label_en=data.label_en, field_type=data.field_type,
                choices=data.choices, required=checked(data.required),
                visible_to_customers=checked(data.visible_to_customers), sort_order=data.sort_order,
                is_active=checked(data.is_active),
            )
        except REFUSED as exc:
            values = {
                **data.model_dump(), "required": checked(data.required),
                "visible_to_customers": checked(data.visible_to_customers), "is_active": checked(data.is_active),
            }
            return page(
                request, "custom_field", exc.status_code, field=await services.get_custom_field(caller, field_id),
                values=values, errors=form_errors(exc), field_types=services.FIELD_TYPES,
            )
        flash(request, _("The custom field \"{key}\" was saved.", key=field.key))
        return Redirect(path="/admin/custom-fields")
