"""The audit log viewer's query: filter by event, member, date range; newest first, paged."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.database import Database
from db.timestamps import to_db

PAGE_SIZE = 100


@dataclass(frozen=True)
class AuditFilter:
    event: str = ""  # an exact event, or a prefix ending in "." (login., admin., member.)
    member_number: str = ""  # the member acted on, or the one who acted
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    ip: str = ""


async def search(db: Database, f: AuditFilter, *, page: int = 1) -> tuple[list[sqlite3.Row], bool]:
    """One page of entries with the acting and affected members' numbers and names; and whether
    there is a next page (one query: a row past the page is fetched to know)."""
    parts: list[str] = []
    params: list[Any] = []
    if f.event.endswith("."):
        parts.append("a.event LIKE ? ESCAPE '\\'")
        params.append(f.event.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    elif f.event:
        parts.append("a.event = ?")
        params.append(f.event)
    if f.member_number:
        parts.append(
            "(a.subject_member_id IN (SELECT id FROM members WHERE member_number = ?) "
            "OR a.actor_member_id IN (SELECT id FROM members WHERE member_number = ?))"
        )
        params += [f.member_number, f.member_number]
    if f.since is not None:
        parts.append("a.at >= ?")
        params.append(to_db(f.since))
    if f.until is not None:
        parts.append("a.at < ?")
        params.append(to_db(f.until))
    if f.ip:
        parts.append("a.ip = ?")
        params.append(f.ip)
    where = (" WHERE " + " AND ".join(parts)) if parts else ""
    rows = await db.fetchall(
        "SELECT a.id, a.at, a.event, a.ip, a.detail, "  # noqa: S608
        "s.id AS subject_id, s.member_number AS subject_number, s.family_name AS subject_family_name, "
        "s.given_name AS subject_given_name, "
        "ac.id AS actor_id, ac.member_number AS actor_number, ac.family_name AS actor_family_name, "
        "ac.given_name AS actor_given_name "
        "FROM audit_log a LEFT JOIN members s ON s.id = a.subject_member_id "
        f"LEFT JOIN members ac ON ac.id = a.actor_member_id{where} ORDER BY a.id DESC LIMIT ? OFFSET ?",
        [*params, PAGE_SIZE + 1, (max(page, 1) - 1) * PAGE_SIZE],
    )
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


async def event_names(db: Database) -> list[str]:
    rows = await db.fetchall("SELECT DISTINCT event FROM audit_log ORDER BY event")
    return [str(row[0]) for row in rows]


async def fee_names(db: Database, fee_ids: list[int]) -> dict[int, str]:
    """「会費「2026年度 年会費」（会員 001001）」 for each fee id, in one query."""
    ids = sorted(set(fee_ids))[:PAGE_SIZE]
    if not ids:
        return {}
    rows = await db.fetchall(
        "SELECT f.id, i.name, f.member_number FROM fees f JOIN fee_items i ON i.id = f.fee_item_id "  # noqa: S608
        f"WHERE f.id IN ({','.join('?' for _ in ids)})",
        ids,
    )
    return {int(row["id"]): f"会費「{row['name']}」（会員 {row['member_number']}）" for row in rows}
