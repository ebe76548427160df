"""Queries for the statistics screen (/admin/stats): counts grouped in SQL, instants for monthly buckets.

Monthly figures are bucketed in the organization's time zone by the service (services/stats.py), so these
queries return the instants within a UTC range rather than grouping by a UTC month.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

from db.database import Database
from db.timestamps import to_db

_ACTIVE_MEMBERS = "m.role = 'member' AND m.status = 'active'"


async def members_by_tier(db: Database, today: date) -> list[sqlite3.Row]:
    """Active members by the tier covering today (the latest started); none covering today = the free tier."""
    return await db.fetchall(
        "SELECT coalesce(("  # noqa: S608 - the only interpolation is the constant _ACTIVE_MEMBERS
        "  SELECT t.name FROM member_tiers mt JOIN tiers t ON t.id = mt.tier_id "
        "  WHERE mt.member_id = m.id AND mt.starts_on <= ? AND (mt.ends_on IS NULL OR mt.ends_on >= ?) "
        "  ORDER BY mt.starts_on DESC LIMIT 1"
        "), (SELECT name FROM tiers WHERE code = 'free')) AS label, count(*) AS count "
        f"FROM members m WHERE {_ACTIVE_MEMBERS} GROUP BY label ORDER BY count DESC, label",
        (today.isoformat(), today.isoformat()),
    )


async def members_by_column(db: Database, column: str) -> list[sqlite3.Row]:
    """Active members by membership type or prefecture ('' when not entered)."""
    if column not in ("membership_type", "prefecture"):
        raise ValueError(column)
    return await db.fetchall(
        f"SELECT m.{column} AS label, count(*) AS count FROM members m WHERE {_ACTIVE_MEMBERS} "  # noqa: S608
        "GROUP BY label ORDER BY count DESC, label"
    )


async def join_instants(db: Database, since: datetime, until: datetime) -> list[str]:
    """When members (not console accounts) were created, within [since, until)."""
    rows = await db.fetchall(
        "SELECT created_at FROM members WHERE role = 'member' AND created_at >= ? AND created_at < ?",
        (to_db(since), to_db(until)),
    )
    return [str(row[0]) for row in rows]


async def leave_instants(db: Database, since: datetime, until: datetime) -> list[str]:
    """When closures were carried out (退会), within [since, until)."""
    rows = await db.fetchall(
        "SELECT decided_at FROM closure_requests WHERE status = 'closed' AND decided_at >= ? AND decided_at < ?",
        (to_db(since), to_db(until)),
    )
    return [str(row[0]) for row in rows]


async def fees_by_fiscal_year(db: Database) -> list[sqlite3.Row]:
    """Per fee year: fees issued (not cancelled), paid, unpaid (waiting, konbini included), and the paid
    amount by method; counts and yen."""
    return await db.fetchall(
        "SELECT i.fiscal_year AS year, "
        "count(*) FILTER (WHERE f.status <> 'cancelled') AS issued, "
        "coalesce(sum(f.amount) FILTER (WHERE f.status <> 'cancelled'), 0) AS issued_amount, "
        "count(*) FILTER (WHERE f.status = 'paid') AS paid, "
        "coalesce(sum(f.amount) FILTER (WHERE f.status = 'paid'), 0) AS paid_amount, "
        "count(*) FILTER (WHERE f.status IN ('unpaid', 'awaiting_konbini')) AS unpaid, "
        "coalesce(sum(f.amount) FILTER (WHERE f.status IN ('unpaid', 'awaiting_konbini')), 0) AS unpaid_amount, "
        "count(*) FILTER (WHERE f.status = 'expired') AS expired, "
        "coalesce(sum(f.amount) FILTER (WHERE f.paid_method = 'card' AND f.status = 'paid'), 0) AS card_amount, "
        "coalesce(sum(f.amount) FILTER (WHERE f.paid_method = 'konbini' AND f.status = 'paid'), 0) AS konbini_amount, "
        "coalesce(sum(f.amount) FILTER (WHERE f.paid_method = 'bank_transfer' AND f.status = 'paid'), 0) "
        "AS bank_transfer_amount "
        "FROM fees f JOIN fee_items i ON i.id = f.fee_item_id GROUP BY i.fiscal_year ORDER BY i.fiscal_year"
    )


async def digest_outcomes(db: Database, since: datetime, until: datetime) -> list[sqlite3.Row]:
    """Digest (お知らせメール) deliveries that were sent or failed, with when, within [since, until)."""
    return await db.fetchall(
        "SELECT status, coalesce(sent_at, updated_at) AS at FROM digest_deliveries "
        "WHERE status IN ('sent', 'failed') AND coalesce(sent_at, updated_at) >= ? "
        "AND coalesce(sent_at, updated_at) < ?",
        (to_db(since), to_db(until)),
    )


async def logged_mails(db: Database, since: datetime, until: datetime) -> list[sqlite3.Row]:
    """Every other mail the app sent or failed to send (the mail log: notices, replies, and announcement
    mails when they are logged there), with its kind, within [since, until)."""
    return await db.fetchall(
        "SELECT kind, status, created_at AS at FROM mail_log WHERE created_at >= ? AND created_at < ?",
        (to_db(since), to_db(until)),
    )


async def table_exists(db: Database, name: str) -> bool:
    return bool(await db.fetchval("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))
