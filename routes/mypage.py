"""My Page: the member's home screen with new arrivals per condition or for all conditions.

A reload is served from the My Page cache (services/mypage_cache.py): the session query and one cache read.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from typing import Any, cast
from urllib.parse import urlencode

from litestar import Controller, Litestar, Request, Response, get
from litestar.enums import MediaType, ScopeType
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.empty import value_or_default
from litestar.utils.scope.state import ScopeState

from routes.articles import here
from routes.common import FLASH_COOKIE, render, wants_fragment
from routes.guards import MEMBER_GUARDS
from routes.middleware import CSRF_COOKIE, PRELOADED_SESSION
from services import articles as article_service
from services import mypage_cache, mypage_notices
from services.articles import JOIN_TIER_URL
from services.context import AppContext
from services.sessions import SESSION_COOKIE, LoggedIn

log = logging.getLogger("tsudoi.mypage")


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
# The scope key under which the kept-page path hands its cache read to the handler when it cannot answer.
CACHE_READ = "tsudoi.mypage_read"


def page_memo(app: Litestar) -> mypage_cache.PageMemo:
    """Finished My Pages of this app (one per worker process), gzip-compressed as sent: a reload by the same
    browser sends these bytes again. The key holds everything the page is made from (`memo_page`), the kept
    parts' bodies as read from the cache included, so an entry is served only while its parts are fresh."""
    state = app.state
    memo: mypage_cache.PageMemo | None = state.get("mypage_memo")
    if memo is None:
        memo = mypage_cache.PageMemo()
        state["mypage_memo"] = memo
    return memo


def memo_browser(page_url: str, whole_page: bool, csrf_token: str) -> tuple[str, bool, str]:
    """Whose copy a kept page is: the URL, the fragment choice and this browser's CSRF token (in its forms)."""
    return (page_url, whole_page, csrf_token)


def memo_page(
    app_ctx: AppContext,
    auth: LoggedIn,
    parts: mypage_cache.MyPageParts,
    live: list[mypage_notices.Notice],
) -> tuple[Any, ...]:
    """Everything else the finished page depends on: the session's member row and flags (names, role, dates
    of the live notices), the org's settings, the live notices and the kept parts."""
    return (
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


# What `render` puts on every page, and what a kept page adds: it is sent compressed as it was kept.
PAGE_HEADERS = {"Cache-Control": "no-store"}
KEPT_PAGE_HEADERS = {**PAGE_HEADERS, "Content-Encoding": "gzip", "Vary": "HX-Request, Accept-Encoding"}


def gzip_response(request: Request[Any, Any, Any], body: bytes) -> Response[bytes]:
    # Already compressed: Litestar's compression middleware passes a response marked cached as it is.
    ScopeState.from_scope(request.scope).is_cached = True
    return Response(body, media_type=MediaType.HTML, headers=KEPT_PAGE_HEADERS)


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
        keep = page_url == kept_url(condition_id)
        parts = await mypage_cache.my_page(
            app_ctx,
            auth.member_id,
            condition_id,
            whole_page=whole_page,
            keep=keep,
            render_arrivals=arrivals_renderer(app_ctx, auth, page_url),
            read=cast("mypage_cache.CacheRead | None", request.scope.get(CACHE_READ)),
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
        browser = page = None
        if memo:
            csrf_token = value_or_default(ScopeState.from_scope(request.scope).csrf_token, "")
            browser = memo_browser(page_url, whole_page, csrf_token)
            page = memo_page(app_ctx, auth, parts, live)
            if parts.all_kept and (sent := page_memo(request.app).get(browser, page)) is not None:
                return gzip_response(request, sent)
        context = {
            "notices": mypage_notices.ordered([*parts.notices, *live]) if whole_page else [],
            "arrivals_html": parts.arrivals_html,
            "csrf_slot": mypage_cache.CSRF_SLOT,
            "latest_announcement": parts.latest_announcement if whole_page else None,
        }
        response = render(request, "mypage/page.html", context, fragment="mypage/_arrivals_section.html")
        if browser is None:
            return response
        body = gzip_page(request, response)
        page_memo(request.app).put(browser, page, body)
        return gzip_response(request, body)


def kept_url(condition_id: int | None) -> str:
    return "/mypage" if condition_id is None else f"/mypage?condition={condition_id}"


_CONDITION_QUERY = re.compile(rb"condition=([0-9]{1,11})")


def serve_kept_pages(app: ASGIApp) -> ASGIApp:
    """A member's reload of My Page, answered before Litestar routes the request when the finished page is
    kept in this process (PageMemo): the session query, the cache read and the kept bytes, none of the
    middleware, guards and dependencies a page otherwise goes through (most of a kept page's time).

    It answers only what the handler would answer with the same bytes: a plain GET of /mypage or
    /mypage?condition=N (no htmx), gzip accepted, no flash message waiting, a live session that needs no new
    cookie, a password that is current, and a kept page whose key matches in full. Anything else (and any
    error here) goes on to the app, which then reuses the session and the cache read made here. The security
    headers and the request log wrap this (app.py), so a kept page gets both."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        body = None
        if _may_be_kept(scope):
            try:
                body = await _kept_page(scope)
            except Exception as error:  # the app answers instead, with its own error handling
                log.warning("kept My Page path failed (%s); the page is made instead", type(error).__name__)
                body = None
        if body is None:
            await app(scope, receive, send)
            return
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in KEPT_PAGE_HEADERS.items()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return middleware


def _may_be_kept(scope: Scope) -> bool:
    return (
        scope["type"] == ScopeType.HTTP
        and scope["method"] == "GET"
        and scope["path"] == "/mypage"
        and (not scope["query_string"] or _CONDITION_QUERY.fullmatch(scope["query_string"]) is not None)
    )


async def _kept_page(scope: Scope) -> bytes | None:
    request: Request[Any, Any, Any] = Request(scope)
    if any(name == b"hx-request" for name, _ in scope["headers"]):
        return None  # htmx asks for the fragment (or a boosted page): the handler tells them apart
    if "gzip" not in request.headers.get("accept-encoding", ""):
        return None
    cookies = request.cookies
    token = cookies.get(SESSION_COOKIE, "")
    # The CSRF cookie is checked by the memo itself: a page is kept under the token the app accepted and
    # wrote into its forms (an invalid cookie gets a fresh token, never kept under the invalid one).
    csrf_token = cookies.get(CSRF_COOKIE, "")
    if not token or not csrf_token or FLASH_COOKIE in cookies:
        return None
    query = request.url.query
    condition_id = int(query.removeprefix("condition=")) if query else None
    url = kept_url(condition_id)
    if url != request.url.path + ("?" + query if query else ""):
        return None  # e.g. condition=007: the handler makes that page afresh (its forms return to it)
    browser = memo_browser(url, True, csrf_token)
    memo = page_memo(scope["litestar_app"])
    if not memo.knows(browser):
        return None  # the first view from this browser: no query spent here
    app_ctx: AppContext = scope["litestar_app"].state.ctx
    await app_ctx.refresh_org()
    auth, read = await mypage_cache.read_session_and_parts(app_ctx, token, condition_id)
    scope[PRELOADED_SESSION] = (token, auth)  # type: ignore[literal-required]
    scope[CACHE_READ] = read  # type: ignore[literal-required]
    if auth is None or read is None or auth.refresh_cookie or auth.member["must_change_password"]:
        return None
    parts = mypage_cache.kept_page(app_ctx, read)
    if parts is None:
        return None
    live = mypage_notices.member_notices(app_ctx, auth.member, read.now)
    return memo.get(browser, memo_page(app_ctx, auth, parts, live))
