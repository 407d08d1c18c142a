"""The pricing rules, on plain values (no database)."""

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing import (
    Bundle,
    InvalidPointTable,
    PointTable,
    PricingError,
    PrioritySurcharge,
    PurchaseRefused,
    RequestTypePrice,
    UnknownRequestType,
    lot_expiry,
    quote,
    tax_by_rate,
    validate_purchase,
)

INVESTIGATION = RequestTypePrice(
    code="investigation", name_ja="障害調査", name_en="Incident investigation", points=2,
    scope_ja="30分までの調査", scope_en="Up to 30 minutes of investigation",
    included_minutes=30, block_minutes=30, points_per_block=1,
)
QUESTION = RequestTypePrice(code="question", name_ja="質問", name_en="Question", points=1)
URGENT = PrioritySurcharge("urgent", 1)
TABLE = PointTable(version=1, request_types=(INVESTIGATION, QUESTION), surcharges=(URGENT,))
TEN_POINTS = Bundle(
    code="p10", name_ja="10ポイント", name_en="10 points", points=10, price_jpy=50_000, tax_rate=10,
    validity_months=12, min_quantity=5, max_quantity=20,
)


def test_a_request_costs_its_types_points():
    assert quote(QUESTION).points == 1
    assert TABLE.quote("question", "normal").points == 1


def test_urgent_priority_adds_its_surcharge():
    assert TABLE.quote("question", "urgent").points == 2
    assert TABLE.quote("question", "low").points == 1


def test_work_beyond_the_included_minutes_costs_a_block_each_started_block():
    assert quote(INVESTIGATION, None, 0).points == 2
    assert quote(INVESTIGATION, None, 1).points == 3
    assert quote(INVESTIGATION, None, 30).points == 3
    assert quote(INVESTIGATION, URGENT, 31).points == 5
    assert quote(INVESTIGATION, URGENT, 31).extra_blocks == 2


def test_extra_time_on_a_type_without_an_overage_price_is_refused():
    with pytest.raises(PricingError, match="no price for work beyond"):
        quote(QUESTION, None, 15)


def test_negative_extra_minutes_are_refused():
    with pytest.raises(PricingError) as refusal:
        quote(INVESTIGATION, None, -1)
    assert refusal.value.field == "extra_minutes"


def test_unknown_request_type_and_priority_are_refused_by_name():
    with pytest.raises(UnknownRequestType, match="nope"):
        TABLE.quote("nope")
    with pytest.raises(PricingError, match="someday"):
        TABLE.quote("question", "someday")


def test_overage_needs_all_three_of_its_numbers():
    with pytest.raises(InvalidPointTable):
        RequestTypePrice(code="x", name_ja="x", name_en="x", points=1, included_minutes=30)
    with pytest.raises(InvalidPointTable):
        RequestTypePrice(code="x", name_ja="x", name_en="x", points=-1)


def test_purchase_gives_points_price_and_tax():
    purchase = validate_purchase(TEN_POINTS, 5)
    assert purchase.points == 50
    assert purchase.price_jpy == 250_000
    assert purchase.tax_jpy == 25_000
    assert purchase.total_jpy == 275_000


def test_purchase_below_the_minimum_is_refused_with_the_minimum():
    with pytest.raises(PurchaseRefused) as refusal:
        validate_purchase(TEN_POINTS, 4)
    assert refusal.value.message == "The minimum purchase is 5."
    assert refusal.value.field == "quantity"
    assert refusal.value.values == {"minimum": 5}


def test_purchase_above_the_maximum_is_refused():
    with pytest.raises(PurchaseRefused, match="maximum purchase is 20"):
        validate_purchase(TEN_POINTS, 21)


def test_purchase_of_an_inactive_bundle_is_refused():
    retired = Bundle(**{**TEN_POINTS.__dict__, "active": False})
    with pytest.raises(PurchaseRefused, match="no longer on sale"):
        validate_purchase(retired, 5)


@pytest.mark.parametrize("quantity", [0, -3, 2.5, True, "5"])
def test_nonsense_quantities_are_refused(quantity):
    with pytest.raises(PurchaseRefused) as refusal:
        validate_purchase(TEN_POINTS, quantity)
    assert refusal.value.field == "quantity"


def test_a_bundle_price_must_give_each_point_a_whole_number_of_yen():
    # Every point of a paid lot carries its yen (revenue when used, breakage when expired).
    with pytest.raises(InvalidPointTable, match="whole number of yen per point") as refusal:
        Bundle(code="odd", name_ja="x", name_en="x", points=3, price_jpy=10_000, tax_rate=10, validity_months=6)
    assert refusal.value.field == "price_jpy"
    assert Bundle(code="ok", name_ja="x", name_en="x", points=3, price_jpy=9_999, tax_rate=10,
                  validity_months=6).price_jpy == 9_999


def test_tax_is_rounded_down_by_default_and_by_the_chosen_mode():
    odd = Bundle(code="odd", name_ja="x", name_en="x", points=1, price_jpy=1_999, tax_rate=10, validity_months=6)
    assert validate_purchase(odd, 1).tax_jpy == 199
    assert validate_purchase(odd, 1, rounding="up").tax_jpy == 200
    assert validate_purchase(odd, 1, rounding="half_up").tax_jpy == 200
    reduced = Bundle(code="r", name_ja="x", name_en="x", points=1, price_jpy=1_006, tax_rate=8, validity_months=6)
    assert validate_purchase(reduced, 1, rounding="half_up").tax_jpy == 80


def test_tax_is_rounded_once_per_rate_not_per_line():
    # Three lines of 105 yen at 10%: per line 10 yen each (30), once per rate 31 yen.
    lines = tax_by_rate([(10, 105), (10, 105), (10, 105), (8, 1_000)])
    assert lines[10].base_jpy == 315 and lines[10].tax_jpy == 31
    assert lines[8].tax_jpy == 80
    assert list(lines) == [8, 10]


@pytest.mark.parametrize(
    ("paid_on", "months", "last_day"),
    [
        (date(2026, 1, 15), 12, date(2027, 1, 14)),
        (date(2026, 1, 1), 1, date(2026, 1, 31)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 1, 30), 1, date(2026, 2, 28)),
        (date(2028, 1, 30), 1, date(2028, 2, 29)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2027, 2, 28), 12, date(2028, 2, 27)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 12, 31), 2, date(2027, 2, 28)),
        (date(2026, 11, 1), 3, date(2027, 1, 31)),
    ],
)
def test_a_lot_is_valid_through_the_day_before_the_same_day_months_later(paid_on, months, last_day):
    assert lot_expiry(paid_on, months) == last_day


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(1, 60))
def test_expiry_is_never_early_never_a_month_late_and_grows_with_validity(paid_on, months):
    expiry = lot_expiry(paid_on, months)
    assert expiry >= paid_on
    assert lot_expiry(paid_on, months + 1) > expiry
    # Months later, the lot has lapsed: never valid into the month after the anniversary month.
    index = paid_on.month - 1 + months
    assert (expiry.year, expiry.month) <= (paid_on.year + index // 12, index % 12 + 1)


def test_validity_must_be_at_least_a_month():
    with pytest.raises(InvalidPointTable):
        lot_expiry(date(2026, 1, 1), 0)
