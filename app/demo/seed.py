"""`kippu seed-demo`: the demo data played through the services the pages and the API call.

Everything is made as a user of each role would make it, so the data obeys every rule the app
enforces. First the people, the companies and the vendor's settings; then the time line
(timeline.py): purchases, payments, grants and the requests' steps in the order they happened,
each under `billing.clock.at(its moment)` so the ledger and the documents carry the story's days.
The rows a request step makes are then given its moment too, and the mail it caused counts as
sent then: the first start does not deliver two months of old notifications.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app import db
from app.accounts import services as accounts
from app.accounts.caller import Caller
from app.accounts.passwords import hash_password
from app.accounts.services import SYSTEM, UserInfo
from app.accounts.tables import Department, Organization, User
from app.admin import services as admin
from app.demo.loader import DATA, Demo, DemoDataError, load_demo
from app.demo.schema import Answer, Assign, Fix, Grant, Message, Move, Overage, Purchase, StatusChange, Take, Waive
from app.demo.timeline import PlannedStep, PointEvent, timeline
from app.errors import KippuError, NotAllowed
from app.i18n import _
from app.notifications.tables import OutboxMessage
from app.settings import get_settings
from app.tickets.attachments import Upload
from app.tickets.services import classification, filing, reading, thread, workflow
from app.tickets.services import points as ticket_points
from app.tickets.tables import Attachment, PointChangeRequest, Ticket, TicketEvent, TicketMessage
from billing import clock, ledger, purchases
from billing.invoicing import documents_of_purchase
from billing.issuer import current_issuer, save_issuer
from billing.purchases import PurchaseView
from pricing import services as pricing
from pricing.rules import lot_expiry
from pricing.tables import PointTableVersion

# What a status-changing step sets.
_STATUS_OF = {"resolve": "resolved", "close": "closed", "cancel": "cancelled"}


@dataclass(frozen=True, slots=True)
class DemoLogin:
    role: str
    email: str
    password: str
    name: str
    where: str  # the department or the customer company


@dataclass(frozen=True, slots=True)
class SeedResult:
    created: bool  # False: the demo was there already and nothing changed
    organizations: int
    users: int
    requests: int
    logins: tuple[DemoLogin, ...]


def demo_logins(demo: Demo | None = None) -> tuple[DemoLogin, ...]:
    demo = demo or load_demo()
    vendor = get_settings().vendor_name
    return tuple(
        DemoLogin(
            role=p.role, email=p.email, password=demo.vendor.password, name=p.name,
            where=demo.companies[p.organization].name if p.organization else (p.department or vendor),
        )
        for p in demo.people.values()
    )


async def seed_demo(folder: Path = DATA) -> SeedResult:
    """Load the demo (the data files in `folder`) once, in one transaction: a failure leaves
    nothing half-made. The customer codes of customers.toml mark it: when one exists, nothing
    changes. Never in production: the passwords are fixed and published."""
    if get_settings().environment == "production":
        raise NotAllowed(_("The demo data is never loaded when ENVIRONMENT=production."))
    demo = load_demo(folder)
    now = datetime.now(UTC)
    async with db.write_transaction():
        created = not await Organization.exists().where(Organization.code.is_in(list(demo.companies)))
        if created:
            world = await _create_people(demo)
            await _create_settings(world)
            await _play(world, now)
    return await _summary(demo, created)


async def _summary(demo: Demo, created: bool) -> SeedResult:
    organizations = await Organization.select(Organization.id).where(Organization.code.is_in(list(demo.companies)))
    ids = [o["id"] for o in organizations]
    requests = await Ticket.count().where(Ticket.organization.is_in(ids)) if ids else 0
    users = await User.count().where(User.email.is_in([p.email for p in demo.people.values()]))
    return SeedResult(
        created=created, organizations=len(ids), users=users, requests=requests, logins=demo_logins(demo)
    )


@dataclass
class _World:
    """What the demo made so far, by the names the data files use."""

    demo: Demo
    users: dict[str, UserInfo] = field(default_factory=dict)
    departments: dict[str, int] = field(default_factory=dict)
    new_departments: list[int] = field(default_factory=list)
    organizations: dict[str, int] = field(default_factory=dict)
    purchases: dict[int, PurchaseView] = field(default_factory=dict)  # by place in points.toml
    tickets: dict[int, int] = field(default_factory=dict)  # request's place → ticket id

    def caller(self, key: str) -> Caller:
        user = self.users[key]
        return Caller(
            id=user.id, email=user.email, name=user.name, role=user.role,
            organization_id=user.organization_id, department_id=user.department_id, locale=user.locale,
        )

    def first(self, role: str) -> UserInfo:
        return self.users[self.demo.vendor.first(role)]


# ---------------------------------------------------------------------------------------------
# People, companies and settings


async def _create_people(demo: Demo) -> _World:
    world = _World(demo)
    existing = {d.name: d.id for d in await accounts.list_departments(SYSTEM)}
    for name in demo.vendor.departments:
        if name not in existing:
            existing[name] = (await accounts.create_department(SYSTEM, name)).id
            world.new_departments.append(existing[name])
        world.departments[name] = existing[name]
    for key, member in demo.vendor.staff.items():
        world.users[key] = await accounts.create_staff_user(
            SYSTEM, email=member.email, name=member.name, role=member.role,
            department=world.departments.get(member.department),
        )
    admin_caller = world.caller(demo.vendor.first("admin"))
    for code, company in demo.companies.items():
        organization = await accounts.create_organization(
            admin_caller, code=code, name=company.name, address=company.address,
            billing_contact_name=company.billing_contact_name, billing_email=company.billing_email,
            phone=company.phone,
        )
        world.organizations[code] = organization.id
    for code, company in demo.companies.items():
        for key, person in company.people.items():
            # The company's customer admin adds its other people, as in the portal.
            caller = admin_caller if key == company.admin else world.caller(company.admin)
            world.users[key] = await accounts.create_customer_user(
                caller, world.organizations[code], email=person.email, name=person.name, role=person.role,
            )
    # One Argon2 hash of the shared demo password serves every demo user: hashing costs up to
    # half a second each, and this password is published anyway.
    await User.update({User.password_hash: hash_password(demo.vendor.password)}).where(
        User.id.is_in([u.id for u in world.users.values()])
    )
    for code, company in demo.companies.items():
        await accounts.set_routing(
            admin_caller, world.organizations[code], department_id=world.departments[company.department],
            assignee_id=world.users[company.assignee].id if company.assignee else None,
        )
    return world


async def _create_settings(world: _World) -> None:
    """The request types, the form's fields, the point table, the bundles, the issuer and the
    approval limits; what the installation has already (of another demo, or its own) stays."""
    vendor = world.demo.vendor
    admin_caller = world.caller(vendor.first("admin"))
    known_types = {t.code for t in await admin.list_request_types(admin_caller)}
    for order, price in enumerate(vendor.request_types, start=1):
        if price.code not in known_types:
            await admin.create_request_type(
                admin_caller, code=price.code, name_ja=price.name_ja, name_en=price.name_en, sort_order=order * 10
            )
    known_fields = {f.key for f in await admin.list_custom_fields(admin_caller)}
    for order, custom_field in enumerate(vendor.custom_fields, start=1):
        if custom_field.key not in known_fields:
            await admin.create_custom_field(
                admin_caller, **custom_field.model_dump(exclude_unset=True), sort_order=order * 10
            )
    if not await PointTableVersion.exists().where(PointTableVersion.status == "published"):
        version = await pricing.create_draft(note=vendor.point_table.note)
        for order, price in enumerate(vendor.request_types, start=1):
            await pricing.set_request_type(version, price, sort_order=order * 10)
        for surcharge in vendor.point_table.surcharges:
            await pricing.set_surcharge(version, surcharge)
        await pricing.publish(version)
    if not await pricing.bundles(active_only=False):
        for bundle in vendor.bundles:
            await pricing.save_bundle(bundle)
    if await current_issuer() is None:
        await save_issuer(vendor.issuer, actor_id=world.first("admin").id)
    for company in world.demo.companies.values():
        if company.approval_limit is not None:
            await ticket_points.set_approval_limit(world.caller(company.admin), company.approval_limit)


# ---------------------------------------------------------------------------------------------
# The time line


async def _play(world: _World, now: datetime) -> None:
    events = timeline(world.demo, now)
    for event in events:
        marks = await _high_water_marks()
        # The ledger stamps its entries with billing.clock; the request side is moved afterwards.
        with clock.at(event.at):
            try:
                if isinstance(event, PointEvent):
                    await _perform_points(world, event)
                else:
                    await _perform_step(world, event)
            except KippuError as exc:
                raise DemoDataError(f"{_describe(world.demo, event)}: {exc.message}") from exc
        await _move_into_the_past(event.at, marks, since=now)
    await _check_the_endings(world)
    # The companies, their people and the point table existed a week before the first event.
    await _date_the_setup(world, clock.start_of(clock.day_of(events[0].at) - timedelta(days=7)))


async def _perform_points(world: _World, event: PointEvent) -> None:
    """Buy, pay or grant, as the company's admin and the vendor's finance staff did."""
    day = clock.today()
    organization_id = world.organizations[event.entry.company]
    match event.do, event.entry:
        case "buy", Purchase() as purchase:
            company = world.demo.companies[purchase.company]
            bought = await purchases.start_purchase(
                organization_id, purchase.bundle, purchase.quantity, purchase.method, recipient_name=company.name,
                requested_by=world.users[company.admin].id, today=day,
            )
            if purchase.method == "card":
                await purchases.attach_checkout(bought.id, f"cs_demo_{bought.id}", "")
                await purchases.settle_card_payment(bought.id, paid_at=clock.now(), today=day)
            world.purchases[event.index] = bought
        case "pay", Purchase():
            bought = world.purchases[event.index]
            (invoice,) = await documents_of_purchase(bought.id)
            await purchases.record_payment(
                invoice.id, paid_on=day, amount_jpy=bought.total_jpy, actor_id=world.first("finance").id,
                today=day,
            )
        case "grant", Grant() as grant:
            await ledger.grant(
                organization_id, grant.points, grant.reason, lot_expiry(day, grant.valid_months),
                key=f"demo:{grant.company}:grant:{event.index}", actor_id=world.first("finance").id,
            )


async def _perform_step(world: _World, planned: PlannedStep) -> None:
    """One step of a request's story, through the service its page calls."""
    scenario = world.demo.requests[planned.scenario]
    caller = world.caller(planned.actor)
    step = planned.step
    if step is None:
        world.tickets[planned.scenario] = await _file(world, planned, caller)
        return
    ticket_id = world.tickets[planned.scenario]
    match step:
        case Take():
            await workflow.take(caller, ticket_id, version=await _version(caller, ticket_id))
        case Assign():
            await workflow.assign(
                caller, ticket_id, world.users[step.to].id, version=await _version(caller, ticket_id)
            )
        case Move():
            await classification.update_fields(
                caller, ticket_id, version=await _version(caller, ticket_id),
                department_id=world.departments[step.department],
            )
        case Message(do="note"):
            await thread.add_message(caller, ticket_id, step.text, internal=True, minutes_spent=planned.minutes)
        case Message() | Answer() | Fix():
            text = step.text or getattr(world.demo.rules.default_text, step.do)
            if caller.is_staff:
                text = _letter(world, scenario.requester, planned.actor, text)
            then = None
            if step.do == "ask":
                then = "waiting"
            elif isinstance(step, Fix) and step.resolve:
                then = "resolved"
            await thread.add_message(caller, ticket_id, text, minutes_spent=planned.minutes, then_status=then)
        case Overage():
            await classification.request_overage(caller, ticket_id, step.minutes, step.reason)
        case Waive():
            await workflow.waive(caller, ticket_id, step.reason)
        case StatusChange():
            await workflow.change_status(caller, ticket_id, _STATUS_OF[step.do])


