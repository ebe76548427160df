"""Queries for 事務局からのお知らせ: announcements, who they go to, their delivery rows, what members read."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from db.database import Database
from db.timestamps import to_db


@dataclass(frozen=True)
class Audience:
    """Who an announcement goes to: a kind and its value (tier code, 会員種別, 都道府県, topic term id)."""

    kind: str
    value: str = ""
    required: bool = False  # fee/account notices go even to members who stopped optional ones


def _audience_sql(audience: Audience, today: date) -> tuple[str, list[Any]]:
    """A WHERE clause over `members m` for the audience (active members with an address)."""
    clauses = ["m.status = 'active'", "m.email <> ''"]
    params: list[Any] = []
    if not audience.required:
        clauses.append("m.announcement_mail = 1")
    day = today.isoformat()
    current_tier = (
        "SELECT t.code FROM member_tiers mt JOIN tiers t ON t.id = mt.tier_id WHERE mt.member_id = m.id "
        "AND mt.starts_on <= ? AND (mt.ends_on IS NULL OR mt.ends_on >= ?) ORDER BY mt.starts_on DESC LIMIT 1"
    )
    if audience.kind == "tier":
        clauses.append(f"coalesce(({current_tier}), 'free') = ?")
        params += [day, day, audience.value]
    elif audience.kind == "membership_type":
        clauses.append("m.membership_type = ?")
        params.append(audience.value)
    elif audience.kind == "prefecture":
        clauses.append("m.prefecture = ?")
        params.append(audience.value)
    elif audience.kind == "unpaid":
        clauses.append(
            "EXISTS (SELECT 1 FROM fees f WHERE f.member_id = m.id AND f.status IN ('unpaid', 'awaiting_konbini'))"
        )
    elif audience.kind == "topic":
        # A condition on the topic or on one of its ancestors (アジア covers 中国), as the digest matches.
        clauses.append(
            "EXISTS (SELECT 1 FROM conditions c JOIN condition_terms ct ON ct.condition_id = c.id "
            "JOIN term_closure tc ON tc.ancestor_id = ct.term_id WHERE c.member_id = m.id AND tc.descendant_id = ?)"
        )
        params.append(int(audience.value) if audience.value.isdigit() else 0)
    elif audience.kind != "all":
        clauses.append("0")
    return " AND ".join(clauses), params


async def count_audience(db: Database, audience: Audience, today: date) -> int:
    where, params = _audience_sql(audience, today)
    return int(await db.fetchval(f"SELECT count(*) FROM members m WHERE {where}", params))  # noqa: S608


async def audience_batch(
    db: Database, audience: Audience, today: date, *, after_id: int, limit: int
) -> list[int]:
    where, params = _audience_sql(audience, today)
    rows = await db.fetchall(
        f"SELECT m.id FROM members m WHERE m.id > ? AND {where} ORDER BY m.id LIMIT ?",  # noqa: S608
        (after_id, *params, limit),
    )
    return [int(row[0]) for row in rows]


# ------------------------------------------------------------------------------------ announcements


async def _changed(db: Database, sql: str, params: Sequence[Any]) -> int:
    """One write statement; how many rows it changed (the state checks in WHERE make it atomic)."""
    async with db.write() as conn:
        cursor = await conn.execute(sql, tuple(params))
        return int(cursor.rowcount)


def _columns(values: dict[str, Any]) -> tuple[Any, ...]:
    """title, body_md, body_html, body_text, category, members_only, audience, audience_value."""
    return (
        values["title"],
        values["body_md"],
        values["body_html"],
        values["body_text"],
        values["category"],
        int(values["members_only"]),
        values["audience"],
        values["audience_value"],
    )


async def create(db: Database, values: dict[str, Any], *, created_by: int | None, now: datetime) -> int:
    stamp = to_db(now)
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO announcements (title, body_md, body_html, body_text, category, members_only, audience, "
            "audience_value, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*_columns(values), created_by, stamp, stamp),
        )
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)


async def update_draft(db: Database, announcement_id: int, values: dict[str, Any], *, now: datetime) -> bool:
    """Edit a draft; False when it is no longer a draft (sent or scheduled meanwhile)."""
    changed = await _changed(
        db,
        "UPDATE announcements SET title = ?, body_md = ?, body_html = ?, body_text = ?, category = ?, "
        "members_only = ?, audience = ?, audience_value = ?, updated_at = ? WHERE id = ? AND status = 'draft'",
        (*_columns(values), to_db(now), announcement_id),
    )
    return changed == 1


async def get(db: Database, announcement_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM announcements WHERE id = ?", (announcement_id,))


async def recent(db: Database, *, limit: int, offset: int = 0) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT * FROM announcements ORDER BY coalesce(started_at, send_at, created_at) DESC, id DESC "
        "LIMIT ? OFFSET ?",
        (limit, offset),
    )


async def count_all(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM announcements"))


async def start_sending(db: Database, announcement_id: int, *, now: datetime) -> bool:
    """draft -> building (send now), atomically: of two clicks on 送信する only one gets True."""
    changed = await _changed(
        db,
        "UPDATE announcements SET status = 'building', send_at = ?, started_at = ?, updated_at = ? "
        "WHERE id = ? AND status = 'draft'",
        (to_db(now), to_db(now), to_db(now), announcement_id),
    )
    return changed == 1


async def schedule(db: Database, announcement_id: int, *, send_at: datetime, now: datetime) -> bool:
    changed = await _changed(
        db,
        "UPDATE announcements SET status = 'scheduled', send_at = ?, updated_at = ? WHERE id = ? AND status = 'draft'",
        (to_db(send_at), to_db(now), announcement_id),
    )
    return changed == 1


async def unschedule(db: Database, announcement_id: int, *, now: datetime) -> bool:
    changed = await _changed(
        db,
        "UPDATE announcements SET status = 'draft', send_at = NULL, updated_at = ? WHERE id = ? AND status = 'scheduled'",
        (to_db(now), announcement_id),
    )
    return changed == 1


async def delete_draft(db: Database, announcement_id: int) -> bool:
    return (
        await _changed(db, "DELETE FROM announcements WHERE id = ? AND status = 'draft'", (announcement_id,))
        == 1
    )


async def start_due(db: Database, *, now: datetime) -> list[int]:
    """Scheduled announcements whose time has come: scheduled -> building, each taken by one caller."""
    stamp = to_db(now)
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE announcements SET status = 'building', started_at = ?, updated_at = ? "
            "WHERE status = 'scheduled' AND send_at <= ? RETURNING id",
            (stamp, stamp, stamp),
        )
        return [int(row[0]) for row in await cursor.fetchall()]


async def unfinished(db: Database) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT * FROM announcements WHERE status IN ('building', 'sending') ORDER BY id"
    )


async def write_deliveries(
    db: Database, announcement_id: int, member_ids: Sequence[int], *, cursor: int, now: datetime
) -> None:
    """One batch's delivery rows and the build cursor in one transaction; UNIQUE (announcement, member)
    makes a repeated batch harmless, so each member gets at most one row — and one mail."""
    stamp = to_db(now)
    async with db.write() as conn:
        await conn.executemany(
            "INSERT INTO announcement_deliveries (announcement_id, member_id, created_at, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (announcement_id, member_id) DO NOTHING",
            [(announcement_id, member_id, stamp, stamp) for member_id in member_ids],
        )
        await conn.execute(
            "UPDATE announcements SET build_cursor = ? WHERE id = ?", (cursor, announcement_id)
        )


async def set_sending(db: Database, announcement_id: int) -> None:
    await db.execute(
        "UPDATE announcements SET status = 'sending' WHERE id = ? AND status = 'building'", (announcement_id,)
    )


async def finish_if_complete(db: Database, announcement_id: int, *, now: datetime) -> bool:
    async with db.write() as conn:
        await conn.execute(
            "UPDATE announcements SET status = 'done', finished_at = ? WHERE id = ? AND status = 'sending' "
            "AND NOT EXISTS (SELECT 1 FROM announcement_deliveries WHERE announcement_id = ? "
            "AND status IN ('pending', 'sending'))",
            (to_db(now), announcement_id, announcement_id),
        )
        cursor = await conn.execute("SELECT status FROM announcements WHERE id = ?", (announcement_id,))
        row = await cursor.fetchone()
    return row is not None and row[0] == "done"


async def failed_deliveries(db: Database, announcement_id: int, *, limit: int = 50) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT d.*, m.member_number, m.family_name, m.given_name, m.email FROM announcement_deliveries d "
        "JOIN members m ON m.id = d.member_id WHERE d.announcement_id = ? AND d.status = 'failed' "
        "ORDER BY m.member_number LIMIT ?",
        (announcement_id, limit),
    )


# ------------------------------------------------------------------------------------------ members

# What a member may read: those for everyone, and targeted ones that were sent to them. Without a
# login only those for everyone that are not members-only.
_VISIBLE = (
    "a.started_at IS NOT NULL AND (a.audience = 'all' OR EXISTS (SELECT 1 FROM announcement_deliveries d "
    "WHERE d.announcement_id = a.id AND d.member_id = ?))"
)
_PUBLIC = "a.started_at IS NOT NULL AND a.audience = 'all' AND a.members_only = 0"


def _visibility(member_id: int | None) -> tuple[str, tuple[Any, ...]]:
    return (_VISIBLE, (member_id,)) if member_id is not None else (_PUBLIC, ())


async def published(db: Database, member_id: int | None, *, limit: int, offset: int = 0) -> list[sqlite3.Row]:
    where, params = _visibility(member_id)
    read = (
        "EXISTS (SELECT 1 FROM announcement_reads r WHERE r.announcement_id = a.id AND r.member_id = ?)"
        if member_id is not None
        else "0"
    )
    return await db.fetchall(
        f"SELECT a.id, a.title, a.started_at, a.members_only, a.category, {read} AS is_read "  # noqa: S608
        f"FROM announcements a WHERE {where} ORDER BY a.started_at DESC, a.id DESC LIMIT ? OFFSET ?",
        ((member_id,) if member_id is not None else ()) + params + (limit, offset),
    )


async def count_published(db: Database, member_id: int | None) -> int:
    where, params = _visibility(member_id)
    return int(await db.fetchval(f"SELECT count(*) FROM announcements a WHERE {where}", params))  # noqa: S608


async def visible(db: Database, announcement_id: int, member_id: int | None) -> sqlite3.Row | None:
    """The announcement if this reader may see it (members-only ones are checked by the caller)."""
    where, params = (
        _visibility(member_id)
        if member_id is not None
        else (
            "a.started_at IS NOT NULL AND a.audience = 'all'",
            (),
        )
    )
    return await db.fetchone(
        f"SELECT a.* FROM announcements a WHERE a.id = ? AND {where}",  # noqa: S608
        (announcement_id, *params),
    )


async def latest_unread(db: Database, member_id: int) -> sqlite3.Row | None:
    """My Page's one line: the newest announcement this member may read and has not opened (one query)."""
    return await db.fetchone(
        f"SELECT a.id, a.title, a.started_at FROM announcements a WHERE {_VISIBLE} "  # noqa: S608
        "AND NOT EXISTS (SELECT 1 FROM announcement_reads r WHERE r.announcement_id = a.id AND r.member_id = ?) "
        "ORDER BY a.started_at DESC, a.id DESC LIMIT 1",
        (member_id, member_id),
    )


