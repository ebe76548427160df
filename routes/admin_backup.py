"""Admin: backups — download a consistent snapshot now, see the nightly ones, how to restore."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Stream, Template

from db import backups as backup_queries
from routes.common import client_ip, ctx, current, render
from routes.guards import ADMIN_GUARDS
from services import backup


class AdminBackupController(Controller):
    path = "/admin/backup"
    guards = ADMIN_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Template:
        app = ctx(request)
        return render(
            request,
            "admin_backup/page.html",
            {
                "backups": await backup_queries.recent(app.db),
                "folder": str(backup.backup_dir(app)),
                "database": str(app.settings.database),
                "keep": backup.NIGHTLY_KEEP,
                "scheduler": app.settings.scheduler,
            },
        )

    @post("/download", status_code=200)
    async def download(self, request: Request[Any, Any, Any]) -> Stream:
        app, auth = ctx(request), current(request)
        path, name, size = await backup.download_snapshot(app, actor_id=auth.member_id, ip=client_ip(request))
        return Stream(
            backup.stream_and_delete(path),
            media_type="application/vnd.sqlite3",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-Length": str(size),
                "Cache-Control": "no-store",
            },
        )
