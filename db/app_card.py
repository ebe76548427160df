"""Queries for the installable app (the organization's logo) and the membership card."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from db.database import Database
from db.timestamps import to_db


async def logo_png(db: Database) -> bytes | None:
    value = await db.fetchval("SELECT png FROM org_logo WHERE id = 1")
    return bytes(value) if value is not None else None


async def put_logo(db: Database, png: bytes, *, now: datetime) -> None:
    await db.execute(
        "INSERT INTO org_logo (id, png, updated_at) VALUES (1, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET png = excluded.png, updated_at = excluded.updated_at",
        (png, to_db(now)),
    )


async def delete_logo(db: Database) -> None:
    await db.execute("DELETE FROM org_logo WHERE id = 1")


async def card_holder(db: Database, member_id: int) -> sqlite3.Row | None:
    """What a card or its verification needs: the member's names, number, status and card epoch."""
    return await db.fetchone(
        "SELECT id, member_number, family_name, given_name, status, card_epoch FROM members WHERE id = ?",
        (member_id,),
    )


async def reissue_card(db: Database, member_id: int) -> int | None:
    """Invalidate every QR code issued so far; returns the new epoch (None for an unknown member)."""
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute(
            "UPDATE members SET card_epoch = card_epoch + 1 WHERE id = ? RETURNING card_epoch", (member_id,)
        )
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else None
