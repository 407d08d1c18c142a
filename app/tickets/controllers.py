"""The tickets JSON API (/api/v1/tickets): file, list, read, reply, change status, download files."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import File

from app.accounts.guards import caller_of, requires_login
from app.errors import Conflict, IllegalTransition, InsufficientPoints, InvalidInput, NotAllowed, NotFound
from app.idempotency import IdempotencyKey, respond_once
from app.openapi import CURSOR, download, errors, one_or_more
from app.schema import MAX_ID
from app.tickets import services
from app.tickets.tables import PRIORITIES, STATUSES
from app.tickets.attachments import attachment_download
from app.tickets.schemas import (
    MessageCreate,
    MessageCreated,
    OverageCreate,
    PointChangeRead,
    PointsRead,
    StatusChange,
    TicketCreate,
    TicketListItem,
    TicketListPage,
    TicketRead,
    Waive,
)
from app.tickets.services import classification, points, workflow


class TicketController(Controller):
    path = "/api/v1/tickets"
    guards = [requires_login]
    tags = ["tickets"]

    # 404: a customer naming another organisation; 409: no point table in force yet.
    @post("/", operation_id="CreateTicket", status_code=201, summary="File a support request",
          responses=errors(InsufficientPoints, NotFound, Conflict, InvalidInput))
    async def create_ticket(
        self, request: Request, data: JSONBody[TicketCreate], idempotency_key: IdempotencyKey = None
    ) -> Response[TicketListItem]:
        caller = caller_of(request)

        async def run() -> TicketListItem:
            ticket = await services.create_ticket(
                caller, subject=data.subject, body=data.body, request_type_code=data.request_type,
                priority=data.priority, category=data.category, custom_fields=data.custom_fields,
                organization_id=data.organization, requester_id=data.requester,
            )
            return TicketListItem.of(ticket)

        return await respond_once(request, caller, run, key=idempotency_key, status_code=201)

    @get("/", operation_id="ListTickets", summary="Requests, newest first, a page at a time",
         responses=errors(InvalidInput))
    async def list_tickets(
        self,
        request: Request,
        q: FromQuery[str | None] = None,
        status: Annotated[str | None, QueryParameter(
            description="One status or several, comma-separated", pattern=one_or_more(STATUSES))] = None,
        priority: Annotated[str | None, QueryParameter(
            description="One priority or several, comma-separated", pattern=one_or_more(PRIORITIES))] = None,
        organization: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)] = None,
        department: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)] = None,
        assignee: Annotated[str | None, QueryParameter(
            description='A user id, "me" or "none" (anything else is refused: 422)')] = None,
        requester: Annotated[str | None, QueryParameter(
            description='A user id or "me" (anything else is refused: 422)')] = None,
        request_type: Annotated[str | None, QueryParameter(description="A request type code")] = None,
        created_from: FromQuery[date | None] = None,
        created_to: FromQuery[date | None] = None,
        updated_from: FromQuery[date | None] = None,
        updated_to: FromQuery[date | None] = None,
        cursor: Annotated[str | None, QueryParameter(description=CURSOR)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=services.PAGE_LIMIT_MAX)] = 25,
    ) -> TicketListPage:
        filters = services.TicketFilters(
            q=q, status=status, priority=priority, organization_id=organization, department_id=department,
            assignee=assignee, requester=requester, request_type=request_type, created_from=created_from,
            created_to=created_to, updated_from=updated_from, updated_to=updated_to,
        )
        return TicketListPage.of(await services.list_tickets(caller_of(request), filters, cursor, limit))

    @get("/duplicates", operation_id="FindDuplicateTickets", summary="Open requests with a similar subject")
    async def find_duplicates(
        self, request: Request, subject: FromQuery[str],
        organization: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)] = None,
    ) -> list[TicketListItem]:
        found = await services.find_likely_duplicates(caller_of(request), subject, organization_id=organization)
        return [TicketListItem.of(t) for t in found]

    @get("/{ticket_id:int}", operation_id="GetTicket", summary="A request with its thread and history")
    async def get_ticket(self, request: Request, ticket_id: FromPath[int]) -> TicketRead:
        return TicketRead.of_detail(await services.get_ticket(caller_of(request), ticket_id))

    # A customer's reply to a closed request files a follow-up, which holds its own points.
    @post("/{ticket_id:int}/messages", operation_id="CreateTicketMessage", status_code=201,
          summary="A public reply or (staff) an internal note",
          responses=errors(NotAllowed, IllegalTransition, InsufficientPoints, InvalidInput))
    async def create_message(
        self, request: Request, ticket_id: FromPath[int], data: JSONBody[MessageCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[MessageCreated]:
        caller = caller_of(request)

        async def run() -> MessageCreated:
            outcome = await services.add_message(
                caller, ticket_id, data.body, internal=data.internal, minutes_spent=data.minutes_spent,
                then_status=data.status, version=data.version,
            )
            return MessageCreated.of(outcome)

        return await respond_once(request, caller, run, key=idempotency_key, status_code=201)

    @post("/{ticket_id:int}/status", operation_id="ChangeTicketStatus", status_code=200,
          summary="Move a request to another status (409 when not allowed)",
          responses=errors(NotAllowed, IllegalTransition))
    async def change_status(
        self, request: Request, ticket_id: FromPath[int], data: JSONBody[StatusChange],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[TicketListItem]:
        caller = caller_of(request)

        async def run() -> TicketListItem:
            ticket = await services.change_status(caller, ticket_id, data.status, version=data.version)
            return TicketListItem.of(ticket)

        return await respond_once(request, caller, run, key=idempotency_key, status_code=200)

    @post("/{ticket_id:int}/waive", operation_id="WaiveTicketCharge", status_code=200,
          summary="Staff: waive the charge of a request (its held points are released)",
          responses=errors(NotAllowed, IllegalTransition, InvalidInput))
    async def waive(
        self, request: Request, ticket_id: FromPath[int], data: JSONBody[Waive], idempotency_key: IdempotencyKey = None
    ) -> Response[PointsRead]:
        caller = caller_of(request)

        async def run() -> PointsRead:
            await workflow.waive(caller, ticket_id, data.reason, version=data.version)
            return PointsRead.of(await points.points_story(caller, ticket_id))

        return await respond_once(request, caller, run, key=idempotency_key, status_code=200)

    # 422: the request type has no price for extra time; 402: a rise within the customer's
    # approval limit applies at once and must be held.
    @post("/{ticket_id:int}/overage", operation_id="CreateTicketOverage", status_code=200,
          summary="Staff: ask for extra time beyond what the request type includes (re-quote)",
          responses=errors(NotAllowed, Conflict, InsufficientPoints, InvalidInput))
    async def overage(
        self, request: Request, ticket_id: FromPath[int], data: JSONBody[OverageCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[PointsRead]:
        caller = caller_of(request)

        async def run() -> PointsRead:
            await classification.request_overage(caller, ticket_id, data.minutes, data.reason, version=data.version)
            return PointsRead.of(await points.points_story(caller, ticket_id))

        return await respond_once(request, caller, run, key=idempotency_key, status_code=200)

    @post("/{ticket_id:int}/point-changes/{change_id:int}/approve", operation_id="ApprovePointChange",
          status_code=200, summary="Customer: approve a rise of the request's price (the hold grows)",
          responses=errors(NotAllowed, IllegalTransition, InsufficientPoints))
    async def approve_change(
        self, request: Request, ticket_id: FromPath[int], change_id: FromPath[int],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[PointChangeRead]:
        caller = caller_of(request)

        async def run() -> PointChangeRead:
            return PointChangeRead.of(await classification.decide_change(caller, ticket_id, change_id, approve=True))

        return await respond_once(request, caller, run, key=idempotency_key, status_code=200)

    @post("/{ticket_id:int}/point-changes/{change_id:int}/decline", operation_id="DeclinePointChange",
          status_code=200, summary="Customer: decline a rise of the request's price (nothing changes)",
          responses=errors(NotAllowed, IllegalTransition))
    async def decline_change(
        self, request: Request, ticket_id: FromPath[int], change_id: FromPath[int],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[PointChangeRead]:
        caller = caller_of(request)

        async def run() -> PointChangeRead:
            return PointChangeRead.of(await classification.decide_change(caller, ticket_id, change_id, approve=False))

        return await respond_once(request, caller, run, key=idempotency_key, status_code=200)

    @get("/{ticket_id:int}/attachments/{attachment_id:int}", operation_id="DownloadTicketAttachment",
         summary="Download an attached file",
         responses=download("*/*", "The file as it was attached, with its own content type"))
    async def download_attachment(
        self, request: Request, ticket_id: FromPath[int], attachment_id: FromPath[int]
    ) -> File:
        download = await attachment_download(caller_of(request), attachment_id, ticket_id=ticket_id)
        return File(
            path=download.path, filename=download.filename, media_type=download.content_type,
            content_disposition_type="attachment", headers={"X-Content-Type-Options": "nosniff"},
        )
