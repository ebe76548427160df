"""Initial passwords waiting for their letter (sealed), and which letters were made."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from db.database import Database
from db.timestamps import to_db


async def put(
    db: Database, member_id: int, password_sealed: str, *, now: datetime, actor_id: int | None, source: str
) -> None:
    """A new initial password replaces the old one's row: it gets its own (one) letter."""
    await db.execute(
        "INSERT INTO initial_password_letters (member_id, password_sealed, issued_at, issued_by, source, "
        "letter_made_at, letter_made_by) VALUES (?, ?, ?, ?, ?, NULL, NULL) ON CONFLICT (member_id) DO UPDATE SET "
        "password_sealed = excluded.password_sealed, issued_at = excluded.issued_at, "
        "issued_by = excluded.issued_by, source = excluded.source, letter_made_at = NULL, letter_made_by = NULL",
        (member_id, password_sealed, to_db(now), actor_id, source),
    )


async def pending(db: Database, member_ids: Sequence[int] | None = None) -> list[sqlite3.Row]:
    """Letters not yet made, with what the letter shows about the member (one query)."""
    sql = (
        "SELECT l.member_id, l.password_sealed, l.issued_at, l.source, m.member_number, m.family_name, "
        "m.given_name, m.email, m.must_change_password, m.postal_code, m.prefecture, m.address1, m.address2 "
        "FROM initial_password_letters l "
        "JOIN members m ON m.id = l.member_id WHERE l.letter_made_at IS NULL AND l.password_sealed <> '' "
        "AND m.status = 'active'"
    )
    params: list[int] = []
    if member_ids is not None:
        if not member_ids:
            return []
        sql += " AND l.member_id IN (" + ",".join("?" for _ in member_ids) + ")"
        params = list(member_ids)
    return await db.fetchall(sql + " ORDER BY m.member_number", params)


async def made(db: Database, limit: int = 30) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT l.member_id, l.issued_at, l.letter_made_at, l.source, m.member_number, m.family_name, "
        "m.given_name, m.must_change_password FROM initial_password_letters l JOIN members m ON m.id = l.member_id "
        "WHERE l.letter_made_at IS NOT NULL ORDER BY l.letter_made_at DESC, m.member_number LIMIT ?",
        (limit,),
    )


async def for_member(db: Database, member_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM initial_password_letters WHERE member_id = ?", (member_id,))


async def mark_made(
    db: Database, claims: Sequence[tuple[int, str]], *, now: datetime, actor_id: int | None, ip: str = ""
) -> bool:
    """Erase the sealed passwords of the letters just made, all or none: False (nothing changed) when
    any of them was made meanwhile or got a newer password."""
    async with db.write() as conn:
        for member_id, sealed in claims:
            cursor = await conn.execute(
                "UPDATE initial_password_letters SET password_sealed = '', letter_made_at = ?, letter_made_by = ? "
                "WHERE member_id = ? AND password_sealed = ? AND letter_made_at IS NULL RETURNING member_id",
                (to_db(now), actor_id, member_id, sealed),
            )
            if await cursor.fetchone() is None:
                raise _Conflict()
            await conn.execute(
                "INSERT INTO audit_log (at, event, actor_member_id, subject_member_id, ip, detail) "
                "VALUES (?, 'password.letter_made', ?, ?, ?, '{}')",
                (to_db(now), actor_id, member_id, ip),
            )
    return True


class _Conflict(Exception):
    pass


async def mark_made_or_false(
    db: Database, claims: Sequence[tuple[int, str]], *, now: datetime, actor_id: int | None, ip: str = ""
) -> bool:
    try:
        return await mark_made(db, claims, now=now, actor_id=actor_id, ip=ip)
    except _Conflict:
        return False


async def pending_count(db: Database) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM initial_password_letters l JOIN members m ON m.id = l.member_id "
            "WHERE l.letter_made_at IS NULL AND l.password_sealed <> '' AND m.status = 'active'"
        )
    )
