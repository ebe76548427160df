"""The member's own inquiries: the list with each one's state, the thread of replies, and answering in it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import inquiries as inquiry_queries
from routes.common import client_ip, form_error_status, redirect_with_flash, render, text_field
from routes.guards import MEMBER_GUARDS
from services import contact as contact_service
from services.contact import CATEGORIES, MEMBER_STATUS_LABELS
from services.context import AppContext
from services.sessions import LoggedIn


class InquiriesController(Controller):
    path = "/inquiries"
    guards = MEMBER_GUARDS

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        rows = await inquiry_queries.member_listing(app_ctx.db, auth.member_id)
        return render(
            request,
            "inquiries/page.html",
            {"inquiries": rows, "status_labels": MEMBER_STATUS_LABELS, "categories": CATEGORIES},
        )

    @get("/{inquiry_id:int}")
    async def show(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, inquiry_id: int
    ) -> Template:
        inquiry = await inquiry_queries.get_for_member(app_ctx.db, auth.member_id, inquiry_id)
        if inquiry is None:
            raise NotFoundException()
        await inquiry_queries.mark_seen(app_ctx.db, auth.member_id, inquiry_id)
        return await self._thread(request, app_ctx, inquiry, values={}, errors={})

    async def _thread(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        inquiry: Any,
        *,
        values: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
    ) -> Template:
        inquiry_id = int(inquiry["id"])
        return render(
            request,
            "inquiries/thread.html",
            {
                "inquiry": inquiry,
                "attachments": await inquiry_queries.attachments_for(app_ctx.db, inquiry_id),
                "replies": await inquiry_queries.replies_for(app_ctx.db, inquiry_id),
                "status_labels": MEMBER_STATUS_LABELS,
                "category_label": CATEGORIES.get(inquiry["category"], "その他"),
                "values": values,
                "errors": errors,
                "max_length": contact_service.ANSWER_MAX_LENGTH,
            },
            status=status,
        )

    @post("/{inquiry_id:int}", status_code=200)
    async def answer(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, inquiry_id: int
    ) -> Response[Any]:
        inquiry = await inquiry_queries.get_for_member(app_ctx.db, auth.member_id, inquiry_id)
        if inquiry is None:
            raise NotFoundException()
        form = await request.form()
        body, error = contact_service.check_answer(text_field(form, "body", max_length=40_000))
        if error:
            return await self._thread(
                request,
                app_ctx,
                inquiry,
                values={"body": body},
                errors={"body": error},
                status=form_error_status(request),
            )
        if not await contact_service.answer_inquiry(
            app_ctx, auth.member_id, inquiry_id, body, ip=client_ip(request)
        ):
            raise NotFoundException()
        return redirect_with_flash(
            request,
            f"/inquiries/{inquiry_id}#thread-end",
            "お返事を送りました。担当者が確認のうえ、ご連絡します。",
        )
