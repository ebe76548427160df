"""Changing a password: the policy and expiry, the live rule ticks, storing a new password (first
login, expiry, voluntary, reset, admin) and the admin's initial passwords."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from db import audit
from db import members as member_queries
from db import sessions as session_queries
from db.timestamps import from_db
from services.context import AppContext
from services.notify import send_mail
from services.org import OrgSettings
from services.password_policy import (
    PRESET_NAMES,
    PasswordPolicy,
    RuleResult,
    check_password,
    expires_at,
    generate_initial_password,
    history_result,
    ime_hint,
    is_expired,
    policy_for,
)
from services.rate_limit import RATE_LIMITED_MESSAGE, Limit, allow
from services.sessions import end_other_sessions, hash_token, start_session

# Checking the current password is a password guess; a stolen session must not become an oracle.
CURRENT_PASSWORD_LIMIT = Limit("password-current", 10, timedelta(hours=1))
# Live ticks verify argon2 hashes for the history rule; beyond this the rule is checked on submit only.
LIVE_HISTORY_LIMIT = Limit("password-live-history", 60, timedelta(minutes=10))

CURRENT_REQUIRED = "現在のパスワードを入力してください。"
CURRENT_WRONG = "現在のパスワードが正しくありません。"
NEW_REQUIRED = "新しいパスワードを入力してください。"
CONFIRM_REQUIRED = "確認のため、新しいパスワードをもう一度入力してください。"
CONFIRM_MISMATCH = "確認用のパスワードが一致しません。同じパスワードをもう一度入力してください。"
CONFIRM_OK = "確認用のパスワードが一致しています。"
CONFIRM_PENDING = "確認のため、同じパスワードをもう一度入力してください。"


RuleState = Literal["ok", "ng", "todo", "later"]
ChangeVia = Literal["first_login", "expired", "change", "reset", "admin"]
Errors = dict[str, list[str]]


# --- policy and expiry -------------------------------------------------------------------------


# The last org settings' policy: My Page works out the expiry notice on every view, and the settings object
# is replaced (never changed) when the admin saves.
_last_policy: tuple[OrgSettings, PasswordPolicy] | None = None


def policy_from_org(org: OrgSettings) -> PasswordPolicy:
    """The policy in force, from the admin's settings; unusable numbers fall back to the preset's."""
    global _last_policy
    last = _last_policy
    if last is not None and last[0] is org:
        return last[1]
    policy = _policy_from_org(org)
    _last_policy = (org, policy)
    return policy


def _policy_from_org(org: OrgSettings) -> PasswordPolicy:
    preset = org.password_preset if org.password_preset in PRESET_NAMES else "guide"
    overrides: dict[str, Any] = {"history_count": org.password_history}
    if preset == "guide":
        overrides["min_length"] = org.password_min_length
        overrides["max_length"] = org.password_max_length
        overrides["expiry_days"] = org.password_expiry_days if org.password_expiry_days > 0 else None
    else:
        # NIST SP 800-63B-4: at least 8 characters, at least 64 allowed, and no forced periodic
        # change, whatever the guide-shaped numbers in the settings say.
        base = policy_for(preset)
        overrides["min_length"] = max(org.password_min_length, base.min_length)
        overrides["max_length"] = max(org.password_max_length, base.max_length)
    try:
        return policy_for(preset, **overrides)
    except ValueError:
        return policy_for(preset)


def _changed_at(member: sqlite3.Row) -> datetime | None:
    return from_db(member["password_changed_at"]) or from_db(member["created_at"])


def password_expired(org: OrgSettings, member: sqlite3.Row, now: datetime) -> bool:
    """Whether the guide's "please change your password" page is due for this member."""
    changed = _changed_at(member)
    return changed is not None and is_expired(changed, now, policy_from_org(org))


def password_expiry(org: OrgSettings, member: sqlite3.Row) -> datetime | None:
    changed = _changed_at(member)
    return expires_at(changed, policy_from_org(org)) if changed else None


def expired_path(requested: str) -> str:
    """The expiry reminder, which then continues to where the member was going."""
    if not requested or requested == "/mypage":
        return "/password/expired"
    return "/password/expired?next=" + quote(requested, safe="/")


# --- rule evaluation (live ticks and submit) ------------------------------------------------------


@dataclass(frozen=True)
class RuleLine:
    """One line of the tick list: ``label`` says what is required (it reads right next to a tick),
    ``message`` is what a refused submit says when the rule is not met."""

    code: str
    label: str
    message: str
    state: RuleState


def rule_label(code: str, policy: PasswordPolicy) -> str:
    """A tick-list description of a rule, phrased as a condition rather than an instruction."""
    if code == "length":
        return f"{policy.min_length}文字以上{policy.max_length}文字以下"
    if code == "charset":
        if policy.charset == "ascii":
            specials = f"・記号 {policy.specials} " if policy.specials else ""
            return f"使えるのは半角の英字・数字{specials}のみ"
        return "改行などの制御文字を含まない"
    if code == "not_recent":
        return f"最近使用した{policy.history_count}つのパスワード（現在のものを含む）ではない"
    return _RULE_LABELS.get(code, "")


