"""What happens around a login: where the member goes next, the lock notice, logout audit."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from db import audit
from services.auth import IpThrottle
from services.context import AppContext
from services.notify import send_mail
from services.password_flow import expired_path, password_expired, reset_url
from services.settings import Settings


def ip_throttle(settings: Settings) -> IpThrottle:
    return IpThrottle(settings.login_ip_failures, timedelta(minutes=settings.login_ip_window_minutes))


def after_login_path(app: AppContext, member: sqlite3.Row, requested: str) -> str:
    """An initial password must be changed first; an expired one gets the guide's (skippable) reminder."""
    if member["must_change_password"]:
        return "/password/change"
    if password_expired(app.org, member, app.clock.now()):
        return expired_path(requested)
    return requested


async def send_lock_notice(app: AppContext, member: sqlite3.Row, locked_until: datetime) -> None:
    await send_mail(
        app.db,
        app.mailer,
        kind="account_locked",
        to=member["email"],
        subject=f"【{app.org.short_name}】マイページに一時的にログインできなくなっています",
        context={
            "org": app.org,
            "member": member,
            "locked_until": locked_until,
            # A direct, signed, single-use link (1 hour); resetting also unlocks the account.
            "reset_url": reset_url(app, member),
            "forgot_url": f"{app.settings.base_url}/password/forgot",
        },
        now=app.clock.now(),
    )


async def record_logout(app: AppContext, member_id: int, ip: str) -> None:
    await audit.record(app.db, "logout", now=app.clock.now(), subject_member_id=member_id, ip=ip)
