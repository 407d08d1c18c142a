"""The stored point table (business rules #1 and #2): drafts, publishing, the version in force."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pricing import Bundle, InvalidPointTable, PrioritySurcharge, PurchaseRefused, RequestTypePrice
from pricing import services as pricing
from pricing.errors import NoPointTableInForce, PointTableLocked, UnknownRequestType
from pricing.rules import validate_purchase

QUESTION = RequestTypePrice(code="question", name_ja="質問", name_en="Question", points=1,
                            scope_ja="操作方法のご質問1件", scope_en="One how-to question")
INVESTIGATION = RequestTypePrice(
    code="investigation", name_ja="障害調査", name_en="Investigation", points=2,
    included_minutes=30, block_minutes=30, points_per_block=1,
)


async def published_table(*prices, surcharge=1, at=None):
    draft = await pricing.create_draft("spring prices")
    for n, price in enumerate(prices):
        await pricing.set_request_type(draft, price, sort_order=n)
    await pricing.set_surcharge(draft, PrioritySurcharge("urgent", surcharge))
    await pricing.publish(draft, at)
    return draft


async def test_a_published_table_prices_requests():
    await published_table(QUESTION, INVESTIGATION)
    priced = await pricing.quote_request("investigation", "urgent", 45)
    assert priced.points == 2 + 1 + 2  # two started blocks of 30 minutes beyond the included 30
    table = await pricing.table_in_force()
    assert [t.code for t in table.request_types] == ["question", "investigation"]
    assert table.request_type("question").scope_ja == "操作方法のご質問1件"


async def test_a_request_keeps_the_price_of_the_version_it_was_filed_under():
    first = await published_table(QUESTION)
    filed = await pricing.quote_request("question", "urgent")
    draft = await pricing.create_draft("price rise")
    await pricing.set_request_type(draft, RequestTypePrice("question", "質問", "Question", points=3))
    await pricing.publish(draft)

    assert (await pricing.quote_request("question", "urgent")).points == 4
    assert filed.version_id == first
    assert (await pricing.quote_request("question", "urgent", version_id=filed.version_id)).points == 2


async def test_a_draft_is_not_in_force_and_a_future_version_waits_for_its_day():
    with pytest.raises(NoPointTableInForce):
        await pricing.quote_request("question")
    await published_table(QUESTION)
    later = await pricing.create_draft()
    await pricing.set_request_type(later, RequestTypePrice("question", "質問", "Question", points=5))
    assert (await pricing.quote_request("question")).points == 1
    starts = datetime.now(UTC) + timedelta(days=30)
    await pricing.publish(later, starts)
    assert (await pricing.quote_request("question")).points == 1
    assert (await pricing.quote_request("question", at=starts + timedelta(seconds=1))).points == 5


async def test_a_published_version_cannot_be_changed():
    version = await published_table(QUESTION)
    with pytest.raises(PointTableLocked):
        await pricing.set_request_type(version, INVESTIGATION)
    with pytest.raises(PointTableLocked):
        await pricing.remove_request_type(version, "question")
    with pytest.raises(PointTableLocked):
        await pricing.publish(version)


async def test_a_new_draft_starts_from_the_table_in_force():
    await published_table(QUESTION, INVESTIGATION, surcharge=2)
    draft = await pricing.create_draft()
    table = await pricing.table_version(draft)
    assert [t.code for t in table.request_types] == ["question", "investigation"]
    assert table.surcharge("urgent").points == 2
    await pricing.remove_request_type(draft, "investigation")
    await pricing.publish(draft)
    with pytest.raises(UnknownRequestType):
        await pricing.quote_request("investigation")


async def test_an_empty_table_or_a_start_in_the_past_is_refused():
    draft = await pricing.create_draft()
    with pytest.raises(InvalidPointTable, match="at least one request type"):
        await pricing.publish(draft)
    await pricing.set_request_type(draft, QUESTION)
    with pytest.raises(InvalidPointTable, match="in the past"):
        await pricing.publish(draft, datetime.now(UTC) - timedelta(days=1))


async def test_bundles_on_sale_and_their_minimum_purchase():
    await pricing.save_bundle(Bundle("p10", "10ポイント", "10 points", 10, 50_000, 10, 12, min_quantity=5))
    await pricing.save_bundle(Bundle("old", "旧", "Old", 5, 30_000, 10, 6, active=False))
    assert [b.code for b in await pricing.bundles()] == ["p10"]
    assert len(await pricing.bundles(active_only=False)) == 2
    bundle = await pricing.bundle("p10")
    with pytest.raises(PurchaseRefused, match="minimum purchase is 5"):
        validate_purchase(bundle, 2)
    await pricing.save_bundle(Bundle("p10", "10ポイント", "10 points", 10, 45_000, 10, 12, min_quantity=1))
    assert validate_purchase(await pricing.bundle("p10"), 2).price_jpy == 90_000
    with pytest.raises(PurchaseRefused):
        await pricing.bundle("nope")
