"""The scheduler's record of each job: when it last started and finished, and how it ended."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from db.database import Database
from db.timestamps import to_db


async def job_states(db: Database) -> dict[str, sqlite3.Row]:
    rows = await db.fetchall("SELECT * FROM scheduler_jobs")
    return {str(row["name"]): row for row in rows}


async def job_started(db: Database, name: str, *, now: datetime) -> None:
    await db.execute(
        "INSERT INTO scheduler_jobs (name, last_started_at) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET last_started_at = excluded.last_started_at",
        (name, to_db(now)),
    )


async def job_finished(db: Database, name: str, *, now: datetime, status: str, error: str = "") -> None:
    await db.execute(
        "UPDATE scheduler_jobs SET last_finished_at = ?, last_status = ?, last_error = ? WHERE name = ?",
        (to_db(now), status, error[:500], name),
    )


async def mark_interrupted(db: Database, *, now: datetime) -> int:
    """Jobs a scheduler that stopped (a worker killed, a crash) left started and unfinished."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE scheduler_jobs SET last_finished_at = ?, last_status = 'error', last_error = 'interrupted' "
            "WHERE last_started_at IS NOT NULL AND (last_finished_at IS NULL OR last_finished_at < last_started_at)",
            (to_db(now),),
        )
        return cursor.rowcount
