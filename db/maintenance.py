"""Housekeeping deletes run by the scheduler: expired sessions, old rate-limit rows and used tokens."""

from __future__ import annotations

from datetime import datetime

from db.database import Database
from services.clock import to_db


async def delete_expired_sessions(db: Database, *, now: datetime) -> int:
    async with db.write() as conn:
        cursor = await conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (to_db(now),))
        return int(cursor.rowcount)


async def delete_rate_limit_events_before(db: Database, moment: datetime) -> int:
    async with db.write() as conn:
        cursor = await conn.execute("DELETE FROM rate_limit_events WHERE at < ?", (to_db(moment),))
        return int(cursor.rowcount)


async def delete_used_tokens_before(db: Database, moment: datetime) -> int:
    async with db.write() as conn:
        cursor = await conn.execute("DELETE FROM used_tokens WHERE used_at < ?", (to_db(moment),))
        return int(cursor.rowcount)
