"""Login rules: member-number normalization, one error for any mismatch, lockout, rehash."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from db import audit
from db import members as member_queries
from db.database import Database
from services.clock import from_db
from services.hashing import Hasher
from services.japanese import normalize_member_number
from services.org import OrgSettings

INVALID_LOGIN_MESSAGE = "ログインIDまたはパスワードが間違っています。"
LOCKED_MESSAGE = "対象のログインIDはロックされています"


@dataclass
class LoginOutcome:
    status: Literal["ok", "invalid", "locked"]
    member: sqlite3.Row | None = None
    locked_until: datetime | None = None
    newly_locked: bool = False


async def authenticate(
    db: Database,
    hasher: Hasher,
    org: OrgSettings,
    *,
    member_number_input: str,
    password: str,
    now: datetime,
    ip: str = "",
) -> LoginOutcome:
    member_number = normalize_member_number(member_number_input)
    member = await member_queries.get_by_number(db, member_number) if member_number else None
    if member is None or member["status"] != "active" or not member["password_hash"]:
        await hasher.verify_dummy(password)
        await audit.record(db, "login.failed", now=now, ip=ip, detail={"reason": "unknown"})
        return LoginOutcome("invalid")

    member_id = int(member["id"])
    locked_until = from_db(member["locked_until"])
    if locked_until and locked_until > now:
        await hasher.verify_dummy(password)
        await audit.record(db, "login.refused_locked", now=now, subject_member_id=member_id, ip=ip)
        return LoginOutcome("locked", member=member, locked_until=locked_until)

    if locked_until:
        # The lock has run out: the member starts a fresh streak of tries.
        await member_queries.reset_failed_logins(db, member_id)

    if not await hasher.verify(member["password_hash"], password):
        lock_until = now + timedelta(minutes=org.lockout_minutes)
        failures = await member_queries.record_failed_login(
            db, member_id, threshold=org.lockout_threshold, lock_until=lock_until
        )
        await audit.record(
            db, "login.failed", now=now, subject_member_id=member_id, ip=ip, detail={"failures": failures}
        )
        if failures >= org.lockout_threshold:
            await audit.record(db, "account.locked", now=now, subject_member_id=member_id, ip=ip)
            return LoginOutcome("locked", member=member, locked_until=lock_until, newly_locked=True)
        return LoginOutcome("invalid", member=member)

    if member["failed_logins"] or member["locked_until"]:
        await member_queries.reset_failed_logins(db, member_id)
    if hasher.needs_rehash(member["password_hash"]):
        await member_queries.set_password_hash(db, member_id, await hasher.hash(password))
    await audit.record(db, "login.ok", now=now, subject_member_id=member_id, ip=ip)
    return LoginOutcome("ok", member=member)
