"""Buying points: a purchase of bundles, paid by card (Stripe Checkout) or by bank transfer
against an invoice (請求書払い), and what follows — the points granted exactly once when the
payment is known, the receipt for a card payment, a corrected or voided invoice, and the refund
of the unspent points with its credit note (適格返還請求書).

Every change is one transaction with the purchase (and the document) row locked; the ledger
calls join it, and their idempotency keys (`purchase:<id>`, `refund:purchase:<id>`) make a
repeated payment or refund notice change nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from billing import clock, invoicing, ledger
from billing.documents import Line
from billing.errors import (
    N_,
    DocumentLocked,
    IdempotencyKeyReused,
    InvalidValue,
    NotRefundable,
    UnknownPurchase,
)
from billing.invoicing import IssuedDocument
from billing.issuer import checked_text, issuer_in_force
from billing.tables import PURCHASE_METHODS, BillingDocument, InvoicePayment, Purchase
from billing.transactions import for_update, write_transaction
from pricing import services as pricing
from pricing.rules import lot_expiry, tax_by_rate, validate_purchase

RECIPIENT_MAX = 200
REASON_MAX = 500
# An amount of yen beyond this on one payment is a typo, not a transfer.
PAYMENT_MAX_JPY = 10_000_000_000


@dataclass(frozen=True)
class PurchaseView:
    id: int
    organization_id: int
    bundle_code: str
    bundle_name_ja: str
    bundle_name_en: str
    bundle_points: int
    unit_price_jpy: int
    quantity: int
    points: int
    price_jpy: int
    tax_rate: int
    tax_jpy: int
    total_jpy: int
    validity_months: int
    method: str
    status: str
    recipient_name: str
    checkout_url: str
    stripe_session_id: str | None
    stripe_payment_intent: str | None
    stripe_refund_id: str | None
    lot_id: int | None
    paid_at: datetime | None
    refunded_points: int
    refunded_at: datetime | None
    failure_reason: str
    requested_by: int | None
    created_at: datetime

    @property
    def yen_per_point(self) -> int:
        return self.unit_price_jpy // self.bundle_points

    def bundle_name(self, locale: str) -> str:
        return self.bundle_name_en if locale == "en" else self.bundle_name_ja

    @property
    def description(self) -> str:
        """How the purchase reads on its documents (Japanese, as the documents are)."""
        return f"{self.bundle_name_ja}（{self.bundle_points:,}ポイント・有効期間{self.validity_months}か月）"


def _view(row: dict[str, Any]) -> PurchaseView:
    return PurchaseView(
        id=row["id"], organization_id=row["organization"], bundle_code=row["bundle_code"],
        bundle_name_ja=row["bundle_name_ja"], bundle_name_en=row["bundle_name_en"],
        bundle_points=row["bundle_points"], unit_price_jpy=row["unit_price_jpy"], quantity=row["quantity"],
        points=row["points"], price_jpy=row["price_jpy"], tax_rate=row["tax_rate"], tax_jpy=row["tax_jpy"],
        total_jpy=row["total_jpy"], validity_months=row["validity_months"], method=row["method"],
        status=row["status"], recipient_name=row["recipient_name"], checkout_url=row["checkout_url"],
        stripe_session_id=row["stripe_session_id"], stripe_payment_intent=row["stripe_payment_intent"],
        stripe_refund_id=row["stripe_refund_id"], lot_id=row["lot"],
        paid_at=invoicing.as_datetime(row["paid_at"]), refunded_points=row["refunded_points"],
        refunded_at=invoicing.as_datetime(row["refunded_at"]), failure_reason=row["failure_reason"],
        requested_by=row["requested_by"], created_at=invoicing.as_datetime(row["created_at"]),
    )


async def get_purchase(purchase_id: int, *, lock: bool = False) -> PurchaseView:
    rows = await Purchase.raw("SELECT * FROM purchases WHERE id = {}" + (for_update() if lock else ""), purchase_id)
    if not rows:
        raise UnknownPurchase(N_("There is no purchase {id}."), id=purchase_id)
    return _view(rows[0])


async def purchases_of(organization_id: int, *, limit: int = 50) -> list[PurchaseView]:
    rows = await Purchase.select().where(Purchase.organization == organization_id).order_by(
        Purchase.id, ascending=False
    ).limit(limit)
    return [_view(row) for row in rows]


@dataclass(frozen=True)
class PurchasePage:
    items: tuple[PurchaseView, ...]
    next_cursor: str | None


async def list_purchases(
    *,
    statuses: Sequence[str] | None = None,
    refunded: bool | None = None,
    organization_id: int | None = None,
    cursor: int | None = None,
    limit: int = 50,
) -> PurchasePage:
    """Every organisation's purchases, newest first, a page at a time; `statuses` keeps those in
    one of them, `refunded` those refunded (True) or not (False)."""
    query = Purchase.select().order_by(Purchase.id, ascending=False).limit(limit + 1)
    if statuses:
        query = query.where(Purchase.status.is_in(list(statuses)))
    if refunded is not None:
        query = query.where(Purchase.refunded_at.is_not_null() if refunded else Purchase.refunded_at.is_null())
    if organization_id is not None:
        query = query.where(Purchase.organization == organization_id)
    if cursor is not None:
        query = query.where(Purchase.id < cursor)
    rows = await query
    items = tuple(_view(row) for row in rows[:limit])
    return PurchasePage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


def _lines(purchase: PurchaseView) -> list[Line]:
    return [Line(
        description=purchase.description, quantity=purchase.quantity, unit_price_jpy=purchase.unit_price_jpy,
        amount_jpy=purchase.price_jpy, tax_rate=purchase.tax_rate,
    )]


def _recipient(name: str) -> str:
    if not (name or "").strip():
        raise InvalidValue(N_("Enter the name the documents are addressed to."), field="recipient_name")
    return checked_text(name, "recipient_name", maximum=RECIPIENT_MAX).replace("\n", " ")


# --- starting a purchase -----------------------------------------------------------------------

async def start_purchase(
    organization_id: int,
    bundle_code: str,
    quantity: int,
    method: str,
    *,
    recipient_name: str,
    requested_by: int | None = None,
    request_key: str | None = None,
    today: date | None = None,
) -> PurchaseView:
    """Buy `quantity` of a bundle: refused with a reason (minimum or maximum quantity, a bundle
    no longer on sale, no issuer yet). By invoice, the invoice is issued at once with its due
    date; by card, the purchase waits for its checkout (`attach_checkout`) and its payment.
    The same `request_key` again returns the first purchase."""
    if method not in PURCHASE_METHODS:
        raise InvalidValue(N_("Choose how to pay: by card or by invoice."), field="method")
    recipient_name = _recipient(recipient_name)
    bundle = await pricing.bundle(bundle_code)
    issuer = await issuer_in_force()
    quote = validate_purchase(bundle, quantity, issuer.tax_rounding)
    today = today or clock.today()
    fingerprint = (organization_id, bundle_code, quantity, method)
    async with write_transaction():
        if request_key is not None:
            earlier = await Purchase.select().where(Purchase.request_key == request_key).first()
            if earlier is not None:
                if (earlier["organization"], earlier["bundle_code"], earlier["quantity"], earlier["method"]) != fingerprint:
                    raise IdempotencyKeyReused(
                        N_("The idempotency key {key} was already used for another purchase."), key=request_key
                    )
                return _view(earlier)
        now = clock.now()
        rows = await Purchase.insert(Purchase(
            organization=organization_id, requested_by=requested_by, request_key=request_key,
            bundle_code=bundle.code, bundle_name_ja=bundle.name_ja, bundle_name_en=bundle.name_en,
            bundle_points=bundle.points, unit_price_jpy=bundle.price_jpy, quantity=quantity, points=quote.points,
            price_jpy=quote.price_jpy, tax_rate=quote.tax_rate, tax_jpy=quote.tax_jpy,
            total_jpy=quote.total_jpy, validity_months=bundle.validity_months, method=method,
            status="awaiting_payment" if method == "invoice" else "pending", recipient_name=recipient_name,
            created_at=now, updated_at=now,
        ))
        purchase = await get_purchase(rows[0]["id"])
        if method == "invoice":
            await invoicing.issue(
                "invoice", organization_id=organization_id, recipient_name=recipient_name, issuer=issuer,
                lines=_lines(purchase), issued_on=today, transaction_on=today,
                due_on=today + timedelta(days=issuer.payment_terms_days), purchase_id=purchase.id,
                issued_by=requested_by,
            )
    return purchase


async def attach_checkout(purchase_id: int, session_id: str, url: str) -> PurchaseView:
    """Record the card checkout opened for a pending purchase."""
    await Purchase.update({
        Purchase.stripe_session_id: session_id, Purchase.checkout_url: url, Purchase.updated_at: clock.now(),
    }).where((Purchase.id == purchase_id) & (Purchase.status == "pending"))
    return await get_purchase(purchase_id)


async def discard_unopened(purchase_id: int) -> None:
    """Forget a card purchase whose checkout could not be opened: nothing was bought."""
    await Purchase.delete().where(
        (Purchase.id == purchase_id) & (Purchase.status == "pending") & (Purchase.stripe_session_id.is_null())
    )


# --- payments ----------------------------------------------------------------------------------

async def _grant(purchase: PurchaseView, paid_on: date, actor_id: int | None) -> int:
    """The purchase's lot of paid points (once: the ledger key is the purchase's)."""
    posted = await ledger.purchase(
        purchase.organization_id, purchase.points, purchase.yen_per_point,
        lot_expiry(paid_on, purchase.validity_months),
        f"{purchase.bundle_name_ja} × {purchase.quantity}", key=f"purchase:{purchase.id}",
        today=paid_on, actor_id=actor_id,
    )
    return posted.lot_id


async def _mark_paid(purchase: PurchaseView, paid_on: date, *, actor_id: int | None = None,
                     payment_intent: str | None = None) -> None:
    lot_id = await _grant(purchase, paid_on, actor_id)
    now = clock.now()
    changes = {Purchase.status: "paid", Purchase.lot: lot_id, Purchase.paid_at: now, Purchase.updated_at: now,
               Purchase.failure_reason: ""}
    if payment_intent:
        changes[Purchase.stripe_payment_intent] = payment_intent
    await Purchase.update(changes).where(Purchase.id == purchase.id)


async def settle_card_payment(
    purchase_id: int, *, paid_at: datetime, payment_intent: str | None = None, today: date | None = None,
) -> tuple[PurchaseView, bool]:
    """The card payment of a purchase succeeded: grant its points and issue its receipt, once.
    Returns the purchase and whether this call settled it (False: it was settled already)."""
    async with write_transaction():
        purchase = await get_purchase(purchase_id, lock=True)
        if purchase.status == "paid":
            return purchase, False
        if purchase.method != "card":
            raise DocumentLocked(N_("Purchase {id} is paid by invoice, not by card."), id=purchase_id)
        # Money received settles the purchase whatever was heard before (events can arrive out
        # of order: an expiry notice before the payment it lost the race to).
        paid_on = clock.day_of(paid_at)
        await _mark_paid(purchase, paid_on, payment_intent=payment_intent)
        issuer = await issuer_in_force()
        await invoicing.issue(
            "receipt", organization_id=purchase.organization_id, recipient_name=purchase.recipient_name,
            issuer=issuer, lines=_lines(purchase), issued_on=today or clock.today(), transaction_on=paid_on,
            paid_on=paid_on, payment_method="card", purchase_id=purchase.id,
        )
        return await get_purchase(purchase_id), True


async def mark_processing(purchase_id: int) -> PurchaseView:
    """The customer finished the checkout with a delayed payment method; the money is not in yet."""
    await Purchase.update({Purchase.status: "processing", Purchase.updated_at: clock.now()}).where(
        (Purchase.id == purchase_id) & (Purchase.status == "pending")
    )
    return await get_purchase(purchase_id)


async def mark_unpaid(purchase_id: int, status: str, reason: str) -> PurchaseView:
    """The card payment failed or its checkout expired (a paid purchase stays paid)."""
    if status not in ("failed", "expired"):
        raise ValueError(f"not an unpaid outcome: {status}")
    await Purchase.update({
        Purchase.status: status, Purchase.failure_reason: reason[:REASON_MAX], Purchase.updated_at: clock.now(),
    }).where((Purchase.id == purchase_id) & (Purchase.status.is_in(["pending", "processing"])))
    return await get_purchase(purchase_id)


def _whole_yen(value: object, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= PAYMENT_MAX_JPY:
        raise InvalidValue(N_("Enter an amount of yen of at least 1."), field=field)
    return value


async def _open_invoice(document_id: int) -> IssuedDocument:
    invoice = await invoicing.get_document(document_id, lock=True)
    if invoice.kind != "invoice":
        raise DocumentLocked(N_("{number} is not an invoice."), number=invoice.number)
    if invoice.status == "paid":
        raise DocumentLocked(N_("Invoice {number} is paid already."), number=invoice.number)
    if invoice.status == "void":
        raise DocumentLocked(N_("Invoice {number} was voided."), number=invoice.number)
    if invoice.status == "replaced":
        raise DocumentLocked(
            N_("Invoice {number} was replaced by a corrected invoice; use that one."), number=invoice.number
        )
    return invoice


async def record_payment(
    document_id: int,
    *,
    paid_on: date,
    amount_jpy: int,
    actor_id: int | None = None,
    note: str = "",
    request_key: str | None = None,
    today: date | None = None,
) -> IssuedDocument:
    """A bank transfer received against an invoice. When the invoice is paid in full, it is marked
    paid and the purchase's points are granted (expiring from the day of payment). A transfer for
    more than is still open is refused; the same `request_key` again records nothing more."""
    amount_jpy = _whole_yen(amount_jpy, "amount_jpy")
    today = today or clock.today()
    if not isinstance(paid_on, date) or paid_on > today:
        raise InvalidValue(N_("The payment date cannot be in the future."), field="paid_on")
    async with write_transaction():
        if request_key is not None and await InvoicePayment.exists().where(InvoicePayment.request_key == request_key):
            return await invoicing.get_document(document_id)
        invoice = await _open_invoice(document_id)
        if paid_on < invoice.document.issued_on:
            raise InvalidValue(N_("The payment date is before the invoice was issued."), field="paid_on")
        if amount_jpy > invoice.open_jpy:
            raise InvalidValue(
                N_("Only ¥{open:,} is still to be paid on invoice {number}."), field="amount_jpy",
                open=invoice.open_jpy, number=invoice.number,
            )
        await InvoicePayment.insert(InvoicePayment(
            document=document_id, paid_on=paid_on, amount_jpy=amount_jpy,
            note=checked_text(note, "note", maximum=REASON_MAX),
            recorded_by=actor_id, request_key=request_key, created_at=clock.now(),
        ))
        paid = invoice.paid_jpy + amount_jpy
        in_full = paid == invoice.document.total_jpy
        changes: dict[Any, Any] = {BillingDocument.paid_jpy: paid}
        if in_full:
            changes |= {BillingDocument.status: "paid", BillingDocument.paid_on: paid_on}
        await BillingDocument.update(changes).where(BillingDocument.id == document_id)
        if in_full and invoice.purchase_id is not None:
            purchase = await get_purchase(invoice.purchase_id, lock=True)
            if purchase.status == "awaiting_payment":
                await _mark_paid(purchase, paid_on, actor_id=actor_id)
        return await invoicing.get_document(document_id)


async def payments_of(document_id: int) -> list[dict[str, Any]]:
    return await InvoicePayment.select().where(InvoicePayment.document == document_id).order_by(InvoicePayment.id)


# --- corrections ---------------------------------------------------------------------------------

def _reason(reason: str) -> str:
    if not (reason or "").strip():
        raise InvalidValue(N_("A reason is required."), field="reason")
    return checked_text(reason, "reason", maximum=REASON_MAX)


async def void_invoice(document_id: int, reason: str, *, actor_id: int | None = None) -> IssuedDocument:
    """Void an unpaid invoice (its number is never given again); its purchase is cancelled.
    A paid invoice is corrected by a credit note instead."""
    reason = _reason(reason)
    async with write_transaction():
        invoice = await _open_invoice(document_id)
        if invoice.paid_jpy:
            raise DocumentLocked(
                N_("Invoice {number} has payments recorded, so it cannot be voided."), number=invoice.number
            )
        await BillingDocument.update({
            BillingDocument.status: "void", BillingDocument.void_reason: reason,
            BillingDocument.voided_at: clock.now(), BillingDocument.voided_by: actor_id,
        }).where(BillingDocument.id == document_id)
        if invoice.purchase_id is not None:
            await Purchase.update({
                Purchase.status: "cancelled", Purchase.failure_reason: reason, Purchase.updated_at: clock.now(),
            }).where((Purchase.id == invoice.purchase_id) & (Purchase.status == "awaiting_payment"))
        return await invoicing.get_document(document_id)


async def correct_invoice(
    document_id: int,
    *,
    recipient_name: str,
    due_on: date,
    note: str = "",
    actor_id: int | None = None,
    today: date | None = None,
) -> IssuedDocument:
    """Issue a corrected invoice (訂正請求書) for an unpaid invoice: a new number, the same lines,
    linked to the original, which is marked replaced."""
    recipient_name = _recipient(recipient_name)
    today = today or clock.today()
    if not isinstance(due_on, date) or due_on < today:
        raise InvalidValue(N_("The due date cannot be in the past."), field="due_on")
    async with write_transaction():
        original = await _open_invoice(document_id)
        if original.paid_jpy:
            raise DocumentLocked(
                N_("Invoice {number} has payments recorded; correct it with a credit note."), number=original.number
            )
        issuer = await issuer_in_force()
        corrected_id = await invoicing.issue(
            "invoice", organization_id=original.organization_id, recipient_name=recipient_name, issuer=issuer,
            lines=original.document.lines, issued_on=today, transaction_on=original.document.transaction_on,
            due_on=due_on, purchase_id=original.purchase_id, original_id=original.id,
            note=checked_text(note, "note", maximum=REASON_MAX), issued_by=actor_id,
        )
        await BillingDocument.update({BillingDocument.status: "replaced"}).where(BillingDocument.id == document_id)
        if original.purchase_id is not None:
            await Purchase.update({Purchase.recipient_name: recipient_name, Purchase.updated_at: clock.now()}).where(
                Purchase.id == original.purchase_id
            )
        return await invoicing.get_document(corrected_id)


# --- refunds -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Refund:
    purchase: PurchaseView
    points: int
    credit_note: IssuedDocument | None
    refunded_now: bool


async def _sale_document(purchase_id: int) -> IssuedDocument | None:
    """The document of the sale a credit note corrects: the receipt, or the paid invoice."""
    for document in await invoicing.documents_of_purchase(purchase_id):
        if document.kind in ("receipt", "invoice") and document.status in ("issued", "paid"):
            return document
    return None


def points_covered(purchase: PurchaseView, amount_jpy: int, rounding: str) -> int:
    """The most points of `purchase` whose credit note (points × yen per point, plus its tax
    rounded as the documents round it) comes to no more than `amount_jpy`."""
    if purchase.yen_per_point <= 0 or amount_jpy <= 0:
        return 0

    def credited(points: int) -> int:
        base = points * purchase.yen_per_point
        return base + sum(t.tax_jpy for t in tax_by_rate([(purchase.tax_rate, base)], rounding).values())

    points = amount_jpy * 100 // (purchase.yen_per_point * (100 + purchase.tax_rate))
    while points > 0 and credited(points) > amount_jpy:
        points -= 1
    while credited(points + 1) <= amount_jpy:
        points += 1
    return points


async def refund_purchase(
    purchase_id: int, reason: str, *, actor_id: int | None = None, today: date | None = None,
    returned_jpy: int | None = None,
) -> Refund:
    """Take back the unspent points of a paid purchase and issue the credit note for them, once.

    Only the points still available in the purchase's lot come back; points already used or
    expired are not clawed back, and points held by open requests stay with those requests
    (released later, they are the customer's again: paid for and not refunded). A second call (a
    repeated refund notice) changes nothing and returns the first refund.

    Finance's refund (`returned_jpy` None) is refused when no point can come back, saying why.
    A refund the card payment service already made (`returned_jpy`: the money it returned)
    takes back no more points than that money covers, so the credit note never states more
    than went back; with nothing to take back the purchase is marked refunded with 0 points and
    no credit note (the money returned for used points is the vendor's own decision)."""
    reason = _reason(reason)
    today = today or clock.today()
    async with write_transaction():
        purchase = await get_purchase(purchase_id, lock=True)
        if purchase.status != "paid":
            raise DocumentLocked(N_("Purchase {id} is not paid, so there is nothing to refund."), id=purchase_id)
        if purchase.refunded_at is not None:
            notes = [d for d in await invoicing.documents_of_purchase(purchase_id) if d.kind == "credit_note"]
            return Refund(purchase, purchase.refunded_points, notes[0] if notes else None, refunded_now=False)
        issuer = await issuer_in_force()
        at_most = None if returned_jpy is None else points_covered(purchase, returned_jpy, issuer.tax_rounding)
        points = 0
        if at_most != 0:
            try:
                posted = await ledger.refund_unspent(
                    purchase.lot_id, f"refund:purchase:{purchase_id}", reason, today=today, actor_id=actor_id,
                    at_most=at_most,
                )
                points = posted.points
            except NotRefundable:
                if returned_jpy is None:
                    raise await _nothing_to_refund(purchase, today) from None
        credit_note = None
        if points:
            original = await _sale_document(purchase_id)
            if original is None:
                raise DocumentLocked(N_("Purchase {id} has no document to credit."), id=purchase_id)
            credit_note_id = await invoicing.issue(
                "credit_note", organization_id=purchase.organization_id, recipient_name=purchase.recipient_name,
                issuer=issuer, lines=[Line(
                    description=f"{purchase.bundle_name_ja} 未使用ポイントの返還（{reason}）", quantity=points,
                    unit_price_jpy=purchase.yen_per_point, amount_jpy=points * purchase.yen_per_point,
                    tax_rate=purchase.tax_rate,
                )],
                issued_on=today, transaction_on=today, purchase_id=purchase_id, original_id=original.id,
                note=reason, issued_by=actor_id,
            )
            credit_note = await invoicing.get_document(credit_note_id)
        now = clock.now()
        await Purchase.update({
            Purchase.refunded_points: points, Purchase.refunded_at: now, Purchase.updated_at: now,
        }).where(Purchase.id == purchase_id)
        return Refund(await get_purchase(purchase_id), points, credit_note, refunded_now=True)


async def _nothing_to_refund(purchase: PurchaseView, today: date) -> DocumentLocked:
    """Why no point of a paid purchase can come back now."""
    balance = await ledger.balance(purchase.organization_id, today=today)
    lot = next((lot for lot in balance.lots if lot.id == purchase.lot_id), None)
    if lot is not None and lot.held:
        return DocumentLocked(
            N_("All {held} points of purchase {id} that are not used yet are held by open requests. Refund it "
            "once those requests are resolved or cancelled."), id=purchase.id, held=lot.held)
    return DocumentLocked(
        N_("Nothing of purchase {id} can be refunded: its points have all been used or have expired."), id=purchase.id)


async def record_card_refund(purchase_id: int, refund_id: str) -> None:
    """The card payment service confirmed the money of a refund went back."""
    await Purchase.update({Purchase.stripe_refund_id: refund_id, Purchase.updated_at: clock.now()}).where(
        Purchase.id == purchase_id
    )


async def purchase_of_payment_intent(payment_intent: str) -> int | None:
    row = await Purchase.select(Purchase.id).where(Purchase.stripe_payment_intent == payment_intent).first()
    return row["id"] if row else None
