"""Admin: console accounts — a second admin or 事務局スタッフ created (initial password shown once) and
removed. Admins only: staff never manage roles."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import console_accounts as queries
from routes.common import client_ip, form_error_status, redirect_with_flash, render, text_field
from routes.guards import ADMIN_GUARDS
from services import console_accounts
from services.context import AppContext
from services.sessions import LoggedIn

FIELDS = ("role", "member_number", "family_name", "given_name", "email")


class AdminStaffController(Controller):
    path = "/admin/staff"
    guards = ADMIN_GUARDS

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        values = {"role": "staff", "member_number": await queries.suggested_number(app_ctx.db)}
        return await self._page(request, app_ctx, auth, values, {})

    @post("/", status_code=200)
    async def create(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        values = {name: text_field(form, name, max_length=400) for name in FIELDS}
        clean, errors = await console_accounts.validate(app_ctx, values)
        if not errors:
            try:
                account = await console_accounts.create(
                    app_ctx, clean, actor_id=auth.member_id, ip=client_ip(request)
                )
            except queries.DuplicateLogin:
                errors["member_number"] = (
                    "このログインIDは、たった今ほかの画面で使われました。別の番号にしてください。"
                )
            else:
                return render(
                    request,
                    "admin_staff/created.html",
                    {"account": account, "role_label": console_accounts.ROLES[account.role], "name": clean},
                )
        return await self._page(request, app_ctx, auth, values, errors, status=form_error_status(request))

    @post("/{member_id:int}/remove", status_code=200)
    async def remove(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, member_id: int
    ) -> Response[Any]:
        row = await console_accounts.remove(
            app_ctx, member_id, actor_id=auth.member_id, ip=client_ip(request)
        )
        if row is None:
            raise NotFoundException()
        label = console_accounts.ROLES[console_accounts.role_of(row)]
        return redirect_with_flash(
            request,
            "/admin/staff",
            f"{label} {row['family_name']} {row['given_name']}（{row['member_number']}）を削除しました。"
            "このアカウントではもうログインできません。",
        )

    async def _page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        auth: LoggedIn,
        values: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
    ) -> Template:
        return render(
            request,
            "admin_staff/page.html",
            {
                "accounts": await queries.active_accounts(app_ctx.db),
                "roles": console_accounts.ROLES,
                "values": values,
                "errors": errors,
                "my_id": auth.member_id,
            },
            status=status,
        )
