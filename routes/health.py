"""Health check and the site root."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from routes.common import logged_in, redirect
from services.context import AppContext


@get("/healthz", cache=False)
async def healthz(request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[dict[str, Any]]:
    try:
        version = await app_ctx.db.schema_version()
    except Exception:  # noqa: BLE001 — any database failure means "not healthy"
        return Response({"status": "unavailable"}, status_code=HTTP_503_SERVICE_UNAVAILABLE)
    return Response({"status": "ok", "schema_version": version})


@get("/")
async def root(request: Request[Any, Any, Any]) -> Response[Any]:
    return redirect(request, "/mypage" if logged_in(request) else "/login")
