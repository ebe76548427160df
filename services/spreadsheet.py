"""The admin's spreadsheet exports: headers and rows as a CSV file Excel opens, or as an Excel workbook."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
    """An Excel workbook (.xlsx) of one sheet. Every str value is a text cell (number format '@'), so Excel
    keeps the leading zeros of member numbers, phone numbers and postal codes and never runs a formula;
    numbers, dates and None stay what they are. Written in openpyxl's streaming mode (big exports)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Sheet1")

    def cells(values: Iterable[object]) -> list[WriteOnlyCell]:
        out = []
        for value in values:
            if isinstance(value, str):
                cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
                cell.data_type = "s"  # text even when it starts with "=": never a formula
                cell.number_format = "@"
            elif isinstance(value, bool | int | float | date | datetime) or value is None:
                cell = WriteOnlyCell(sheet, value=value)
            else:
                cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", str(value)))
                cell.data_type = "s"
                cell.number_format = "@"
            out.append(cell)
        return out

    sheet.append(cells(header))
    for row in rows:
        sheet.append(cells(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
