"""Queries on membership tiers and which tier each member is in."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date

from db.database import Database


async def all_tiers(db: Database) -> list[sqlite3.Row]:
    return await db.fetchall("SELECT * FROM tiers ORDER BY sort_order, id")


async def current_tier_rows(db: Database, member_ids: Sequence[int], today: date) -> dict[int, sqlite3.Row]:
    """Each member's tier covering `today` (the latest started), in one query for any number of members."""
    if not member_ids:
        return {}
    marks = ",".join("?" for _ in member_ids)
    rows = await db.fetchall(
        "SELECT mt.member_id, mt.starts_on, mt.ends_on, t.* FROM member_tiers mt JOIN tiers t ON t.id = mt.tier_id "  # noqa: S608
        f"WHERE mt.member_id IN ({marks}) AND mt.starts_on <= ? AND (mt.ends_on IS NULL OR mt.ends_on >= ?) "
        "ORDER BY mt.member_id, mt.starts_on",
        (*member_ids, today.isoformat(), today.isoformat()),
    )
    return {int(row["member_id"]): row for row in rows}


async def free_tier(db: Database) -> sqlite3.Row:
    row = await db.fetchone("SELECT * FROM tiers WHERE code = 'free'")
    assert row is not None
    return row


async def all_codes(db: Database) -> list[str]:
    rows = await db.fetchall("SELECT code FROM tiers ORDER BY id")
    return [str(row["code"]) for row in rows]


async def access_rows(db: Database, member_id: int, today: date) -> list[sqlite3.Row]:
    """One member's tier rows for the tier gates, in one query: the periods covering `today` (source
    'member', by start), the free tier ('free') and the tiers that carry an event or members-only perk
    ('perk', in list order) — what `current_tier_rows`, `free_tier` and `all_tiers` give, at once."""
    day = today.isoformat()
    return await db.fetchall(
        "SELECT 'member' AS source, mt.starts_on, mt.ends_on, t.* FROM member_tiers mt "
        "JOIN tiers t ON t.id = mt.tier_id "
        "WHERE mt.member_id = ? AND mt.starts_on <= ? AND (mt.ends_on IS NULL OR mt.ends_on >= ?) "
        "UNION ALL SELECT 'free', NULL, NULL, t.* FROM tiers t WHERE t.code = 'free' "
        "UNION ALL SELECT 'perk', NULL, NULL, t.* FROM tiers t WHERE t.perk_events OR t.perk_members_only "
        "ORDER BY source, starts_on, sort_order, id",
        (member_id, day, day),
    )
