"""First start: a one-time setup page (protected by a token printed in the server log) that creates the
first admin and sets the organization's name, contact address and base URL; then it is gone for good."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Mapping

from db import audit, setup_state
from services.accounts import AccountError, create_member
from services.admin_settings import FIELDS, validate_field
from services.context import AppContext
from services.japanese import normalize_member_number
from services.password_flow import policy_from_org
from services.password_policy import check_password, failed, ime_hint
from services.profile import validate_profile

log = logging.getLogger("tsudoi.setup")
_ORG_FIELDS = {
    spec.name: spec
    for spec in FIELDS
    if spec.name in ("org_name", "contact_email", "mail_from_name", "mail_from_address", "base_url")
}


async def is_open(app: AppContext) -> bool:
    return await setup_state.is_open(app.db)


async def announce(app: AppContext) -> str | None:
    """At start: on an empty database, make the setup token and print where to use it."""
    await setup_state.close_if_admin_exists(app.db, now=app.clock.now())
    if not await is_open(app):
        app.setup_token = None
        return None
    # Stored, so every worker process prints and accepts the same token (the first to start makes it).
    token = await setup_state.shared_token(app.db, app.setup_token or secrets.token_urlsafe(24))
    app.setup_token = token
    if token is None:
        return None
    # The one secret this app ever logs: it is useless once the first admin exists.
    log.warning(
        "初期設定がまだです。ブラウザで次のURLを開いて最初の管理者を作成してください / "
        "first start: open %s/setup?token=%s to create the first admin",
        app.settings.base_url,
        token,
    )
    return token


def token_matches(app: AppContext, typed: str) -> bool:
    expected = app.setup_token
    return bool(expected) and hmac.compare_digest(str(expected).encode(), typed.strip().encode()[:200])


def validate(app: AppContext, form: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    clean: dict[str, str] = {}
    errors: dict[str, str] = {}
    if not token_matches(app, form.get("setup_token", "")):
        errors["setup_token"] = (
            "セットアップ用のトークンが正しくありません。サーバーのログに表示されたURLを開き直してください。"
        )
    for name, spec in _ORG_FIELDS.items():
        if name == "base_url" and app.settings.base_url_from_env:
            clean[name] = app.settings.base_url  # TSUDOI_BASE_URL decides; the page shows it read-only
            continue
        value, problem = validate_field(spec, form.get(name, ""))
        clean[name] = value
        if problem:
            errors[name] = problem
    if not clean["mail_from_address"] and "mail_from_address" not in errors and not app.settings.mail_from:
        errors["mail_from_address"] = (
            "送信元メールアドレスを入力してください（会員へのメールの差出人です。例：no-reply@example.jp）。"
        )
    number = normalize_member_number(form.get("member_number", ""))
    if number is None:
        errors["member_number"] = "ログインID（数字）を入力してください。"
    else:
        clean["member_number"] = number
    profile, profile_errors = validate_profile(
        {name: form.get(name, "") for name in ("family_name", "given_name", "email")},
        required={"family_name", "email"},
        charset=app.org.name_charset,
    )
    for name in ("family_name", "given_name", "email"):
        clean[name] = profile.get(name, "")
        if name in profile_errors:
            errors[name] = profile_errors[name]
    password = form.get("password", "")
    policy = policy_from_org(app.org)
    if not password:
        errors["password"] = "パスワードを入力してください。"
    else:
        problems = [
            rule.message
            for rule in failed(check_password(password, member_number=number or "", policy=policy))
        ]
        hint = ime_hint(password, policy)
        if hint:
            problems.insert(0, hint)
        if problems:
            errors["password"] = " ".join(problems)
        elif password != form.get("password_confirm", ""):
            errors["password_confirm"] = (
                "確認用のパスワードが一致しません。同じパスワードをもう一度入力してください。"
            )
    clean["password"] = password
    return clean, errors


async def complete(app: AppContext, clean: dict[str, str], *, ip: str = "") -> int | None:
    """Create the first admin and store the organization settings; None when setup was already done."""
    if not await setup_state.claim(app.db, now=app.clock.now()):
        return None
    try:
        admin_id = await create_member(
            app,
            member_number=clean["member_number"],
            password=clean["password"],
            role="admin",
            must_change_password=False,
            profile={
                "family_name": clean["family_name"],
                "given_name": clean["given_name"],
                "email": clean["email"],
            },
        )
    except (AccountError, Exception):
        await setup_state.release(app.db)
        raise
    # A base URL from TSUDOI_BASE_URL stays in the environment: storing it would outlive the variable.
    stored = [name for name in _ORG_FIELDS if not (name == "base_url" and app.settings.base_url_from_env)]
    await app.update_org({name: clean[name] for name in stored})
    app.setup_token = None
    await audit.record(
        app.db,
        "setup.completed",
        now=app.clock.now(),
        actor_member_id=admin_id,
        subject_member_id=admin_id,
        ip=ip,
    )
    log.info("first-start setup completed; /setup is closed")
    return admin_id
