"""Admin: backups — download a consistent snapshot now, see the nightly ones, how to restore."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Stream, Template

from db import backups as backup_queries
from routes.common import client_ip, render
from routes.guards import ADMIN_GUARDS
from services import backup
from services.context import AppContext
from services.sessions import LoggedIn


class AdminBackupController(Controller):
    path = "/admin/backup"
    guards = ADMIN_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        return render(
            request,
            "admin_backup/page.html",
            {
                "backups": await backup_queries.recent(app_ctx.db),
                "folder": str(backup.backup_dir(app_ctx)),
                "database": str(app_ctx.settings.database),
                "keep": backup.NIGHTLY_KEEP,
                "secret_key_path": str(app_ctx.settings.data_dir / "secret_key"),
                "scheduler": app_ctx.settings.scheduler,
            },
        )

    @post("/download", status_code=200)
    async def download(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Stream:
        path, name, size = await backup.download_snapshot(
            app_ctx, actor_id=auth.member_id, ip=client_ip(request)
        )
        return Stream(
            backup.stream_and_delete(path),
            media_type="application/vnd.sqlite3",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-Length": str(size),
                "Cache-Control": "no-store",
            },
        )
