"""Queries for digest e-mails: runs, per-member deliveries, the batch loads that build a run, bounces."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db import deliveries
from db.database import Database
from db.deliveries import DIGEST_DELIVERIES, DeliveryCounts
from db.timestamps import to_db

# Only these statuses leave a delivery to be done; the rest are final.
OPEN_STATUSES = ("pending", "sending")


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" for _ in values)


# ---------------------------------------------------------------------------------------------- runs


async def create_run(
    db: Database,
    *,
    kind: str,
    window_key: str,
    window_start: datetime,
    window_end: datetime,
    due_at: datetime,
    trigger: str,
    now: datetime,
) -> tuple[int, bool]:
    """The run of (kind, window_key): (id, True) when this call created it, (id, False) if it existed."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO digest_runs (kind, window_key, window_start, window_end, due_at, trigger, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, window_key) DO NOTHING",
            (kind, window_key, to_db(window_start), to_db(window_end), to_db(due_at), trigger, to_db(now)),
        )
        created = cursor.rowcount == 1
        cursor = await conn.execute(
            "SELECT id FROM digest_runs WHERE kind = ? AND window_key = ?", (kind, window_key)
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0]), created


async def get_run(db: Database, run_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM digest_runs WHERE id = ?", (run_id,))


async def get_run_by_key(db: Database, kind: str, window_key: str) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT * FROM digest_runs WHERE kind = ? AND window_key = ?", (kind, window_key)
    )


async def last_window_key(db: Database, kind: str) -> str | None:
    """The newest window a run exists for: the scheduler's 'last done' (unfinished runs are resumed)."""
    value = await db.fetchval(
        "SELECT window_key FROM digest_runs WHERE kind = ? ORDER BY window_start DESC LIMIT 1", (kind,)
    )
    return None if value is None else str(value)


async def unfinished_runs(db: Database, kind: str | None = None) -> list[sqlite3.Row]:
    if kind is None:
        return await db.fetchall("SELECT * FROM digest_runs WHERE status <> 'done' ORDER BY id")
    return await db.fetchall(
        "SELECT * FROM digest_runs WHERE status <> 'done' AND kind = ? ORDER BY id", (kind,)
    )


async def recent_runs(db: Database, *, limit: int = 20, offset: int = 0) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT * FROM digest_runs ORDER BY window_start DESC, id DESC LIMIT ? OFFSET ?", (limit, offset)
    )


async def count_runs(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM digest_runs"))


RunCounts = DeliveryCounts


async def run_counts(db: Database, run_ids: Sequence[int]) -> dict[int, DeliveryCounts]:
    """Delivery counts by status for several runs in one query."""
    return await deliveries.counts(db, DIGEST_DELIVERIES, run_ids)


async def set_run_sending(db: Database, run_id: int, *, now: datetime) -> None:
    await db.execute(
        "UPDATE digest_runs SET status = 'sending', built_at = ? WHERE id = ? AND status = 'building'",
        (to_db(now), run_id),
    )


async def finish_run_if_complete(db: Database, run_id: int, *, now: datetime) -> bool:
    """Mark the run done once no delivery is pending or being sent; True when it is done."""
    async with db.write() as conn:
        await conn.execute(
            "UPDATE digest_runs SET status = 'done', finished_at = ? WHERE id = ? AND status = 'sending' "
            "AND NOT EXISTS (SELECT 1 FROM digest_deliveries WHERE run_id = ? AND status IN ('pending', 'sending'))",
            (to_db(now), run_id, run_id),
        )
        cursor = await conn.execute("SELECT status FROM digest_runs WHERE id = ?", (run_id,))
        row = await cursor.fetchone()
    return row is not None and row[0] == "done"


# ----------------------------------------------------------------------------------- building a run


async def member_batch(
    db: Database, *, after_id: int, limit: int, frequencies: Sequence[str]
) -> list[sqlite3.Row]:
    """The next active members (by id) whose digest frequency is one of `frequencies`."""
    return await db.fetchall(
        "SELECT m.id, m.member_number, m.family_name, m.given_name, m.email, m.digest_frequency, "  # noqa: S608
        "h.email AS bounced_email, h.flagged_at FROM members m "
        "LEFT JOIN member_mail_health h ON h.member_id = m.id "
        f"WHERE m.id > ? AND m.status = 'active' AND m.digest_frequency IN ({_marks(frequencies)}) "
        "ORDER BY m.id LIMIT ?",
        (after_id, *frequencies, limit),
    )


async def member_for_preview(db: Database, member_id: int) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT m.id, m.member_number, m.family_name, m.given_name, m.email, m.digest_frequency, m.status, "
        "h.email AS bounced_email, h.flagged_at FROM members m "
        "LEFT JOIN member_mail_health h ON h.member_id = m.id WHERE m.id = ?",
        (member_id,),
    )


