"""Buying bundles by invoice (請求書払い): the invoice is issued at once with its tax and due date,
finance records the bank transfer, the points arrive then (once), and unpaid invoices can be
corrected or voided; a refund takes back only the unspent points, with a credit note."""

from __future__ import annotations

from datetime import date

import pytest

from billing import invoicing, ledger, purchases
from billing.errors import DocumentLocked, IdempotencyKeyReused, InvalidValue, IssuerMissing
from billing.verify import verify
from pricing.errors import PurchaseRefused
from tests.factories import ISSUER_NUMBER, make_bundle, make_issuer, make_organization, make_user

APRIL_1 = date(2026, 4, 1)


@pytest.fixture
async def shop():
    """An issuer, a 10-point bundle at ¥50,000 (10%, 12 months, 2 to 20 at a time) and a company."""
    await make_issuer()
    await make_bundle("P10", points=10, price_jpy=50_000, min_quantity=2, max_quantity=20)
    organization = await make_organization("株式会社さくら商事")
    admin = await make_user("customer_admin", organization=organization)
    return organization, admin


async def buy_by_invoice(organization, quantity=2, **kwargs):
    return await purchases.start_purchase(
        organization.id, "P10", quantity, "invoice", recipient_name=organization.name, today=APRIL_1, **kwargs
    )


async def invoice_of(purchase) -> invoicing.IssuedDocument:
    (invoice,) = [d for d in await invoicing.documents_of_purchase(purchase.id) if d.kind == "invoice"]
    return invoice


async def test_buying_by_invoice_issues_a_qualified_invoice_with_the_tax_and_a_due_date(shop):
    organization, admin = shop
    purchase = await buy_by_invoice(organization, 3, requested_by=admin.id)
    assert (purchase.status, purchase.points, purchase.price_jpy, purchase.tax_jpy, purchase.total_jpy) == (
        "awaiting_payment", 30, 150_000, 15_000, 165_000)
    invoice = await invoice_of(purchase)
    d = invoice.document
    assert d.number == "INV-2026-000001"
    assert (d.issuer.name, d.issuer.registration_number) == ("株式会社キップ・サポート", ISSUER_NUMBER)
    assert d.recipient_name == "株式会社さくら商事"
    assert (d.issued_on, d.transaction_on, d.due_on) == (APRIL_1, APRIL_1, date(2026, 5, 1))
    assert [(line.quantity, line.unit_price_jpy, line.amount_jpy, line.tax_rate) for line in d.lines] == [
        (3, 50_000, 150_000, 10)]
    assert "10ポイントパック" in d.lines[0].description
    assert [(t.rate, t.base_jpy, t.tax_jpy) for t in d.taxes] == [(10, 150_000, 15_000)]
    assert (d.subtotal_jpy, d.tax_jpy, d.total_jpy) == (150_000, 15_000, 165_000)
    assert "みずほ銀行" in d.issuer.bank_account
    # Nothing is granted before the money arrives.
    assert (await ledger.balance(organization.id)).available == 0


async def test_the_quantity_must_be_within_the_bundles_minimum_and_maximum(shop):
    organization, _ = shop
    with pytest.raises(PurchaseRefused, match="minimum purchase is 2"):
        await buy_by_invoice(organization, 1)
    with pytest.raises(PurchaseRefused, match="maximum purchase is 20"):
        await buy_by_invoice(organization, 21)
    assert await purchases.purchases_of(organization.id) == []


async def test_nothing_is_sold_before_the_vendor_has_a_registration_number():
    await make_bundle("P10")
    organization = await make_organization()
    with pytest.raises(IssuerMissing):
        await purchases.start_purchase(organization.id, "P10", 1, "invoice", recipient_name="x", today=APRIL_1)


async def test_the_same_purchase_submitted_twice_buys_once(shop):
    organization, _ = shop
    first = await buy_by_invoice(organization, request_key="form-1")
    again = await buy_by_invoice(organization, request_key="form-1")
    assert again.id == first.id
    assert len(await purchases.purchases_of(organization.id)) == 1
    with pytest.raises(IdempotencyKeyReused):
        await buy_by_invoice(organization, 5, request_key="form-1")


