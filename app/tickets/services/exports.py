"""A queue exported as CSV or Excel: exactly the filtered list, every page of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from app.accounts.caller import Caller
from app.exports import csv_bytes, xlsx_bytes
from app.i18n import _, format_datetime
from app.tickets.services._rows import summary_columns, summary_values
from app.tickets.services.filters import decode_cursor, encode_cursor, filtered
from app.tickets.services.results import TicketFilters, TicketSummary
from app.tickets.services.rules import category_label, priority_label, status_label
from app.tickets.tables import Ticket

EXPORT_BATCH = 500


async def export_rows(
    caller: Caller, filters: TicketFilters | None = None, *, batch_size: int = EXPORT_BATCH
) -> AsyncIterator[TicketSummary]:
    """Every request the list with these filters shows, newest first, read in keyset batches."""
    cursor: str | None = None
    while True:
        query = await filtered(Ticket.select(*summary_columns()), caller, filters or TicketFilters())
        if cursor is not None:
            query = query.where(Ticket.id < decode_cursor(cursor))
        rows = await query.order_by(Ticket.id, ascending=False).limit(batch_size)
        for row in rows:
            yield TicketSummary(**summary_values(row))
        if len(rows) < batch_size:
            return
        cursor = encode_cursor(rows[-1]["id"])


def export_header() -> list[str]:
    return [
        _("Number"), _("Subject"), _("Organisation"), _("Requester"), _("Status"), _("Priority"), _("Category"),
        _("Request type"), _("Department"), _("Assignee"), _("Filed"), _("Updated"), _("First response due"),
        _("Resolution due"), _("First response"),
    ]


def export_values(ticket: TicketSummary) -> list[str]:
    return [
        ticket.number, ticket.subject, ticket.organization_name, ticket.requester_name, status_label(ticket.status),
        priority_label(ticket.priority), category_label(ticket.category), ticket.request_type_name,
        ticket.department_name or "", ticket.assignee_name or "", format_datetime(ticket.created_at),
        format_datetime(ticket.updated_at), format_datetime(ticket.first_response_due_at),
        format_datetime(ticket.resolution_due_at), format_datetime(ticket.first_responded_at),
    ]


async def export_csv(caller: Caller, filters: TicketFilters | None = None) -> bytes:
    return csv_bytes(export_header(), [export_values(t) async for t in export_rows(caller, filters)])


async def export_xlsx(caller: Caller, filters: TicketFilters | None = None) -> bytes:
    rows = [export_values(t) async for t in export_rows(caller, filters)]
    return xlsx_bytes(_("Requests"), export_header(), rows)