async def _version(caller: Caller, ticket_id: int) -> int:
    """The request's version, which a change of its owner or department must name."""
    return (await reading.ticket_summary(caller, ticket_id)).version


async def _file(world: _World, planned: PlannedStep, caller: Caller) -> int:
    scenario = world.demo.requests[planned.scenario]
    filed_on = planned.at.astimezone(get_settings().zone).date()
    custom = {
        key: value if isinstance(value, str) else (filed_on + timedelta(days=value)).isoformat()
        for key, value in scenario.custom_fields.items()
    }
    requester = world.users[scenario.requester]
    ticket = await filing.create_ticket(
        caller, subject=scenario.subject, body=scenario.body, request_type_code=scenario.type,
        priority=scenario.priority, category=scenario.category, custom_fields=custom,
        organization_id=requester.organization_id if caller.is_staff else None,
        requester_id=requester.id if caller.is_staff else None,
        attachments=[Upload.from_bytes(file.name, file.text.encode()) for file in scenario.files],
    )
    return ticket.id


def _letter(world: _World, customer: str, author: str, text: str) -> str:
    people = world.demo.people
    return world.demo.rules.letter.format(
        customer=people[customer].family_name, vendor=get_settings().vendor_name,
        agent=people[author].family_name, text=text,
    )


