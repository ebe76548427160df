"""Resetting a forgotten password by e-mail link, and reminding a member of a forgotten member number."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from db import audit, used_tokens
from db import members as member_queries
from services.context import AppContext
from services.japanese import normalize_email, normalize_member_number
from services.notify import send_mail
from services.password_flow.change import Errors, record_changed, store_password, validate_new_password
from services.rate_limit import Limit, allow
from services.sessions import end_other_sessions
from services.tokens import TokenExpired, TokenInvalid, make_token, read_token, use_token

RESET_PURPOSE = "password-reset"
RESET_MAX_AGE = timedelta(hours=1)

# Visible limits: the answer is the same for known and unknown accounts, so saying "too many"
# reveals nothing. The per-member limit is silent: someone alternating a member's number and
# address must not be able to flood that member's inbox.
FORGOT_IP_LIMIT = Limit("password-forgot-ip", 20, timedelta(hours=1))
FORGOT_ADDRESS_LIMIT = Limit("password-forgot-address", 5, timedelta(hours=1))
RESET_MAIL_MEMBER_LIMIT = Limit("password-reset-mail", 5, timedelta(hours=1))
FORGOT_ID_IP_LIMIT = Limit("forgot-id-ip", 20, timedelta(hours=1))
FORGOT_ID_ADDRESS_LIMIT = Limit("forgot-id-address", 5, timedelta(hours=1))
FORGOT_ID_MAIL_LIMIT = Limit("forgot-id-mail", 5, timedelta(hours=1))

IDENTIFIER_REQUIRED = "会員番号またはメールアドレスを入力してください。"
IDENTIFIER_INVALID = "会員番号（数字）またはメールアドレスの形式で入力してください。"

ResetProblem = Literal["invalid", "expired", "used"]


# --- reset links -------------------------------------------------------------------------------


def _fingerprint(password_hash: str) -> str:
    # Binds a link to the password it replaces: once the password changes, older links are void.
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


def reset_url(app: AppContext, member: sqlite3.Row) -> str:
    """A signed, 1-hour, single-use link that sets a new password (and so also unlocks)."""
    token = make_token(
        app.settings.secret_key,
        RESET_PURPOSE,
        {"m": int(member["id"]), "p": _fingerprint(str(member["password_hash"] or ""))},
        now=app.clock.now(),
    )
    return f"{app.settings.base_url}/password/reset/{token}"


@dataclass
class ResetTicket:
    member: sqlite3.Row | None = None
    problem: ResetProblem | None = None
    payload: dict[str, Any] = field(default_factory=dict)


async def open_reset(app: AppContext, token: str) -> ResetTicket:
    """Check a reset link without using it up (showing the form must not spend the link)."""
    try:
        payload = read_token(
            app.settings.secret_key,
            RESET_PURPOSE,
            token,
            max_age_seconds=int(RESET_MAX_AGE.total_seconds()),
            now=app.clock.now(),
        )
    except TokenExpired:
        return ResetTicket(problem="expired")
    except TokenInvalid:
        return ResetTicket(problem="invalid")
    member_id = payload.get("m")
    if not isinstance(member_id, int) or isinstance(member_id, bool):
        return ResetTicket(problem="invalid")
    if await used_tokens.is_used(app.db, f"{RESET_PURPOSE}:{payload['jti']}"):
        return ResetTicket(problem="used")
    member = await member_queries.get_by_id(app.db, member_id)
    if member is None or member["status"] != "active":
        return ResetTicket(problem="invalid")
    if payload.get("p") != _fingerprint(str(member["password_hash"] or "")):
        return ResetTicket(problem="used")
    return ResetTicket(member=member, payload=payload)


@dataclass
class ResetResult:
    ticket: ResetTicket
    errors: Errors = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.ticket.problem is None and not self.errors


async def reset_password(
    app: AppContext, token: str, *, new_password: str, new_password_confirm: str, ip: str = ""
) -> ResetResult:
    """Set a new password from a reset link: unlocks the account and ends every session."""
    ticket = await open_reset(app, token)
    if ticket.member is None:
        return ResetResult(ticket)
    member = ticket.member
    errors = await validate_new_password(app, member, new_password, new_password_confirm)
    if errors:
        return ResetResult(ticket, errors)
    now = app.clock.now()
    try:
        # Spent only now, so a typo in the new password does not cost the member the link.
        await use_token(
            app.db,
            app.settings.secret_key,
            RESET_PURPOSE,
            token,
            max_age_seconds=int(RESET_MAX_AGE.total_seconds()),
            now=now,
        )
    except TokenExpired:
        return ResetResult(ResetTicket(problem="expired"))
    except TokenInvalid:
        return ResetResult(ResetTicket(problem="used"))
    member_id = int(member["id"])
    await store_password(app, member_id, new_password, must_change=False)
    await end_other_sessions(app.db, member_id, None)
    await record_changed(app, member, "reset", now=now, ip=ip, unlocked=bool(member["locked_until"]))
    return ResetResult(ticket)


# --- forgotten password / member number ----------------------------------------------------------


@dataclass(frozen=True)
class Identifier:
    """What the member typed on the forgot page, understood as a member number or an address."""

    kind: Literal["member_number", "email"]
    value: str


def parse_identifier(raw: str) -> Identifier | str:
    """The identifier, or a Japanese message saying what to type."""
    text = raw.strip()
    if not text:
        return IDENTIFIER_REQUIRED
    if "@" in text or "＠" in text:
        email = normalize_email(text)
        if email.error:
            return IDENTIFIER_INVALID
        return Identifier("email", email.value)
    number = normalize_member_number(text)
    if number is None:
        return IDENTIFIER_INVALID
    return Identifier("member_number", number)


def _address_key(value: str) -> str:
    # Rate-limit buckets are kept in the database; a hash keeps addresses out of that table.
    return hashlib.sha256(value.lower().encode("utf-8")).hexdigest()[:32]


async def allow_forgot(app: AppContext, limit_ip: Limit, limit_address: Limit, key: str, ip: str) -> bool:
    """Counts the attempt per IP and per typed address; False once either is over its limit."""
    now = app.clock.now()
    by_ip = await allow(app.db, limit_ip, ip or "unknown", now=now)
    by_address = await allow(app.db, limit_address, _address_key(key), now=now)
    return by_ip and by_address


async def allow_password_forgot(app: AppContext, identifier: Identifier, ip: str) -> bool:
    return await allow_forgot(app, FORGOT_IP_LIMIT, FORGOT_ADDRESS_LIMIT, identifier.value, ip)


async def allow_member_number_reminder(app: AppContext, email: str, ip: str) -> bool:
    return await allow_forgot(app, FORGOT_ID_IP_LIMIT, FORGOT_ID_ADDRESS_LIMIT, email, ip)


async def _members_for(app: AppContext, identifier: Identifier) -> list[sqlite3.Row]:
    if identifier.kind == "email":
        return await member_queries.get_active_by_email(app.db, identifier.value)
    member = await member_queries.get_by_number(app.db, identifier.value)
    return [member] if member is not None and member["status"] == "active" else []


async def send_reset_links(app: AppContext, identifier: Identifier, *, ip: str = "") -> int:
    """Mail a reset link to each active account the identifier names; returns how many were sent.

    Run after the answer page has gone out, so its timing says nothing about the account.
    Family members may share an address: each account gets its own link.
    """
    sent = 0
    now = app.clock.now()
    for member in await _members_for(app, identifier):
        if not member["email"]:
            # No address (imported for letters by post): nothing to send; the admin sees the attempt.
            await audit.record(
                app.db,
                "password.reset_requested",
                now=now,
                subject_member_id=int(member["id"]),
                ip=ip,
                detail={"by": identifier.kind, "mailed": False, "no_address": True},
            )
            continue
        if not await allow(app.db, RESET_MAIL_MEMBER_LIMIT, str(member["id"]), now=now):
            continue
        link = reset_url(app, member)
        ok = await send_mail(
            app.db,
            app.mailer,
            kind="password_reset",
            to=str(member["email"]),
            subject=f"【{app.org.short_name}】パスワード再設定のご案内",
            context={
                "org": app.org,
                "member": member,
                "reset_url": link,
                "expires_at": now + RESET_MAX_AGE,
                "forgot_url": f"{app.settings.base_url}/password/forgot",
            },
            now=now,
        )
        await audit.record(
            app.db,
            "password.reset_requested",
            now=now,
            subject_member_id=int(member["id"]),
            ip=ip,
            detail={"by": identifier.kind, "mailed": ok},
        )
        sent += 1 if ok else 0
    return sent


async def send_member_number_reminder(app: AppContext, email: str, *, ip: str = "") -> int:
    """Mail the member number(s) registered with this address; nothing when there are none."""
    now = app.clock.now()
    members = [
        member
        for member in await member_queries.get_active_by_email(app.db, email)
        if await allow(app.db, FORGOT_ID_MAIL_LIMIT, str(member["id"]), now=now)
    ]
    if not members:
        return 0
    ok = await send_mail(
        app.db,
        app.mailer,
        kind="password_member_number",
        to=str(members[0]["email"]),
        subject=f"【{app.org.short_name}】会員番号のお知らせ",
        context={
            "org": app.org,
            "members": members,
            "login_url": f"{app.settings.base_url}/login",
            "forgot_url": f"{app.settings.base_url}/password/forgot",
        },
        now=now,
    )
    for member in members:
        await audit.record(
            app.db,
            "member_number.reminder_sent",
            now=now,
            subject_member_id=int(member["id"]),
            ip=ip,
            detail={"mailed": ok},
        )
    return len(members) if ok else 0
