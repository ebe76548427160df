"""Single-use links: a token id is recorded the first time it is used."""

from __future__ import annotations

from datetime import datetime

from db.database import Database
from db.timestamps import to_db


async def mark_used(db: Database, token_id: str, purpose: str, *, now: datetime) -> bool:
    """True the first time a token id is used; False on every later try (single-use links)."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO used_tokens (token_id, purpose, used_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (token_id, purpose, to_db(now)),
        )
        return cursor.rowcount == 1


async def is_used(db: Database, token_id: str) -> bool:
    return await db.fetchval("SELECT 1 FROM used_tokens WHERE token_id = ?", (token_id,)) is not None


async def delete_older_than(db: Database, moment: datetime) -> int:
    async with db.write() as conn:
        cursor = await conn.execute("DELETE FROM used_tokens WHERE used_at < ?", (to_db(moment),))
        return int(cursor.rowcount)
