"""The admin console's dashboard."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from db import admin_dashboard
from routes.common import ctx, render
from routes.guards import ADMIN_GUARDS


class AdminController(Controller):
    path = "/admin"
    guards = ADMIN_GUARDS

    @get("/")
    async def dashboard(self, request: Request[Any, Any, Any]) -> Template:
        app = ctx(request)
        summary = await admin_dashboard.summary(app.db, now=app.clock.now())
        return render(request, "admin/page.html", {"summary": summary})
