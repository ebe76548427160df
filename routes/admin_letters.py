"""Admin: initial-password letters (PDF), each made once per initial password."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from db import initial_letters as letter_queries
from routes.common import client_ip, form_error_status, render
from routes.guards import ADMIN_GUARDS, STAFF_ALLOWED
from services.context import AppContext
from services.initial_passwords import LettersAlreadyMade, make_letters
from services.sessions import LoggedIn

MAX_LETTERS = 1000


def _member_ids(form: Any) -> list[int]:
    try:
        values = form.getall("member_id")
    except (KeyError, AttributeError):
        return []
    ids = []
    for value in values[:MAX_LETTERS]:
        if isinstance(value, str) and value.isdigit() and len(value) < 12:
            ids.append(int(value))
    return list(dict.fromkeys(ids))


class AdminLettersController(Controller):
    path = "/admin/letters"
    guards = ADMIN_GUARDS
    opt = STAFF_ALLOWED  # 事務局スタッフ may open it (routes/guards.py)

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        return await self._page(request, app_ctx, {})

    @post("/", status_code=200)
    async def make(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        ids = _member_ids(await request.form())
        if not ids:
            return await self._page(
                request,
                app_ctx,
                {"member_id": "通知書を作成する会員を1人以上選んでください。"},
                status=form_error_status(request),
            )
        try:
            pdf = await make_letters(app_ctx, ids, actor_id=auth.member_id, ip=client_ip(request))
        except LettersAlreadyMade:
            return await self._page(
                request,
                app_ctx,
                {
                    "member_id": "選んだ会員の一部は、別の画面ですでに通知書を作成したか、新しい初期パスワードが発行されています。一覧を確かめてから、もう一度選んでください。"
                },
                status=form_error_status(request),
            )
        stamp = app_ctx.clock.now().astimezone(app_ctx.settings.tz).strftime("%Y%m%d-%H%M")
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="initial-password-letters-{stamp}.pdf"',
                "Cache-Control": "no-store",
            },
        )

    async def _page(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, errors: dict[str, str], status: int = 200
    ) -> Template:
        return render(
            request,
            "admin_letters/page.html",
            {
                "pending": await letter_queries.pending(app_ctx.db),
                "made": await letter_queries.made(app_ctx.db),
                "errors": errors,
            },
            status=status,
        )
