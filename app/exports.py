"""The spreadsheets people download (CSV and Excel): one writer for every export, so that none can
forget the guard against formula injection (CSV injection).

Text from customers and staff (an organisation's name, a subject, a void reason) ends up in cells
that Excel or LibreOffice would run as a formula if it begins with `=`, `+`, `-` or `@` (or a tab
or carriage return, which some of them skip first): `=HYPERLINK(...)` becomes a live link, and
older versions ran commands. In CSV such text gets a leading apostrophe, the spreadsheet's own
mark for "this is text"; in Excel every text cell is typed as text, so nothing is ever a formula.
Numbers stay numbers (a negative amount is not text that could be a formula).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

Cell = str | int | None
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Excel needs the byte order mark to read a UTF-8 CSV (and so its Japanese) as UTF-8.
BOM = "\ufeff"


def defuse(text: str) -> str:
    """Text that a spreadsheet would take for a formula, with a leading apostrophe; also when
    spaces or line breaks come first, which spreadsheets skip before looking."""
    if text[:1] in FORMULA_STARTS or text.lstrip()[:1] in FORMULA_STARTS:
        return "'" + text
    return text


def _csv_value(value: Cell) -> str | int:
    if value is None:
        return ""
    return defuse(value) if isinstance(value, str) else value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """A CSV file in UTF-8 with a BOM and CRLF line ends; every text cell defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_csv_value(v) for v in header])
    writer.writerows([_csv_value(v) for v in row] for row in rows)
    return (BOM + buffer.getvalue()).encode("utf-8")


def xlsx_bytes(sheet_title: str, header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """An Excel workbook of one sheet: text cells typed as text (never a formula), numbers as numbers."""
    # Imported here: openpyxl takes a quarter of a second to import, and only this export needs it.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title)

    def cell(value: Cell) -> WriteOnlyCell:
        if value is None or isinstance(value, str):
            # Characters XML cannot hold (control characters) are dropped; openpyxl would refuse them.
            item = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value or ""))
            # openpyxl types text beginning with "=" as a formula unless told otherwise.
            item.data_type = "s"
            return item
        return WriteOnlyCell(sheet, value=value)

    sheet.append([cell(v) for v in header])
    for row in rows:
        sheet.append([cell(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
