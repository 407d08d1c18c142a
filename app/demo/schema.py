"""What the demo's data files (app/demo/data/, described in its README.md) may say.

The loader checks each file against these models as it reads it. A name that refers to another
entry (a request's requester, a company's department) or to one of the app's vocabularies (a
category, a status) is checked against the names the loader passes as the validation context,
so a misspelt name is reported in the file and the entry that use it. Where the app has a type of
its own for a thing (a bundle, a line of the point table, the issuer), the file is read into that
type, so the data obeys the app's rules.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, WrapValidator, model_validator

from app.errors import KippuError
from billing.issuer import IssuerSettings
from pricing.errors import PricingError
from pricing.rules import Bundle, PrioritySurcharge, RequestTypePrice


class _Entry(BaseModel):
    # A misspelt key is an error, not a silently ignored value.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known(kind: str) -> AfterValidator:
    """A name of `kind`: one of context[kind]."""

    def check(name: str, info: ValidationInfo) -> str:
        names = info.context[kind]
        if name not in names:
            raise ValueError(f"no {kind} {name!r} (there are: {', '.join(names)})")
        return name

    return AfterValidator(check)


def _by_the_app_rules(value: Any, handler: Any) -> Any:
    # The app's own types refuse bad values with their own errors; Pydantic reports only
    # ValueError with the place it happened.
    try:
        return handler(value)
    except (KippuError, PricingError) as exc:
        raise ValueError(exc.message) from exc


AppRules = WrapValidator(_by_the_app_rules)
StaffKey = Annotated[str, _known("staff member")]
PersonKey = Annotated[str, _known("person")]
CustomerKey = Annotated[str, _known("customer")]
DepartmentName = Annotated[str, _known("department")]
RequestTypeCode = Annotated[str, _known("request type")]
CustomFieldKey = Annotated[str, _known("custom field")]
CompanyCode = Annotated[str, _known("company")]
BundleCode = Annotated[str, _known("bundle")]
Category = Annotated[str, _known("category")]


# ---------------------------------------------------------------------------------------------
# vendor.toml


class StaffMember(_Entry):
    role: Literal["admin", "finance", "agent"]
    email: str
    name: str  # family name first, as the letters use it
    department: str | None = None


class CustomField(_Entry):
    # The arguments of app.admin.services.create_custom_field.
    key: str
    label_ja: str
    label_en: str
    field_type: str
    choices: list[str] | None = None
    required: bool = False
    visible_to_customers: bool = True


class PointTable(_Entry):
    note: str
    surcharges: list[Annotated[PrioritySurcharge, AppRules]] = []


class Vendor(_Entry):
    password: str
    departments: list[str]
    staff: dict[str, StaffMember]
    issuer: IssuerSettings
    point_table: PointTable
    request_types: list[Annotated[RequestTypePrice, AppRules]]
    bundles: list[Annotated[Bundle, AppRules]]
    custom_fields: list[CustomField] = []

    def first(self, role: str) -> str:
        """The key of the first staff member with this role: the admin sets the demo up, finance
        records the payments and grants."""
        return next(key for key, member in self.staff.items() if member.role == role)

    @model_validator(mode="after")
    def _check_staff(self) -> Vendor:
        for key, member in self.staff.items():
            if member.department is not None and member.department not in self.departments:
                raise ValueError(f"staff {key!r}: no department {member.department!r} in departments")
        if {"admin", "finance"} - {member.role for member in self.staff.values()}:
            raise ValueError("the staff need an admin and a finance member")
        return self


# ---------------------------------------------------------------------------------------------
# customers.toml


class CustomerPerson(_Entry):
    role: Literal["customer_admin", "customer_member"]
    email: str
    name: str


class Company(_Entry):
    name: str
    address: str = ""
    billing_contact_name: str = ""
    billing_email: str = ""
    phone: str = ""
    department: DepartmentName  # where its new requests go
    assignee: StaffKey | None = None  # and to whom, if to anyone
    approval_limit: int | None = None
    people: dict[str, CustomerPerson]

    @property
    def admin(self) -> str:
        """The key of its customer admin, who buys and adds the company's other people."""
        return next(key for key, person in self.people.items() if person.role == "customer_admin")

    @model_validator(mode="after")
    def _has_an_admin(self) -> Company:
        if not any(person.role == "customer_admin" for person in self.people.values()):
            raise ValueError("a company needs a customer_admin among its people")
        return self


class Customers(_Entry):
    companies: dict[str, Company]


