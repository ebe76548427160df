"""Admin: the organization settings, every field validated and every change audited."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from routes.common import client_ip, form_error_status, redirect_with_flash, render, text_field
from routes.guards import ADMIN_GUARDS
from services import admin_settings
from services.context import AppContext
from services.sessions import LoggedIn


class AdminSettingsController(Controller):
    path = "/admin/settings"
    guards = ADMIN_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        return self._page(request, app_ctx, admin_settings.current_values(app_ctx), {})

    @post("/", status_code=200)
    async def save(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        typed = {
            spec.name: text_field(form, spec.name, max_length=1000) for spec in admin_settings.all_fields()
        }
        if app_ctx.settings.base_url_from_env:
            typed["base_url"] = app_ctx.settings.base_url  # shown read-only: TSUDOI_BASE_URL decides
        values, errors = admin_settings.validate_settings(typed)
        if errors:
            shown = {**values, **{name: typed[name] for name in errors}}
            return self._page(request, app_ctx, shown, errors, status=form_error_status(request))
        changed = await admin_settings.save_settings(
            app_ctx, values, actor_id=auth.member_id, ip=client_ip(request)
        )
        return redirect_with_flash(
            request,
            "/admin/settings",
            "設定を保存しました。" if changed else "変更はありませんでした。",
            "success" if changed else "info",
        )

    @post("/test-mail", status_code=200)
    async def test_mail(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        to = str(auth.member["email"] or "")
        if not to:
            return redirect_with_flash(
                request,
                "/admin/settings",
                "ログイン中の管理者のメールアドレスが登録されていません。",
                "warning",
            )
        result = await admin_settings.send_test_mail(
            app_ctx, to=to, actor_id=auth.member_id, ip=client_ip(request)
        )
        if not result.ok:
            message, kind = f"テストメールを送れませんでした。{result.answer}", "warning"
        elif app_ctx.settings.smtp_url:
            message, kind = f"テストメールを {to} に送りました。{result.answer}", "success"
        else:
            message, kind = f"テストメールは送信されていません。{result.answer}", "warning"
        return redirect_with_flash(request, "/admin/settings", message, kind)

    def _page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        values: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
    ) -> Template:
        source, source_note = admin_settings.base_url_source(app_ctx)
        if source == "env":
            values = {**values, "base_url": app_ctx.settings.base_url}
            errors = {name: problem for name, problem in errors.items() if name != "base_url"}
        return render(
            request,
            "admin_settings/page.html",
            {
                "groups": admin_settings.groups(),
                "values": values,
                "errors": errors,
                "base_url_source": source,
                "base_url_note": source_note,
                "sender": app_ctx.sender,
                "smtp_server": admin_settings.smtp_server_label(app_ctx),
                "outbox_dir": app_ctx.settings.outbox_dir,
            },
            status=status,
        )
