"""Queries on members and their password history."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from db.database import Database
from db.timestamps import to_db

PROFILE_COLUMNS = (
    "family_name",
    "given_name",
    "family_kana",
    "given_kana",
    "email",
    "phone",
    "postal_code",
    "prefecture",
    "address1",
    "address2",
    "affiliation",
    "membership_type",
)


async def get_by_id(db: Database, member_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM members WHERE id = ?", (member_id,))


async def get_by_number(db: Database, member_number: str) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM members WHERE member_number = ?", (member_number,))


async def get_active_by_email(db: Database, email: str) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT * FROM members WHERE email = ? COLLATE NOCASE AND status = 'active'", (email,)
    )


async def count(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM members"))


async def create(
    db: Database,
    *,
    member_number: str,
    password_hash: str,
    now: datetime,
    role: str = "member",
    must_change_password: bool = True,
    profile: dict[str, Any] | None = None,
) -> int:
    profile = {key: (profile or {}).get(key, "") or "" for key in PROFILE_COLUMNS}
    columns = ", ".join(PROFILE_COLUMNS)
    marks = ", ".join("?" for _ in PROFILE_COLUMNS)
    async with db.write() as conn:
        cursor = await conn.execute(
            f"INSERT INTO members (member_number, role, password_hash, password_changed_at, "  # noqa: S608
            f"must_change_password, created_at, updated_at, {columns}) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?, {marks})",
            (
                member_number,
                role,
                password_hash,
                to_db(now),
                1 if must_change_password else 0,
                to_db(now),
                to_db(now),
                *profile.values(),
            ),
        )
        member_id = cursor.lastrowid or 0
        await conn.execute(
            "INSERT INTO password_history (member_id, password_hash, created_at) VALUES (?, ?, ?)",
            (member_id, password_hash, to_db(now)),
        )
    return member_id


async def record_failed_login(db: Database, member_id: int, *, threshold: int, lock_until: datetime) -> int:
    """Count a failure and lock at the threshold in one statement, so parallel tries cannot skip the lock."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE members SET failed_logins = failed_logins + 1, "
            "locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END "
            "WHERE id = ? RETURNING failed_logins",
            (threshold, to_db(lock_until), member_id),
        )
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def reset_failed_logins(db: Database, member_id: int) -> None:
    """Unlock: the member's row and the failure streak counted under the member number."""
    async with db.write() as conn:
        await conn.execute(_FORGET_LOGIN_FAILURES, (member_id,))
        await conn.execute(
            "UPDATE members SET failed_logins = 0, locked_until = NULL WHERE id = ?", (member_id,)
        )


_FORGET_LOGIN_FAILURES = (
    "DELETE FROM login_failures WHERE login_id = (SELECT member_number FROM members WHERE id = ?)"
)


async def set_password_hash(db: Database, member_id: int, password_hash: str) -> None:
    """A rehash with new parameters: same password, so history and change date stay."""
    await db.execute("UPDATE members SET password_hash = ? WHERE id = ?", (password_hash, member_id))


async def change_password(
    db: Database, member_id: int, password_hash: str, *, now: datetime, must_change: bool, keep_history: int
) -> None:
    async with db.write() as conn:
        await conn.execute(
            "UPDATE members SET password_hash = ?, password_changed_at = ?, must_change_password = ?, "
            "failed_logins = 0, locked_until = NULL, updated_at = ? WHERE id = ?",
            (password_hash, to_db(now), 1 if must_change else 0, to_db(now), member_id),
        )
        await conn.execute(_FORGET_LOGIN_FAILURES, (member_id,))
        await conn.execute(
            "INSERT INTO password_history (member_id, password_hash, created_at) VALUES (?, ?, ?)",
            (member_id, password_hash, to_db(now)),
        )
        await conn.execute(
            "DELETE FROM password_history WHERE member_id = ? AND id NOT IN "
            "(SELECT id FROM password_history WHERE member_id = ? ORDER BY id DESC LIMIT ?)",
            (member_id, member_id, max(keep_history, 1)),
        )


async def recent_password_hashes(db: Database, member_id: int, limit: int) -> list[str]:
    rows = await db.fetchall(
        "SELECT password_hash FROM password_history WHERE member_id = ? ORDER BY id DESC LIMIT ?",
        (member_id, limit),
    )
    return [row[0] for row in rows]
