"""Queries on members' new-arrival conditions (a name plus chosen region and topic terms)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from db.database import Database
from db.timestamps import to_db


async def list_with_terms(db: Database, member_id: int) -> list[sqlite3.Row]:
    """The member's conditions, oldest first, one row per chosen term (term columns NULL when none)."""
    return await db.fetchall(
        """
        SELECT c.id, c.name, c.created_at, c.updated_at,
               t.id AS term_id, t.taxonomy, t.name AS term_name, t.slug AS term_slug
        FROM conditions c
        LEFT JOIN condition_terms ct ON ct.condition_id = c.id
        LEFT JOIN terms t ON t.id = ct.term_id
        WHERE c.member_id = ?
        ORDER BY c.id, t.taxonomy, t.sort_order, t.name
        """,
        (member_id,),
    )


async def get_for_member(db: Database, member_id: int, condition_id: int) -> list[sqlite3.Row]:
    """One condition of this member with its terms; empty when it is not theirs."""
    return await db.fetchall(
        """
        SELECT c.id, c.name, c.created_at, c.updated_at,
               t.id AS term_id, t.taxonomy, t.name AS term_name, t.slug AS term_slug
        FROM conditions c
        LEFT JOIN condition_terms ct ON ct.condition_id = c.id
        LEFT JOIN terms t ON t.id = ct.term_id
        WHERE c.member_id = ? AND c.id = ?
        ORDER BY t.taxonomy, t.sort_order, t.name
        """,
        (member_id, condition_id),
    )


async def count_for_member(db: Database, member_id: int) -> int:
    return int(await db.fetchval("SELECT COUNT(*) FROM conditions WHERE member_id = ?", (member_id,)) or 0)


async def create(
    db: Database, member_id: int, name: str, term_ids: Sequence[int], *, now: datetime, limit: int
) -> int | None:
    """Add a condition unless the member already has `limit` (checked inside the write, so two tabs cannot pass it)."""
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute("SELECT COUNT(*) FROM conditions WHERE member_id = ?", (member_id,))
        row = await cursor.fetchone()
        if row is not None and int(row[0]) >= limit:
            return None
        cursor = await conn.execute(
            "INSERT INTO conditions (member_id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (member_id, name, to_db(now), to_db(now)),
        )
        condition_id = int(cursor.lastrowid or 0)
        await conn.executemany(
            "INSERT OR IGNORE INTO condition_terms (condition_id, term_id) VALUES (?, ?)",
            [(condition_id, term_id) for term_id in term_ids],
        )
    return condition_id


async def update(
    db: Database, member_id: int, condition_id: int, name: str, term_ids: Sequence[int], *, now: datetime
) -> bool:
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute(
            "UPDATE conditions SET name = ?, updated_at = ? WHERE id = ? AND member_id = ?",
            (name, to_db(now), condition_id, member_id),
        )
        if cursor.rowcount == 0:
            return False
        await conn.execute("DELETE FROM condition_terms WHERE condition_id = ?", (condition_id,))
        await conn.executemany(
            "INSERT OR IGNORE INTO condition_terms (condition_id, term_id) VALUES (?, ?)",
            [(condition_id, term_id) for term_id in term_ids],
        )
    return True


async def delete(db: Database, member_id: int, condition_id: int) -> bool:
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute(
            "DELETE FROM conditions WHERE id = ? AND member_id = ?", (condition_id, member_id)
        )
        return cursor.rowcount > 0
