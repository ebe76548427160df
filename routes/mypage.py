"""My Page: the member's home screen."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from routes.common import render
from routes.guards import MEMBER_GUARDS


class MyPageController(Controller):
    path = "/mypage"
    guards = MEMBER_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Template:
        return render(request, "mypage/page.html")