_RULE_LABELS = {
    "uppercase": "英大文字（A〜Z）を1文字以上含む",
    "digit": "数字（0〜9）を1文字以上含む",
    "not_member_number": "会員番号と同じではない",
    "not_common": "よく使われていて推測されやすいパスワードではない",
}


@dataclass
class Evaluation:
    lines: list[RuleLine]
    confirm: RuleLine
    ime_hint: str | None = None

    @property
    def failed_messages(self) -> list[str]:
        return [line.message for line in self.lines if line.state == "ng"]


async def _recent_hashes(app: AppContext, member: sqlite3.Row, count: int) -> list[str]:
    hashes = await member_queries.recent_password_hashes(app.db, int(member["id"]), count)
    current = str(member["password_hash"] or "")
    # Accounts written without a history row still have their current password counted.
    if current and (not hashes or hashes[0] != current):
        hashes = [current, *hashes][:count]
    return hashes


async def is_recent_password(app: AppContext, member: sqlite3.Row, password: str) -> bool:
    """Whether the password is one of the last N (the current one counts).

    Each argon2 verification runs on the hasher's worker pool: off the event loop, and bounded, so
    a burst of password changes queues there instead of starving every other page of CPU.
    """
    policy = policy_from_org(app.org)
    if policy.history_count <= 0:
        return False
    for stored in await _recent_hashes(app, member, policy.history_count):
        if stored and await app.hasher.verify(stored, password):
            return True
    return False


def _confirm_line(password: str, confirm: str) -> RuleLine:
    label = "確認用のパスワードと一致している"
    if not confirm:
        return RuleLine("confirm", label, CONFIRM_PENDING, "todo")
    if confirm != password:
        return RuleLine("confirm", label, CONFIRM_MISMATCH, "ng")
    return RuleLine("confirm", label, CONFIRM_OK, "ok")


def rule_lines(password: str, results: Iterable[RuleResult], policy: PasswordPolicy) -> list[RuleLine]:
    """One tick line per rule result; every rule waits ('todo') while nothing is typed."""
    return [
        RuleLine(
            str(result.code),
            rule_label(str(result.code), policy),
            result.message,
            "todo" if not password else "ok" if result.ok else "ng",
        )
        for result in results
    ]


async def evaluate(
    app: AppContext, member: sqlite3.Row, password: str, confirm: str, *, check_history: bool
) -> Evaluation:
    """Every rule for a candidate password. History costs argon2 work, so it is only checked when
    asked and once the cheap rules pass (a password that fails them must change anyway)."""
    policy = policy_from_org(app.org)
    results = check_password(password, member_number=str(member["member_number"]), policy=policy)
    lines = rule_lines(password, results, policy)
    if policy.history_count > 0:
        rule = history_result(False, policy)
        state: RuleState = "todo"
        if password and all(line.state == "ok" for line in lines):
            if check_history:
                state = "ng" if await is_recent_password(app, member, password) else "ok"
            else:
                state = "later"
        lines.append(RuleLine(str(rule.code), rule_label(str(rule.code), policy), rule.message, state))
    return Evaluation(
        lines=lines,
        confirm=_confirm_line(password, confirm),
        ime_hint=ime_hint(password, policy) if password else None,
    )


async def live_evaluation(app: AppContext, member: sqlite3.Row, password: str, confirm: str) -> Evaluation:
    """The tick list while the member types (htmx, debounced)."""
    policy = policy_from_org(app.org)
    check_history = False
    if password and policy.history_count > 0:
        results = check_password(password, member_number=str(member["member_number"]), policy=policy)
        if all(result.ok for result in results):
            check_history = await allow(app.db, LIVE_HISTORY_LIMIT, str(member["id"]), now=app.clock.now())
    return await evaluate(app, member, password, confirm, check_history=check_history)


async def validate_new_password(app: AppContext, member: sqlite3.Row, password: str, confirm: str) -> Errors:
    """The submit-time check: one message per failed rule, then the confirmation."""
    errors: Errors = {}
    if not password:
        errors["new_password"] = [NEW_REQUIRED]
    else:
        evaluation = await evaluate(app, member, password, confirm, check_history=True)
        messages = evaluation.failed_messages
        if evaluation.ime_hint:
            messages.append(evaluation.ime_hint)
        if messages:
            errors["new_password"] = messages
    if not confirm:
        errors["new_password_confirm"] = [CONFIRM_REQUIRED]
    elif password and confirm != password:
        errors["new_password_confirm"] = [CONFIRM_MISMATCH]
    return errors


# --- storing a new password ----------------------------------------------------------------------


