"""Recently viewed articles (/history): the newest 50 article pages the member opened, and clearing them."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from db import history as history_queries
from routes.articles import here
from routes.common import redirect_with_flash, render
from routes.guards import MEMBER_GUARDS
from services.articles import HISTORY_KEEP
from services.context import AppContext
from services.sessions import LoggedIn


class HistoryController(Controller):
    path = "/history"
    guards = MEMBER_GUARDS

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        rows = await history_queries.list_for(
            app_ctx.db, auth.member_id, now=app_ctx.clock.now(), limit=HISTORY_KEEP
        )
        return render(
            request, "history/page.html", {"items": rows, "here": here(request), "keep": HISTORY_KEEP}
        )

    @post("/clear", status_code=200)
    async def clear(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        await history_queries.clear(app_ctx.db, auth.member_id)
        return redirect_with_flash(request, "/history", "閲覧履歴を消去しました。")
