"""Admin: other services that sign members in through Tsudoi (DiscourseConnect for the forum)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from routes.common import client_ip, form_error_status, redirect_with_flash, render, text_field
from routes.guards import ADMIN_GUARDS
from services import discourse_connect
from services.context import AppContext
from services.sessions import LoggedIn


def _page(
    request: Request[Any, Any, Any],
    app_ctx: AppContext,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Template:
    return render(
        request,
        "admin_connect/page.html",
        {
            "errors": errors or {},
            "values": values or {"discourse_url": app_ctx.org.discourse_url},
            "discourse_enabled": discourse_connect.forum(app_ctx) is not None,
            "discourse_sealed_unreadable": bool(app_ctx.org.discourse_secret_sealed)
            and discourse_connect.forum(app_ctx) is None,
            "sso_url": f"{app_ctx.settings.base_url.rstrip('/')}/discourse/sso",
        },
        status=status,
    )


class AdminConnectController(Controller):
    path = "/admin/connect"
    guards = ADMIN_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        return _page(request, app_ctx)

    @post("/discourse", status_code=200)
    async def save_discourse(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        url = text_field(form, "discourse_url", max_length=300)
        secret = text_field(form, "discourse_secret", max_length=300)
        errors = await discourse_connect.configure(
            app_ctx, url, secret, actor_id=auth.member_id, ip=client_ip(request)
        )
        if errors:
            return _page(request, app_ctx, errors, {"discourse_url": url}, status=form_error_status(request))
        return redirect_with_flash(
            request, "/admin/connect", "フォーラム（Discourse）との連携を保存しました。"
        )

    @post("/discourse/delete", status_code=200)
    async def disable_discourse(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        await discourse_connect.disable(app_ctx, actor_id=auth.member_id, ip=client_ip(request))
        return redirect_with_flash(
            request, "/admin/connect", "フォーラム（Discourse）との連携を解除しました。"
        )
