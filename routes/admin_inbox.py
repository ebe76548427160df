"""The admin's inquiry inbox: list with filters, one inquiry with its screenshot and thread, replies by mail."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import File, Template

from db import inquiries as inquiry_queries
from routes.common import (
    client_ip,
    flash,
    form_error_status,
    redirect,
    redirect_with_flash,
    render,
    text_field,
)
from routes.guards import ADMIN_GUARDS, STAFF_ALLOWED
from services import contact as contact_service
from services.contact import CATEGORIES, STATUS_LABELS, attachments_dir
from services.context import AppContext
from services.sessions import LoggedIn


async def _inquiry_or_404(request: Request[Any, Any, Any], app_ctx: AppContext, inquiry_id: int) -> Any:
    inquiry = await inquiry_queries.get(app_ctx.db, inquiry_id)
    if inquiry is None:
        raise NotFoundException()
    return inquiry


class AdminInboxController(Controller):
    path = "/admin/inbox"
    guards = ADMIN_GUARDS
    opt = STAFF_ALLOWED  # 事務局スタッフ may open it (routes/guards.py)

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        status: str = "",
        category: str = "",
        page: int = 1,
    ) -> Template:
        db = app_ctx.db
        status_filter = status if status in STATUS_LABELS else ""
        category_filter = category if category in CATEGORIES else ""
        page = max(1, min(page, 10_000))
        rows = await inquiry_queries.listing(
            db, status=status_filter or None, category=category_filter or None, page=page
        )
        counts = await inquiry_queries.status_counts(db)
        return render(
            request,
            "admin_inbox/page.html",
            {
                "inquiries": rows[: inquiry_queries.PAGE_SIZE],
                "has_next": len(rows) > inquiry_queries.PAGE_SIZE,
                "page": page,
                "status": status_filter,
                "category": category_filter,
                "counts": counts,
                "total": sum(counts.values()),
                "status_labels": STATUS_LABELS,
                "categories": CATEGORIES,
            },
        )

    @get("/{inquiry_id:int}")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext, inquiry_id: int) -> Template:
        inquiry = await _inquiry_or_404(request, app_ctx, inquiry_id)
        return await self._detail(request, app_ctx, inquiry, values={}, errors={})

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        inquiry: Any,
        *,
        values: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
    ) -> Template:
        db = app_ctx.db
        inquiry_id = int(inquiry["id"])
        default_status = "in_progress" if inquiry["status"] == "new" else str(inquiry["status"])
        return render(
            request,
            "admin_inbox/detail.html",
            {
                "inquiry": inquiry,
                "attachments": await inquiry_queries.attachments_for(db, inquiry_id),
                "replies": await inquiry_queries.replies_for(db, inquiry_id),
                "status_labels": STATUS_LABELS,
                "category_label": CATEGORIES.get(inquiry["category"], "その他"),
                "values": {"status": default_status, **values},
                "errors": errors,
            },
            status=status,
        )

    @post("/{inquiry_id:int}/status", status_code=200)
    async def set_status(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, inquiry_id: int
    ) -> Response[Any]:
        inquiry = await _inquiry_or_404(request, app_ctx, inquiry_id)
        form = await request.form()
        new_status = text_field(form, "status", max_length=20)
        if new_status not in STATUS_LABELS:
            return await self._detail(
                request,
                app_ctx,
                inquiry,
                values={},
                errors={"status": "対応状況を選んでください。"},
                status=form_error_status(request),
            )
        if new_status != inquiry["status"]:
            await contact_service.change_status(
                app_ctx, inquiry, new_status, admin_id=auth.member_id, ip=client_ip(request)
            )
        return redirect_with_flash(
            request, f"/admin/inbox/{inquiry_id}", f"対応状況を「{STATUS_LABELS[new_status]}」にしました。"
        )

    @post("/{inquiry_id:int}/reply", status_code=200)
    async def reply(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, inquiry_id: int
    ) -> Response[Any]:
        inquiry = await _inquiry_or_404(request, app_ctx, inquiry_id)
        form = await request.form()
        body, error = contact_service.check_reply(text_field(form, "body", max_length=40_000))
        new_status = text_field(form, "status", max_length=20)
        errors: dict[str, str] = {}
        if error:
            errors["body"] = error
        if new_status not in STATUS_LABELS:
            errors["status"] = "返信後の対応状況を選んでください。"
        if errors:
            return await self._detail(
                request,
                app_ctx,
                inquiry,
                values={"body": body, "status": new_status},
                errors=errors,
                status=form_error_status(request),
            )
        sent = await contact_service.reply_to_inquiry(
            app_ctx,
            inquiry,
            admin_id=auth.member_id,
            body=body,
            status=new_status,
            ip=client_ip(request),
        )
        response = redirect(request, f"/admin/inbox/{inquiry_id}#thread")
        if sent:
            flash(request, response, f"{inquiry['email']} に返信を送信しました。")
        else:
            flash(
                request,
                response,
                "返信は記録しましたが、メールを送信できませんでした。メールの設定を確認して「再送する」を押してください。",
                kind="warning",
            )
        return response

    @post("/{inquiry_id:int}/replies/{reply_id:int}/resend", status_code=200)
    async def resend(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, inquiry_id: int, reply_id: int
    ) -> Response[Any]:
        inquiry = await _inquiry_or_404(request, app_ctx, inquiry_id)
        reply = await inquiry_queries.reply(app_ctx.db, inquiry_id, reply_id)
        if reply is None or reply["from_member"]:
            raise NotFoundException()
        response = redirect(request, f"/admin/inbox/{inquiry_id}#thread")
        if reply["mail_status"] == "sent":
            flash(request, response, "この返信は送信済みです。", kind="info")
        elif await contact_service.send_reply_mail(app_ctx, inquiry, reply):
            flash(request, response, "返信を再送しました。")
        else:
            flash(
                request,
                response,
                "メールを送信できませんでした。メールの設定を確認してください。",
                kind="warning",
            )
        return response

    @get("/{inquiry_id:int}/attachments/{attachment_id:int}")
    async def attachment(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        inquiry_id: int,
        attachment_id: int,
        inline: bool = False,
    ) -> File:
        row = await inquiry_queries.attachment(app_ctx.db, inquiry_id, attachment_id)
        if row is None:
            raise NotFoundException()
        path = attachments_dir(app_ctx) / str(row["stored_name"])
        if not await anyio.Path(path).is_file():
            raise NotFoundException()
        return File(
            path=path,
            filename=str(row["original_name"]),
            media_type=str(row["content_type"]),
            content_disposition_type="inline" if inline else "attachment",
            headers={"Cache-Control": "private, no-store"},
        )
