"""Every spreadsheet Kippu writes keeps text as text: nothing a customer typed runs as a formula."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from app.exports import csv_bytes, xlsx_bytes


def read_csv(raw: bytes) -> list[list[str]]:
    assert raw.startswith("\ufeff".encode())  # Excel reads the Japanese as UTF-8 only with it
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


@pytest.mark.parametrize("text", ["=1+1", "+81-3-1234-5678", "-2", "@SUM(A1)", "\t=1+1", "\r=1", " =1+1", "\n  -1"])
def test_text_a_spreadsheet_would_run_gets_an_apostrophe_in_csv(text):
    assert read_csv(csv_bytes(["列"], [[text]]))[1] == ["'" + text]


@pytest.mark.parametrize("text", ["株式会社さくら", "a=b", "1-2", "mail@example.jp", ""])
def test_ordinary_text_and_numbers_are_written_as_they_are(text):
    assert read_csv(csv_bytes(["列", "数"], [[text, -1500], [None, 0]])) == [["列", "数"], [text, "-1500"], ["", "0"]]


def test_excel_cells_are_typed_text_or_numbers_never_formulas():
    raw = xlsx_bytes("一覧", ["件名", "合計"], [['=HYPERLINK("x")', -1500], ["a\x00b", 3]])
    sheet = load_workbook(io.BytesIO(raw))["一覧"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["件名", "合計"], ['=HYPERLINK("x")', -1500], ["ab", 3]]
    assert sheet.cell(row=2, column=1).data_type == "s" and sheet.cell(row=2, column=2).data_type == "n"
