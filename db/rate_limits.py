"""Counting attempts per bucket (an IP, an address, a member) in a sliding window."""

from __future__ import annotations

from datetime import datetime, timedelta

from db.database import Database
from db.timestamps import to_db


async def hit_and_count(db: Database, bucket: str, *, now: datetime, window: timedelta) -> int:
    """Record one attempt and return how many fall in the window, this one included."""
    async with db.write() as conn:
        await conn.execute(
            "DELETE FROM rate_limit_events WHERE bucket = ? AND at < ?", (bucket, to_db(now - window))
        )
        await conn.execute("INSERT INTO rate_limit_events (bucket, at) VALUES (?, ?)", (bucket, to_db(now)))
        cursor = await conn.execute("SELECT count(*) FROM rate_limit_events WHERE bucket = ?", (bucket,))
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def count(db: Database, bucket: str, *, now: datetime, window: timedelta) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM rate_limit_events WHERE bucket = ? AND at >= ?",
            (bucket, to_db(now - window)),
        )
    )


async def delete_older_than(db: Database, moment: datetime) -> int:
    async with db.write() as conn:
        cursor = await conn.execute("DELETE FROM rate_limit_events WHERE at < ?", (to_db(moment),))
        return int(cursor.rowcount)


async def take_slot(db: Database, bucket: str, *, now: datetime, window: timedelta, limit: int) -> int | None:
    """Record one attempt only while fewer than `limit` are in the window, in one statement; returns the
    event's id (to give the slot back with `release`), or None when the bucket is full."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO rate_limit_events (bucket, at) SELECT :bucket, :now "
            "WHERE (SELECT count(*) FROM rate_limit_events WHERE bucket = :bucket AND at >= :since) < :limit "
            "RETURNING id",
            {"bucket": bucket, "now": to_db(now), "since": to_db(now - window), "limit": limit},
        )
        row = await cursor.fetchone()
    return int(row[0]) if row else None


async def release(db: Database, event_id: int) -> None:
    await db.execute("DELETE FROM rate_limit_events WHERE id = ?", (event_id,))
