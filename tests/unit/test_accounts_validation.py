"""What people may type for addresses, codes, names, passwords and custom-field choices."""

from __future__ import annotations

import pytest

from app.accounts.services import (
    check_password,
    clean_text,
    decode_cursor,
    encode_cursor,
    normalize_email,
    normalize_organization_code,
)
from app.admin.services import parse_choices, parse_sort_order
from app.errors import InvalidInput


@pytest.mark.parametrize("typed, stored", [
    ("Taro.Yamada@Example.JP", "taro.yamada@example.jp"),
    ("  keiri@minato.example.jp ", "keiri@minato.example.jp"),
])
def test_email_addresses_are_trimmed_and_lower_cased(typed, stored):
    assert normalize_email(typed) == stored


@pytest.mark.parametrize("typed", ["", "taro", "taro@", "@example.jp", "taro@example", "a b@example.jp",
                                   "x" * 250 + "@example.jp", "ta\x00ro@example.jp"])
def test_malformed_email_addresses_are_refused_naming_the_field(typed):
    with pytest.raises(InvalidInput) as refused:
        normalize_email(typed, "billing_email")
    assert refused.value.extra["field"] == "billing_email"


@pytest.mark.parametrize("code", ["AB", "C0001", "minato-shoji", "X_1", "A" * 32])
def test_customer_codes_of_letters_digits_dash_and_underscore_are_accepted(code):
    assert normalize_organization_code(f" {code} ") == code


@pytest.mark.parametrize("code", ["", "A", "A" * 33, "みなと", "A B", "A/B", "A.B"])
def test_other_customer_codes_are_refused(code):
    with pytest.raises(InvalidInput):
        normalize_organization_code(code)


def test_names_are_trimmed_required_and_limited_in_length():
    assert clean_text("  山田 太郎 ", "name", max_length=100) == "山田 太郎"
    assert clean_text("", "address", max_length=10, required=False) == ""
    with pytest.raises(InvalidInput):
        clean_text("   ", "name", max_length=100)
    with pytest.raises(InvalidInput):
        clean_text("あ" * 101, "name", max_length=100)
    with pytest.raises(InvalidInput):
        clean_text("bell\x07", "name", max_length=100)
    assert clean_text("一行目\n二行目\tタブ", "address", max_length=100) == "一行目\n二行目\tタブ"


def test_passwords_need_eight_characters():
    assert check_password("12345678") == "12345678"
    with pytest.raises(InvalidInput) as refused:
        check_password("1234567", "new_password")
    assert refused.value.extra["field"] == "new_password"


def test_page_cursors_round_trip_and_refuse_tampering():
    assert decode_cursor("o", encode_cursor("o", 42)) == 42
    assert decode_cursor("o", None) is None
    for bad in ("42", "not base64 !", encode_cursor("t", 42)):
        with pytest.raises(InvalidInput):
            decode_cursor("o", bad)


def test_choices_come_one_per_line_without_blanks_or_repeats():
    assert parse_choices("東京本社\n 大阪支店 \n\n東京本社\r\n福岡営業所") == ["東京本社", "大阪支店", "福岡営業所"]
    assert parse_choices(["a", "b", "a"]) == ["a", "b"]
    assert parse_choices(None) == []
    with pytest.raises(InvalidInput):
        parse_choices("x" * 101)
    with pytest.raises(InvalidInput):
        parse_choices("\n".join(str(n) for n in range(101)))


@pytest.mark.parametrize("typed, number", [("", 0), (None, 0), ("10", 10), (" -3 ", -3), (7, 7)])
def test_sort_orders_are_whole_numbers(typed, number):
    assert parse_sort_order(typed) == number


@pytest.mark.parametrize("typed", ["first", "1.5", "1e3", "99999999999"])
def test_other_sort_orders_are_refused(typed):
    with pytest.raises(InvalidInput):
        parse_sort_order(typed)
