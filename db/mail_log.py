"""A record of every mail the app tried to send, for the admin's 'failed mails' list."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from db.database import Database
from db.timestamps import to_db


async def record(
    db: Database, *, now: datetime, kind: str, recipient: str, subject: str, message_id: str, error: str = ""
) -> None:
    await db.execute(
        "INSERT INTO mail_log (created_at, kind, recipient, subject, message_id, status, error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (to_db(now), kind, recipient, subject, message_id, "failed" if error else "sent", error[:500]),
    )


async def recent_failures(db: Database, limit: int = 20) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT * FROM mail_log WHERE status = 'failed' ORDER BY id DESC LIMIT ?", (limit,)
    )
