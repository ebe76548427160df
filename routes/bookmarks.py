"""Bookmarks: the star toggle on every article (htmx in place, or a plain form) and the /bookmarks list."""

from __future__ import annotations

import math
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import articles as article_queries
from db import bookmarks as bookmark_queries
from routes.articles import here, page_number
from routes.common import is_htmx, redirect_with_flash, render, safe_next, text_field
from routes.guards import MEMBER_GUARDS
from services import articles as article_service
from services.articles import PAGE_SIZE
from services.context import AppContext
from services.sessions import LoggedIn


class BookmarksController(Controller):
    path = "/bookmarks"
    guards = MEMBER_GUARDS

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        page = page_number(request.query_params.get("page"))
        rows, total = await bookmark_queries.list_for(
            app_ctx.db,
            auth.member_id,
            now=app_ctx.clock.now(),
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        return render(
            request,
            "bookmarks/page.html",
            {
                "items": rows,
                "total": total,
                "page": page,
                "pages": max(1, math.ceil(total / PAGE_SIZE)),
                "here": here(request),
            },
        )

    @post("/{article_id:int}", status_code=200)
    async def toggle(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, article_id: int
    ) -> Response[Any]:
        """Set (state=on/off) or toggle (no state) the member's bookmark on a visible article."""
        member_id = auth.member_id
        article = await article_queries.article_page(app_ctx.db, article_id, viewer=member_id)
        if article is None or not article_service.is_visible(article, app_ctx.clock.now()):
            raise NotFoundException()
        form = await request.form()
        state = text_field(form, "state", max_length=10)
        on = state == "on" if state in {"on", "off"} else not article["bookmarked"]
        await bookmark_queries.set_bookmark(app_ctx.db, member_id, article_id, on, now=app_ctx.clock.now())
        next_path = safe_next(text_field(form, "next", max_length=600), "/bookmarks")
        mode = text_field(form, "mode", max_length=10)
        if is_htmx(request):
            context = {
                "article_id": article_id,
                "bookmarked": on,
                "title": article["title"],
                "here": next_path,
                "mode": mode if mode in {"card", "page", "list"} else "card",
            }
            template = "bookmarks/_removed.html" if mode == "list" and not on else "bookmarks/_star.html"
            return render(request, template, context, fragment=template)
        return redirect_with_flash(
            request, next_path, "ブックマークに追加しました。" if on else "ブックマークを外しました。"
        )
