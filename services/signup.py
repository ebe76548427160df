"""Self sign-up: the form's rules, the confirmation mail, and creating the member with the next number."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import aiosqlite

from db import audit, used_tokens
from db import membership as queries
from services import membership
from services.context import AppContext
from services.notify import send_mail
from services.org import OrgSettings
from services.password_flow import (
    CONFIRM_OK,
    CONFIRM_PENDING,
    Evaluation,
    RuleLine,
    policy_from_org,
    rule_lines,
)
from services.password_policy import RuleCode, RuleResult, check_password, failed, ime_hint
from services.profile import EDITABLE_FIELDS, validate_profile
from services.rate_limit import Limit, allow
from services.tokens import TokenExpired, TokenInvalid, make_token, read_token, use_token

TOKEN_PURPOSE = "signup"
LINK_MAX_AGE = timedelta(hours=membership.SIGNUP_LINK_HOURS)
SIGNUPS_PER_IP = Limit("signup-ip", 5, timedelta(hours=1))
# One address cannot be flooded with confirmation mails by someone else.
SIGNUPS_PER_EMAIL = Limit("signup-email", 3, timedelta(hours=24))

# The sign-up form's fields are the profile's, named after the member CSV's columns.
PROFILE_FIELDS = EDITABLE_FIELDS
TERMS_REQUIRED = "会員規約と個人情報の取り扱いをご確認のうえ、同意にチェックを入れてください。"
PASSWORD_MISMATCH = "確認用のパスワードが一致しません。同じパスワードをもう一度入力してください。"
PASSWORD_REQUIRED = "パスワードを入力してください。"
INTEREST_CONDITION_NAME = "登録時に選んだテーマ"


@dataclass
class SignupForm:
    values: dict[str, str]
    interests: list[int]
    code: str
    agreed: bool


def validate_signup(
    form: SignupForm, allowed_interests: Sequence[int], *, charset: str = "jis0208"
) -> tuple[dict[str, str], list[int], dict[str, str]]:
    clean, errors = validate_profile(form.values, charset=charset)
    interests = [term_id for term_id in dict.fromkeys(form.interests) if term_id in set(allowed_interests)]
    if not form.agreed:
        errors["terms"] = TERMS_REQUIRED
    return clean, interests, errors


def password_rules(org: OrgSettings, password: str) -> list[RuleResult]:
    # The member number does not exist yet: the number-equality rule cannot fail before it does.
    return check_password(password, member_number="", policy=policy_from_org(org))


def password_evaluation(org: OrgSettings, password: str, confirm: str) -> Evaluation:
    """The same tick list the password change form shows, for a member who has no number yet."""
    policy = policy_from_org(org)
    results = [
        result for result in password_rules(org, password) if result.code != RuleCode.NOT_MEMBER_NUMBER
    ]
    lines = rule_lines(password, results, policy)
    if not confirm:
        confirm_line = RuleLine("confirm", "確認用のパスワードと一致している", CONFIRM_PENDING, "todo")
    elif confirm != password:
        confirm_line = RuleLine("confirm", "確認用のパスワードと一致している", PASSWORD_MISMATCH, "ng")
    else:
        confirm_line = RuleLine("confirm", "確認用のパスワードと一致している", CONFIRM_OK, "ok")
    return Evaluation(lines, confirm_line, ime_hint(password, policy) if password else None)


SubmitStatus = Literal["sent", "rate_limited"]


async def submit(
    app: AppContext, clean: dict[str, str], interests: list[int], code: str, *, ip: str
) -> SubmitStatus:
    """Store the sign-up and mail the confirmation link. A known address gets a note instead, and
    the screen says the same either way, so the form never tells whose address is registered."""
    now = app.clock.now()
    if not await allow(app.db, SIGNUPS_PER_IP, ip, now=now):
        return "rate_limited"
    email = clean["email"]
    if not await allow(app.db, SIGNUPS_PER_EMAIL, email.lower(), now=now):
        # Looks sent; the owner of the address already has recent mails from us.
        return "sent"
    if await queries.active_email_taken(app.db, email):
        await audit.record(app.db, "signup.duplicate_email", now=now, ip=ip)
        await send_mail(
            app.db,
            app.mailer,
            kind="signup_already_registered",
            to=email,
            subject=f"【{app.org.short_name}】すでに会員として登録されています",
            context={"org": app.org, "base_url": app.settings.base_url, "name": email},
            now=now,
        )
        return "sent"
    profile = {name: clean.get(name, "") for name in PROFILE_FIELDS}
    request_id = await queries.create_signup_request(
        app.db, email=email, profile=profile, interests=interests, code=code, ip=ip, now=now
    )
    token = _make_token(app, request_id)
    await audit.record(app.db, "signup.requested", now=now, ip=ip, detail={"request_id": request_id})
    await send_mail(
        app.db,
        app.mailer,
        kind="signup_confirm",
        to=email,
        subject=f"【{app.org.short_name}】会員登録のご確認",
        context={
            "org": app.org,
            "name": f"{clean['family_name']} {clean['given_name']}",
            "confirm_url": f"{app.settings.base_url}/signup/confirm/{token}",
            "hours": membership.SIGNUP_LINK_HOURS,
        },
        now=now,
    )
    return "sent"


def _make_token(app: AppContext, request_id: int) -> str:
    return make_token(app.settings.secret_key, TOKEN_PURPOSE, {"rid": request_id}, now=app.clock.now())


LinkProblem = Literal["invalid", "expired", "completed", "email_taken", "closed"]

LINK_MESSAGES: dict[str, tuple[str, str]] = {
    "invalid": (
        "このリンクは使用できません",
        "リンクが途中で切れているか、正しくない可能性があります。メールのリンクをもう一度お試しいただくか、"
        "最初からお申し込みください。",
    ),
    "expired": (
        "リンクの有効期限が切れています",
        f"確認用のリンクは{membership.SIGNUP_LINK_HOURS}時間有効です。お手数ですが、もう一度お申し込みください。",
    ),
    "completed": (
        "登録はすでに完了しています",
        "このお申し込みの会員登録は完了しています。会員番号とパスワードでログインしてください。",
    ),
    "email_taken": (
        "このメールアドレスは登録済みです",
        "このメールアドレスで、すでに会員登録が完了しています。会員番号をお忘れの場合は、"
        "ログイン画面の「会員番号をお忘れの方」からお調べください。",
    ),
    "closed": (
        "現在、新規会員登録を受け付けていません",
        "お手数ですが、事務局までお問い合わせください。",
    ),
}


async def open_link(app: AppContext, token: str) -> sqlite3.Row | LinkProblem:
    """The pending sign-up behind a confirmation link, or why it cannot be used."""
    try:
        payload = read_token(
            app.settings.secret_key,
            TOKEN_PURPOSE,
            token,
            max_age_seconds=int(LINK_MAX_AGE.total_seconds()),
            now=app.clock.now(),
        )
    except TokenExpired:
        return "expired"
    except TokenInvalid:
        return "invalid"
    request_id = payload.get("rid")
    if not isinstance(request_id, int):
        return "invalid"
    request = await queries.get_signup_request(app.db, request_id)
    if request is None:
        return "invalid"
    if request["status"] == "completed":
        return "completed"
    if request["status"] != "pending":
        return "expired"
    if await used_tokens.is_used(app.db, f"{TOKEN_PURPOSE}:{payload['jti']}"):
        return "completed"
    if await queries.active_email_taken(app.db, request["email"]):
        return "email_taken"
    return request


@dataclass
class Completed:
    member_id: int
    member_number: str
    code_message: str = ""
    code_ok: bool = False


async def complete(
    app: AppContext, token: str, password: str, password_confirm: str, *, ip: str
) -> Completed | LinkProblem | dict[str, str]:
    """Check the password, then create the member with the next member number (one transaction);
    password errors come back as a dict so the form can show them."""
    opened = await open_link(app, token)
    if isinstance(opened, str):
        return opened
    request = opened
    errors: dict[str, str] = {}
    if not password:
        errors["new_password"] = PASSWORD_REQUIRED
    else:
        problems = failed(password_rules(app.org, password))
        if problems:
            hint = ime_hint(password, policy_from_org(app.org))
            errors["new_password"] = " ".join(
                [*(problem.message for problem in problems), *([hint] if hint else [])]
            )
        elif password != password_confirm:
            errors["new_password_confirm"] = PASSWORD_MISMATCH
    if errors:
        return errors
    password_hash = await app.hasher.hash(password)
    now = app.clock.now()
    try:
        await use_token(
            app.db,
            app.settings.secret_key,
            TOKEN_PURPOSE,
            token,
            max_age_seconds=int(LINK_MAX_AGE.total_seconds()),
            now=now,
        )
    except TokenExpired:
        return "expired"
    except TokenInvalid:
        return "completed"
    interests = [
        int(term_id) for term_id in json.loads(request["interests"] or "[]") if isinstance(term_id, int)
    ]

    async def add_interests(conn: aiosqlite.Connection, member_id: int) -> None:
        await queries.add_interest_condition(conn, member_id, INTEREST_CONDITION_NAME, interests, now)

    created = await queries.complete_signup(
        app.db,
        request_id=int(request["id"]),
        width=app.org.member_number_width,
        password_hash=password_hash,
        now=now,
        after_create=add_interests,
    )
    if created == "not_pending":
        return "completed"
    if created == "email_taken":
        return "email_taken"
    assert isinstance(created, queries.NewMember)
    result = Completed(created.member_id, created.member_number)
    await audit.record(
        app.db,
        "signup.completed",
        now=now,
        subject_member_id=created.member_id,
        ip=ip,
        detail={"member_number": created.member_number},
    )
    if request["code"]:
        outcome = await membership.redeem(app, created.member_id, request["code"], ip=ip)
        result.code_ok = outcome.ok
        result.code_message = outcome.message
    await _send_welcome(app, request, result)
    return result


async def _send_welcome(app: AppContext, request: sqlite3.Row, result: Completed) -> None:
    profile: dict[str, Any] = json.loads(request["profile"] or "{}")
    await send_mail(
        app.db,
        app.mailer,
        kind="signup_welcome",
        to=request["email"],
        subject=f"【{app.org.short_name}】会員登録が完了しました（会員番号 {result.member_number}）",
        context={
            "org": app.org,
            "name": f"{profile.get('family_name', '')} {profile.get('given_name', '')}".strip(),
            "member_number": result.member_number,
            "login_url": f"{app.settings.base_url}/login",
            "code_message": result.code_message,
        },
        now=app.clock.now(),
    )


async def expire_stale(app: AppContext) -> int:
    """Drop the personal data of sign-ups whose link has run out (run by the daily job)."""
    return await queries.expire_signup_requests(app.db, created_before=app.clock.now() - LINK_MAX_AGE)
