"""The admin console's dashboard: what needs the admin's attention, on a phone or a desktop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from db import admin_dashboard
from db.timestamps import from_db
from routes.common import render
from routes.guards import ADMIN_GUARDS, STAFF_ALLOWED
from services.context import AppContext
from services.doctor import run_checks
from services.replication import lag_text, replica_state
from services.sessions import LoggedIn

# A nightly backup older than this means the scheduler is not running or backups fail.
BACKUP_STALE = timedelta(hours=36)


class AdminController(Controller):
    path = "/admin"
    guards = ADMIN_GUARDS
    opt = STAFF_ALLOWED  # 事務局スタッフ may open it (routes/guards.py)

    @get("/")
    async def dashboard(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Template:
        db, now = app_ctx.db, app_ctx.clock.now()
        summary = await admin_dashboard.summary(db, now=now)
        # Staff see the office's work only: no server, backup, replica or go-live cards (admins' screens).
        staff = auth.is_staff
        backup = None if staff else await admin_dashboard.last_backup(db)
        backup_at = from_db(backup["created_at"]) if backup else None
        go_live = [] if staff else await run_checks(app_ctx)
        replica = None if staff else await replica_state(app_ctx.settings)
        return render(
            request,
            "admin/page.html",
            {
                "summary": summary,
                "locked": await admin_dashboard.locked_members(db, now=now)
                if summary["locked_members"]
                else [],
                "failed_mails": await admin_dashboard.failed_mails(db) if summary["failed_mails"] else [],
                "backup": backup,
                "staff": staff,
                "backup_stale": not staff and (backup_at is None or now - backup_at > BACKUP_STALE),
                "unpaid": await admin_dashboard.unpaid_fees(db),
                "inquiries": await admin_dashboard.new_inquiries(db),
                "digest_runs": await admin_dashboard.digest_runs(db),
                "mail_unsent": not app_ctx.settings.smtp_url,
                "outbox_dir": app_ctx.settings.outbox_dir,
                "replica": replica,
                "replica_last_sync": replica.last_sync_local(app_ctx.settings.tz) if replica else "",
                "replica_lag": lag_text(replica.lag_seconds) if replica else "",
                "go_live": go_live,
                "go_live_pending": sum(1 for check in go_live if not check.ok),
            },
        )