async def conditions_for(db: Database, member_ids: Sequence[int]) -> list[sqlite3.Row]:
    """Every condition of these members with its chosen terms (one row per term; a condition without
    terms comes once with term_id NULL), in one query for the whole batch."""
    if not member_ids:
        return []
    return await db.fetchall(
        "SELECT c.id AS condition_id, c.member_id, c.name, ct.term_id, t.taxonomy FROM conditions c "  # noqa: S608
        "LEFT JOIN condition_terms ct ON ct.condition_id = c.id LEFT JOIN terms t ON t.id = ct.term_id "
        f"WHERE c.member_id IN ({_marks(member_ids)}) ORDER BY c.member_id, c.id",
        tuple(member_ids),
    )


_WINDOW_ARTICLES = (
    "FROM articles a WHERE a.status = 'published' AND a.published_at >= ? AND a.published_at < ?"
)


async def window_articles(db: Database, start: datetime, end: datetime) -> list[sqlite3.Row]:
    """Published articles whose publish time is in [start, end), newest first."""
    return await db.fetchall(
        "SELECT a.id, a.kind, a.title, a.summary, a.published_at, a.members_only, a.event_date, "  # noqa: S608
        f"a.event_place {_WINDOW_ARTICLES} ORDER BY a.published_at DESC, a.id DESC",
        (to_db(start), to_db(end)),
    )


async def window_article_terms(db: Database, start: datetime, end: datetime) -> list[sqlite3.Row]:
    """(article_id, term_id) for each window article and every ancestor of its terms (itself included):
    a condition on アジア matches an article tagged 中国."""
    return await db.fetchall(
        "SELECT DISTINCT at.article_id, tc.ancestor_id AS term_id FROM article_terms at "  # noqa: S608
        "JOIN term_closure tc ON tc.descendant_id = at.term_id "
        f"WHERE at.article_id IN (SELECT a.id {_WINDOW_ARTICLES})",
        (to_db(start), to_db(end)),
    )


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    member_id: int
    status: str  # 'pending' or 'skipped'
    article_count: int
    content: str
    note: str = ""


async def write_deliveries(
    db: Database, run_id: int, planned: Sequence[PlannedDelivery], *, cursor: int, now: datetime
) -> None:
    """One batch's delivery rows and the run's build cursor, in one transaction (a rebuild after a crash
    starts after the cursor; UNIQUE (run_id, member_id) makes a repeated batch harmless)."""
    stamp = to_db(now)
    async with db.write() as conn:
        await conn.executemany(
            "INSERT INTO digest_deliveries (run_id, member_id, status, article_count, content, last_error, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, member_id) DO NOTHING",
            [
                (run_id, p.member_id, p.status, p.article_count, p.content, p.note, stamp, stamp)
                for p in planned
            ],
        )
        await conn.execute("UPDATE digest_runs SET build_cursor = ? WHERE id = ?", (cursor, run_id))


# ------------------------------------------------------------------------------------------ sending


