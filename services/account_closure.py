"""Leaving the organization: a member's request, the admin's confirmation, and removing personal data."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable

import aiosqlite

from db import audit, closure_steps
from db import members as members_db
from db import membership as queries
from db import passkeys as passkey_queries
from services.charset import check_text
from services.context import AppContext
from services.notify import send_mail
from services.perks import org_today

REASON_MAX_LENGTH = 1000
ALREADY_PENDING = "退会のお申し出はすでに受け付けています。事務局の確認をお待ちください。"

# Other features register what they keep per member (inquiries, e-mail change requests...) here;
# each step runs inside the closing transaction with (connection, member_id). Payment records are
# never deleted: they stay, tied only to the member number, as the law requires.
CLOSURE_STEPS: list[Callable[[aiosqlite.Connection, int], Awaitable[None]]] = [
    closure_steps.anonymize_payments,
    closure_steps.anonymize_inquiries,
    closure_steps.forget_pending_mail,
    passkey_queries.forget_member,
]


def validate_reason(raw: str) -> tuple[str, str | None]:
    reason = raw.strip()
    if len(reason) > REASON_MAX_LENGTH:
        return reason, f"理由は{REASON_MAX_LENGTH}文字以内で入力してください。"
    message = check_text(reason, allow_newlines=True) if reason else None
    return reason, message


async def request_closure(app: AppContext, member: sqlite3.Row, reason: str, *, ip: str) -> bool:
    """Record the member's wish to leave and tell both sides; False when one is already pending."""
    now = app.clock.now()
    member_id = int(member["id"])
    request_id = await queries.create_closure_request(
        app.db, member_id=member_id, reason=reason, source="settings", now=now
    )
    if request_id is None:
        return False
    await audit.record(
        app.db, "closure.requested", now=now, actor_member_id=member_id, subject_member_id=member_id, ip=ip
    )
    context = {
        "org": app.org,
        "member": member,
        "reason": reason,
        "admin_url": f"{app.settings.base_url}/admin/closures/members/{member_id}",
        "membership_url": f"{app.settings.base_url}/settings/membership",
    }
    await send_mail(
        app.db,
        app.mailer,
        kind="closure_requested",
        to=member["email"],
        subject=f"【{app.org.short_name}】退会のお申し出を受け付けました",
        context=context,
        now=now,
    )
    await send_mail(
        app.db,
        app.mailer,
        kind="closure_request_admin",
        to=app.org.contact_email,
        subject=f"【{app.org.short_name}】退会の申し出がありました（会員番号 {member['member_number']}）",
        context=context,
        now=now,
    )
    return True


async def withdraw_request(app: AppContext, member_id: int, *, ip: str) -> bool:
    withdrawn = await queries.withdraw_closure_request(app.db, member_id, now=app.clock.now())
    if withdrawn:
        await audit.record(
            app.db,
            "closure.withdrawn",
            now=app.clock.now(),
            actor_member_id=member_id,
            subject_member_id=member_id,
            ip=ip,
        )
    return withdrawn


async def close_account(app: AppContext, member_id: int, *, admin_id: int, ip: str = "") -> bool:
    """Close an account: personal data blanked, conditions/bookmarks/history deleted, sessions ended,
    no more mail. The members row and its number stay, so payment records keep pointing at the
    member number and the number is never given to anyone else. False when already closed."""
    member = await members_db.get_by_id(app.db, member_id)
    if member is None or member["status"] == "closed" or member["role"] == "admin":
        return False
    now = app.clock.now()
    email = await queries.close_account(
        app.db,
        member_id=member_id,
        closed_by=admin_id,
        now=now,
        today=org_today(now, app.settings.tz),
        extra_steps=CLOSURE_STEPS,
    )
    if email is None:
        return False
    await audit.record(
        app.db,
        "account.closed",
        now=now,
        actor_member_id=admin_id,
        subject_member_id=member_id,
        ip=ip,
        detail={"member_number": member["member_number"]},
    )
    # The last mail this address gets from us: it is no longer stored anywhere after this.
    await send_mail(
        app.db,
        app.mailer,
        kind="account_closed",
        to=email,
        subject=f"【{app.org.short_name}】退会手続きが完了しました",
        context={"org": app.org, "member_number": member["member_number"], "name": _name(member)},
        now=now,
    )
    if email:
        await queries.forget_mail_recipient(app.db, email)
    return True


def _name(member: sqlite3.Row) -> str:
    return f"{member['family_name']} {member['given_name']}".strip()