# ---------------------------------------------------------------------------------------------
# points.toml


class Purchase(_Entry):
    company: CompanyCode
    bundle: BundleCode
    quantity: int = Field(ge=1)
    days_ago: int = Field(ge=0)
    method: Literal["invoice", "card"]
    paid_after_days: int | None = Field(default=None, ge=0)  # invoice: the bank transfer; none: unpaid

    @model_validator(mode="after")
    def _only_invoices_are_paid_later(self) -> Purchase:
        if self.method == "card" and self.paid_after_days is not None:
            raise ValueError("a card purchase is paid at once: no paid_after_days")
        return self


class Grant(_Entry):
    company: CompanyCode
    points: int = Field(ge=1)
    reason: str
    days_ago: int = Field(ge=0)
    valid_months: int = Field(ge=1)


class Points(_Entry):
    purchases: list[Purchase] = []
    grants: list[Grant] = []


# ---------------------------------------------------------------------------------------------
# story.toml

# The steps a request's story is told in; the README of the data folder says what each does.
Verb = Literal[
    "take", "assign", "move", "note", "answer", "ask", "fix", "overage", "waive",
    "reply", "withdraw", "follow_up", "resolve", "close", "cancel",
]
CUSTOMER_VERBS = ("reply", "withdraw", "follow_up")  # done by the requester unless `by` says otherwise


class Urgent(_Entry):
    factor: float = Field(gt=0)
    steps: list[Verb]


class DefaultText(_Entry):
    answer: str
    fix: str


class StoryRules(_Entry):
    letter: str
    pace: dict[Verb, tuple[float, float]]
    urgent: Urgent
    minutes: dict[Verb, list[int]]
    minutes_by_category: dict[Category, dict[Verb, list[int]]] = {}
    default_text: DefaultText

    @model_validator(mode="after")
    def _every_step_has_a_pace(self) -> StoryRules:
        missing = [verb for verb in get_args(Verb) if verb not in self.pace]
        if missing:
            raise ValueError(f"pace: no pause given for {', '.join(missing)}")
        return self

    def minutes_for(self, verb: str, category: str) -> list[int]:
        return self.minutes_by_category.get(category, {}).get(verb) or self.minutes[verb]


# ---------------------------------------------------------------------------------------------
# requests/*.toml


class _Step(_Entry):
    by: PersonKey | None = None  # default: the requester for CUSTOMER_VERBS, else the owner


class Take(_Step):
    do: Literal["take"]
    by: StaffKey  # the new owner


class Assign(_Step):
    do: Literal["assign"]
    by: StaffKey
    to: StaffKey  # the new owner


class Move(_Step):
    do: Literal["move"]
    department: DepartmentName


class Message(_Step):
    do: Literal["note", "ask", "reply", "withdraw", "follow_up"]
    text: str = Field(min_length=1)


class Answer(_Step):
    do: Literal["answer"]
    text: str = ""  # empty: story.toml's default_text


class Fix(_Step):
    do: Literal["fix"]
    text: str = ""  # empty: story.toml's default_text
    resolve: bool = False  # the reply also marks the request resolved


class Overage(_Step):
    do: Literal["overage"]
    minutes: int = Field(ge=1)
    reason: str = Field(min_length=1)


class Waive(_Step):
    do: Literal["waive"]
    reason: str = Field(min_length=1)


class StatusChange(_Step):
    do: Literal["resolve", "close", "cancel"]


Step = Annotated[
    Take | Assign | Move | Message | Answer | Fix | Overage | Waive | StatusChange, Field(discriminator="do")
]


class Attachment(_Entry):
    name: str
    text: str


class Scenario(_Entry):
    """One request: how it was filed and what happened to it afterwards."""

    requester: CustomerKey
    filed_by: StaffKey | None = None  # staff who filed it for the requester (a phone call)
    type: RequestTypeCode
    category: Category
    priority: Annotated[str, _known("priority")]
    status: Annotated[str, _known("status")]  # where the story leaves it (checked when played)
    days_ago: float = Field(ge=0)  # when it was filed; a resolved request: when it was resolved
    subject: str
    body: str
    # A whole number for a date field: that many days after filing.
    custom_fields: dict[CustomFieldKey, str | int] = {}
    files: list[Attachment] = []
    story: list[Step] = []


class Requests(_Entry):
    # Each file draws its requests' pauses and minutes from a generator of its own, so a file
    # added or changed leaves the times of the others alone.
    seed: int
    requests: list[Scenario]
