"""Queries on members' recently viewed articles (one row per article, the newest 50 kept)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from db.articles import CARD_COLUMNS, VISIBLE
from db.database import Database
from db.timestamps import to_db


def _record(conn: sqlite3.Connection, member_id: int, article_id: int, viewed_at: str, keep: int) -> None:
    conn.execute(
        "INSERT INTO view_history (member_id, article_id, viewed_at) VALUES (?, ?, ?) "
        "ON CONFLICT (member_id, article_id) DO UPDATE SET viewed_at = excluded.viewed_at",
        (member_id, article_id, viewed_at),
    )
    conn.execute(
        """
        DELETE FROM view_history WHERE member_id = :m AND article_id NOT IN (
          SELECT article_id FROM view_history WHERE member_id = :m
          ORDER BY viewed_at DESC, article_id DESC LIMIT :keep)
        """,
        {"m": member_id, "keep": keep},
    )


async def record(db: Database, member_id: int, article_id: int, *, now: datetime, keep: int) -> None:
    """Move the article to the top of the member's history and drop what falls beyond `keep` (one write
    transaction, one trip to the writer's thread: every member article view makes it)."""
    db.query_count += 1
    await db.run_write(_record, member_id, article_id, to_db(now), keep)


async def list_for(db: Database, member_id: int, *, now: datetime, limit: int) -> list[sqlite3.Row]:
    # CROSS JOIN: from the member's history rows, not from every published article (see bookmarks.list_for).
    return await db.fetchall(
        f"SELECT {CARD_COLUMNS}, vh.viewed_at FROM view_history vh "  # noqa: S608
        f"CROSS JOIN articles a ON a.id = vh.article_id WHERE vh.member_id = :viewer AND {VISIBLE} "
        "ORDER BY vh.viewed_at DESC, a.id DESC LIMIT :limit",
        {"viewer": member_id, "now": to_db(now), "limit": limit},
    )


async def count_for(db: Database, member_id: int) -> int:
    return int(await db.fetchval("SELECT COUNT(*) FROM view_history WHERE member_id = ?", (member_id,)) or 0)


async def clear(db: Database, member_id: int) -> None:
    await db.execute("DELETE FROM view_history WHERE member_id = ?", (member_id,))
