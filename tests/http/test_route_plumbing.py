"""Litestar does the plumbing: handlers get the app context and the signed-in session as parameters, htmx
details come from the HTMX plugin, and routes/ reaches neither through the request by hand."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, get
from litestar.plugins.htmx import HTMXRequest

from routes.common import redirect_with_flash
from services.context import AppContext
from services.sessions import LoggedIn
from tests.helpers import login, make_member

ROUTES = Path(__file__).resolve().parents[2] / "routes"
# Code that gets no handler parameters: the helpers every screen uses, middleware, exception handlers.
CTX_ALLOWED = {("common.py", "client_ip"), ("common.py", "is_secure"), ("common.py", "_flash_serializer")}
CTX_ALLOWED |= {("common.py", "base_context"), ("contact.py", "_too_large")}


@get("/_probe/plumbing", sync_to_thread=False)
def probe(request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> dict[str, Any]:
    return {
        "ctx_is_the_apps": app_ctx is request.app.state.ctx,
        "user_is_auth": request.user is auth,
        "member_id": auth.member_id,
        "htmx_request": isinstance(request, HTMXRequest),
        "htmx": bool(request.htmx) if isinstance(request, HTMXRequest) else None,
    }


@get("/_probe/flash", sync_to_thread=False)
def flash_probe(request: Request[Any, Any, Any]) -> Any:
    return redirect_with_flash(request, "/login", "テストのお知らせです。", "warning")


async def test_handlers_get_the_context_and_the_session_as_parameters(app: Litestar, client, app_ctx) -> None:
    app.register(probe)
    member_id = await make_member(app_ctx, "001001")
    await login(client, "001001")

    answer = (await client.get("/_probe/plumbing")).json()
    assert answer == {
        "ctx_is_the_apps": True,
        "user_is_auth": True,
        "member_id": member_id,
        "htmx_request": True,
        "htmx": False,
    }
    assert (await client.get("/_probe/plumbing", headers={"HX-Request": "true"})).json()["htmx"] is True


async def test_the_session_parameter_without_a_login_asks_to_log_in(app: Litestar, client) -> None:
    app.register(probe)
    response = await client.get("/_probe/plumbing", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/_probe/plumbing"


async def test_redirect_with_flash_shows_the_message_once_on_the_next_page(app: Litestar, client) -> None:
    app.register(flash_probe)
    response = await client.get("/_probe/flash", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    page = await client.get("/login")
    assert "テストのお知らせです。" in page.text
    assert "テストのお知らせです。" not in (await client.get("/login")).text

    htmx = await client.get("/_probe/flash", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.headers["hx-redirect"] == "/login"
    assert "テストのお知らせです。" in (await client.get("/login")).text


def _calls_in_routes(name: str) -> list[tuple[str, str]]:
    """(module, function) of every `name(request)` call in routes/."""
    found = []
    for path in sorted(ROUTES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == name
                    and [a.id for a in node.args if isinstance(a, ast.Name)] == ["request"]
                ):
                    found.append((path.name, fn.name))
    return found


def test_routes_reach_the_context_through_the_request_only_where_no_handler_parameter_can() -> None:
    assert set(_calls_in_routes("ctx")) <= CTX_ALLOWED
    assert _calls_in_routes("current") == []


def test_no_route_parses_htmx_headers_by_hand() -> None:
    reading = re.compile(r"""headers(\.get\(|\[)\s*["']hx-""", re.IGNORECASE)
    for path in ROUTES.glob("*.py"):
        assert not reading.search(path.read_text(encoding="utf-8")), path.name
