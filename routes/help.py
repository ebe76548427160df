"""The help pages (よくあるご質問): public, grouped in sections, with a search box that filters in place."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from db import help as help_queries
from routes.common import render
from services.context import AppContext
from services.help import group, normalize_search, paid_plan

QUERY_MAX = 100


class HelpController(Controller):
    path = "/help"

    @get("/", name="help")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext, q: str = "") -> Template:
        query = q[:QUERY_MAX]
        sections = await help_queries.sections(app_ctx.db)
        entries = await help_queries.entries(app_ctx.db, published_only=True)
        grouped = group(
            sections, entries, query=query, sender=app_ctx.sender.address, plan=await paid_plan(app_ctx)
        )
        return render(
            request,
            "help/page.html",
            {
                "sections": grouped,
                "query": query,
                "has_query": bool(normalize_search(query)),
                "match_count": sum(1 for section in grouped for item in section.items if item.visible),
                "entry_count": len(entries),
            },
        )
