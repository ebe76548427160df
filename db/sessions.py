"""Queries on server-side login sessions (only token hashes are stored)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from db.database import Database
from db.timestamps import to_db


async def create(
    db: Database,
    *,
    token_hash: str,
    member_id: int,
    remember: bool,
    now: datetime,
    expires_at: datetime,
    user_agent: str,
    ip: str,
    flags_json: str = "{}",
) -> None:
    await db.execute(
        "INSERT INTO sessions (token_hash, member_id, remember, created_at, last_seen_at, expires_at, "
        "user_agent, ip, flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            token_hash,
            member_id,
            1 if remember else 0,
            to_db(now),
            to_db(now),
            to_db(expires_at),
            user_agent[:300],
            ip,
            flags_json,
        ),
    )


# The session and its member's row (m.id is the member's id); also read by db/mypage_cache.py.
WITH_MEMBER = (
    "SELECT s.token_hash, s.remember, s.created_at AS session_created_at, s.last_seen_at, s.expires_at, "
    "s.flags, m.* FROM sessions s JOIN members m ON m.id = s.member_id WHERE s.token_hash = ?"
)


async def get_with_member(db: Database, token_hash: str) -> sqlite3.Row | None:
    return await db.fetchone(WITH_MEMBER, (token_hash,))


async def touch(db: Database, token_hash: str, *, now: datetime, expires_at: datetime) -> None:
    await db.execute(
        "UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?",
        (to_db(now), to_db(expires_at), token_hash),
    )


async def set_flags(db: Database, token_hash: str, flags_json: str) -> None:
    await db.execute("UPDATE sessions SET flags = ? WHERE token_hash = ?", (flags_json, token_hash))


async def delete(db: Database, token_hash: str) -> None:
    await db.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))


async def delete_for_member(db: Database, member_id: int, *, except_token_hash: str | None = None) -> None:
    await db.execute(
        "DELETE FROM sessions WHERE member_id = ? AND token_hash IS NOT ?", (member_id, except_token_hash)
    )


async def delete_expired(db: Database, *, now: datetime) -> int:
    async with db.write() as conn:
        cursor = await conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (to_db(now),))
        return int(cursor.rowcount)


async def count_for_member(db: Database, member_id: int) -> int:
    return int(await db.fetchval("SELECT count(*) FROM sessions WHERE member_id = ?", (member_id,)))
