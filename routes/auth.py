"""Login and logout."""

from __future__ import annotations

import sqlite3
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Template
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS

from routes.common import (
    clear_session_cookie,
    client_ip,
    flash,
    form_error_status,
    is_secure,
    logged_in,
    redirect,
    render,
    safe_next,
    session_cookie,
    text_field,
)
from routes.guards import MFA_FLAG
from services import admin_mfa, login_flow, passkeys, sign_ins
from services.auth import (
    INVALID_LOGIN_MESSAGE,
    LOCKED_MESSAGE,
    authenticate,
    throttled_message,
    tries_left_message,
)
from services.context import AppContext
from services.readings import READINGS_JSON
from services.sessions import end_session, new_token, start_session


async def start_signed_in(
    request: Request[Any, Any, Any],
    app_ctx: AppContext,
    member: sqlite3.Row,
    *,
    method: sign_ins.Method,
    remember: bool,
    next_path: str,
) -> tuple[str, list[Cookie]]:
    """A new session after a password or passkey sign-in: where to go next and the cookies to set. A passkey
    with user verification is both factors, so it also counts as the second factor."""
    old = logged_in(request)
    if old is not None:
        await end_session(app_ctx.db, old.token)  # rotate: a login never reuses a token
    now = app_ctx.clock.now()
    member_id = int(member["id"])
    flags: dict[str, Any] = {passkeys.REAUTH_FLAG: now.isoformat()}
    if method == "passkey":
        flags[MFA_FLAG] = True
    elif not member["passkey_offer_declined"] and not await passkeys.has_passkeys(app_ctx, member_id):
        flags[passkeys.OFFER_FLAG] = True
    user_agent = request.headers.get("user-agent", "")
    token, _ = await start_session(
        app_ctx.db,
        member_id=member_id,
        remember=remember,
        now=now,
        org=app_ctx.org,
        user_agent=user_agent,
        ip=client_ip(request),
        flags=flags,
    )
    browser_token = request.cookies.get(sign_ins.BROWSER_COOKIE, "")
    if not (20 <= len(browser_token) <= 100 and browser_token.isascii()):
        browser_token = new_token()
    await sign_ins.record_success(
        app_ctx, member, method, ip=client_ip(request), user_agent=user_agent, browser_token=browser_token
    )
    target = login_flow.after_login_path(app_ctx, member, next_path or "/mypage")
    if method == "password":
        target = admin_mfa.after_password_path(
            member["role"] == "admin", bool(member["must_change_password"]), target, next_path
        )
    elif (
        member["role"] == "admin"
        and not member["must_change_password"]
        and not next_path
        and target == "/mypage"
    ):
        target = "/admin"
    cookies = [
        session_cookie(request, token, remember=remember, max_age=app_ctx.org.remember_days * 86400),
        Cookie(
            key=sign_ins.BROWSER_COOKIE,
            value=browser_token,
            path="/",
            httponly=True,
            secure=is_secure(request),
            samesite="lax",
            max_age=sign_ins.BROWSER_COOKIE_DAYS * 86400,
        ),
    ]
    return target, cookies


class LoginController(Controller):
    path = "/login"

    @get("/", name="login")
    async def show(self, request: Request[Any, Any, Any], next: str | None = None) -> Response[Any]:  # noqa: A002
        if logged_in(request):
            return redirect(request, safe_next(next))
        return render(
            request,
            "login/page.html",
            {"values": {}, "errors": {}, "next": safe_next(next, ""), "readings_json": READINGS_JSON},
        )

    @post("/", status_code=200)
    async def submit(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        form = await request.form()
        member_id = text_field(form, "member_id", max_length=200)
        password = text_field(form, "password", max_length=1000)
        remember = text_field(form, "remember") in {"1", "on", "true"}
        next_path = safe_next(text_field(form, "next", max_length=600), "")
        values = {"member_id": member_id, "remember": remember}

        errors: dict[str, str] = {}
        if not member_id.strip():
            errors["member_id"] = "ログインID（会員番号）を入力してください。"
        if not password:
            errors["password"] = "パスワードを入力してください。"
        if errors:
            return self._form(request, values, errors, next_path)

        now = app_ctx.clock.now()
        outcome = await authenticate(
            app_ctx.db,
            app_ctx.hasher,
            app_ctx.org,
            member_number_input=member_id,
            password=password,
            now=now,
            ip=client_ip(request),
            throttle=login_flow.ip_throttle(app_ctx.settings),
        )
        if outcome.member is not None and outcome.status in {"invalid", "locked"}:
            await sign_ins.record_failure(
                app_ctx,
                int(outcome.member["id"]),
                "password",
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent", ""),
            )
        if outcome.status == "throttled":
            errors["form"] = throttled_message(app_ctx.settings.login_ip_window_minutes)
            return self._form(request, values, errors, next_path, status=HTTP_429_TOO_MANY_REQUESTS)
        if outcome.status == "locked":
            assert outcome.locked_until is not None
            if outcome.newly_locked and outcome.member is not None:
                await login_flow.send_lock_notice(app_ctx, outcome.member, outcome.locked_until)
            errors["form"] = f"{LOCKED_MESSAGE}。"
            return self._form(request, values, errors, next_path, locked_until=outcome.locked_until)
        if outcome.status != "ok":
            errors["form"] = INVALID_LOGIN_MESSAGE
            tries_left = tries_left_message(
                outcome.failures, app_ctx.org.lockout_threshold, app_ctx.org.lockout_minutes
            )
            return self._form(request, values, errors, next_path, tries_left=tries_left)

        assert outcome.member is not None
        target, cookies = await start_signed_in(
            request, app_ctx, outcome.member, method="password", remember=remember, next_path=next_path
        )
        response = redirect(request, target)
        for cookie in cookies:
            response.set_cookie(cookie)
        return response

    def _form(
        self,
        request: Request[Any, Any, Any],
        values: dict[str, Any],
        errors: dict[str, str],
        next_path: str,
        locked_until: Any = None,
        status: int | None = None,
        tries_left: str | None = None,
    ) -> Template:
        return render(
            request,
            "login/page.html",
            {
                "values": values,
                "errors": errors,
                "next": next_path,
                "locked_until": locked_until,
                "tries_left": tries_left,
                "readings_json": READINGS_JSON,
            },
            status=status or form_error_status(request),
        )


class LogoutController(Controller):
    path = "/logout"

    @get("/")
    async def confirm(self, request: Request[Any, Any, Any]) -> Response[Any]:
        if not logged_in(request):
            return redirect(request, "/login")
        return render(request, "login/logout.html")

    @post("/", status_code=200)
    async def logout(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        auth = logged_in(request)
        if auth is not None:
            await end_session(app_ctx.db, auth.token)
            await login_flow.record_logout(app_ctx, auth.member_id, client_ip(request))
        response = redirect(request, "/login")
        clear_session_cookie(request, response)
        flash(request, response, "ログアウトしました。")
        return response
