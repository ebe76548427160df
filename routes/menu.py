"""メニュー: every member screen on one page, the bottom tab bar's fifth tab (routes/nav.py lists them)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from routes.common import render
from routes.guards import MEMBER_GUARDS


class MenuController(Controller):
    path = "/menu"
    guards = MEMBER_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Template:
        return render(request, "menu/page.html", {"page_title": "メニュー"})
