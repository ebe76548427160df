"""Counts for the admin dashboard: what needs the admin's attention."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from db.database import Database
from services.clock import to_db


async def summary(db: Database, *, now: datetime) -> sqlite3.Row:
    row = await db.fetchone(
        "SELECT "
        "(SELECT count(*) FROM members WHERE status = 'active' AND role = 'member') AS active_members, "
        "(SELECT count(*) FROM members WHERE locked_until > ?) AS locked_members, "
        "(SELECT count(*) FROM mail_log WHERE status = 'failed') AS failed_mails",
        (to_db(now),),
    )
    assert row is not None
    return row


async def locked_members(db: Database, *, now: datetime) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT id, member_number, family_name, given_name, locked_until FROM members "
        "WHERE locked_until > ? ORDER BY locked_until",
        (to_db(now),),
    )
