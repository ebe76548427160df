"""Queries on passkeys (WebAuthn credentials) and their single-use challenges."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import aiosqlite

from db.database import Database
from db.timestamps import to_db


async def create(
    db: Database,
    *,
    member_id: int,
    credential_id: bytes,
    public_key: bytes,
    sign_count: int,
    name: str,
    transports: str,
    backed_up: bool,
    now: datetime,
) -> int | None:
    """The new passkey's id, or None when that credential is registered already (to anyone)."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO passkeys (member_id, credential_id, public_key, sign_count, name, transports, "
            "backed_up, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (credential_id) DO NOTHING RETURNING id",
            (member_id, credential_id, public_key, sign_count, name, transports, int(backed_up), to_db(now)),
        )
        row = await cursor.fetchone()
    return int(row[0]) if row else None


async def for_member(db: Database, member_id: int) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT id, credential_id, name, transports, created_at, last_used_at FROM passkeys "
        "WHERE member_id = ? ORDER BY id",
        (member_id,),
    )


async def count_for_member(db: Database, member_id: int) -> int:
    return int(await db.fetchval("SELECT count(*) FROM passkeys WHERE member_id = ?", (member_id,)))


async def by_credential_id(db: Database, credential_id: bytes) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM passkeys WHERE credential_id = ?", (credential_id,))


async def record_use(db: Database, passkey_id: int, *, old_count: int, new_count: int, now: datetime) -> bool:
    """Store the authenticator's new signature counter, only if no other sign-in moved it meanwhile
    (two parallel uses of one cloned key cannot both pass)."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE passkeys SET sign_count = ?, last_used_at = ? WHERE id = ? AND sign_count = ? RETURNING id",
            (new_count, to_db(now), passkey_id, old_count),
        )
        return await cursor.fetchone() is not None


async def delete(db: Database, member_id: int, passkey_id: int) -> sqlite3.Row | None:
    """Remove one of the member's passkeys; None when the member has no passkey with that id."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "DELETE FROM passkeys WHERE id = ? AND member_id = ? RETURNING id, name", (passkey_id, member_id)
        )
        row: sqlite3.Row | None = await cursor.fetchone()
    return row


async def forget_member(conn: aiosqlite.Connection, member_id: int) -> None:
    """Account closure step: a closed account's passkeys, sign-in history and browsers go."""
    await conn.execute("DELETE FROM passkeys WHERE member_id = ?", (member_id,))
    await conn.execute("DELETE FROM webauthn_challenges WHERE member_id = ?", (member_id,))
    await conn.execute("DELETE FROM sign_in_attempts WHERE member_id = ?", (member_id,))
    await conn.execute("DELETE FROM known_browsers WHERE member_id = ?", (member_id,))
    await conn.execute("UPDATE members SET webauthn_user_id = NULL WHERE id = ?", (member_id,))


async def user_handle(db: Database, member_id: int, new_handle: str) -> str:
    """The member's WebAuthn user handle, set to `new_handle` the first time (one statement)."""
    async with db.write() as conn:
        await conn.execute(
            "UPDATE members SET webauthn_user_id = ? WHERE id = ? AND webauthn_user_id IS NULL",
            (new_handle, member_id),
        )
        cursor = await conn.execute("SELECT webauthn_user_id FROM members WHERE id = ?", (member_id,))
        row = await cursor.fetchone()
    assert row is not None
    return str(row[0])


async def member_by_user_handle(db: Database, handle: str) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM members WHERE webauthn_user_id = ?", (handle,))


async def save_challenge(
    db: Database, challenge: str, *, purpose: str, member_id: int | None, now: datetime, expires_at: datetime
) -> None:
    async with db.write() as conn:
        await conn.execute("DELETE FROM webauthn_challenges WHERE expires_at <= ?", (to_db(now),))
        await conn.execute(
            "INSERT INTO webauthn_challenges (challenge, purpose, member_id, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (challenge, purpose, member_id, to_db(now), to_db(expires_at)),
        )


async def take_challenge(
    db: Database, challenge: str, *, purpose: str, member_id: int | None, now: datetime
) -> bool:
    """Consume a challenge in one statement: True only for the first taker, before it expires, for the
    purpose (and member) it was issued for."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "DELETE FROM webauthn_challenges WHERE challenge = ? AND purpose = ? AND member_id IS ? "
            "AND expires_at > ? RETURNING challenge",
            (challenge, purpose, member_id, to_db(now)),
        )
        return await cursor.fetchone() is not None


async def latest_challenge(db: Database, purpose: str) -> str | None:
    """For tests: the challenge issued last for a purpose."""
    value = await db.fetchval(
        "SELECT challenge FROM webauthn_challenges WHERE purpose = ? ORDER BY created_at DESC LIMIT 1",
        (purpose,),
    )
    return None if value is None else str(value)
