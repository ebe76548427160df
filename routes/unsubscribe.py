"""The unsubscribe links of the digest and of optional 事務局からのお知らせ: a confirmation page (link
scanners only GET) and the POST that stops that one category, including RFC 8058 one-click from the mail
client. No login: the signed token names the member and the list."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template
from litestar.status_codes import HTTP_200_OK, HTTP_404_NOT_FOUND

from db import announcements as announcement_db
from db import digests as digests_db
from routes.common import client_ip, redirect, render, text_field
from services import announcements, digests
from services.context import AppContext
from services.digests.options import ANNOUNCEMENT_LIST

# What each list is called on the page and in the one-click answer.
LIST_NAMES = {"digest": "新着お知らせメール", ANNOUNCEMENT_LIST: "事務局からのお知らせ"}

INVALID_LINK = "このリンクは無効です。お手数ですが、マイページの「メール設定」から配信を停止してください。"


def mask_email(email: str) -> str:
    """h*****@example.jp: enough for the member to recognise, not enough to harvest from a forwarded link."""
    local, _, domain = email.partition("@")
    if not domain:
        return ""
    return f"{local[:1]}{'*' * max(len(local) - 1, 3)}@{domain}"


async def _member(request: Request[Any, Any, Any], app_ctx: AppContext, token: str) -> tuple[Any, str]:
    try:
        member_id, list_name = digests.read_unsubscribe_link(app_ctx.settings.secret_key, token)
    except digests.UnsubscribeTokenInvalid:
        return None, ""
    return await digests_db.member_for_preview(app_ctx.db, member_id), list_name


def _invalid(request: Request[Any, Any, Any]) -> Template:
    return render(request, "unsubscribe/invalid.html", {"message": INVALID_LINK}, status=HTTP_404_NOT_FOUND)


class UnsubscribeController(Controller):
    path = "/unsubscribe"

    @get("/{token:str}")
    async def confirm(self, request: Request[Any, Any, Any], app_ctx: AppContext, token: str) -> Template:
        member, list_name = await _member(request, app_ctx, token)
        if member is None:
            return _invalid(request)
        if list_name == ANNOUNCEMENT_LIST:
            already = not await announcement_db.mail_choice(app_ctx.db, int(member["id"]))
        else:
            already = member["digest_frequency"] == "none"
        return render(
            request,
            "unsubscribe/page.html",
            {
                "token": token,
                "list_name": list_name,
                "list_label": LIST_NAMES[list_name],
                "masked_email": mask_email(str(member["email"])),
                "already": already,
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
        member, list_name = await _member(request, app_ctx, token)
        if member is None:
            if one_click:
                return Response("invalid link", media_type="text/plain", status_code=HTTP_404_NOT_FOUND)
            return _invalid(request)
        if list_name == ANNOUNCEMENT_LIST:
            await announcements.change_mail_choice(
                app_ctx, int(member["id"]), False, one_click=True, ip=client_ip(request)
            )
        else:
            await digests.unsubscribe(app_ctx, int(member["id"]), one_click=one_click, ip=client_ip(request))
        if one_click:
            return Response(
                f"{LIST_NAMES[list_name]}の配信を停止しました。", media_type="text/plain; charset=utf-8"
            )
        return redirect(request, f"/unsubscribe/{token}?done=1")
