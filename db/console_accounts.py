"""Queries on console accounts: admins and 事務局スタッフ (members rows with role 'admin'; staff = 1)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from db.database import Database
from db.timestamps import to_db


class DuplicateLogin(Exception):
    """The login ID (member number) was taken between the check and the write."""


async def active_accounts(db: Database) -> list[sqlite3.Row]:
    """Every console account in use, admins first, with whether its second factor is set up and when it
    last logged in."""
    return await db.fetchall(
        "SELECT m.id, m.member_number, m.staff, m.family_name, m.given_name, m.email, m.created_at, "
        "m.must_change_password, t.confirmed_at AS mfa_confirmed_at, "
        "(SELECT max(a.at) FROM audit_log a WHERE a.subject_member_id = m.id AND a.event = 'login.ok') "
        "AS last_login_at "
        "FROM members m LEFT JOIN admin_totp t ON t.member_id = m.id "
        "WHERE m.role = 'admin' AND m.status = 'active' ORDER BY m.staff, m.member_number"
    )


async def suggested_number(db: Database) -> str:
    """The next free number after the highest console account's (900001 for the first)."""
    value = await db.fetchval(
        "SELECT max(CAST(member_number AS INTEGER)) FROM members WHERE role = 'admin' "
        "AND length(member_number) <= 18 AND member_number NOT GLOB '*[^0-9]*'"
    )
    base = int(value) if value is not None else 900000
    candidate = max(base, 900000) + 1
    while await db.fetchval("SELECT 1 FROM members WHERE member_number = ?", (f"{candidate:06d}",)):
        candidate += 1
    return f"{candidate:06d}"


async def create(
    db: Database,
    *,
    member_number: str,
    staff: bool,
    password_hash: str,
    family_name: str,
    given_name: str,
    email: str,
    now: datetime,
) -> int:
    """A console account that must change its initial password at first login (then enrol TOTP)."""
    try:
        async with db.write() as conn:
            cursor = await conn.execute(
                "INSERT INTO members (member_number, role, staff, password_hash, password_changed_at, "
                "must_change_password, family_name, given_name, email, created_at, updated_at) "
                "VALUES (?, 'admin', ?, ?, ?, 1, ?, ?, ?, ?, ?) RETURNING id",
                (
                    member_number,
                    1 if staff else 0,
                    password_hash,
                    to_db(now),
                    family_name,
                    given_name,
                    email,
                    to_db(now),
                    to_db(now),
                ),
            )
            row = await cursor.fetchone()
            assert row is not None
            member_id = int(row[0])
            await conn.execute(
                "INSERT INTO password_history (member_id, password_hash, created_at) VALUES (?, ?, ?)",
                (member_id, password_hash, to_db(now)),
            )
    except sqlite3.IntegrityError as error:
        raise DuplicateLogin() from error
    return member_id


async def remove(db: Database, member_id: int, *, actor_id: int, now: datetime) -> sqlite3.Row | None:
    """Close a console account other than the actor's own, end its sessions and drop its second factor, in
    one transaction; None when there is no such active account (already removed, a member, oneself)."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE members SET status = 'closed', updated_at = ? "
            "WHERE id = ? AND role = 'admin' AND status = 'active' AND id != ? "
            "RETURNING id, member_number, staff, family_name, given_name",
            (to_db(now), member_id, actor_id),
        )
        row = await cursor.fetchone()
        if row is not None:
            await conn.execute("DELETE FROM sessions WHERE member_id = ?", (member_id,))
            await conn.execute("DELETE FROM admin_totp WHERE member_id = ?", (member_id,))
            await conn.execute("DELETE FROM admin_recovery_codes WHERE member_id = ?", (member_id,))
    return row
