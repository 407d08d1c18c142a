"""The pure rules of requests: the status machine, custom field values, duplicate subjects."""

from __future__ import annotations

import pytest

from app.errors import IllegalTransition, InvalidInput, NotAllowed
from app.tickets.attachments import clean_filename, extension_of
from app.tickets.services.filing import normalise_subject, subjects_match
from app.tickets.services.filters import decode_cursor, encode_cursor
from app.tickets.services.rules import TRANSITIONS, allowed_statuses, check_transition
from app.tickets.services.validation import validate_custom_fields

STAFF_STEPS = [
    ("new", "open"), ("new", "cancelled"), ("open", "waiting"), ("open", "resolved"), ("open", "cancelled"),
    ("waiting", "open"), ("waiting", "resolved"), ("waiting", "cancelled"), ("resolved", "open"),
    ("resolved", "closed"),
]
CUSTOMER_STEPS = [("new", "cancelled"), ("open", "resolved"), ("open", "cancelled"), ("waiting", "resolved"),
                  ("waiting", "cancelled")]


@pytest.mark.parametrize(("current", "target"), STAFF_STEPS)
def test_staff_may_take_every_step_of_the_machine(current, target):
    check_transition(current, target, staff=True, work_started=False)


@pytest.mark.parametrize(("current", "target"), CUSTOMER_STEPS)
def test_customers_may_resolve_and_cancel_their_requests(current, target):
    check_transition(current, target, staff=False, work_started=False)


def test_the_machine_has_exactly_the_designed_steps():
    assert sorted(TRANSITIONS) == sorted(STAFF_STEPS)


@pytest.mark.parametrize(("current", "target"), [
    ("new", "resolved"), ("new", "waiting"), ("new", "closed"), ("open", "closed"), ("waiting", "closed"),
    ("resolved", "cancelled"), ("resolved", "waiting"), ("closed", "open"), ("closed", "resolved"),
    ("cancelled", "open"), ("cancelled", "new"), ("open", "new"),
])
def test_steps_outside_the_machine_are_refused_as_illegal(current, target):
    with pytest.raises(IllegalTransition):
        check_transition(current, target, staff=True, work_started=False)


def test_closed_is_final_with_a_message_saying_so():
    with pytest.raises(IllegalTransition) as refused:
        check_transition("closed", "open", staff=True, work_started=True)
    assert "完了" in refused.value.message


def test_a_request_cannot_be_cancelled_once_staff_have_answered():
    for current in ("open", "waiting"):
        with pytest.raises(IllegalTransition):
            check_transition(current, "cancelled", staff=False, work_started=True)
        with pytest.raises(IllegalTransition):
            check_transition(current, "cancelled", staff=True, work_started=True)


@pytest.mark.parametrize(("current", "target"), [
    ("new", "open"), ("open", "waiting"), ("waiting", "open"), ("resolved", "open"), ("resolved", "closed"),
])
def test_customers_cannot_take_staff_steps(current, target):
    with pytest.raises(NotAllowed):
        check_transition(current, target, staff=False, work_started=False)


def test_moving_to_the_same_status_is_refused():
    with pytest.raises(IllegalTransition):
        check_transition("open", "open", staff=True, work_started=False)


def test_allowed_statuses_follow_the_machine():
    assert allowed_statuses("new", staff=False, work_started=False) == ("cancelled",)
    assert set(allowed_statuses("open", staff=True, work_started=True)) == {"waiting", "resolved"}
    assert allowed_statuses("closed", staff=True, work_started=True) == ()


FIELDS = [
    {"key": "site", "label_ja": "拠点", "label_en": "Site", "field_type": "text", "choices": [], "required": True,
     "visible_to_customers": True, "is_active": True},
    {"key": "pcs", "label_ja": "台数", "label_en": "PCs", "field_type": "number", "choices": [], "required": False,
     "visible_to_customers": True, "is_active": True},
    {"key": "since", "label_ja": "発生日", "label_en": "Since", "field_type": "date", "choices": [],
     "required": False, "visible_to_customers": True, "is_active": True},
    {"key": "os", "label_ja": "OS", "label_en": "OS", "field_type": "choice", "choices": ["Windows", "macOS"],
     "required": False, "visible_to_customers": True, "is_active": True},
    {"key": "rank", "label_ja": "社内ランク", "label_en": "Rank", "field_type": "choice",
     "choices": [{"value": "A"}, {"value": "B"}], "required": True, "visible_to_customers": False,
     "is_active": True},
]


def test_custom_field_values_are_cleaned_by_type():
    values = validate_custom_fields(
        FIELDS, {"site": " 本社 ", "pcs": "12", "since": "2026/11/02", "os": "macOS"}, customer=True
    )
    assert values == {"site": "本社", "pcs": 12, "since": "2026-11-02", "os": "macOS"}


@pytest.mark.parametrize(("values", "field"), [
    ({}, "custom_fields.site"),
    ({"site": "本社", "pcs": "たくさん"}, "custom_fields.pcs"),
    ({"site": "本社", "pcs": True}, "custom_fields.pcs"),
    ({"site": "本社", "since": "2026-13-01"}, "custom_fields.since"),
    ({"site": "本社", "os": "Linux"}, "custom_fields.os"),
    ({"site": "本社", "color": "red"}, "custom_fields.color"),
    ({"site": "x" * 1001}, "custom_fields.site"),
])
def test_bad_custom_field_values_are_refused_naming_the_field(values, field):
    with pytest.raises(InvalidInput) as refused:
        validate_custom_fields(FIELDS, values, customer=True)
    assert refused.value.extra["field"] == field


def test_customers_cannot_fill_staff_only_fields_and_are_not_held_to_them():
    with pytest.raises(InvalidInput):
        validate_custom_fields(FIELDS, {"site": "本社", "rank": "A"}, customer=True)
    with pytest.raises(InvalidInput) as refused:
        validate_custom_fields(FIELDS, {"site": "本社"}, customer=False)
    assert refused.value.extra["field"] == "custom_fields.rank"
    assert validate_custom_fields(FIELDS, {"site": "本社", "rank": "B"}, customer=False)["rank"] == "B"


def test_similar_subjects_are_recognised_as_likely_duplicates():
    assert subjects_match(normalise_subject("プリンターに接続できません"), normalise_subject("Re: プリンターに 接続できません！"))
    assert subjects_match(normalise_subject("ＶＰＮ　接続"), normalise_subject("vpn接続ができない"))
    assert not subjects_match(normalise_subject("請求書の再発行"), normalise_subject("パスワードの再設定"))
    assert not subjects_match(normalise_subject("!!!"), normalise_subject("!!!"))


def test_cursors_round_trip_and_garbage_is_refused():
    assert decode_cursor(encode_cursor(12345)) == 12345
    for garbage in ("nonsense", "%%%", encode_cursor(1)[:-1] + "!"):
        with pytest.raises(InvalidInput):
            decode_cursor(garbage)


def test_uploaded_file_names_cannot_reach_other_paths():
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\Users\\me\\見積書.pdf") == "見積書.pdf"
    assert clean_filename("\x00\n") == "file"
    assert len(clean_filename("a" * 300 + ".pdf")) == 255 and clean_filename("a" * 300 + ".pdf").endswith(".pdf")
    assert extension_of(".bashrc") == "" and extension_of("log.TXT") == "txt"
