"""The admins' second factor: the code step after the password, enrolment, and the security page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Template

from routes.common import (
    client_ip,
    flash,
    form_error_status,
    redirect,
    redirect_with_flash,
    render,
    safe_next,
    text_field,
)
from routes.guards import ADMIN_GUARDS, MFA_FLAG, STAFF_ALLOWED, PasswordChangeRequired
from services import admin_mfa, passkeys
from services.context import AppContext
from services.rate_limit import RATE_LIMITED_MESSAGE
from services.sessions import LoggedIn, set_flag


def requires_admin_password_step(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """An admin who has passed the password (and changed an initial one) but not yet the second factor."""
    auth: LoggedIn | None = connection.scope.get("user")
    if auth is None:
        raise NotAuthorizedException("ログインしてください。")
    if auth.member["must_change_password"]:
        raise PasswordChangeRequired()
    if not auth.is_admin:
        raise PermissionDeniedException("管理者のみが利用できるページです。")


def _next(value: str | None) -> str:
    return safe_next(value, "/admin")


class MfaController(Controller):
    path = "/mfa"
    guards = [requires_admin_password_step]

    @get("/")
    async def show(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, next: str | None = None
    ) -> Response[Any]:  # noqa: A002
        if auth.flags.get(MFA_FLAG):
            return redirect(request, _next(next))
        enrolled = await admin_mfa.is_enrolled(app_ctx, auth.member_id)
        has_passkeys = await passkeys.has_passkeys(app_ctx, auth.member_id)
        if not enrolled and not has_passkeys:
            return redirect(request, "/mfa/enrol?next=" + quote(_next(next), safe="/"))
        return render(
            request,
            "mfa/page.html",
            {"errors": {}, "next": _next(next), "has_passkeys": has_passkeys, "totp": enrolled},
        )

    @post("/", status_code=200)
    async def submit(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        next_path = _next(text_field(form, "next", max_length=600))
        code = text_field(form, "code", max_length=100)
        errors: dict[str, str] = {}
        if not await admin_mfa.is_enrolled(app_ctx, auth.member_id):
            return redirect(request, "/mfa/enrol?next=" + quote(next_path, safe="/"))
        if not code.strip():
            errors["code"] = admin_mfa.CODE_REQUIRED_MESSAGE
        elif not await admin_mfa.attempt_allowed(app_ctx, auth.member_id):
            errors["code"] = RATE_LIMITED_MESSAGE
        else:
            method = await admin_mfa.verify_second_factor(
                app_ctx, auth.member_id, code, ip=client_ip(request)
            )
            if method is not None:
                await set_flag(app_ctx.db, auth, MFA_FLAG, True)
                response = redirect(request, next_path)
                if method == "recovery":
                    left = await admin_mfa.unused_recovery_count(app_ctx, auth.member_id)
                    flash(
                        request,
                        response,
                        f"リカバリーコードでログインしました。残りは {left} 個です。"
                        "「セキュリティ」から新しいコードを発行できます。",
                        "warning",
                    )
                return response
            errors["code"] = (
                "確認コードが正しくないか、すでに使われたコードです。認証アプリの最新の6桁、またはリカバリーコードを入力してください。"
            )
        return render(
            request,
            "mfa/page.html",
            {
                "errors": errors,
                "next": next_path,
                "has_passkeys": await passkeys.has_passkeys(app_ctx, auth.member_id),
                "totp": True,
            },
            status=form_error_status(request),
        )

    @get("/enrol")
    async def enrol(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, next: str | None = None
    ) -> Response[Any]:  # noqa: A002
        if await admin_mfa.is_enrolled(app_ctx, auth.member_id):
            return redirect(request, "/mfa?next=" + quote(_next(next), safe="/"))
        return await self._enrol_page(request, auth, app_ctx, _next(next), {})

    @post("/enrol", status_code=200)
    async def confirm(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        next_path = _next(text_field(form, "next", max_length=600))
        code = text_field(form, "code", max_length=100)
        if await admin_mfa.is_enrolled(app_ctx, auth.member_id):
            return redirect(request, "/mfa?next=" + quote(next_path, safe="/"))
        errors: dict[str, str] = {}
        if not code.strip():
            errors["code"] = admin_mfa.CODE_REQUIRED_MESSAGE
        elif not await admin_mfa.attempt_allowed(app_ctx, auth.member_id):
            errors["code"] = RATE_LIMITED_MESSAGE
        else:
            codes = await admin_mfa.confirm_enrolment(app_ctx, auth.member_id, code)
            if codes is not None:
                await set_flag(app_ctx.db, auth, MFA_FLAG, True)
                return render(
                    request, "mfa/recovery_codes.html", {"codes": codes, "next": next_path, "enrolled": True}
                )
            errors["code"] = admin_mfa.CODE_INVALID_MESSAGE
        return await self._enrol_page(
            request, auth, app_ctx, next_path, errors, status=form_error_status(request)
        )

    async def _enrol_page(
        self,
        request: Request[Any, Any, Any],
        auth: LoggedIn,
        app_ctx: AppContext,
        next_path: str,
        errors: dict[str, str],
        status: int = 200,
    ) -> Template:
        enrolment = await admin_mfa.begin_enrolment(
            app_ctx, auth.member_id, str(auth.member["member_number"])
        )
        return render(
            request,
            "mfa/enrol.html",
            {"enrolment": enrolment, "errors": errors, "next": next_path},
            status=status,
        )


class AdminSecurityController(Controller):
    """The admin's own second factor: recovery codes left, new codes, moving to a new phone."""

    path = "/admin/security"
    guards = ADMIN_GUARDS
    opt = STAFF_ALLOWED  # 事務局スタッフ may open it (routes/guards.py)

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        left = await admin_mfa.unused_recovery_count(app_ctx, auth.member_id)
        return render(request, "admin_security/page.html", {"left": left, "errors": {}})

    @post("/recovery-codes", status_code=200)
    async def new_codes(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        error = await self._check_code(request, app_ctx, auth, text_field(form, "code", max_length=100))
        if error:
            return await self._error(request, app_ctx, auth, error)
        codes = await admin_mfa.regenerate_recovery_codes(app_ctx, auth.member_id, ip=client_ip(request))
        return render(
            request, "mfa/recovery_codes.html", {"codes": codes, "next": "/admin/security", "enrolled": False}
        )

    @post("/reset", status_code=200)
    async def reset(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        error = await self._check_code(request, app_ctx, auth, text_field(form, "code", max_length=100))
        if error:
            return await self._error(request, app_ctx, auth, error)
        await admin_mfa.reset(app_ctx, auth.member_id, actor_id=auth.member_id, ip=client_ip(request))
        await set_flag(app_ctx.db, auth, MFA_FLAG, False)
        return redirect_with_flash(
            request,
            "/mfa/enrol?next=/admin/security",
            "新しい端末の認証アプリで、次のQRコードを読み取ってください。",
            "info",
        )

    async def _check_code(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, code: str
    ) -> str | None:
        if not code.strip():
            return admin_mfa.CODE_REQUIRED_MESSAGE
        if not await admin_mfa.attempt_allowed(app_ctx, auth.member_id):
            return RATE_LIMITED_MESSAGE
        if await admin_mfa.verify_second_factor(app_ctx, auth.member_id, code, ip=client_ip(request)) is None:
            return "確認コードが正しくないか、すでに使われたコードです。"
        return None

    async def _error(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, message: str
    ) -> Template:
        left = await admin_mfa.unused_recovery_count(app_ctx, auth.member_id)
        return render(
            request,
            "admin_security/page.html",
            {"left": left, "errors": {"code": message}},
            status=form_error_status(request),
        )
