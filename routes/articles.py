"""Browse and search articles (/articles) and read one (/articles/{id}); opening one records history."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import articles as article_queries
from db import history as history_queries
from routes.common import logged_in, render
from services import articles as article_service
from services.articles import JOIN_TIER_URL, PAGE_SIZE, TermNode
from services.context import AppContext

MAX_PAGE = 10_000


def here(request: Request[Any, Any, Any]) -> str:
    """The current path and query, for "come back here" after a plain form POST."""
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


def member_id_of(request: Request[Any, Any, Any]) -> int | None:
    """The logged-in member whose password is current (others browse like visitors)."""
    auth = logged_in(request)
    if auth is None or auth.member["must_change_password"]:
        return None
    return auth.member_id


def page_number(raw: str | None) -> int:
    text = (raw or "").strip()
    return min(int(text), MAX_PAGE) if text.isdigit() and int(text) > 0 else 1


def int_values(form: Any, name: str) -> list[int]:
    """Every integer value of a repeated field (checkboxes); anything else is ignored."""
    values = form.getall(name, []) if form is not None and hasattr(form, "getall") else []
    found = []
    for value in values[:200]:
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 12:
            found.append(int(value.strip()))
    return found


def _picked(taxonomies: article_service.Taxonomies, taxonomy: str, slugs: list[Any]) -> list[TermNode]:
    found: list[TermNode] = []
    for slug in slugs[:20]:
        node = taxonomies.by_slug(taxonomy, str(slug)[:80]) if isinstance(slug, str) else None
        if node is not None and node not in found:
            found.append(node)
    return found


class ArticlesController(Controller):
    path = "/articles"

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        member_id = member_id_of(request)
        taxonomies = await article_service.load_taxonomies(app_ctx)
        params = request.query_params
        regions = _picked(taxonomies, "region", params.getall("region", []))
        topics = _picked(taxonomies, "topic", params.getall("topic", []))
        keyword = str(params.get("q") or "")[:200].strip()
        search = article_service.parse_keywords(keyword)
        access = await article_service.access_for(app_ctx, member_id)
        page = page_number(params.get("page"))
        rows, total = await article_queries.browse(
            app_ctx.db,
            now=app_ctx.clock.now(),
            viewer=member_id or 0,
            region_ids=[t.id for t in regions],
            topic_ids=[t.id for t in topics],
            search=search,
            include_events=access.events,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        filters = [("region", t.slug) for t in regions] + [("topic", t.slug) for t in topics]
        if keyword:
            filters.append(("q", keyword))
        base = "/articles" + ("?" + urlencode(filters) if filters else "")
        return render(
            request,
            "articles/page.html",
            {
                "items": rows,
                "total": total,
                "page": page,
                "pages": max(1, math.ceil(total / PAGE_SIZE)),
                "base": base,
                "here": here(request),
                "picked_regions": regions,
                "picked_topics": topics,
                "keyword": keyword,
                "filtered": bool(filters),
                "regions": taxonomies.flat("region"),
                "topics": taxonomies.flat("topic"),
                "access": access,
                "join_url": JOIN_TIER_URL,
            },
            fragment="articles/_results.html",
        )

    @get("/{article_id:int}")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext, article_id: int) -> Template:
        auth = logged_in(request)
        member_id = member_id_of(request)
        now = app_ctx.clock.now()
        article = await article_queries.article_page(app_ctx.db, article_id, viewer=member_id or 0)
        if article is None:
            raise NotFoundException()
        visible = article_service.is_visible(article, now)
        is_admin = bool(auth and auth.is_admin)
        if not visible and not is_admin:
            raise NotFoundException()
        access = await article_service.access_for(app_ctx, member_id)
        terms = (await article_queries.terms_of(app_ctx.db, [article_id]))[article_id]
        neighbours = await article_queries.neighbours(
            app_ctx.db, article, now=now, include_events=access.events
        )
        if member_id is not None and visible:
            await history_queries.record(
                app_ctx.db, member_id, article_id, now=now, keep=article_service.HISTORY_KEEP
            )
        return render(
            request,
            "articles/show.html",
            {
                "article": article,
                "readable": article_service.may_read(article, access) or is_admin,
                "preview": not visible,
                "state": article_service.STATE_LABELS[article_service.article_state(article, now)],
                "regions": [t for t in terms if t["taxonomy"] == "region"],
                "topics": [t for t in terms if t["taxonomy"] == "topic"],
                "prev": neighbours.get("prev"),
                "next": neighbours.get("next"),
                "access": access,
                "join_url": JOIN_TIER_URL,
                "here": here(request),
            },
        )
