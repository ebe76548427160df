"""The record of backups taken (nightly, downloaded, from the CLI)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from db.database import Database
from db.timestamps import to_db


async def record(
    db: Database,
    *,
    now: datetime,
    kind: str,
    file_name: str = "",
    size_bytes: int = 0,
    error: str = "",
    actor_id: int | None = None,
) -> None:
    await db.execute(
        "INSERT INTO backups (created_at, kind, file_name, size_bytes, status, error, actor_member_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (to_db(now), kind, file_name, size_bytes, "failed" if error else "ok", error[:500], actor_id),
    )


async def recent(db: Database, limit: int = 20) -> list[sqlite3.Row]:
    return await db.fetchall("SELECT * FROM backups ORDER BY id DESC LIMIT ?", (limit,))


async def last_ok(db: Database) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM backups WHERE status = 'ok' ORDER BY id DESC LIMIT 1")


async def last(db: Database) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
