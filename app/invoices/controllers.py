"""The documents JSON API: invoices, receipts and credit notes, their PDFs, payments, and the
monthly usage statements."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, PathParameter, QueryParameter

from app.accounts.guards import caller_of, requires_login
from app.errors import Conflict, InvalidInput, NotAllowed, NotFound
from app.idempotency import IdempotencyKey, respond_once
from app.invoices import services
from app.invoices.schemas import DocumentKind, DocumentPageRead, DocumentRead, DocumentStatus, PaymentCreate
from app.openapi import CURSOR, download, errors
from app.schema import MAX_ID
from billing.invoicing import stored_sha256


def pdf_response(pdf: bytes, filename: str) -> Response:
    return Response(content=pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})


class InvoiceController(Controller):
    path = "/api/v1/invoices"
    guards = [requires_login]
    tags = ["invoices"]

    # 404: a customer admin naming another organisation.
    @get("/", operation_id="ListInvoices", summary="Invoices, receipts and credit notes, newest first",
         responses=errors(NotAllowed, NotFound, InvalidInput))
    async def list_invoices(
        self,
        request: Request,
        organization: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)] = None,
        month: Annotated[str | None, QueryParameter(
            description="Issued in this month: YYYY-MM, from 2000 (anything else is refused: 422)")] = None,
        kind: FromQuery[DocumentKind | None] = None,
        status: FromQuery[DocumentStatus | None] = None,
        overdue: Annotated[bool, QueryParameter(description="Only unpaid invoices past their due date")] = False,
        cursor: Annotated[str | None, QueryParameter(description=CURSOR)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> DocumentPageRead:
        filters = services.document_filters(organization=organization, kind=kind, status=status, month=month,
                                            overdue="1" if overdue else "")
        page = await services.list_documents(caller_of(request), filters, cursor, limit)
        return DocumentPageRead(items=[DocumentRead.of(d) for d in page.items], next_cursor=page.next_cursor)

    @get("/{document_id:int}", operation_id="GetInvoice", summary="One document: its lines, taxes and status",
         responses=errors(NotAllowed))
    async def get_invoice(self, request: Request, document_id: FromPath[int]) -> DocumentRead:
        document = await services.get_document(caller_of(request), document_id)
        return DocumentRead.of(document, await stored_sha256(document.id))

    @get("/{document_id:int}/pdf", operation_id="GetInvoicePdf", summary="The document's PDF (byte-identical every time)",
         media_type="application/pdf", responses={**download("application/pdf", "The PDF"), **errors(NotAllowed)})
    async def get_invoice_pdf(self, request: Request, document_id: FromPath[int]) -> Response:
        document, pdf = await services.document_pdf(caller_of(request), document_id)
        return pdf_response(pdf, f"{document.number}.pdf")

    # 409: not an unpaid invoice (paid, void, replaced, a receipt); 422: more than is due.
    @post("/{document_id:int}/payments", operation_id="RecordInvoicePayment", status_code=201,
          summary="Record a bank transfer against an invoice (finance); paid in full grants the points",
          responses=errors(NotAllowed, Conflict, InvalidInput))
    async def record_invoice_payment(
        self, request: Request, document_id: FromPath[int], data: JSONBody[PaymentCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[DocumentRead]:
        caller = caller_of(request)

        async def run() -> DocumentRead:
            document = await services.record_payment(
                caller, document_id, paid_on=data.paid_on, amount_jpy=data.amount_jpy, note=data.note,
                key=idempotency_key,
            )
            return DocumentRead.of(document)

        return await respond_once(request, caller, run, key=idempotency_key, status_code=201)


class StatementController(Controller):
    path = "/api/v1/organizations/{organization_id:int}/statements"
    guards = [requires_login]
    tags = ["invoices"]

    # 422: not a month (YYYY-MM, from 2000) or one not ended yet; 409: no issuer set up yet.
    @get("/{month:str}/pdf", operation_id="GetStatementPdf", media_type="application/pdf",
         summary="The monthly usage statement of a month that has ended (YYYY-MM)",
         responses={**download("application/pdf", "The PDF"), **errors(NotAllowed, Conflict, InvalidInput)})
    async def get_statement_pdf(
        self, request: Request, organization_id: FromPath[int],
        month: Annotated[str, PathParameter(description="YYYY-MM, a month that has ended (anything else: 422)")],
    ) -> Response:
        month = services.required_month(month)
        pdf = await services.statement_pdf(caller_of(request), organization_id, month)
        return pdf_response(pdf, f"statement-{month}.pdf")
