"""The digest's unsubscribe link: a confirmation page (link scanners only GET) and the POST that stops it,
including RFC 8058 one-click from the mail client. No login: the signed token names the member and list."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template
from litestar.status_codes import HTTP_200_OK, HTTP_404_NOT_FOUND

from db import digests as digests_db
from routes.common import client_ip, redirect, render, text_field
from services import digests
from services.context import AppContext

INVALID_LINK = "このリンクは無効です。お手数ですが、マイページの「メール設定」から配信を停止してください。"


def mask_email(email: str) -> str:
    """h*****@example.jp: enough for the member to recognise, not enough to harvest from a forwarded link."""
    local, _, domain = email.partition("@")
    if not domain:
        return ""
    return f"{local[:1]}{'*' * max(len(local) - 1, 3)}@{domain}"


async def _member(request: Request[Any, Any, Any], app_ctx: AppContext, token: str) -> Any:
    try:
        member_id = digests.read_unsubscribe_token(app_ctx.settings.secret_key, token)
    except digests.UnsubscribeTokenInvalid:
        return None
    return await digests_db.member_for_preview(app_ctx.db, member_id)


def _invalid(request: Request[Any, Any, Any]) -> Template:
    return render(request, "unsubscribe/invalid.html", {"message": INVALID_LINK}, status=HTTP_404_NOT_FOUND)


class UnsubscribeController(Controller):
    path = "/unsubscribe"

    @get("/{token:str}")
    async def confirm(self, request: Request[Any, Any, Any], app_ctx: AppContext, token: str) -> Template:
        member = await _member(request, app_ctx, token)
        if member is None:
            return _invalid(request)
        return render(
            request,
            "unsubscribe/page.html",
            {
                "token": token,
                "masked_email": mask_email(str(member["email"])),
                "already": member["digest_frequency"] == "none",
                "done": request.query_params.get("done") == "1",
            },
        )

    @post("/{token:str}", status_code=HTTP_200_OK)
    async def unsubscribe(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, token: str
    ) -> Response[Any]:
        form = await request.form()
        # RFC 8058: the mail client POSTs the body "List-Unsubscribe=One-Click" and shows no page.
        one_click = text_field(form, "List-Unsubscribe", max_length=50) == "One-Click"
        member = await _member(request, app_ctx, token)
        if member is None:
            if one_click:
                return Response("invalid link", media_type="text/plain", status_code=HTTP_404_NOT_FOUND)
            return _invalid(request)
        await digests.unsubscribe(app_ctx, int(member["id"]), one_click=one_click, ip=client_ip(request))
        if one_click:
            return Response(
                "新着お知らせメールの配信を停止しました。", media_type="text/plain; charset=utf-8"
            )
        return redirect(request, f"/unsubscribe/{token}?done=1")
