"""The issuer's registration number (登録番号) is "T" and a corporate number with its check digit."""

import pytest

from billing.errors import InvalidValue
from billing.issuer import IssuerSettings, checked, registration_number


@pytest.mark.parametrize("typed", ["T7123456789012", "t7123456789012", "Ｔ７１２３－４５６７－８９０１２", " 7123456789012 ",
                                   "T7-1234-5678-9012"])
def test_a_registration_number_is_accepted_as_people_type_it(typed):
    assert registration_number(typed) == "T7123456789012"


def test_a_wrong_check_digit_is_refused_with_the_reason():
    with pytest.raises(InvalidValue, match="check digit") as refusal:
        registration_number("T8123456789012")
    assert refusal.value.values["field"] == "registration_number"


@pytest.mark.parametrize("typed", ["", "T", "T712345678901", "T71234567890121", "X7123456789012", "T71234567890１a"])
def test_anything_but_t_and_13_digits_is_refused(typed):
    with pytest.raises(InvalidValue, match="13 digits"):
        registration_number(typed)


def test_the_issuer_needs_a_name_and_sensible_terms():
    good = IssuerSettings(name=" 株式会社キップ ", registration_number="T7123456789012")
    assert checked(good).name == "株式会社キップ"
    with pytest.raises(InvalidValue, match="required"):
        checked(IssuerSettings(name=" ", registration_number="T7123456789012"))
    with pytest.raises(InvalidValue, match="1 to 365"):
        checked(IssuerSettings(name="x", registration_number="T7123456789012", payment_terms_days=0))
    with pytest.raises(InvalidValue, match="rounded"):
        checked(IssuerSettings(name="x", registration_number="T7123456789012", tax_rounding="bankers"))
