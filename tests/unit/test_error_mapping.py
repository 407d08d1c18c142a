"""Ledger and point-table refusals reach people as the app's errors, in their language."""

from __future__ import annotations

import pytest

from app.errors import from_domain
from app.i18n import set_locale
from billing import errors as ledger
from pricing import errors as pricing


@pytest.fixture(autouse=True)
def japanese():
    set_locale("ja")
    yield
    set_locale("ja")


def test_not_enough_points_is_402_with_the_shortfall_in_japanese():
    error = from_domain(ledger.InsufficientPoints(required=5, available=2))
    assert error.status_code == 402
    assert error.as_json() == {
        "code": "insufficient_points",
        "message": "ポイントが不足しています（必要: 5 ポイント、利用可能: 2 ポイント）。",
        "required": 5,
        "available": 2,
    }


@pytest.mark.parametrize("exc", [
    ledger.InvalidAmount("A reason is required.", field="reason"),
    pricing.UnknownRequestType("There is no request type {code} in the point table.", field="request_type", code="x"),
    pricing.PurchaseRefused("The minimum purchase is {minimum}.", field="quantity", minimum=5),
    pricing.InvalidPointTable("A request type needs a code.", field="code"),
    pricing.PricingError("Extra minutes must be a whole number of at least 0.", field="extra_minutes"),
])
def test_bad_values_are_422_naming_the_field(exc):
    error = from_domain(exc)
    assert (error.status_code, error.code) == (422, "invalid_input")
    assert error.extra["field"] == (getattr(exc, "field", None) or exc.values["field"])


@pytest.mark.parametrize("exc, status, code", [
    (ledger.UnknownHold("There is no hold {hold}.", hold=1), 404, "not_found"),
    (ledger.UnknownLot("There is no lot {lot}.", lot=1), 404, "not_found"),
    (ledger.UnknownAccount("There is no account."), 404, "not_found"),
    (pricing.UnknownPointTableVersion("There is no point table version {id}.", id=3), 404, "not_found"),
    (ledger.HoldSettled("Hold {hold} is already {status}.", hold=1, status="captured"), 409, "illegal_transition"),
    (ledger.NotRefundable("Lot {lot} has no unspent points left to refund.", lot=1), 409, "conflict"),
    (pricing.PointTableLocked("A point table needs at least one request type."), 409, "conflict"),
    (pricing.NoPointTableInForce("No point table is in force yet."), 409, "conflict"),
    (ledger.IdempotencyKeyReused("The idempotency key {key} was already used for another ledger operation.", key="k"),
     409, "idempotency_key_reused"),
])
def test_missing_and_conflicting_things(exc, status, code):
    error = from_domain(exc)
    assert (error.status_code, error.code) == (status, code)


def test_english_speakers_get_the_english_sentence():
    set_locale("en")
    error = from_domain(ledger.InsufficientPoints(required=3, available=1))
    assert error.message == "Not enough points: 3 needed, 1 available."

