"""Queries on the sign-in history members see, the browsers they signed in from, and their sessions."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from db.database import Database
from db.timestamps import to_db

HISTORY_LENGTH = 20


async def record_attempt(
    db: Database, member_id: int, *, succeeded: bool, method: str, ip: str, user_agent: str, now: datetime
) -> None:
    """Keep the attempt, and only the member's latest few (what the security page shows)."""
    async with db.write() as conn:
        await conn.execute(
            "INSERT INTO sign_in_attempts (member_id, at, succeeded, method, ip, user_agent) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (member_id, to_db(now), int(succeeded), method, ip[:64], user_agent[:300]),
        )
        await conn.execute(
            "DELETE FROM sign_in_attempts WHERE member_id = ? AND id NOT IN "
            "(SELECT id FROM sign_in_attempts WHERE member_id = ? ORDER BY id DESC LIMIT ?)",
            (member_id, member_id, HISTORY_LENGTH * 5),
        )


async def recent_attempts(db: Database, member_id: int, limit: int = HISTORY_LENGTH) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT at, succeeded, method, ip, user_agent FROM sign_in_attempts WHERE member_id = ? "
        "ORDER BY id DESC LIMIT ?",
        (member_id, limit),
    )


async def remember_browser(
    db: Database, member_id: int, browser_hash: str, *, now: datetime
) -> tuple[bool, int]:
    """Note a browser the member signed in from: (whether it is new to us, how many were known before)."""
    async with db.write() as conn:
        cursor = await conn.execute("SELECT count(*) FROM known_browsers WHERE member_id = ?", (member_id,))
        row = await cursor.fetchone()
        cursor = await conn.execute(
            "INSERT INTO known_browsers (member_id, browser_hash, first_seen_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING browser_hash",
            (member_id, browser_hash, to_db(now)),
        )
        new = await cursor.fetchone() is not None
    return new, int(row[0]) if row else 0


async def active_sessions(db: Database, member_id: int, *, now: datetime) -> list[sqlite3.Row]:
    """The member's sessions, newest use first; rowid identifies one on the page (never the token hash)."""
    return await db.fetchall(
        "SELECT rowid AS id, token_hash, created_at, last_seen_at, user_agent, ip, remember FROM sessions "
        "WHERE member_id = ? AND expires_at > ? ORDER BY last_seen_at DESC, rowid DESC",
        (member_id, to_db(now)),
    )


async def end_session(db: Database, member_id: int, session_id: int, *, keep_token_hash: str) -> bool:
    """End one of the member's other sessions; False when there is no such session of theirs."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "DELETE FROM sessions WHERE rowid = ? AND member_id = ? AND token_hash != ? RETURNING rowid",
            (session_id, member_id, keep_token_hash),
        )
        return await cursor.fetchone() is not None


async def set_new_browser_mail(db: Database, member_id: int, on: bool) -> None:
    await db.execute("UPDATE members SET new_browser_mail = ? WHERE id = ?", (int(on), member_id))


async def decline_passkey_offer(db: Database, member_id: int) -> None:
    await db.execute("UPDATE members SET passkey_offer_declined = 1 WHERE id = ?", (member_id,))


async def lock_of(db: Database, login_id: str) -> str | None:
    """The running or past lock on a login ID (UTC text), as the password login keeps it."""
    value = await db.fetchval("SELECT locked_until FROM login_failures WHERE login_id = ?", (login_id,))
    return None if value is None else str(value)
