"""The demo's points: the companies bought points first, and every request's points match its status."""

from __future__ import annotations

from datetime import timedelta

from app.accounts.tables import Organization
from app.demo import seed_demo
from app.tickets.tables import PointChangeRequest, Ticket
from billing import clock, invoicing, ledger
from billing.tables import LedgerEntry
from billing.verify import verify
from pricing import services as pricing


async def test_the_demo_companies_have_points_and_every_request_holds_charges_or_releases_them():
    await seed_demo()
    table = await pricing.table_in_force()
    assert {t.code for t in table.request_types} == {"general", "incident", "change", "web_update", "account"}
    assert all(t.scope_ja and 1 <= t.points <= 5 for t in table.request_types)
    assert table.surcharge("urgent").points == 1
    for organization in await Organization.select(Organization.id):
        balance = await ledger.balance(organization["id"])
        assert balance.available > 0
        assert any(lot.paid for lot in balance.lots)

    for ticket in await Ticket.select(Ticket.id, Ticket.status, Ticket.quoted_points, Ticket.price_version):
        assert ticket["price_version"] is not None and ticket["quoted_points"] >= 1
        holds = await ledger.holds_of_ticket(ticket["id"])
        assert len(holds) == 1, ticket
        hold = holds[0]
        if ticket["status"] in ("new", "open", "waiting"):
            assert hold["status"] == "held" and hold["points"] == ticket["quoted_points"]
        elif ticket["status"] == "cancelled":
            assert hold["status"] == "released" and hold["captured"] == 0
        else:
            assert hold["status"] in ("captured", "released")
            assert hold["captured"] + hold["released"] == ticket["quoted_points"]

    statuses = sorted(r["status"] for r in await PointChangeRequest.select(PointChangeRequest.status))
    assert statuses == ["applied", "pending"]
    assert (await verify()).clean


async def test_the_demo_companies_bought_by_invoice_and_by_card_and_one_invoice_is_overdue():
    await seed_demo()
    page = await invoicing.list_documents()
    kinds = sorted((d.kind, d.status) for d in page.items)
    assert kinds == [("invoice", "issued"), ("invoice", "paid"), ("receipt", "issued")]
    (overdue,) = (await invoicing.list_documents(overdue_on=clock.today())).items
    assert overdue.document.recipient_name == "株式会社さくら商事"
    assert all(d.document.issuer.registration_number == "T7123456789012" for d in page.items)


async def test_the_demo_points_history_carries_the_days_it_happened_on():
    # The ledger is dated like the requests, so the history and last month's statement show the demo's months.
    await seed_demo()
    filed = {r["id"]: r["created_at"] for r in await Ticket.select(Ticket.id, Ticket.created_at)}
    entries = await LedgerEntry.select(LedgerEntry.kind, LedgerEntry.ticket_id, LedgerEntry.created_at)
    first_hold: dict[int, object] = {}
    for e in sorted((e for e in entries if e["kind"] == "hold"), key=lambda e: e["created_at"]):
        first_hold.setdefault(e["ticket_id"], e["created_at"])
    assert first_hold == filed  # each request's points were held when it was filed
    assert all(e["created_at"] >= filed[e["ticket_id"]] for e in entries if e["ticket_id"])
    first_purchase = min(e["created_at"] for e in entries if e["kind"] == "purchase")
    assert clock.day_of(first_purchase) == clock.today() - timedelta(days=80)
    assert first_purchase < min(filed.values())
    days = {clock.day_of(e["created_at"]) for e in entries}
    assert len({(d.year, d.month) for d in days}) >= 3 and max(days) <= clock.today()
