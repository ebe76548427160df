"""登録情報のダウンロード (/settings/data): the member's own data as a zip of CSV and JSON files."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS

from routes.common import client_ip, render
from routes.guards import MEMBER_GUARDS
from services import data_export
from services.context import AppContext
from services.rate_limit import RATE_LIMITED_MESSAGE
from services.sessions import LoggedIn


class DataExportController(Controller):
    path = "/settings/data"
    guards = MEMBER_GUARDS

    @get("/")
    async def show(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        labels = await data_export.available_labels(app_ctx)
        return render(request, "data_export/page.html", {"labels": labels, "error": ""})

    @post("/download", status_code=200)
    async def download(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        if not await data_export.attempt_allowed(app_ctx, auth.member_id):
            labels = await data_export.available_labels(app_ctx)
            return render(
                request,
                "data_export/page.html",
                {"labels": labels, "error": RATE_LIMITED_MESSAGE},
                status=HTTP_429_TOO_MANY_REQUESTS,
            )
        download = await data_export.export(
            app_ctx, auth.member_id, str(auth.member["member_number"]), ip=client_ip(request)
        )
        return Response(
            content=download.content,
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="{download.filename}"',
                "Cache-Control": "no-store",
            },
        )
