"""Server-side login sessions: random tokens in the cookie, only their hashes stored."""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from db import sessions as session_queries
from db.database import Database
from db.timestamps import from_db
from services.org import OrgSettings

SESSION_COOKIE = "tsudoi_session"
# Touching the row on every request would make every page view a write.
TOUCH_INTERVAL = timedelta(seconds=60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def session_expiry(*, remember: bool, now: datetime, created_at: datetime, org: OrgSettings) -> datetime:
    if not remember:
        return now + timedelta(minutes=org.idle_minutes)
    sliding = now + timedelta(days=org.remember_days)
    if org.remember_absolute_days > 0:
        return min(sliding, created_at + timedelta(days=org.remember_absolute_days))
    return sliding


@dataclass
class LoggedIn:
    member: sqlite3.Row
    token: str
    token_hash: str
    remember: bool
    expires_at: datetime
    flags: dict[str, Any] = field(default_factory=dict)
    refresh_cookie: bool = False

    @property
    def member_id(self) -> int:
        return int(self.member["id"])

    @property
    def is_admin(self) -> bool:
        """A console account: a full admin or 事務局スタッフ (`is_staff` tells them apart)."""
        return bool(self.member["role"] == "admin")

    @property
    def is_staff(self) -> bool:
        """事務局スタッフ: a console account that opens only the screens marked `STAFF_ALLOWED`."""
        return self.is_admin and bool(self.member["staff"])


async def start_session(
    db: Database,
    *,
    member_id: int,
    remember: bool,
    now: datetime,
    org: OrgSettings,
    user_agent: str = "",
    ip: str = "",
    flags: dict[str, Any] | None = None,
) -> tuple[str, datetime]:
    token = new_token()
    expires_at = session_expiry(remember=remember, now=now, created_at=now, org=org)
    await session_queries.create(
        db,
        token_hash=hash_token(token),
        member_id=member_id,
        remember=remember,
        now=now,
        expires_at=expires_at,
        user_agent=user_agent,
        ip=ip,
        flags_json=json.dumps(flags or {}),
    )
    return token, expires_at


async def load_session(db: Database, token: str, *, now: datetime, org: OrgSettings) -> LoggedIn | None:
    """The session behind a cookie, extended on use; None when unknown, expired or the member is closed."""
    if not plausible_token(token):
        return None
    token_hash = hash_token(token)
    row = await session_queries.get_with_member(db, token_hash)
    return await session_from_row(db, row, token, now=now, org=org)


def plausible_token(token: str) -> bool:
    return bool(token) and len(token) <= 100


async def session_from_row(
    db: Database, row: sqlite3.Row | None, token: str, *, now: datetime, org: OrgSettings
) -> LoggedIn | None:
    """`load_session` once the row is read (db.sessions.WITH_MEMBER, by the token's hash)."""
    if row is None:
        return None
    token_hash = str(row["token_hash"])
    expires_at = from_db(row["expires_at"])
    last_seen = from_db(row["last_seen_at"])
    created_at = from_db(row["session_created_at"])
    assert expires_at and last_seen and created_at
    if expires_at <= now or row["status"] != "active":
        await session_queries.delete(db, token_hash)
        return None
    remember = bool(row["remember"])
    logged_in = LoggedIn(
        member=row,
        token=token,
        token_hash=token_hash,
        remember=remember,
        expires_at=expires_at,
        flags=json.loads(row["flags"] or "{}"),
    )
    if now - last_seen >= TOUCH_INTERVAL:
        new_expiry = session_expiry(remember=remember, now=now, created_at=created_at, org=org)
        await session_queries.touch(db, token_hash, now=now, expires_at=new_expiry)
        logged_in.expires_at = new_expiry
        logged_in.refresh_cookie = remember
    return logged_in


async def set_flag(db: Database, logged_in: LoggedIn, name: str, value: Any) -> None:
    logged_in.flags[name] = value
    await session_queries.set_flags(db, logged_in.token_hash, json.dumps(logged_in.flags))


async def end_session(db: Database, token: str) -> None:
    await session_queries.delete(db, hash_token(token))


async def end_other_sessions(db: Database, member_id: int, keep_token: str | None) -> None:
    await session_queries.delete_for_member(
        db, member_id, except_token_hash=hash_token(keep_token) if keep_token else None
    )
