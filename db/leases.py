"""Named leases (services/leases.py): take, renew, release, each one statement."""

from __future__ import annotations

import sqlite3

from db.database import Database


async def take(db: Database, name: str, holder: str, *, now: float, until: float) -> bool:
    """Hold `name` until `until` when nobody does, its lease ran out, or `holder` holds it already."""
    db.query_count += 1
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
            "WHERE leases.expires_at <= ? OR leases.holder = excluded.holder RETURNING holder",
            (name, holder, until, now),
        )
        return await cursor.fetchone() is not None


async def renew(db: Database, name: str, holder: str, *, until: float) -> bool:
    """Push the end out; False when `holder` no longer holds it (it ran out and another took it)."""
    db.query_count += 1
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? RETURNING 1",
            (until, name, holder),
        )
        return await cursor.fetchone() is not None


async def release(db: Database, name: str, holder: str) -> None:
    await db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))


async def current(db: Database, name: str) -> sqlite3.Row | None:
    return await db.fetchone("SELECT name, holder, expires_at FROM leases WHERE name = ?", (name,))


async def delete_expired(db: Database, *, before: float) -> int:
    async with db.write() as conn:
        cursor = await conn.execute("DELETE FROM leases WHERE expires_at < ?", (before,))
        return cursor.rowcount
