"""What the admin dashboard shows: what needs attention."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from db.database import Database
from db.timestamps import to_db


async def summary(db: Database, *, now: datetime) -> sqlite3.Row:
    row = await db.fetchone(
        "SELECT "
        "(SELECT count(*) FROM members WHERE status = 'active' AND role = 'member') AS active_members, "
        "(SELECT count(*) FROM members WHERE locked_until > ?) AS locked_members, "
        "(SELECT count(*) FROM mail_log WHERE status = 'failed') AS failed_mails, "
        "(SELECT count(*) FROM mail_log WHERE status = 'failed' AND created_at >= ?) AS failed_mails_recent, "
        "(SELECT count(*) FROM initial_password_letters l JOIN members m ON m.id = l.member_id "
        " WHERE l.letter_made_at IS NULL AND l.password_sealed <> '' AND m.status = 'active') AS pending_letters",
        (to_db(now), to_db(now - timedelta(days=7))),
    )
    assert row is not None
    return row


async def locked_members(db: Database, *, now: datetime) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT id, member_number, family_name, given_name, locked_until FROM members "
        "WHERE locked_until > ? ORDER BY locked_until LIMIT 20",
        (to_db(now),),
    )


async def failed_mails(db: Database, limit: int = 5) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT created_at, kind, recipient, subject, error FROM mail_log WHERE status = 'failed' "
        "ORDER BY id DESC LIMIT ?",
        (limit,),
    )


async def last_backup(db: Database) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM backups WHERE status = 'ok' ORDER BY id DESC LIMIT 1")


async def unpaid_fees(db: Database) -> sqlite3.Row:
    row = await db.fetchone(
        "SELECT count(*) AS count, coalesce(sum(amount), 0) AS amount FROM fees "
        "WHERE status IN ('unpaid', 'awaiting_konbini')"
    )
    assert row is not None
    return row


async def new_inquiries(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM inquiries WHERE status = 'new'"))


async def digest_runs(db: Database, limit: int = 4) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT kind, window_key, status, created_at, finished_at FROM digest_runs ORDER BY id DESC LIMIT ?",
        (limit,),
    )
