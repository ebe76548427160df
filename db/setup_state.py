"""The one-time first-start setup: open until it is completed (or an admin exists some other way)."""

from __future__ import annotations

from datetime import datetime

from db.database import Database
from db.timestamps import to_db


async def is_open(db: Database) -> bool:
    row = await db.fetchone(
        "SELECT (SELECT completed_at FROM setup_state WHERE id = 1) IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM members WHERE role = 'admin') AS open"
    )
    return bool(row and row["open"])


async def shared_token(db: Database, candidate: str) -> str | None:
    """The first-start token every worker uses: the first to ask stores `candidate`, the others get it."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE setup_state SET token = coalesce(token, ?) WHERE id = 1 AND completed_at IS NULL "
            "RETURNING token",
            (candidate,),
        )
        row = await cursor.fetchone()
    return None if row is None else str(row[0])


async def claim(db: Database, *, now: datetime) -> bool:
    """Mark the setup done; False when another request got there first."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE setup_state SET completed_at = ? WHERE id = 1 AND completed_at IS NULL RETURNING id",
            (to_db(now),),
        )
        row = await cursor.fetchone()
    return row is not None


async def release(db: Database) -> None:
    await db.execute("UPDATE setup_state SET completed_at = NULL WHERE id = 1")


async def close_if_admin_exists(db: Database, *, now: datetime) -> None:
    await db.execute(
        "UPDATE setup_state SET completed_at = ?, token = NULL WHERE id = 1 AND completed_at IS NULL "
        "AND EXISTS (SELECT 1 FROM members WHERE role = 'admin')",
        (to_db(now),),
    )
