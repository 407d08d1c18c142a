"""The start-up check: without a Japanese font or HarfBuzz subsetting the documents still render,
badly, so the app and `kippu serve` say what is missing and which Debian package brings it."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import cli, server
from billing import documents


@pytest.fixture
def fc_list_printing(tmp_path: Path, monkeypatch):
    """Makes `fc-list` the only command on PATH, printing the given font families."""

    def install(output: str) -> None:
        script = tmp_path / "fc-list"
        script.write_text(f"#!/bin/sh\nprintf '%s' '{output}'\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setenv("PATH", str(tmp_path))

    return install


def test_nothing_is_missing_on_a_machine_set_up_by_make_setup():
    assert documents.missing_requirements() == []


def test_a_machine_without_a_japanese_font_is_told_which_package_to_install(fc_list_printing):
    fc_list_printing("DejaVu Sans,DejaVu Sans Condensed\nDejaVu Serif\n")

    [problem] = documents.missing_requirements()
    assert "No Japanese font" in problem and "IPAexGothic, Noto Sans CJK JP" in problem
    assert "tofu" in problem and "apt-get install fonts-ipaexfont-gothic" in problem


def test_noto_sans_cjk_serves_as_well(fc_list_printing):
    fc_list_printing("Noto Sans CJK JP,Noto Sans CJK JP Regular\n")
    assert documents.missing_requirements() == []


def test_a_machine_without_fc_list_is_told_it_cannot_be_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))

    [problem] = documents.missing_requirements()
    assert "fc-list" in problem and "fontconfig" in problem and "fonts-ipaexfont-gothic" in problem


def test_a_machine_without_harfbuzz_subsetting_is_told_what_it_costs(monkeypatch):
    monkeypatch.setattr(documents.weasyprint_libraries, "harfbuzz_subset", None)

    [problem] = documents.missing_requirements()
    assert "libharfbuzz-subset.so.0" in problem and "apt-get install libharfbuzz-subset0" in problem
    assert "three times as long" in problem and "same bytes" in problem


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_the_app_logs_a_warning_per_problem_at_start_up(monkeypatch):
    monkeypatch.setattr(documents, "missing_requirements", lambda: ["No font.", "No subsetting."])
    # On the app's own logger: the app's logging set-up may route the root logger elsewhere.
    recorder = Recorder()
    logging.getLogger("kippu").addHandler(recorder)
    try:
        async with server.documents_lifespan(server.create_app()):
            pass
    finally:
        logging.getLogger("kippu").removeHandler(recorder)
    assert [(r.levelname, r.getMessage()) for r in recorder.records] == [
        ("WARNING", "No font."), ("WARNING", "No subsetting.")]


def test_kippu_serve_prints_the_problems_before_serving(monkeypatch):
    import uvicorn

    monkeypatch.setattr(documents, "missing_requirements", lambda: ["No Japanese font is installed."])
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)

    result = CliRunner().invoke(cli.main, ["serve"])
    assert result.exit_code == 0, result.output
    assert "warning: No Japanese font is installed." in result.stderr
    assert "Kippu is serving" in result.stdout
