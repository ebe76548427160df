"""Whether the member checked the profile today, in the organization's time zone (for the pay flow)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from zoneinfo import ZoneInfo

from db.timestamps import from_db


def profile_checked_today(member: sqlite3.Row, *, now: datetime, tz: ZoneInfo) -> bool:
    checked_at = from_db(member["profile_checked_at"])
    return checked_at is not None and checked_at.astimezone(tz).date() == now.astimezone(tz).date()
