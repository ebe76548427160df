"""The admin's spreadsheet exports: one way to turn headers and rows into a CSV file Excel opens."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any


def safe_cell(value: Any) -> str:
    """Text that spreadsheet software will not run as a formula (CSV injection): a cell starting with
    = + - @ or a control character gets a leading quote. Phone numbers and dates start with digits."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_bytes(headers: Sequence[str], rows: Iterable[Iterable[Any]]) -> bytes:
    """A CSV file: CRLF lines, every cell formula-safe, UTF-8 with a BOM so Excel reads it as UTF-8
    instead of guessing Shift_JIS."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in headers])
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def xlsx_bytes(header: list[str], rows: Iterable[Sequence[object]]) -> bytes:
    """An .xlsx workbook of one sheet: the header in bold, then the rows. Every str value is written as a
    text cell (never a number, date or formula), so member numbers keep their leading zeros and a cell
    starting with = stays text."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    bold = Font(bold=True)

    def put(row_index: int, column: int, value: object) -> None:
        cell = sheet.cell(row=row_index, column=column)
        if value is None or isinstance(value, bool | int | float):
            cell.value = value
            return
        cell.value = str(value)
        cell.data_type = "s"  # text: openpyxl would read "=…" as a formula
        cell.number_format = "@"

    for column, name in enumerate(header, start=1):
        put(1, column, name)
        sheet.cell(row=1, column=column).font = bold
    for row_index, row in enumerate(rows, start=2):
        for column, value in enumerate(row, start=1):
            put(row_index, column, value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