async def store_password(app: AppContext, member_id: int, password: str, *, must_change: bool) -> None:
    policy = policy_from_org(app.org)
    password_hash = await app.hasher.hash(password)
    await member_queries.change_password(
        app.db,
        member_id,
        password_hash,
        now=app.clock.now(),
        must_change=must_change,
        keep_history=policy.history_count,
    )


async def notify_changed(app: AppContext, member: sqlite3.Row, via: ChangeVia) -> None:
    base_url = app.settings.base_url
    await send_mail(
        app.db,
        app.mailer,
        kind="password_changed",
        to=str(member["email"] or ""),
        subject=f"【{app.org.short_name}】パスワードが変更されました",
        context={
            "org": app.org,
            "member": member,
            "via": via,
            "changed_at": app.clock.now(),
            "login_url": f"{base_url}/login",
            "forgot_url": f"{base_url}/password/forgot",
        },
        now=app.clock.now(),
    )


async def record_changed(
    app: AppContext, member: sqlite3.Row, via: ChangeVia, *, now: datetime, ip: str, **detail: Any
) -> None:
    """The member changed their own password: one audit entry, then the notice mail."""
    member_id = int(member["id"])
    await audit.record(
        app.db,
        "password.changed",
        now=now,
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
        detail={"via": via, **detail},
    )
    await notify_changed(app, member, via)


@dataclass
class ChangeResult:
    errors: Errors = field(default_factory=dict)
    via: ChangeVia = "change"
    session_token: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


async def change_password(
    app: AppContext,
    member_id: int,
    *,
    current_password: str,
    new_password: str,
    new_password_confirm: str,
    remember: bool,
    session_flags: dict[str, Any] | None = None,
    user_agent: str = "",
    ip: str = "",
) -> ChangeResult:
    """A logged-in member changes the password; on success every session ends and a new one starts.

    A member with an initial password has just typed it to log in, so the guide's first-login
    form asks only for the new password; every later change confirms the current one.
    """
    member = await member_queries.get_by_id(app.db, member_id)
    if member is None:
        raise LookupError(member_id)
    now = app.clock.now()
    forced = bool(member["must_change_password"])
    if forced:
        via: ChangeVia = "first_login"
    elif password_expired(app.org, member, now):
        via = "expired"
    else:
        via = "change"
    errors: Errors = {}
    if not forced:
        if not current_password:
            errors["current_password"] = [CURRENT_REQUIRED]
        elif not await allow(app.db, CURRENT_PASSWORD_LIMIT, str(member_id), now=now):
            errors["current_password"] = [RATE_LIMITED_MESSAGE]
        elif not await app.hasher.verify(str(member["password_hash"]), current_password):
            errors["current_password"] = [CURRENT_WRONG]
            hint = ime_hint(current_password)
            if hint:
                errors["current_password"].append(hint)
    errors.update(await validate_new_password(app, member, new_password, new_password_confirm))
    if errors:
        return ChangeResult(errors=errors, via=via)

    await store_password(app, member_id, new_password, must_change=False)
    # Rotate: the old token ends with every other session of the member (DESIGN §2).
    await end_other_sessions(app.db, member_id, None)
    token, _ = await start_session(
        app.db, member_id=member_id, remember=remember, now=now, org=app.org, user_agent=user_agent, ip=ip
    )
    if session_flags:
        # Same browser, same person (they just proved the password): steps already passed in this
        # session, such as an admin's second factor, stay passed.
        await session_queries.set_flags(app.db, hash_token(token), json.dumps(session_flags))
    await record_changed(app, member, via, now=now, ip=ip)
    return ChangeResult(via=via, session_token=token)


async def postpone_expired_change(app: AppContext, member_id: int, *, ip: str = "") -> None:
    """後で変更する: allowed by the guide; the reminder comes back at the next login."""
    await audit.record(
        app.db,
        "password.expiry_postponed",
        now=app.clock.now(),
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
    )


# --- admin -------------------------------------------------------------------------------------


def initial_password_length(policy: PasswordPolicy) -> int:
    return min(max(10, policy.min_length), policy.max_length)


async def set_initial_password(app: AppContext, member_id: int, *, actor_id: int) -> str:
    """The admin issues a new initial password (for the letter); returns it once, in plain text.

    The member must change it at the next login, and every session of theirs ends now.
    """
    member = await member_queries.get_by_id(app.db, member_id)
    if member is None:
        raise LookupError(member_id)
    policy = policy_from_org(app.org)
    password = generate_initial_password(policy, initial_password_length(policy))
    await store_password(app, member_id, password, must_change=True)
    await end_other_sessions(app.db, member_id, None)
    await audit.record(
        app.db,
        "password.initial_set",
        now=app.clock.now(),
        actor_member_id=actor_id,
        subject_member_id=member_id,
    )
    await notify_changed(app, member, "admin")
    return password
