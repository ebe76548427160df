"""CSV cells for the admin's spreadsheet exports."""

from __future__ import annotations

from typing import Any


def safe_cell(value: Any) -> str:
    """Text that spreadsheet software will not run as a formula (CSV injection): a cell starting with
    = + - @ or a control character gets a leading quote. Phone numbers and dates start with digits."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
