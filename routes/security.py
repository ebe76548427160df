"""セキュリティ (/settings/security): the member's passkeys, where they are signed in, recent sign-ins."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import oidc as oidc_queries
from db import passkeys as passkey_queries
from routes.common import (
    client_ip,
    form_error_status,
    redirect,
    redirect_with_flash,
    render,
    safe_next,
    text_field,
)
from routes.guards import MEMBER_GUARDS
from services import passkeys, reauth, sign_ins
from services.context import AppContext
from services.rate_limit import RATE_LIMITED_MESSAGE
from services.sessions import LoggedIn, end_other_sessions, set_flag

PAGE = "/settings/security"


async def page_context(
    request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
) -> dict[str, Any]:
    return {
        "passkeys": await passkey_queries.for_member(app_ctx.db, auth.member_id),
        "sessions": await sign_ins.sessions_of(app_ctx, auth.member_id, auth.token_hash),
        "attempts": await sign_ins.attempts_of(app_ctx, auth.member_id),
        # Services that sign the member in through Tsudoi (OpenID Connect), withdrawn here or on their page.
        "connections": await oidc_queries.consents_of(app_ctx.db, auth.member_id),
        "new_browser_mail": sign_ins.new_browser_mail_on(auth.member),
        "default_name": sign_ins.describe_user_agent(request.headers.get("user-agent", "")),
        "fresh": passkeys.is_fresh(auth.flags, app_ctx.clock.now()),
        "values": {},
        "errors": {},
    }


class SecurityController(Controller):
    path = PAGE
    guards = MEMBER_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        return render(request, "security/page.html", await page_context(request, app_ctx, auth))

    @post("/passkeys/{passkey_id:int}/delete", status_code=200)
    async def remove_passkey(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, passkey_id: int
    ) -> Response[Any]:
        if not passkeys.is_fresh(auth.flags, app_ctx.clock.now()):
            return redirect(request, "/settings/security/confirm?next=" + quote(PAGE, safe="/"))
        if not await passkeys.remove(app_ctx, auth.member_id, passkey_id, ip=client_ip(request)):
            raise NotFoundException()
        return redirect_with_flash(request, PAGE + "#passkeys", "パスキーを削除しました。")

    @get("/confirm")
    async def confirm(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, next: str | None = None
    ) -> Template:  # noqa: A002
        has_passkeys = await passkeys.has_passkeys(app_ctx, auth.member_id)
        return render(
            request,
            "security/confirm.html",
            {"next": safe_next(next, PAGE), "errors": {}, "has_passkeys": has_passkeys},
        )

    @post("/confirm", status_code=200)
    async def confirm_password(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        next_path = safe_next(text_field(form, "next", max_length=600), PAGE)
        password = text_field(form, "password", max_length=1000)
        errors: dict[str, str] = {}
        if not password:
            errors["password"] = "パスワードを入力してください。"
        elif not await reauth.attempt_allowed(app_ctx, auth.member_id):
            errors["password"] = RATE_LIMITED_MESSAGE
        elif not await reauth.check_password(
            app_ctx, auth.member_id, auth.member["password_hash"], password, ip=client_ip(request)
        ):
            errors["password"] = reauth.WRONG_PASSWORD
        if errors:
            has_passkeys = await passkeys.has_passkeys(app_ctx, auth.member_id)
            return render(
                request,
                "security/confirm.html",
                {"next": next_path, "errors": errors, "has_passkeys": has_passkeys},
                status=form_error_status(request),
            )
        await set_flag(app_ctx.db, auth, passkeys.REAUTH_FLAG, app_ctx.clock.now().isoformat())
        return redirect_with_flash(
            request, next_path, "確認しました。5分以内であれば、パスキーを削除できます。", "info"
        )

    @post("/sessions/{session_id:int}/end", status_code=200)
    async def end_one(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, session_id: int
    ) -> Response[Any]:
        if not await sign_ins.end_session(
            app_ctx, auth.member_id, session_id, auth.token_hash, client_ip(request)
        ):
            raise NotFoundException()
        return redirect_with_flash(request, PAGE + "#sessions", "選んだ端末からログアウトしました。")

    @post("/sessions/end-others", status_code=200)
    async def end_others(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        await end_other_sessions(app_ctx.db, auth.member_id, auth.token)
        await sign_ins.record_sessions_ended(app_ctx, auth.member_id, client_ip(request))
        return redirect_with_flash(
            request, PAGE + "#sessions", "この端末以外のすべての端末からログアウトしました。"
        )

    @post("/notifications", status_code=200)
    async def notifications(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        on = text_field(form, "new_browser_mail", max_length=10) in {"1", "on", "true"}
        await sign_ins.set_new_browser_mail(app_ctx, auth.member_id, on, client_ip(request))
        message = (
            "新しいブラウザからログインがあったときに、メールでお知らせします。"
            if on
            else "新しいブラウザからのログインのお知らせメールを停止しました。"
        )
        return redirect_with_flash(request, PAGE + "#notifications", message)