def _describe(demo: Demo, event: PlannedStep | PointEvent) -> str:
    if isinstance(event, PointEvent):
        kind = "purchases" if isinstance(event.entry, Purchase) else "grants"
        return f"points.toml, {kind} #{event.index + 1} ({event.do})"
    subject = demo.requests[event.scenario].subject
    return f"the demo request 「{subject}」, step {event.order} ({event.do} by {event.actor})"


async def _check_the_endings(world: _World) -> None:
    """Each story leaves its request in the status its data says (a story that does not would
    still load, as a different demo than its author meant)."""
    rows = await Ticket.select(Ticket.id, Ticket.status).where(Ticket.id.is_in(list(world.tickets.values())))
    status_of = {row["id"]: row["status"] for row in rows}
    for index, ticket_id in world.tickets.items():
        scenario = world.demo.requests[index]
        if status_of[ticket_id] != scenario.status:
            raise DemoDataError(
                f"the demo request 「{scenario.subject}」 ends {status_of[ticket_id]!r}, not {scenario.status!r} "
                "as its status says"
            )


# ---------------------------------------------------------------------------------------------
# Moving what a step made into the story's past


@dataclass(frozen=True, slots=True)
class _Marks:
    ticket: int
    message: int
    event: int
    attachment: int
    outbox: int


