"""My Page: the member's home screen with new arrivals per condition or for all conditions.

A reload is served from the My Page cache (services/mypage_cache.py): the session query and one cache read.
"""

from __future__ import annotations

import gzip
import json
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar.utils.empty import value_or_default
from litestar.utils.scope.state import ScopeState

from routes.articles import here
from routes.common import FLASH_COOKIE, render, wants_fragment
from routes.guards import MEMBER_GUARDS
from services import articles as article_service
from services import mypage_cache, mypage_notices
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


def arrivals_renderer(app_ctx: AppContext, auth: LoggedIn, page_url: str) -> mypage_cache.RenderArrivals:
    """Renders the 新着記事 section (views/mypage/_arrivals.html) to keep: each star form gets the CSRF
    slot, filled with the browser's own token when the section is served."""
    template = app_ctx.templates.get_template("mypage/_arrivals.html")

    def render_arrivals(arrivals: article_service.NewArrivals) -> str:
        selected = arrivals.selected
        slugs = {}
        if selected is not None:
            slugs = {
                **dict(zip(selected.region_ids, selected.region_slugs, strict=False)),
                **dict(zip(selected.topic_ids, selected.topic_slugs, strict=False)),
            }
        return template.render(
            {
                "arrivals": arrivals,
                "here": page_url,
                "more_link": more_link(selected, slugs),
                "join_url": JOIN_TIER_URL,
                "days": article_service.NEW_ARRIVAL_DAYS,
                "limit": article_service.NEW_ARRIVAL_LIMIT,
                "me": auth.member,
                "csrf_input": mypage_cache.CSRF_SLOT,
            }
        )

    return render_arrivals


GZIP_LEVEL = 6


def page_memo(request: Request[Any, Any, Any]) -> mypage_cache.PageMemo:
    """Finished My Pages of this app (one per worker process), gzip-compressed as sent: a reload by the same
    browser sends these bytes again. The key holds everything the page is made from (`memo_key`), the kept
    parts' bodies as read from the cache included, so an entry is served only while its parts are fresh."""
    state = request.app.state
    memo: mypage_cache.PageMemo | None = state.get("mypage_memo")
    if memo is None:
        memo = mypage_cache.PageMemo()
        state["mypage_memo"] = memo
    return memo


def memo_key(
    request: Request[Any, Any, Any],
    app_ctx: AppContext,
    auth: LoggedIn,
    parts: mypage_cache.MyPageParts,
    live: list[mypage_notices.Notice],
    whole_page: bool,
) -> tuple[Any, ...]:
    """Everything the finished page depends on: the URL and the fragment choice, this browser's CSRF token,
    the session's member row and flags (names, role, dates of the live notices), the org's settings, the
    live notices and the kept parts."""
    return (
        here(request),
        whole_page,
        value_or_default(ScopeState.from_scope(request.scope).csrf_token, ""),
        tuple(auth.member),
        json.dumps(auth.flags, sort_keys=True, default=str),
        app_ctx.org,
        app_ctx.settings.base_url,
        app_ctx.sender.address,
        tuple(live),
        parts.bodies,
    )


def gzip_page(request: Request[Any, Any, Any], response: Template) -> bytes:
    """The page as `render` would send it, rendered here and gzip-compressed for the memo."""
    engine = request.app.template_engine
    assert engine is not None  # app.py configures Jinja
    template = engine.get_template(str(response.template_name))
    html = template.render(**response.create_template_context(request))
    return gzip.compress(html.encode("utf-8"), GZIP_LEVEL)


def gzip_response(request: Request[Any, Any, Any], body: bytes, headers: dict[str, str]) -> Response[bytes]:
    # Already compressed: Litestar's compression middleware passes a response marked cached as it is.
    ScopeState.from_scope(request.scope).is_cached = True
    return Response(
        body,
        media_type=MediaType.HTML,
        headers={**headers, "Content-Encoding": "gzip", "Vary": "HX-Request, Accept-Encoding"},
    )


# What `render` puts on every page.
PAGE_HEADERS = {"Cache-Control": "no-store"}


class MyPageController(Controller):
    path = "/mypage"
    guards = MEMBER_GUARDS

    @get("/")
    async def show(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        raw = str(request.query_params.get("condition") or "").strip()
        condition_id = int(raw) if raw.isdigit() and len(raw) < 12 else None
        if raw and condition_id is None:
            raise NotFoundException()
        # Switching conditions swaps the arrivals alone: the notices and the latest announcement are only
        # for the whole page.
        whole_page = not wants_fragment(request)
        page_url = here(request)
        # The kept section's star forms come back to /mypage or /mypage?condition=N: other URLs are made
        # afresh (their forms carry their own URL).
        keep = page_url == ("/mypage" if condition_id is None else f"/mypage?condition={condition_id}")
        parts = await mypage_cache.my_page(
            app_ctx,
            auth.member_id,
            condition_id,
            whole_page=whole_page,
            keep=keep,
            render_arrivals=arrivals_renderer(app_ctx, auth, page_url),
        )
        if parts is None:
            raise NotFoundException()
        live = mypage_notices.member_notices(app_ctx, auth.member, app_ctx.clock.now()) if whole_page else []
        # A reload by the same browser, every part served from the cache: the finished page as sent before.
        # Not with a flash message to show, nor to a browser that does not take gzip.
        memo = (
            keep
            and FLASH_COOKIE not in request.cookies
            and "gzip" in request.headers.get("accept-encoding", "")
        )
        key = memo_key(request, app_ctx, auth, parts, live, whole_page) if memo else None
        if key is not None and parts.all_kept and (sent := page_memo(request).get(key)) is not None:
            return gzip_response(request, sent, PAGE_HEADERS)
        context = {
            "notices": mypage_notices.ordered([*parts.notices, *live]) if whole_page else [],
            "arrivals_html": parts.arrivals_html,
            "csrf_slot": mypage_cache.CSRF_SLOT,
            "latest_announcement": parts.latest_announcement if whole_page else None,
        }
        response = render(request, "mypage/page.html", context, fragment="mypage/_arrivals_section.html")
        if key is None:
            return response
        body = gzip_page(request, response)
        page_memo(request).put(key, body)
        return gzip_response(request, body, PAGE_HEADERS)
