"""Who is signed in: sessions and sign-in attempts in plain words, and the mail about a new browser."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal

from ua_parser import parse

from db import audit
from db import sign_ins as queries
from db.timestamps import from_db
from services.context import AppContext
from services.notify import send_mail

Method = Literal["password", "passkey"]
METHOD_LABELS = {"password": "パスワード", "passkey": "パスキー"}
# A long-lived random cookie per browser: how "a sign-in from a new browser" is told apart.
BROWSER_COOKIE = "tsudoi_browser"
BROWSER_COOKIE_DAYS = 400

_BROWSER_NAMES = {
    "Mobile Safari": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "HeadlessChrome": "Chrome",
    "Samsung Internet": "Samsung Internet",
    "Edge Mobile": "Edge",
}
_OS_NAMES = {"Mac OS X": "Mac", "Chrome OS": "ChromeOS"}


@lru_cache(maxsize=256)
def describe_user_agent(user_agent: str) -> str:
    """「iPhone の Safari」, 「Windows の Chrome」: what a member recognizes, without versions."""
    if not user_agent.strip():
        return "不明なブラウザ"
    result = parse(user_agent[:500])
    browser = result.user_agent.family if result.user_agent else ""
    browser = _BROWSER_NAMES.get(browser, browser)
    device = ""
    if result.device and result.device.family not in ("Other", "", "Mac", "K"):
        device = result.device.family
        if result.device.brand == "Apple" and result.device.model:
            device = result.device.model
    system = result.os.family if result.os else ""
    system = _OS_NAMES.get(system, system)
    where = device if device and device not in ("Generic Smartphone",) else system
    if not browser or browser == "Other":
        return f"{where} のブラウザ" if where and where != "Other" else "不明なブラウザ"
    if not where or where == "Other":
        return browser
    return f"{where} の {browser}"


@dataclass(frozen=True)
class SessionView:
    id: int
    browser: str
    ip: str
    first_used: datetime
    last_used: datetime
    current: bool


@dataclass(frozen=True)
class AttemptView:
    at: datetime
    succeeded: bool
    method: str
    browser: str
    ip: str


async def sessions_of(app: AppContext, member_id: int, current_token_hash: str) -> list[SessionView]:
    rows = await queries.active_sessions(app.db, member_id, now=app.clock.now())
    views = []
    for row in rows:
        first, last = from_db(row["created_at"]), from_db(row["last_seen_at"])
        assert first is not None and last is not None
        views.append(
            SessionView(
                id=int(row["id"]),
                browser=describe_user_agent(row["user_agent"]),
                ip=row["ip"],
                first_used=first,
                last_used=last,
                current=row["token_hash"] == current_token_hash,
            )
        )
    views.sort(key=lambda view: not view.current)  # this browser first
    return views


async def attempts_of(app: AppContext, member_id: int) -> list[AttemptView]:
    views = []
    for row in await queries.recent_attempts(app.db, member_id):
        at = from_db(row["at"])
        assert at is not None
        views.append(
            AttemptView(
                at=at,
                succeeded=bool(row["succeeded"]),
                method=METHOD_LABELS.get(row["method"], row["method"]),
                browser=describe_user_agent(row["user_agent"]),
                ip=row["ip"],
            )
        )
    return views


async def end_session(
    app: AppContext, member_id: int, session_id: int, keep_token_hash: str, ip: str
) -> bool:
    ended = await queries.end_session(app.db, member_id, session_id, keep_token_hash=keep_token_hash)
    if ended:
        await audit.record(
            app.db,
            "session.ended",
            now=app.clock.now(),
            actor_member_id=member_id,
            subject_member_id=member_id,
            ip=ip,
        )
    return ended


def new_browser_mail_on(member: sqlite3.Row) -> bool:
    """The member's choice, or the default for the role: on for anyone who is not a plain member."""
    choice = member["new_browser_mail"]
    if choice is None:
        return bool(member["role"] != "member")
    return bool(choice)


async def set_new_browser_mail(app: AppContext, member_id: int, on: bool, ip: str) -> None:
    await queries.set_new_browser_mail(app.db, member_id, on)
    await audit.record(
        app.db,
        "settings.new_browser_mail",
        now=app.clock.now(),
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
        detail={"on": on},
    )


async def record_failure(
    app: AppContext, member_id: int, method: Method, *, ip: str, user_agent: str
) -> None:
    await queries.record_attempt(
        app.db, member_id, succeeded=False, method=method, ip=ip, user_agent=user_agent, now=app.clock.now()
    )


async def record_success(
    app: AppContext, member: sqlite3.Row, method: Method, *, ip: str, user_agent: str, browser_token: str
) -> None:
    """Note the sign-in; mail the member when it came from a browser never used before (not for the very
    first browser: there is nothing to compare it with) and the member wants such mails."""
    now = app.clock.now()
    member_id = int(member["id"])
    await queries.record_attempt(
        app.db, member_id, succeeded=True, method=method, ip=ip, user_agent=user_agent, now=now
    )
    browser_hash = hashlib.sha256(browser_token.encode()).hexdigest()
    new, known_before = await queries.remember_browser(app.db, member_id, browser_hash, now=now)
    if not new or known_before == 0 or not new_browser_mail_on(member) or not member["email"]:
        return
    await send_mail(
        app.db,
        app.mailer,
        kind="new_browser_sign_in",
        to=member["email"],
        subject=f"【{app.org.short_name}】新しいブラウザからログインがありました",
        context={
            "org": app.org,
            "member": member,
            "at": now,
            "browser": describe_user_agent(user_agent),
            "ip": ip,
            "method": METHOD_LABELS[method],
            "security_url": f"{app.settings.base_url}/settings/security",
            "forgot_url": f"{app.settings.base_url}/password/forgot",
        },
        now=now,
    )


async def decline_passkey_offer(app: AppContext, member_id: int) -> None:
    """「今後表示しない」: no more offers to add a passkey after a password sign-in."""
    await queries.decline_passkey_offer(app.db, member_id)


async def record_sessions_ended(app: AppContext, member_id: int, ip: str) -> None:
    await audit.record(
        app.db,
        "session.ended_others",
        now=app.clock.now(),
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
    )
