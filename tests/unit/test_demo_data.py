"""The demo's data files: a file that is wrong is reported with the file and the entry at fault."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.demo.loader import DATA, DemoDataError, load_demo


@pytest.fixture
def demo_data(tmp_path: Path) -> Path:
    """A copy of the demo's data files to spoil."""
    folder = tmp_path / "data"
    shutil.copytree(DATA, folder)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_demo_data_loads_with_fifty_requests_people_and_points():
    demo = load_demo()

    assert len(demo.requests) == 49  # and one follow-up request the stories start
    assert len(demo.people) == 11 and set(demo.companies) == {"SAKURA", "AOBA"}
    assert demo.points.purchases and demo.points.grants


def test_a_misspelt_person_in_a_story_names_the_file_the_request_and_the_step(demo_data):
    edit(demo_data / "requests" / "recent.toml", '{ do = "take", by = "suzuki" }', '{ do = "take", by = "suzki" }')

    with pytest.raises(DemoDataError) as error:
        load_demo(demo_data)

    message = error.value.message
    assert "requests/recent.toml" in message
    assert "「インターネット接続が時々切れる」" in message and "story #1" in message
    assert "'suzki'" in message and "suzuki" in message  # what is wrong, and what there is


def test_an_unknown_step_is_refused_with_the_steps_there_are(demo_data):
    edit(demo_data / "requests" / "recent.toml", '{ do = "close" }', '{ do = "archive" }')

    with pytest.raises(DemoDataError) as error:
        load_demo(demo_data)

    assert "'archive'" in error.value.message and "'close'" in error.value.message


def test_a_misspelt_field_is_an_error_not_ignored(demo_data):
    edit(demo_data / "points.toml", "paid_after_days = 7", "paid_after_day = 7")

    with pytest.raises(DemoDataError) as error:
        load_demo(demo_data)

    assert "points.toml" in error.value.message and "purchases #1, paid_after_day" in error.value.message


def test_a_bundle_the_pricing_rules_refuse_is_reported_in_its_file(demo_data):
    edit(demo_data / "vendor.toml", "price_jpy = 50000", "price_jpy = 50001")

    with pytest.raises(DemoDataError) as error:
        load_demo(demo_data)

    assert "vendor.toml" in error.value.message and "bundles #1" in error.value.message
    assert "whole number of yen per point" in error.value.message


def test_a_toml_syntax_error_names_the_file_and_the_line(demo_data):
    edit(demo_data / "customers.toml", 'name = "株式会社さくら商事"', 'name = "株式会社さくら商事')

    with pytest.raises(DemoDataError) as error:
        load_demo(demo_data)

    assert "customers.toml" in error.value.message and "line" in error.value.message
