"""The audit log of security events and admin actions."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from db.database import Database
from db.timestamps import to_db


async def record(
    db: Database,
    event: str,
    *,
    now: datetime,
    actor_member_id: int | None = None,
    subject_member_id: int | None = None,
    ip: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    await db.execute(
        "INSERT INTO audit_log (at, event, actor_member_id, subject_member_id, ip, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (
            to_db(now),
            event,
            actor_member_id,
            subject_member_id,
            ip,
            json.dumps(detail or {}, ensure_ascii=False),
        ),
    )


async def for_member(db: Database, member_id: int, limit: int = 50) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT * FROM audit_log WHERE subject_member_id = ? ORDER BY id DESC LIMIT ?", (member_id, limit)
    )


async def events(db: Database, event: str) -> list[sqlite3.Row]:
    return await db.fetchall("SELECT * FROM audit_log WHERE event = ? ORDER BY id", (event,))
