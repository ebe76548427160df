"""A fresh sign-in before a sensitive change (removing a passkey): the password again, or a passkey."""

from __future__ import annotations

from datetime import timedelta

from db import audit
from services.context import AppContext
from services.rate_limit import Limit, allow

REAUTH_LIMIT = Limit("reauth", 10, timedelta(minutes=15))
WRONG_PASSWORD = "パスワードが正しくありません。"


async def attempt_allowed(app: AppContext, member_id: int) -> bool:
    return await allow(app.db, REAUTH_LIMIT, str(member_id), now=app.clock.now())


async def check_password(
    app: AppContext, member_id: int, password_hash: str, password: str, *, ip: str
) -> bool:
    right = bool(password) and await app.hasher.verify(password_hash, password)
    await audit.record(
        app.db,
        "reauth.ok" if right else "reauth.failed",
        now=app.clock.now(),
        subject_member_id=member_id,
        ip=ip,
        detail={"method": "password"},
    )
    return right
