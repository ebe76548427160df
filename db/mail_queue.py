"""Mails waiting for another try after a passing transport failure."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from db.database import Database
from db.timestamps import to_db


async def enqueue(
    db: Database, *, now: datetime, next_attempt_at: datetime, kind: str, recipient: str, subject: str,
    message: bytes, error: str,
) -> int:  # fmt: skip
    return await db.execute(
        "INSERT INTO mail_queue (created_at, kind, recipient, subject, message, next_attempt_at, last_error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (to_db(now), kind, recipient, subject, message, to_db(next_attempt_at), error[:500]),
    )


async def claim_due(db: Database, *, now: datetime, limit: int = 50) -> list[sqlite3.Row]:
    """Mark due rows 'sending' in one statement, so two workers never send the same mail."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE mail_queue SET status = 'sending' WHERE id IN (SELECT id FROM mail_queue "
            "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?) RETURNING *",
            (to_db(now), limit),
        )
        return list(await cursor.fetchall())


async def mark_sent(db: Database, queue_id: int) -> None:
    await db.execute("UPDATE mail_queue SET status = 'sent', last_error = '' WHERE id = ?", (queue_id,))


async def mark_retry(
    db: Database, queue_id: int, *, next_attempt_at: datetime, error: str, give_up: bool
) -> None:
    await db.execute(
        "UPDATE mail_queue SET status = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
        ("failed" if give_up else "pending", to_db(next_attempt_at), error[:500], queue_id),
    )


async def release_stuck(db: Database) -> None:
    """After a restart, rows left 'sending' go back to the queue (at most one duplicate, never a loss)."""
    await db.execute("UPDATE mail_queue SET status = 'pending' WHERE status = 'sending'")


async def counts(db: Database) -> dict[str, int]:
    rows = await db.fetchall("SELECT status, count(*) AS n FROM mail_queue GROUP BY status")
    return {row["status"]: int(row["n"]) for row in rows}
