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
