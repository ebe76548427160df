"""My Page: the member's home screen with new arrivals per condition or for all conditions."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import announcements as announcement_db
from routes.articles import here
from routes.common import render, wants_fragment
from routes.guards import MEMBER_GUARDS
from services import articles as article_service
from services import mypage_notices
from services.articles import JOIN_TIER_URL
from services.context import AppContext
from services.sessions import LoggedIn


def more_link(condition: article_service.Condition | None, taxonomies_slugs: dict[int, str]) -> str:
    """The browse page filtered like the condition (its list continues past the 30 shown)."""
    if condition is None:
        return "/articles"
    pairs = [("region", taxonomies_slugs[i]) for i in condition.region_ids if i in taxonomies_slugs]
    pairs += [("topic", taxonomies_slugs[i]) for i in condition.topic_ids if i in taxonomies_slugs]
    return "/articles" + ("?" + urlencode(pairs) if pairs else "")


class MyPageController(Controller):
    path = "/mypage"
    guards = MEMBER_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        raw = str(request.query_params.get("condition") or "").strip()
        condition_id = int(raw) if raw.isdigit() and len(raw) < 12 else None
        if raw and condition_id is None:
            raise NotFoundException()
        arrivals = await article_service.new_arrivals(app_ctx, auth.member_id, condition_id)
        if arrivals is None:
            raise NotFoundException()
        selected = arrivals.selected
        slugs = {}
        if selected is not None:
            slugs = {
                **dict(zip(selected.region_ids, selected.region_slugs, strict=False)),
                **dict(zip(selected.topic_ids, selected.topic_slugs, strict=False)),
            }
        # Switching conditions swaps the arrivals alone: the notices and the latest announcement are only
        # for the whole page.
        whole_page = not wants_fragment(request)
        notices = await mypage_notices.collect(app_ctx, auth.member) if whole_page else []
        latest = await announcement_db.latest_unread(app_ctx.db, auth.member_id) if whole_page else None
        return render(
            request,
            "mypage/page.html",
            {
                "notices": notices,
                "arrivals": arrivals,
                "here": here(request),
                "more_link": more_link(selected, slugs),
                "join_url": JOIN_TIER_URL,
                "days": article_service.NEW_ARRIVAL_DAYS,
                "limit": article_service.NEW_ARRIVAL_LIMIT,
                "latest_announcement": latest,
            },
            fragment="mypage/_arrivals.html",
        )
