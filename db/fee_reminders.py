"""Queries for fee reminders: the fees still open, and the (fee, step) claim that makes each reminder go once."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from db.database import Database
from db.timestamps import to_db

OPEN_FEE_STATUSES = ("unpaid", "awaiting_konbini")

_OPEN_FEES = (
    "SELECT f.id AS fee_id, f.member_id, f.member_number, f.amount, f.status, i.name AS item_name, i.due_on, "
    "m.family_name, m.given_name, m.email, a.id AS attempt_id, a.konbini_deadline, "
    "(SELECT group_concat(r.step, ' ') FROM fee_reminders r WHERE r.fee_id = f.id) AS steps_taken "
    "FROM fees f JOIN fee_items i ON i.id = f.fee_item_id JOIN members m ON m.id = f.member_id "
    "LEFT JOIN payment_attempts a ON a.fee_id = f.id AND a.state = 'awaiting_konbini' "
    "WHERE f.status IN ('unpaid', 'awaiting_konbini') AND m.status = 'active' "
)


async def open_fees(db: Database) -> list[sqlite3.Row]:
    """Every fee not paid yet, with its member, its live convenience-store payment and the steps already
    sent (one query for all)."""
    return await db.fetchall(_OPEN_FEES + "ORDER BY f.member_number, f.id")


async def open_fees_by_id(db: Database, fee_ids: Sequence[int]) -> list[sqlite3.Row]:
    if not fee_ids:
        return []
    marks = ",".join("?" for _ in fee_ids)
    return await db.fetchall(
        _OPEN_FEES + f"AND f.id IN ({marks}) ORDER BY f.member_number, f.id", tuple(fee_ids)
    )  # noqa: S608


async def claim(db: Database, fee_id: int, step: str, *, sent_by: int | None, now: datetime) -> int | None:
    """Take (fee, step) if the fee is still unpaid and the step was never taken: the one statement that
    makes a reminder go at most once, even with two senders at the same moment. The id, or None."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO fee_reminders (fee_id, step, status, sent_by, created_at) "
            "SELECT ?, ?, 'sending', ?, ? WHERE EXISTS (SELECT 1 FROM fees WHERE id = ? "
            "AND status IN ('unpaid', 'awaiting_konbini')) ON CONFLICT (fee_id, step) DO NOTHING RETURNING id",
            (fee_id, step, sent_by, to_db(now), fee_id),
        )
        row = await cursor.fetchone()
    return None if row is None else int(row[0])


async def mark_sent(db: Database, reminder_id: int, *, message_id: str, now: datetime) -> None:
    await db.execute(
        "UPDATE fee_reminders SET status = 'sent', message_id = ?, sent_at = ? WHERE id = ?",
        (message_id[:300], to_db(now), reminder_id),
    )


async def mark_failed(db: Database, reminder_id: int, *, error: str) -> None:
    await db.execute(
        "UPDATE fee_reminders SET status = 'failed', last_error = ? WHERE id = ?", (error[:500], reminder_id)
    )


async def release(db: Database, reminder_id: int) -> None:
    """A temporary failure: the claim is given back so the next run tries this step again."""
    await db.execute("DELETE FROM fee_reminders WHERE id = ? AND status = 'sending'", (reminder_id,))


async def for_fee(db: Database, fee_id: int) -> list[sqlite3.Row]:
    return await db.fetchall("SELECT * FROM fee_reminders WHERE fee_id = ? ORDER BY id", (fee_id,))