async def _last_id(table) -> int:
    row = await table.select(table.id).order_by(table.id, ascending=False).first()
    return row["id"] if row else 0


async def _high_water_marks() -> _Marks:
    return _Marks(
        ticket=await _last_id(Ticket), message=await _last_id(TicketMessage), event=await _last_id(TicketEvent),
        attachment=await _last_id(Attachment), outbox=await _last_id(OutboxMessage),
    )


async def _move_into_the_past(at: datetime, marks: _Marks, *, since: datetime) -> None:
    """Give the rows a step made (those past the marks, or stamped after `since`) the step's time."""
    settings = get_settings()
    for row in await Ticket.select(Ticket.id, Ticket.priority).where(Ticket.id > marks.ticket):
        await Ticket.update({
            Ticket.created_at: at,
            Ticket.first_response_due_at: at + timedelta(hours=settings.first_response_hours[row["priority"]]),
            Ticket.resolution_due_at: at + timedelta(hours=settings.resolution_hours[row["priority"]]),
        }).where(Ticket.id == row["id"])
    for column in (Ticket.updated_at, Ticket.first_responded_at, Ticket.resolved_at, Ticket.closed_at):
        await Ticket.update({column: at}).where(column >= since)
    await TicketMessage.update({TicketMessage.created_at: at}).where(TicketMessage.id > marks.message)
    await TicketEvent.update({TicketEvent.created_at: at}).where(TicketEvent.id > marks.event)
    await Attachment.update({Attachment.created_at: at}).where(Attachment.id > marks.attachment)
    await OutboxMessage.update({
        OutboxMessage.created_at: at, OutboxMessage.send_after: at, OutboxMessage.status: "sent",
        OutboxMessage.sent_at: at + timedelta(seconds=30),
    }).where(OutboxMessage.id > marks.outbox)
    await PointChangeRequest.update({PointChangeRequest.requested_at: at}).where(
        PointChangeRequest.requested_at >= since
    )
    await PointChangeRequest.update({PointChangeRequest.decided_at: at}).where(
        PointChangeRequest.decided_at >= since
    )


async def _date_the_setup(world: _World, at: datetime) -> None:
    """The companies and their people existed before their first purchase or request."""
    if world.new_departments:
        await Department.update({Department.created_at: at}).where(Department.id.is_in(world.new_departments))
    await Organization.update({Organization.created_at: at}).where(
        Organization.id.is_in(list(world.organizations.values()))
    )
    await User.update({User.created_at: at}).where(User.id.is_in([u.id for u in world.users.values()]))
    # The point table was in force before the first purchase (the points carry their own dates).
    await PointTableVersion.update({
        PointTableVersion.created_at: at, PointTableVersion.published_at: at, PointTableVersion.effective_from: at,
    }).where(PointTableVersion.note == world.demo.vendor.point_table.note)
