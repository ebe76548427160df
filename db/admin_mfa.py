"""Queries on admins' TOTP secrets and one-time recovery codes."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from db.database import Database
from db.timestamps import to_db


async def get(db: Database, member_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM admin_totp WHERE member_id = ?", (member_id,))


async def start_enrolment(db: Database, member_id: int, secret_sealed: str, *, now: datetime) -> None:
    """A new secret replaces any earlier one, confirmed or not (re-enrolling a new phone)."""
    await db.execute(
        "INSERT INTO admin_totp (member_id, secret_sealed, confirmed_at, last_used_step, created_at) "
        "VALUES (?, ?, NULL, 0, ?) ON CONFLICT (member_id) DO UPDATE SET "
        "secret_sealed = excluded.secret_sealed, confirmed_at = NULL, last_used_step = 0, "
        "created_at = excluded.created_at",
        (member_id, secret_sealed, to_db(now)),
    )


async def use_step(db: Database, member_id: int, step: int) -> bool:
    """Record an accepted code's step; False when that step (or a later one) was already used."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE admin_totp SET last_used_step = ? WHERE member_id = ? AND last_used_step < ? "
            "RETURNING member_id",
            (step, member_id, step),
        )
        row = await cursor.fetchone()
    return row is not None


async def confirm(
    db: Database, member_id: int, *, step: int, now: datetime, code_hashes: Sequence[str]
) -> bool:
    """Confirm the enrolment and replace the recovery codes, in one transaction."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE admin_totp SET confirmed_at = ?, last_used_step = ? "
            "WHERE member_id = ? AND confirmed_at IS NULL AND last_used_step < ? RETURNING member_id",
            (to_db(now), step, member_id, step),
        )
        if await cursor.fetchone() is None:
            return False
        await conn.execute("DELETE FROM admin_recovery_codes WHERE member_id = ?", (member_id,))
        await conn.executemany(
            "INSERT INTO admin_recovery_codes (member_id, code_hash, created_at) VALUES (?, ?, ?)",
            [(member_id, code_hash, to_db(now)) for code_hash in code_hashes],
        )
    return True


async def replace_recovery_codes(
    db: Database, member_id: int, code_hashes: Sequence[str], *, now: datetime
) -> None:
    async with db.write() as conn:
        await conn.execute("DELETE FROM admin_recovery_codes WHERE member_id = ?", (member_id,))
        await conn.executemany(
            "INSERT INTO admin_recovery_codes (member_id, code_hash, created_at) VALUES (?, ?, ?)",
            [(member_id, code_hash, to_db(now)) for code_hash in code_hashes],
        )


async def use_recovery_code(db: Database, member_id: int, code_hash: str, *, now: datetime) -> bool:
    """Spend one unused code; False when it is unknown or already spent (one statement, no race)."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE admin_recovery_codes SET used_at = ? WHERE id = ("
            "SELECT id FROM admin_recovery_codes WHERE member_id = ? AND code_hash = ? AND used_at IS NULL "
            "LIMIT 1) RETURNING id",
            (to_db(now), member_id, code_hash),
        )
        row = await cursor.fetchone()
    return row is not None


async def unused_recovery_count(db: Database, member_id: int) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM admin_recovery_codes WHERE member_id = ? AND used_at IS NULL", (member_id,)
        )
    )


async def reset(db: Database, member_id: int) -> None:
    async with db.write() as conn:
        await conn.execute("DELETE FROM admin_totp WHERE member_id = ?", (member_id,))
        await conn.execute("DELETE FROM admin_recovery_codes WHERE member_id = ?", (member_id,))
