"""Queries on the help pages: FAQ sections and their entries."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from db.database import Database
from db.timestamps import to_db

ENTRY_COLUMNS = ("question", "answer_md", "answer_html", "link_path", "link_label", "search_text")


async def sections(db: Database) -> list[sqlite3.Row]:
    return await db.fetchall("SELECT * FROM help_sections ORDER BY sort_order, id")


async def section(db: Database, section_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM help_sections WHERE id = ?", (section_id,))


async def entries(db: Database, *, published_only: bool) -> list[sqlite3.Row]:
    """Every entry in page order (section order, then entry order), in one query."""
    return await db.fetchall(
        "SELECT e.* FROM help_entries e JOIN help_sections s ON s.id = e.section_id "
        "WHERE (? = 0 OR e.published = 1) "
        "ORDER BY s.sort_order, s.id, e.sort_order, e.id",
        (1 if published_only else 0,),
    )


async def entry(db: Database, entry_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM help_entries WHERE id = ?", (entry_id,))


async def count_sections(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM help_sections"))


async def count_entries_in(db: Database, section_id: int) -> int:
    return int(await db.fetchval("SELECT count(*) FROM help_entries WHERE section_id = ?", (section_id,)))


async def create_section(db: Database, *, title: str, sort_order: int, now: datetime) -> int:
    return await db.execute(
        "INSERT INTO help_sections (title, sort_order, created_at, updated_at) VALUES (?, ?, ?, ?)",
        (title, sort_order, to_db(now), to_db(now)),
    )


async def update_section(
    db: Database, section_id: int, *, title: str, sort_order: int, now: datetime
) -> None:
    await db.execute(
        "UPDATE help_sections SET title = ?, sort_order = ?, updated_at = ? WHERE id = ?",
        (title, sort_order, to_db(now), section_id),
    )


async def delete_section(db: Database, section_id: int) -> None:
    await db.execute("DELETE FROM help_sections WHERE id = ?", (section_id,))


async def create_entry(
    db: Database, *, section_id: int, values: dict[str, Any], published: bool, sort_order: int, now: datetime
) -> int:
    return await db.execute(
        "INSERT INTO help_entries (section_id, question, answer_md, answer_html, link_path, link_label, "
        "search_text, published, sort_order, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            section_id,
            *(values[column] for column in ENTRY_COLUMNS),
            1 if published else 0,
            sort_order,
            to_db(now),
            to_db(now),
        ),
    )


async def update_entry(
    db: Database,
    entry_id: int,
    *,
    section_id: int,
    values: dict[str, Any],
    published: bool,
    sort_order: int,
    now: datetime,
) -> None:
    await db.execute(
        "UPDATE help_entries SET section_id = ?, question = ?, answer_md = ?, answer_html = ?, link_path = ?, "
        "link_label = ?, search_text = ?, published = ?, sort_order = ?, updated_at = ? WHERE id = ?",
        (
            section_id,
            *(values[column] for column in ENTRY_COLUMNS),
            1 if published else 0,
            sort_order,
            to_db(now),
            entry_id,
        ),
    )


async def delete_entry(db: Database, entry_id: int) -> None:
    await db.execute("DELETE FROM help_entries WHERE id = ?", (entry_id,))
