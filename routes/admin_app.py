"""Admin: the installable app — the logo its icons and the membership card are drawn from, its colour."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.response import Template

from routes.common import client_ip, form_error_status, redirect_with_flash, render, text_field
from routes.guards import ADMIN_GUARDS
from services import app_branding, app_icons
from services.context import AppContext
from services.sessions import LoggedIn


def _page(
    request: Request[Any, Any, Any],
    app_ctx: AppContext,
    errors: dict[str, str] | None = None,
    *,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Template:
    return render(
        request,
        "admin_app/page.html",
        {
            "errors": errors or {},
            "values": values or {"theme_color": app_ctx.org.theme_color},
            "max_logo_mb": app_icons.MAX_LOGO_BYTES // (1024 * 1024),
        },
        status=status,
    )


class AdminAppController(Controller):
    path = "/admin/app"
    guards = ADMIN_GUARDS
    request_max_body_size = app_icons.MAX_LOGO_BYTES + 64 * 1024

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        return _page(request, app_ctx)

    @post("/logo", status_code=200)
    async def upload_logo(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        upload = form.get("logo")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return _page(
                request,
                app_ctx,
                {"logo": "画像ファイルを選んでください。"},
                status=form_error_status(request),
            )
        content = await upload.read(app_icons.MAX_LOGO_BYTES + 1)
        try:
            await app_branding.save_logo(app_ctx, content, actor_id=auth.member_id, ip=client_ip(request))
        except app_icons.LogoError as error:
            return _page(request, app_ctx, {"logo": str(error)}, status=form_error_status(request))
        return redirect_with_flash(
            request, "/admin/app", "ロゴを登録しました。アイコンと会員証に使われます。"
        )

    @post("/logo/delete", status_code=200)
    async def delete_logo(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        await app_branding.remove_logo(app_ctx, actor_id=auth.member_id, ip=client_ip(request))
        return redirect_with_flash(
            request, "/admin/app", "ロゴを削除しました。アイコンは標準のマークに戻ります。"
        )

    @post("/color", status_code=200)
    async def save_color(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        raw = text_field(form, "theme_color", max_length=20)
        error = await app_branding.save_theme_color(
            app_ctx, raw, actor_id=auth.member_id, ip=client_ip(request)
        )
        if error:
            return _page(
                request,
                app_ctx,
                {"theme_color": error},
                values={"theme_color": raw},
                status=form_error_status(request),
            )
        return redirect_with_flash(request, "/admin/app", "テーマカラーを保存しました。")