async def test_the_points_arrive_when_the_transfer_is_recorded_in_full_and_expire_from_that_day(shop):
    organization, admin = shop
    purchase = await buy_by_invoice(organization, 2)
    invoice = await invoice_of(purchase)
    partly = await purchases.record_payment(invoice.id, paid_on=date(2026, 4, 20), amount_jpy=100_000, today=APRIL_1.replace(day=20))
    assert (partly.status, partly.paid_jpy, partly.open_jpy) == ("issued", 100_000, 10_000)
    assert (await ledger.balance(organization.id)).available == 0
    with pytest.raises(InvalidValue, match="10,000"):
        await purchases.record_payment(invoice.id, paid_on=date(2026, 4, 21), amount_jpy=20_000, today=date(2026, 4, 21))
    paid = await purchases.record_payment(invoice.id, paid_on=date(2026, 4, 25), amount_jpy=10_000, today=date(2026, 4, 25))
    assert (paid.status, paid.document.paid_on, paid.open_jpy) == ("paid", date(2026, 4, 25), 0)
    balance = await ledger.balance(organization.id, today=date(2026, 4, 25))
    assert balance.available == 20
    (lot,) = balance.lots
    assert (lot.expires_on, lot.yen_per_point, lot.paid) == (date(2027, 4, 24), 5_000, True)
    assert (await purchases.get_purchase(purchase.id)).status == "paid"
    with pytest.raises(DocumentLocked, match="paid already"):
        await purchases.record_payment(invoice.id, paid_on=date(2026, 4, 26), amount_jpy=1, today=date(2026, 4, 26))
    assert (await verify()).clean


async def test_a_payment_recorded_twice_from_the_same_form_counts_once(shop):
    organization, _ = shop
    invoice = await invoice_of(await buy_by_invoice(organization, 2))
    for _ in range(2):
        await purchases.record_payment(invoice.id, paid_on=APRIL_1, amount_jpy=50_000, request_key="pay-1", today=APRIL_1)
    assert (await invoicing.get_document(invoice.id)).paid_jpy == 50_000
    assert len(await purchases.payments_of(invoice.id)) == 1


async def test_a_payment_date_in_the_future_or_before_the_invoice_is_refused(shop):
    organization, _ = shop
    invoice = await invoice_of(await buy_by_invoice(organization, 2))
    with pytest.raises(InvalidValue, match="future"):
        await purchases.record_payment(invoice.id, paid_on=date(2026, 4, 2), amount_jpy=1, today=APRIL_1)
    with pytest.raises(InvalidValue, match="before the invoice"):
        await purchases.record_payment(invoice.id, paid_on=date(2026, 3, 31), amount_jpy=1, today=APRIL_1)


async def test_invoice_numbers_are_sequential_per_kind_and_year_and_a_voided_number_is_never_reused(shop):
    organization, _ = shop
    first = await invoice_of(await buy_by_invoice(organization))
    await purchases.void_invoice(first.id, "数量の誤り")
    second = await invoice_of(await buy_by_invoice(organization))
    next_year = await purchases.start_purchase(
        organization.id, "P10", 2, "invoice", recipient_name="x", today=date(2027, 1, 4)
    )
    assert [first.number, second.number, (await invoice_of(next_year)).number] == [
        "INV-2026-000001", "INV-2026-000002", "INV-2027-000001"]


async def test_voiding_an_unpaid_invoice_needs_a_reason_and_cancels_its_purchase(shop):
    organization, _ = shop
    purchase = await buy_by_invoice(organization)
    invoice = await invoice_of(purchase)
    with pytest.raises(InvalidValue, match="reason"):
        await purchases.void_invoice(invoice.id, " ")
    voided = await purchases.void_invoice(invoice.id, "お客様のご依頼で取消")
    assert (voided.status, voided.void_reason) == ("void", "お客様のご依頼で取消")
    assert (await purchases.get_purchase(purchase.id)).status == "cancelled"
    with pytest.raises(DocumentLocked, match="voided"):
        await purchases.record_payment(invoice.id, paid_on=APRIL_1, amount_jpy=1, today=APRIL_1)


async def test_a_paid_invoice_cannot_be_voided(shop):
    organization, _ = shop
    invoice = await invoice_of(await buy_by_invoice(organization))
    await purchases.record_payment(invoice.id, paid_on=APRIL_1, amount_jpy=1_000, today=APRIL_1)
    with pytest.raises(DocumentLocked, match="payments recorded"):
        await purchases.void_invoice(invoice.id, "誤り")


