"""Admin: 事務局からのお知らせ — write, choose recipients, preview, test, send now or at a set time, counts."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import announcements as announcement_db
from routes.common import (
    client_ip,
    form_error_status,
    redirect_with_flash,
    render,
    text_field,
    wants_fragment,
)
from routes.guards import ADMIN_GUARDS, STAFF_ALLOWED
from services import announcements
from services.context import AppContext
from services.sessions import LoggedIn

PAGE_SIZE = 30


async def _form_values(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {
        name: text_field(form, name, max_length=announcements.MAX_BODY + 1000 if name == "body_md" else 300)
        for name in announcements.FORM_FIELDS
    }


class AdminAnnouncementsController(Controller):
    path = "/admin/announcements"
    guards = ADMIN_GUARDS
    opt = STAFF_ALLOWED  # 事務局スタッフ may open it (routes/guards.py)

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        page_text = request.query_params.get("page", "1")
        page = int(page_text) if page_text.isdigit() and 0 < int(page_text) < 10_000 else 1
        rows = await announcement_db.recent(app_ctx.db, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        total = await announcement_db.count_all(app_ctx.db)
        return render(
            request,
            "admin_announcements/page.html",
            {
                "rows": rows,
                "counts": await announcements.counts(app_ctx, [int(row["id"]) for row in rows]),
                "status_labels": announcements.STATUS_LABELS,
                "page": page,
                "pages": max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE),
                "page_title": announcements.NAME,
            },
        )

    async def _form(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        values: dict[str, str],
        errors: dict[str, str],
        *,
        announcement_id: int | None = None,
        status: int = 200,
    ) -> Template:
        return render(
            request,
            "admin_announcements/form.html",
            {
                "values": values,
                "errors": errors,
                "choices": await announcements.audience_choices(app_ctx),
                "audience_labels": announcements.AUDIENCE_LABELS,
                "category_labels": announcements.CATEGORY_LABELS,
                "announcement_id": announcement_id,
                "page_title": "お知らせを書く" if announcement_id is None else "お知らせを編集",
            },
            status=status,
        )

    @get("/new")
    async def new(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        return await self._form(request, app_ctx, announcements.empty_values(), {})

    @post("/", status_code=200)
    async def create(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        checked = announcements.check_form(
            await _form_values(request), await announcements.audience_choices(app_ctx)
        )
        if not checked.ok:
            return await self._form(
                request, app_ctx, checked.values, checked.errors, status=form_error_status(request)
            )
        announcement_id = await announcements.create(
            app_ctx, checked, actor_id=auth.member_id, ip=client_ip(request)
        )
        return redirect_with_flash(
            request,
            f"/admin/announcements/{announcement_id}",
            "下書きを保存しました。宛先の人数とメールの見え方を確かめてから送信してください。",
        )

    async def _get(self, app_ctx: AppContext, announcement_id: int) -> Any:
        row = await announcement_db.get(app_ctx.db, announcement_id)
        if row is None:
            raise NotFoundException()
        return row

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        auth: LoggedIn,
        announcement_id: int,
        *,
        send_values: dict[str, str] | None = None,
        send_errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        row = await self._get(app_ctx, announcement_id)
        audience = announcements.audience_of(row)
        choices = await announcements.audience_choices(app_ctx)
        mail = announcements.preview(app_ctx, dict(row), auth.member)
        return render(
            request,
            "admin_announcements/detail.html",
            {
                **await self._status(app_ctx, row),
                "audience_label": choices.label(audience),
                "recipients": await announcements.recipient_count(app_ctx, audience)
                if row["status"] == "draft"
                else None,
                "mail": mail,
                "category_labels": announcements.CATEGORY_LABELS,
                "send_values": send_values or {"mode": "now", "send_at": ""},
                "send_errors": send_errors or {},
                "page_title": str(row["title"]),
            },
            status=status,
        )

    async def _status(self, app_ctx: AppContext, row: Any) -> dict[str, Any]:
        """What the sending status section (_counts.html) shows."""
        announcement_id = int(row["id"])
        return {
            "a": row,
            "counts": (await announcements.counts(app_ctx, [announcement_id]))[announcement_id],
            "failed": await announcement_db.failed_deliveries(app_ctx.db, announcement_id),
            "status_labels": announcements.STATUS_LABELS,
        }

    @get("/{announcement_id:int}")
    async def detail(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, announcement_id: int
    ) -> Template:
        if wants_fragment(request):
            # htmx asks for the sending status alone every few seconds while the mails go out
            # (_counts.html): only what that section shows, not the preview or the audience.
            row = await self._get(app_ctx, announcement_id)
            return render(
                request,
                "admin_announcements/detail.html",
                await self._status(app_ctx, row),
                fragment="admin_announcements/_counts.html",
            )
        return await self._detail(request, app_ctx, auth, announcement_id)

    @get("/{announcement_id:int}/edit")
    async def edit(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, announcement_id: int
    ) -> Response[Any]:
        row = await self._get(app_ctx, announcement_id)
        if row["status"] != "draft":
            return redirect_with_flash(
                request,
                f"/admin/announcements/{announcement_id}",
                "送信済み・予約中のお知らせは編集できません。",
                "warning",
            )
        return await self._form(
            request, app_ctx, announcements.values_of(row), {}, announcement_id=announcement_id
        )

    @post("/{announcement_id:int}/edit", status_code=200)
    async def update(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, announcement_id: int
    ) -> Response[Any]:
        await self._get(app_ctx, announcement_id)
        checked = announcements.check_form(
            await _form_values(request), await announcements.audience_choices(app_ctx)
        )
        if not checked.ok:
            return await self._form(
                request,
                app_ctx,
                checked.values,
                checked.errors,
                announcement_id=announcement_id,
                status=form_error_status(request),
            )
        saved = await announcements.update(
            app_ctx, announcement_id, checked, actor_id=auth.member_id, ip=client_ip(request)
        )
        return redirect_with_flash(
            request,
            f"/admin/announcements/{announcement_id}",
            "下書きを保存しました。" if saved else "送信済み・予約中のお知らせは編集できません。",
            "success" if saved else "warning",
        )

    @post("/{announcement_id:int}/test", status_code=200)
    async def test(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, announcement_id: int
    ) -> Response[Any]:
        row = await self._get(app_ctx, announcement_id)
        ok, message = await announcements.send_test(app_ctx, dict(row), auth.member, ip=client_ip(request))
        return redirect_with_flash(
            request, f"/admin/announcements/{announcement_id}", message, "success" if ok else "warning"
        )

    @post("/{announcement_id:int}/send", status_code=200)
    async def send(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, announcement_id: int
    ) -> Response[Any]:
        row = await self._get(app_ctx, announcement_id)
        form = await request.form()
        values = {
            "mode": text_field(form, "mode", max_length=10),
            "send_at": text_field(form, "send_at", max_length=40),
        }
        here = f"/admin/announcements/{announcement_id}"
        if row["status"] != "draft":
            return redirect_with_flash(
                request, here, "このお知らせはすでに送信（または予約）しています。", "info"
            )
        recipients = await announcements.recipient_count(app_ctx, announcements.audience_of(row))
        if values["mode"] == "later":
            send_at, problem = announcements.parse_send_at(values["send_at"], app_ctx)
            if problem or send_at is None:
                return await self._detail(
                    request,
                    app_ctx,
                    auth,
                    announcement_id,
                    send_values=values,
                    send_errors={"send_at": problem or ""},
                    status=form_error_status(request),
                )
            done = await announcements.schedule(
                app_ctx,
                announcement_id,
                send_at,
                actor_id=auth.member_id,
                recipients=recipients,
                ip=client_ip(request),
            )
            when = app_ctx.templates.filters["ja_datetime"](send_at)
            message = f"{when}に送信するよう予約しました（宛先 {recipients:,} 名）。"
        else:
            done = await announcements.send_now(
                app_ctx,
                announcement_id,
                actor_id=auth.member_id,
                recipients=recipients,
                ip=client_ip(request),
            )
            message = f"送信を始めました（宛先 {recipients:,} 名）。送信の状況はこの画面で確かめられます。"
        if not done:
            return redirect_with_flash(
                request, here, "このお知らせはすでに送信（または予約）しています。", "info"
            )
        response = redirect_with_flash(request, here, message)
        if values["mode"] != "later":
            # Sent after the answer; the scheduler's job resumes it after a crash or restart.
            response.background = BackgroundTask(announcements.deliver, app_ctx, announcement_id)
        return response

    @post("/{announcement_id:int}/unschedule", status_code=200)
    async def unschedule(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, announcement_id: int
    ) -> Response[Any]:
        await self._get(app_ctx, announcement_id)
        done = await announcements.unschedule(
            app_ctx, announcement_id, actor_id=auth.member_id, ip=client_ip(request)
        )
        return redirect_with_flash(
            request,
            f"/admin/announcements/{announcement_id}",
            "予約を取り消し、下書きに戻しました。" if done else "このお知らせは予約中ではありません。",
            "success" if done else "info",
        )
