"""Helpers every screen uses: the handler dependencies, page-or-fragment rendering, redirects, flash
messages, form fields.

Handlers take what they need as parameters, which Litestar provides (registered app-wide in app.py):
`app_ctx: AppContext` (the running app's shared parts) and `auth: LoggedIn` (the signed-in session, which
the session middleware puts on `request.user`). `request` is an `HTMXRequest` (the HTMX plugin), so
`request.htmx` tells an htmx request. The `ctx(request)` and `logged_in(request)` functions are for code
that has no handler parameters: middleware, guards, exception handlers and the helpers below.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer
from litestar import Request, Response
from litestar.datastructures import Cookie, State
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException
from litestar.plugins.htmx import ClientRedirect, HTMXDetails, HTMXRequest
from litestar.response import Redirect, Template
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_200_OK, HTTP_422_UNPROCESSABLE_ENTITY

from routes.guards import staff_allowed
from routes.nav import ADMIN_NAV, MEMBER_NAV, NavItem, member_tabs
from services.context import AppContext
from services.sessions import SESSION_COOKIE, LoggedIn

FLASH_COOKIE = "tsudoi_flash"
MAX_FIELD_LENGTH = 10_000


def ctx(request: Request[Any, Any, Any]) -> AppContext:
    """The app context where no handler parameter can carry it (middleware, exception handlers, helpers)."""
    app_ctx: AppContext = request.app.state.ctx
    return app_ctx


def logged_in(request: Request[Any, Any, Any]) -> LoggedIn | None:
    """The session the session middleware found (request.user), or None; never raises."""
    auth: LoggedIn | None = request.scope.get("user")
    return auth


def provide_app_ctx(state: State) -> AppContext:
    """The `app_ctx` handler parameter."""
    app_ctx: AppContext = state.ctx
    return app_ctx


def provide_auth(request: Request[Any, Any, Any], app_ctx: AppContext) -> LoggedIn:
    """The `auth` handler parameter: the signed-in session, for handlers behind the login guards.

    It takes `app_ctx` only to come after it: Litestar resolves dependencies of one level together in an
    anyio task group (two tasks per request), and one at a time when each level holds one."""
    auth = logged_in(request)
    if auth is None:
        raise NotAuthorizedException("ログインしてください。")
    return auth


# Registered on the app (app.py): every handler can ask for these by parameter name.
DEPENDENCIES = {
    "app_ctx": Provide(provide_app_ctx, sync_to_thread=False),
    "auth": Provide(provide_auth, sync_to_thread=False),
}


def htmx(request: Request[Any, Any, Any]) -> HTMXDetails:
    """`request.htmx` (the HTMX plugin makes every handler's request an HTMXRequest), also for the plain
    requests exception handlers can get."""
    return request.htmx if isinstance(request, HTMXRequest) else HTMXDetails(request)


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return bool(htmx(request))


def wants_fragment(request: Request[Any, Any, Any]) -> bool:
    """An htmx request that is neither boosted nor a history restore gets the fragment alone."""
    details = htmx(request)
    return bool(details) and not details.boosted and not details.history_restore_request


def form_error_status(request: Request[Any, Any, Any]) -> int:
    """htmx does not swap 4xx answers, so it gets 200; a plain POST gets 422."""
    return HTTP_200_OK if is_htmx(request) else HTTP_422_UNPROCESSABLE_ENTITY


def client_ip(request: Request[Any, Any, Any]) -> str:
    if ctx(request).settings.trust_proxy:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else ""


def is_secure(request: Request[Any, Any, Any]) -> bool:
    settings = ctx(request).settings
    if settings.trust_proxy and request.headers.get("x-forwarded-proto", "") == "https":
        return True
    return request.url.scheme == "https" or settings.https


def _flash_serializer(request: Request[Any, Any, Any]) -> URLSafeSerializer:
    return URLSafeSerializer(ctx(request).settings.secret_key, salt="flash")


def flash(
    request: Request[Any, Any, Any], response: Response[Any], message: str, kind: str = "success"
) -> None:
    """A one-time message shown on the next page (kept in a signed cookie, so it works logged out too)."""
    value = _flash_serializer(request).dumps({"message": message, "kind": kind})
    response.set_cookie(
        FLASH_COOKIE, value, path="/", httponly=True, samesite="lax", secure=is_secure(request), max_age=300
    )


def _take_flash(request: Request[Any, Any, Any]) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = _flash_serializer(request).loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, dict) else None


def staff_screens(request: Request[Any, Any, Any]) -> frozenset[str]:
    """The console paths whose GET page 事務局スタッフ may open (marked STAFF_ALLOWED), found once per app."""
    state = request.app.state
    screens: frozenset[str] | None = state.get("staff_screens")
    if screens is None:
        screens = frozenset(
            route.path
            for route in request.app.routes
            if isinstance(route, HTTPRoute)
            and any(
                "GET" in handler.http_methods and staff_allowed(handler) for handler in route.route_handlers
            )
        )
        state["staff_screens"] = screens
    return screens


def admin_nav(request: Request[Any, Any, Any], auth: LoggedIn | None) -> list[NavItem]:
    """The console menu on console pages: every screen for an admin, the allowed ones for staff."""
    if auth is None or not auth.is_admin or not request.url.path.startswith("/admin"):
        return []
    if not auth.is_staff:
        return ADMIN_NAV
    allowed = staff_screens(request)
    return [item for item in ADMIN_NAV if item.path in allowed]


def base_context(request: Request[Any, Any, Any]) -> dict[str, Any]:
    auth = logged_in(request)
    app_ctx = ctx(request)
    return {
        "org": app_ctx.org,
        "me": auth.member if auth else None,
        "auth": auth,
        "nav": MEMBER_NAV if auth and not auth.member["must_change_password"] else [],
        "tabs": member_tabs(request.url.path) if auth and not auth.member["must_change_password"] else [],
        "admin_nav": admin_nav(request, auth),
        "current_path": request.url.path,
        "base_url": app_ctx.settings.base_url,
        # For "allow mail from …" tips: the address members must let through their spam filters.
        "mail_sender": app_ctx.sender.address,
    }


def render(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any] | None = None,
    *,
    fragment: str | None = None,
    status: int = HTTP_200_OK,
    headers: dict[str, str] | None = None,
) -> Template:
    name = fragment if fragment and wants_fragment(request) else template
    full_context = base_context(request)
    flash_message = _take_flash(request) if name == template else None
    full_context["flash"] = flash_message
    full_context.update(context or {})
    response = Template(
        template_name=name,
        context=full_context,
        status_code=status,
        headers={"Vary": "HX-Request", "Cache-Control": "no-store", **(headers or {})},
    )
    if flash_message is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request[Any, Any, Any], url: str) -> Response[Any]:
    """A 303 for plain requests; for htmx, a redirect htmx performs as a full page load."""
    if is_htmx(request):
        return ClientRedirect(redirect_to=url)
    return Redirect(url, status_code=303)


def redirect_with_flash(
    request: Request[Any, Any, Any], url: str, message: str, kind: str = "success"
) -> Response[Any]:
    """A redirect (see `redirect`) whose next page shows `message` once."""
    response = redirect(request, url)
    flash(request, response, message, kind)
    return response


def safe_next(value: str | None, default: str = "/mypage") -> str:
    """Only same-site paths, so a crafted link cannot send a member elsewhere after login."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 500:
        return default
    if any(ord(ch) < 32 for ch in value):
        return default
    return value


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(next_path, safe="/")


def text_field(form: Any, name: str, *, max_length: int = MAX_FIELD_LENGTH) -> str:
    """A form value as text: missing, duplicated or file values never raise."""
    value = form.get(name, "") if form is not None else ""
    if not isinstance(value, str):
        return ""
    return value[:max_length]


def session_cookie(
    request: Request[Any, Any, Any], token: str, *, remember: bool, max_age: int | None
) -> Cookie:
    request.scope.setdefault("state", {})["session_cookie_set"] = True
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        path="/",
        httponly=True,
        secure=is_secure(request),
        samesite="lax",
        max_age=max_age if remember else None,
    )


def clear_session_cookie(request: Request[Any, Any, Any], response: Response[Any]) -> None:
    request.scope.setdefault("state", {})["session_cookie_set"] = True
    response.delete_cookie(SESSION_COOKIE, path="/")