async def mark_read(db: Database, announcement_id: int, member_id: int, *, now: datetime) -> None:
    await db.execute(
        "INSERT INTO announcement_reads (member_id, announcement_id, read_at) VALUES (?, ?, ?) "
        "ON CONFLICT (member_id, announcement_id) DO NOTHING",
        (member_id, announcement_id, to_db(now)),
    )


async def set_mail_choice(db: Database, member_id: int, wanted: bool, *, now: datetime) -> bool:
    """True when the choice changed."""
    changed = await _changed(
        db,
        "UPDATE members SET announcement_mail = ?, updated_at = ? WHERE id = ? AND announcement_mail <> ?",
        (int(wanted), to_db(now), member_id, int(wanted)),
    )
    return changed == 1


async def mail_choice(db: Database, member_id: int) -> bool:
    value = await db.fetchval("SELECT announcement_mail FROM members WHERE id = ?", (member_id,))
    return bool(value)


async def publish_without_mail(db: Database, announcement_id: int, *, now: datetime) -> None:
    """Shown at /announcements with no mail sent (the demo data)."""
    stamp = to_db(now)
    await db.execute(
        "UPDATE announcements SET status = 'done', send_at = ?, started_at = ?, finished_at = ?, updated_at = ? "
        "WHERE id = ? AND status = 'draft'",
        (stamp, stamp, stamp, stamp, announcement_id),
    )