async def test_a_corrected_invoice_gets_a_new_number_links_to_the_original_and_takes_its_place(shop):
    organization, _ = shop
    purchase = await buy_by_invoice(organization)
    original = await invoice_of(purchase)
    corrected = await purchases.correct_invoice(
        original.id, recipient_name="株式会社さくら商事 経理部", due_on=date(2026, 5, 31), today=date(2026, 4, 3)
    )
    assert corrected.number == "INV-2026-000002"
    assert (corrected.document.original_number, corrected.document.recipient_name) == (
        "INV-2026-000001", "株式会社さくら商事 経理部")
    assert corrected.document.lines == original.document.lines
    assert (await invoicing.get_document(original.id)).status == "replaced"
    with pytest.raises(DocumentLocked, match="replaced"):
        await purchases.record_payment(original.id, paid_on=date(2026, 4, 3), amount_jpy=1, today=date(2026, 4, 3))
    await purchases.record_payment(corrected.id, paid_on=date(2026, 4, 5), amount_jpy=110_000, today=date(2026, 4, 5))
    assert (await purchases.get_purchase(purchase.id)).status == "paid"


async def test_refunding_a_half_spent_lot_takes_back_only_the_unspent_half_with_a_credit_note(shop):
    organization, _ = shop
    purchase = await buy_by_invoice(organization, 2)
    invoice = await invoice_of(purchase)
    await purchases.record_payment(invoice.id, paid_on=APRIL_1, amount_jpy=110_000, today=APRIL_1)
    hold = await ledger.hold(organization.id, 10, ticket_id=1, key="h1", today=APRIL_1)
    await ledger.capture(hold, "c1", today=APRIL_1)

    refund = await purchases.refund_purchase(purchase.id, "契約終了", today=date(2026, 4, 10))
    assert refund.points == 10
    note = refund.credit_note
    assert note.kind == "credit_note" and note.number == "CRN-2026-000001"
    assert note.document.original_number == invoice.number
    assert [(line.quantity, line.unit_price_jpy, line.amount_jpy) for line in note.document.lines] == [(10, 5_000, 50_000)]
    assert (note.document.subtotal_jpy, note.document.tax_jpy, note.document.total_jpy) == (50_000, 5_000, 55_000)
    assert (await ledger.balance(organization.id)).available == 0
    # A repeated refund changes nothing.
    again = await purchases.refund_purchase(purchase.id, "契約終了", today=date(2026, 4, 11))
    assert (again.points, again.credit_note.id, again.refunded_now) == (10, note.id, False)
    assert len([d for d in await invoicing.documents_of_purchase(purchase.id) if d.kind == "credit_note"]) == 1
    assert (await verify()).clean


async def test_an_unpaid_purchase_cannot_be_refunded(shop):
    organization, _ = shop
    purchase = await buy_by_invoice(organization)
    with pytest.raises(DocumentLocked, match="not paid"):
        await purchases.refund_purchase(purchase.id, "誤り")


async def test_a_reduced_rate_and_rounding_down_are_applied_once_per_rate():
    await make_issuer(rounding="down")
    await make_bundle("R8", points=3, price_jpy=3_333, tax_rate=8)
    organization = await make_organization()
    purchase = await purchases.start_purchase(organization.id, "R8", 7, "invoice", recipient_name="x", today=APRIL_1)
    invoice = await invoice_of(purchase)
    # ¥3,333 × 7 = ¥23,331; 8 % = 1,866.48 → ¥1,866 (rounded down once for the rate).
    assert [(t.rate, t.base_jpy, t.tax_jpy) for t in invoice.document.taxes] == [(8, 23_331, 1_866)]
    assert invoice.document.total_jpy == 25_197


async def test_an_issued_document_cannot_be_changed_or_deleted_in_the_database(shop):
    from billing.tables import BillingDocument

    organization, _ = shop
    invoice = await invoice_of(await buy_by_invoice(organization))
    with pytest.raises(Exception, match="cannot be changed"):
        await BillingDocument.update({BillingDocument.total_jpy: 1}).where(BillingDocument.id == invoice.id)
    with pytest.raises(Exception, match="never deleted"):
        await BillingDocument.delete().where(BillingDocument.id == invoice.id)
    assert (await invoicing.get_document(invoice.id)).document.total_jpy == 110_000
