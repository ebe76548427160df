"""メール設定: how often the member gets the digest (新着お知らせメール), when the next one goes out, what it
would hold now, and whether optional 事務局からのお知らせ come by mail."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import announcements as announcement_db
from routes.common import client_ip, form_error_status, is_htmx, redirect_with_flash, render, text_field
from routes.guards import MEMBER_GUARDS
from services import announcements, digests
from services.context import AppContext
from services.sessions import LoggedIn


async def settings_context(
    request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
) -> dict[str, Any]:
    preview = await digests.preview(app_ctx, auth.member_id)
    if preview is None:
        raise NotFoundException()
    return {
        "preview": preview,
        "sections": preview.items(app_ctx),
        "frequency_labels": digests.FREQUENCY_LABELS,
        "daily_tier_name": await digests.daily_tier_name(app_ctx),
        "selected": preview.kind,  # daily without the perk shows as weekly: that is what is sent
        "errors": {},
        "saved": "",
        "announcement_mail": await announcement_db.mail_choice(app_ctx.db, auth.member_id),
    }


class MailSettingsController(Controller):
    path = "/settings/mail"
    guards = MEMBER_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        return render(request, "mail_settings/page.html", await settings_context(request, app_ctx, auth))

    @post("/", status_code=200)
    async def save(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        frequency = text_field(form, "frequency", max_length=20)
        error = await digests.change_frequency(app_ctx, auth.member_id, frequency, ip=client_ip(request))
        context = await settings_context(request, app_ctx, auth)
        if error:
            context["errors"] = {"frequency": error}
            return render(
                request,
                "mail_settings/page.html",
                context,
                fragment="mail_settings/_panel.html",
                status=form_error_status(request),
            )
        message = f"新着お知らせメールを「{digests.FREQUENCY_LABELS[frequency]}」に変更しました。"
        if is_htmx(request):
            context["saved"] = message
            return render(request, "mail_settings/page.html", context, fragment="mail_settings/_panel.html")
        return redirect_with_flash(request, "/settings/mail", message)

    @post("/announcements", status_code=200)
    async def save_announcements(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        choice = text_field(form, "announcement_mail", max_length=5)
        if choice not in ("1", "0"):
            context = await settings_context(request, app_ctx, auth)
            context["errors"] = {"announcement_mail": "受け取るかどうかを選んでください。"}
            return render(request, "mail_settings/page.html", context, status=form_error_status(request))
        wanted = choice == "1"
        await announcements.change_mail_choice(app_ctx, auth.member_id, wanted, ip=client_ip(request))
        message = (
            "事務局からのお知らせをメールで受け取ります。"
            if wanted
            else "事務局からのお知らせのメールを停止しました。会費やアカウントに関する大切なお知らせは引き続きお送りします。"
        )
        return redirect_with_flash(request, "/settings/mail", message)
