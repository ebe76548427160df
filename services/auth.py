"""Login rules: member-number normalization, one error for any mismatch, lockout, throttle, rehash."""

from __future__ import annotations

import hashlib
import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from db import audit, login_failures, rate_limits
from db import members as member_queries
from db.database import Database
from services.hashing import Hasher
from services.japanese import normalize_member_number
from services.org import OrgSettings

INVALID_LOGIN_MESSAGE = "ログインIDまたはパスワードが間違っています。"
LOCKED_MESSAGE = "対象のログインIDはロックされています"


def throttled_message(window_minutes: int) -> str:
    return (
        "このネットワークからのログインの失敗が続いたため、ログインを一時停止しています。"
        f"{window_minutes}分ほど時間をおいてから、もう一度お試しください。"
        "パスワードがわからない場合は「パスワードをお忘れの方」から再設定できます。"
    )


@dataclass(frozen=True)
class IpThrottle:
    """Failed logins from one address across all login IDs (settings login_ip_failures / _window_minutes)."""

    failures: int
    window: timedelta


@dataclass
class LoginOutcome:
    status: Literal["ok", "invalid", "locked", "throttled"]
    member: sqlite3.Row | None = None
    locked_until: datetime | None = None
    newly_locked: bool = False  # a known member's account was locked by this try: mail the member
    failures: int = 0  # wrong passwords counted for the login ID so far (an "invalid" try)


# From this many wrong passwords in a row the login page says how many tries are left before the lock.
WARN_FROM_FAILURES = 3


def tries_left_message(failures: int, threshold: int, lock_minutes: int) -> str | None:
    """「あと2回間違えると…」 from the 3rd failure on. It depends only on the count per login ID, which
    unknown IDs keep too, so the page reads the same whether a member has that number or not."""
    left = threshold - failures
    if failures < WARN_FROM_FAILURES or left <= 0:
        return None
    return (
        f"あと{left}回間違えると、このログインIDは{lock_minutes}分間ロックされます。"
        "パスワードがわからない場合は、パスワードを再設定してください。"
    )


def login_id_key(member_number: str | None, typed: str) -> str:
    """What failures are counted under: the normalized member number, or for text that is no member number
    a digest of it (it can never log in; it still locks, so nothing about it differs from a real ID)."""
    if member_number:
        return member_number
    folded = unicodedata.normalize("NFKC", typed).strip().casefold()
    return "?" + hashlib.sha256(folded.encode("utf-8", "surrogatepass")).hexdigest()[:32]


async def authenticate(
    db: Database,
    hasher: Hasher,
    org: OrgSettings,
    *,
    member_number_input: str,
    password: str,
    now: datetime,
    ip: str = "",
    throttle: IpThrottle | None = None,
) -> LoginOutcome:
    """At most `org.lockout_threshold` passwords are ever checked per login ID and lock period, however many
    tries arrive at once: each try is counted before its password is hashed, and a right password still
    fails when a lock was set while it was being checked. Unknown IDs go through the same steps."""
    slot = None
    if throttle is not None:
        slot = await rate_limits.take_slot(
            db, f"login-ip:{ip}", now=now, window=throttle.window, limit=throttle.failures
        )
        if slot is None:
            await audit.record(db, "login.throttled", now=now, ip=ip)
            return LoginOutcome("throttled")

    member_number = normalize_member_number(member_number_input)
    login_id = login_id_key(member_number, member_number_input)
    found = await member_queries.get_by_number(db, member_number) if member_number else None
    member = found if found is not None and found["status"] == "active" and found["password_hash"] else None
    member_id = int(member["id"]) if member is not None else None
    threshold = org.lockout_threshold
    lock_until = now + timedelta(minutes=org.lockout_minutes)

    reservation = await login_failures.reserve(
        db, login_id, threshold=threshold, now=now, lock_until=lock_until
    )
    if reservation.locked_until is not None:
        if reservation.newly_locked:
            await audit.record(db, "account.locked", now=now, subject_member_id=member_id, ip=ip)
            if member_id is not None:
                await login_failures.mirror_lock(
                    db, member_id, attempts=reservation.attempts, locked_until=reservation.locked_until
                )
        await audit.record(db, "login.refused_locked", now=now, subject_member_id=member_id, ip=ip)
        return LoginOutcome(
            "locked",
            member=member,
            locked_until=reservation.locked_until,
            newly_locked=reservation.newly_locked and member is not None,
        )

    if member is None:
        await hasher.verify_dummy(password)
        right = False
    else:
        right = await hasher.verify(member["password_hash"], password)

    if not right:
        locked_until, newly, failures = await login_failures.record_wrong_password(
            db, login_id, threshold=threshold, now=now, lock_until=lock_until, member_id=member_id
        )
        detail = {"failures": failures} if member is not None else {"reason": "unknown"}
        await audit.record(db, "login.failed", now=now, subject_member_id=member_id, ip=ip, detail=detail)
        if locked_until is not None:
            if newly:
                await audit.record(db, "account.locked", now=now, subject_member_id=member_id, ip=ip)
            return LoginOutcome(
                "locked", member=member, locked_until=locked_until, newly_locked=newly and member is not None
            )
        return LoginOutcome("invalid", member=member, failures=failures)

    assert member is not None and member_id is not None
    locked_meanwhile = await login_failures.clear_unless_locked(db, login_id, now=now, member_id=member_id)
    if locked_meanwhile is not None:
        await audit.record(db, "login.refused_locked", now=now, subject_member_id=member_id, ip=ip)
        return LoginOutcome("locked", member=member, locked_until=locked_meanwhile)
    if slot is not None:
        await rate_limits.release(db, slot)  # only failures count against the address
    if hasher.needs_rehash(member["password_hash"]):
        await member_queries.set_password_hash(db, member_id, await hasher.hash(password))
    await audit.record(db, "login.ok", now=now, subject_member_id=member_id, ip=ip)
    return LoginOutcome("ok", member=member)
