"""事務局からのお知らせ for members: the list and one announcement (members-only ones need a login)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException

from db import announcements as announcement_db
from routes.common import logged_in, login_url, redirect, render
from services.context import AppContext

PAGE_SIZE = 20


class AnnouncementsController(Controller):
    path = "/announcements"

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        auth = logged_in(request)
        member_id = auth.member_id if auth else None
        page_text = request.query_params.get("page", "1")
        page = int(page_text) if page_text.isdigit() and 0 < int(page_text) < 10_000 else 1
        total = await announcement_db.count_published(app_ctx.db, member_id)
        rows = await announcement_db.published(
            app_ctx.db, member_id, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        return render(
            request,
            "announcements/page.html",
            {
                "rows": rows,
                "page": page,
                "pages": max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE),
                "page_title": "事務局からのお知らせ",
            },
        )

    @get("/{announcement_id:int}")
    async def show(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, announcement_id: int
    ) -> Response[Any]:
        auth = logged_in(request)
        member_id = auth.member_id if auth else None
        row = await announcement_db.visible(app_ctx.db, announcement_id, member_id)
        if row is None:
            raise NotFoundException()
        if row["members_only"] and auth is None:
            return redirect(request, login_url(request.url.path))
        if member_id is not None:
            await announcement_db.mark_read(app_ctx.db, announcement_id, member_id, now=app_ctx.clock.now())
        return render(request, "announcements/detail.html", {"a": row, "page_title": str(row["title"])})
