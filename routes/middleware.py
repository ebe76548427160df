"""ASGI middleware: load the login session, add security headers, log requests without secrets."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, cast

from litestar import Request
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from services.context import AppContext
from services.sessions import SESSION_COOKIE, LoggedIn, load_session

request_log = logging.getLogger("tsudoi.request")
# Long path segments are tokens (reset links, unsubscribe, sandbox sessions): never logged.
_TOKEN_SEGMENT = re.compile(r"/[A-Za-z0-9_\-.=:]{24,}")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)


def _is_https(scope: Scope, trust_proxy: bool) -> bool:
    if scope.get("scheme") == "https":
        return True
    if trust_proxy:
        for key, value in scope.get("headers", []):
            if key == b"x-forwarded-proto":
                return bool(value.decode("latin-1").strip() == "https")
    return False


# The CSRF cookie's name (app.py's CSRF config).
CSRF_COOKIE = "tsudoi_csrf"
# The scope key under which a path that answers before routing (routes/mypage.py) hands on the session it
# loaded, as (cookie token, LoggedIn or None), when it does not answer after all: loaded once per request.
PRELOADED_SESSION = "tsudoi.session"


def session_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith("/static/"):
            await app(scope, receive, send)
            return
        app_ctx: AppContext = scope["litestar_app"].state.ctx
        # Another worker process may have changed the organization settings: a shared-memory read, no query.
        await app_ctx.refresh_org()
        request: Request[Any, Any, Any] = Request(scope)
        token = request.cookies.get(SESSION_COOKIE, "")
        auth = None
        preloaded = cast("tuple[str, LoggedIn | None] | None", scope.get(PRELOADED_SESSION))
        if preloaded is not None and preloaded[0] == token:
            auth = preloaded[1]
        elif token:
            auth = await load_session(app_ctx.db, token, now=app_ctx.clock.now(), org=app_ctx.org)
        # request.user in handlers and guards: the session (services.sessions.LoggedIn), or None.
        scope["user"] = auth
        state = scope.setdefault("state", {})
        secure = app_ctx.settings.https or _is_https(scope, app_ctx.settings.trust_proxy)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and not state.get("session_cookie_set"):
                headers = MutableScopeHeaders.from_message(message)
                if token and auth is None:
                    headers.add(
                        "set-cookie",
                        Cookie(key=SESSION_COOKIE, value="", path="/", max_age=0).to_header(header=""),
                    )
                elif auth is not None and auth.refresh_cookie:
                    cookie = Cookie(
                        key=SESSION_COOKIE,
                        value=token,
                        path="/",
                        httponly=True,
                        secure=secure,
                        samesite="lax",
                        max_age=app_ctx.org.remember_days * 86400,
                    )
                    headers.add("set-cookie", cookie.to_header(header=""))
            await send(message)

        await app(scope, receive, send_with_cookie)

    return middleware


# Set on every answer, replacing any a handler set; then those a handler may set itself (a page with its own
# CSP), added only when missing. Encoded once: this runs on every response.
_FIXED_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
_DEFAULT_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_REPLACED = {name for name, _ in _FIXED_HEADERS} | {_HSTS[0]}


def security_headers_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        settings = scope["litestar_app"].state.ctx.settings
        https = settings.https or _is_https(scope, settings.trust_proxy)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in _REPLACED
                ]
                present = {name.lower() for name, _ in headers}
                headers += _FIXED_HEADERS
                headers += [header for header in _DEFAULT_HEADERS if header[0] not in present]
                if https:
                    headers.append(_HSTS)
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


def request_log_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not scope["litestar_app"].state.ctx.settings.log_requests:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_and_note)
        finally:
            # Query strings are left out on purpose: they can carry tokens and personal data.
            request_log.info(
                json.dumps(
                    {
                        # head_as_get hands HEAD on as GET: log what the client sent.
                        "method": scope.get(ORIGINAL_METHOD) or scope.get("method", ""),
                        "path": _TOKEN_SEGMENT.sub("/…", scope["path"])[:200],
                        "status": status["code"],
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                    }
                )
            )

    return middleware


class CSRFTokenMiddleware(CSRFMiddleware):
    """Litestar's CSRF check, where a token or cookie that is not plain ASCII (a scanner's 'é', a NUL) is a
    wrong token: the friendly stale-form page, not the TypeError `compare_digest` raises on such text."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            # A cookie that is no token of ours (odd text, or signed with a former secret key) is dropped,
            # so the next page sets a fresh one instead of every form failing until cookies are cleared.
            cookies = Request(scope).cookies  # parsed once and kept in the scope's state
            name = self.config.cookie_name
            if name in cookies and self._decode_csrf_token(cookies[name]) is None:
                ScopeState.from_scope(scope).cookies = {k: v for k, v in cookies.items() if k != name}
        await super().__call__(scope, receive, send)

    def _decode_csrf_token(self, token: str) -> str | None:
        if not token.isascii() or not token.isalnum():
            return None
        return super()._decode_csrf_token(token)


# The scope key under which head_as_get keeps the method the client sent (the request log reads it).
ORIGINAL_METHOD = "tsudoi.original_method"


def head_as_get(app: ASGIApp) -> ASGIApp:
    """Answer HEAD wherever GET is answered (uptime monitors): run the GET handler, send its status and
    headers (Content-Length included), drop the body."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        get_scope = cast("Scope", {**scope, "method": "GET", ORIGINAL_METHOD: "HEAD"})
        await app(get_scope, receive, send_headers_only)

    return middleware