async def members_for_send(db: Database, member_ids: Sequence[int]) -> dict[int, sqlite3.Row]:
    """The claimed members as they are now (address, frequency, status may have changed since the build)."""
    if not member_ids:
        return {}
    rows = await db.fetchall(
        "SELECT m.id, m.member_number, m.family_name, m.given_name, m.email, m.digest_frequency, m.status, "  # noqa: S608
        "m.announcement_mail, h.email AS bounced_email, h.flagged_at, h.hard_bounces FROM members m "
        "LEFT JOIN member_mail_health h ON h.member_id = m.id "
        f"WHERE m.id IN ({_marks(member_ids)})",
        tuple(member_ids),
    )
    return {int(row["id"]): row for row in rows}


async def deliveries_for_run(
    db: Database, run_id: int, *, status: str | None, limit: int, offset: int
) -> list[sqlite3.Row]:
    """One page of a run's recipients: failures first, then by member number."""
    where = "d.run_id = ?"
    params: list[Any] = [run_id]
    if status:
        where += " AND d.status = ?"
        params.append(status)
    return await db.fetchall(
        "SELECT d.*, m.member_number, m.family_name, m.given_name, m.email FROM digest_deliveries d "  # noqa: S608
        f"JOIN members m ON m.id = d.member_id WHERE {where} "
        "ORDER BY CASE d.status WHEN 'failed' THEN 0 WHEN 'sending' THEN 1 WHEN 'pending' THEN 2 "
        "WHEN 'sent' THEN 3 ELSE 4 END, m.member_number LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )


async def deliveries_for_member(db: Database, member_id: int, *, limit: int = 10) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT d.*, r.kind, r.window_key, r.window_start, r.window_end FROM digest_deliveries d "
        "JOIN digest_runs r ON r.id = d.run_id WHERE d.member_id = ? ORDER BY d.id DESC LIMIT ?",
        (member_id, limit),
    )


# ------------------------------------------------------------------------------------------ bounces


async def record_hard_bounce(
    db: Database, member_id: int, *, email: str, error: str, now: datetime, flag_after: int
) -> bool:
    """Count one more consecutive hard bounce for this address; True when the address is now flagged."""
    stamp = to_db(now)
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO member_mail_health (member_id, email, hard_bounces, last_bounce_at, last_error, flagged_at) "
            "VALUES (?, ?, 1, ?, ?, CASE WHEN 1 >= ? THEN ? END) "
            "ON CONFLICT (member_id) DO UPDATE SET "
            "hard_bounces = CASE WHEN email = excluded.email THEN hard_bounces + 1 ELSE 1 END, "
            "flagged_at = CASE WHEN (CASE WHEN email = excluded.email THEN hard_bounces + 1 ELSE 1 END) >= ? "
            "THEN coalesce(flagged_at, excluded.last_bounce_at) END, "
            "email = excluded.email, last_bounce_at = excluded.last_bounce_at, last_error = excluded.last_error "
            "RETURNING flagged_at",
            (member_id, email, stamp, error[:500], flag_after, stamp, flag_after),
        )
        row = await cursor.fetchone()
    return row is not None and row[0] is not None


async def flagged_members(db: Database, *, limit: int = 200) -> list[sqlite3.Row]:
    """Members whose current address is flagged (a changed address is no longer flagged)."""
    return await db.fetchall(
        "SELECT h.*, m.member_number, m.family_name, m.given_name, m.email AS current_email "
        "FROM member_mail_health h JOIN members m ON m.id = h.member_id "
        "WHERE h.flagged_at IS NOT NULL AND h.email = m.email ORDER BY h.flagged_at DESC LIMIT ?",
        (limit,),
    )


async def clear_bounces(db: Database, member_id: int) -> None:
    await db.execute("DELETE FROM member_mail_health WHERE member_id = ?", (member_id,))


# ------------------------------------------------------------------------------- member frequency


async def set_frequency(db: Database, member_id: int, frequency: str, *, now: datetime) -> None:
    await db.execute(
        "UPDATE members SET digest_frequency = ?, updated_at = ? WHERE id = ?",
        (frequency, to_db(now), member_id),
    )
