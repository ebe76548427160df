"""The digital membership card (/card), reissuing its QR code, and the public check of a card (/verify)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS

from routes.common import client_ip, redirect_with_flash, render
from routes.errors import error_page
from routes.guards import MEMBER_GUARDS
from services import card as cards
from services.context import AppContext
from services.sessions import LoggedIn


class CardController(Controller):
    path = "/card"
    guards = MEMBER_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        card = await cards.card_for(app_ctx, auth.member_id)
        if card is None:
            raise NotFoundException()
        return render(request, "card/page.html", {"card": card})

    @post("/reissue", status_code=200)
    async def reissue(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        await cards.reissue(app_ctx, auth.member_id)
        return redirect_with_flash(
            request, "/card", "QRコードを再発行しました。これまでのQRコードは使えなくなりました。"
        )


class VerifyController(Controller):
    """Public: the staff at an event's door open it by scanning a card, without logging in."""

    path = "/verify"

    @get("/{token:str}")
    async def verify(self, request: Request[Any, Any, Any], app_ctx: AppContext, token: str) -> Response[Any]:
        if not await cards.verify_allowed(app_ctx, client_ip(request)):
            return error_page(request, HTTP_429_TOO_MANY_REQUESTS)
        result = await cards.verify(app_ctx, token)
        return render(
            request,
            "card/verify.html",
            {"result": result, "checked_on": cards.checked_on(app_ctx)},
            headers={"X-Robots-Tag": "noindex"},
        )
