"""Uploaded member CSVs between the dry run and the admin's confirmation (sealed, kept an hour at most)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from db.database import Database
from db.timestamps import to_db

KEEP = timedelta(hours=1)


async def put(
    db: Database, *, token: str, filename: str, content_sealed: str, now: datetime, actor_id: int
) -> None:
    async with db.write() as conn:
        await conn.execute("DELETE FROM member_import_uploads WHERE created_at < ?", (to_db(now - KEEP),))
        await conn.execute(
            "INSERT INTO member_import_uploads (token, filename, content_sealed, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?)",
            (token, filename[:200], content_sealed, to_db(now), actor_id),
        )


async def take(db: Database, token: str, *, actor_id: int, now: datetime) -> sqlite3.Row | None:
    """The upload, removed as it is taken: a confirmation can run once."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "DELETE FROM member_import_uploads WHERE token = ? AND created_by = ? AND created_at >= ? "
            "RETURNING filename, content_sealed",
            (token, actor_id, to_db(now - KEEP)),
        )
        row: sqlite3.Row | None = await cursor.fetchone()
    return row
