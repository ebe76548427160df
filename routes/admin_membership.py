"""Admin: tiers (names and perks), codes, and account closures."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import members as members_db
from db import membership as membership_db
from db.tiers import all_tiers
from routes.common import client_ip, form_error_status, redirect, redirect_with_flash, render, text_field
from routes.guards import ADMIN_GUARDS
from services import account_closure, membership
from services.context import AppContext
from services.japanese import normalize_member_number
from services.perks import tiers_for
from services.sessions import LoggedIn

CODE_FIELDS = ("code", "tier_id", "use_limit", "expires_on", "tier_ends_on", "note")


class AdminTiersController(Controller):
    path = "/admin/tiers"
    guards = ADMIN_GUARDS

    async def _page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        *,
        editing: int | None = None,
        values: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        grant_values: dict[str, str] | None = None,
        grant_errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        tiers = await all_tiers(app_ctx.db)
        counts = await membership_db.member_counts_by_tier(app_ctx.db, membership.today_for(app_ctx))
        return render(
            request,
            "admin_membership/tiers.html",
            {
                "tiers": tiers,
                "counts": counts,
                "editing": editing,
                "values": values or {},
                "errors": errors or {},
                "grant_values": grant_values or {},
                "grant_errors": grant_errors or {},
                "perk_columns": list(zip(membership_db.PERK_COLUMNS, membership.PERK_TITLES, strict=True)),
            },
            status=status,
        )

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        return await self._page(request, app_ctx)

    @post("/{tier_id:int}", status_code=200)
    async def update(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, tier_id: int
    ) -> Response[Any]:
        if await membership_db.get_tier(app_ctx.db, tier_id) is None:
            raise NotFoundException()
        form = await request.form()
        values = {
            "name": text_field(form, "name", max_length=200),
            "annual_fee": text_field(form, "annual_fee", max_length=40),
        }
        for column in membership_db.PERK_COLUMNS:
            values[column] = text_field(form, column, max_length=10)
        clean, errors = membership.validate_tier_form(values)
        if errors:
            return await self._page(
                request,
                app_ctx,
                editing=tier_id,
                values=values,
                errors=errors,
                status=form_error_status(request),
            )
        await membership.update_tier(app_ctx, tier_id, clean, admin_id=auth.member_id)
        return redirect_with_flash(request, "/admin/tiers", f"プラン「{clean['name']}」を保存しました。")

    @post("/grant", status_code=200)
    async def grant(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        """Put one member in a tier (e.g. after a fee paid by bank transfer)."""
        form = await request.form()
        values = {
            name: text_field(form, name, max_length=100) for name in ("member_number", "tier_code", "ends_on")
        }
        member, tier_code, ends_on, errors = await membership.validate_grant_form(app_ctx, values)
        if errors or member is None:
            return await self._page(
                request, app_ctx, grant_values=values, grant_errors=errors, status=form_error_status(request)
            )
        await membership.grant_tier(
            app_ctx,
            int(member["id"]),
            tier_code,
            ends_on=ends_on,
            source="admin",
            actor_id=auth.member_id,
        )
        return redirect_with_flash(
            request, "/admin/tiers", f"会員番号 {member['member_number']} のプランを変更しました。"
        )


class AdminCodesController(Controller):
    path = "/admin/codes"
    guards = ADMIN_GUARDS

    async def _page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        tiers = [tier for tier in await all_tiers(app_ctx.db) if tier["code"] != "free"]
        return render(
            request,
            "admin_membership/codes.html",
            {
                "codes": await membership_db.list_codes(app_ctx.db),
                "tiers": tiers,
                "values": values or {"tier_id": str(tiers[0]["id"]) if tiers else ""},
                "errors": errors or {},
                "today": membership.today_for(app_ctx).isoformat(),
            },
            status=status,
        )

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        return await self._page(request, app_ctx)

    @post("/", status_code=200)
    async def create(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        values = {name: text_field(form, name, max_length=500) for name in CODE_FIELDS}
        tiers = [tier for tier in await all_tiers(app_ctx.db) if tier["code"] != "free"]
        clean, errors = membership.validate_code_form(values, tiers, membership.today_for(app_ctx))
        code_id = None
        if not errors:
            code_id = await membership.create_code(app_ctx, clean, admin_id=auth.member_id)
            if code_id is None:
                errors["code"] = (
                    f"コード「{clean['code']}」はすでに登録されています。別のコードにしてください。"
                )
        if errors:
            return await self._page(
                request, app_ctx, values=values, errors=errors, status=form_error_status(request)
            )
        return redirect_with_flash(request, "/admin/codes", f"参加コード「{clean['code']}」を作成しました。")

    @post("/{code_id:int}/active", status_code=200)
    async def set_active(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, code_id: int
    ) -> Response[Any]:
        code = await membership_db.get_code(app_ctx.db, code_id)
        if code is None:
            raise NotFoundException()
        form = await request.form()
        active = text_field(form, "active") == "1"
        await membership_db.set_code_active(app_ctx.db, code_id, active)
        return redirect_with_flash(
            request, "/admin/codes", f"コード「{code['code']}」を{'再開' if active else '停止'}しました。"
        )


class AdminClosuresController(Controller):
    path = "/admin/closures"
    guards = ADMIN_GUARDS

    @get("/")
    async def show(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, member_number: str | None = None
    ) -> Response[Any]:
        lookup_error = ""
        if member_number is not None:
            number = normalize_member_number(member_number[:100])
            member = await members_db.get_by_number(app_ctx.db, number) if number else None
            if member is not None and member["role"] != "admin":
                return redirect(request, f"/admin/closures/members/{member['id']}")
            lookup_error = (
                "その会員番号の会員は見つかりませんでした。"
                if member is None
                else "管理者は退会処理できません。"
            )
        return render(
            request,
            "admin_membership/closures.html",
            {
                "pending": await membership_db.list_closures(app_ctx.db, "pending"),
                "closed": await membership_db.list_closures(app_ctx.db, "closed", limit=30),
                "lookup_value": member_number or "",
                "lookup_error": lookup_error,
            },
            status=form_error_status(request) if lookup_error else 200,
        )

    @get("/members/{member_id:int}")
    async def confirm(self, request: Request[Any, Any, Any], app_ctx: AppContext, member_id: int) -> Template:
        return await self._confirm_page(request, app_ctx, member_id, {})

    async def _confirm_page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        member_id: int,
        errors: dict[str, str],
        status: int = 200,
    ) -> Template:
        member = await members_db.get_by_id(app_ctx.db, member_id)
        if member is None or member["role"] == "admin":
            raise NotFoundException()
        tier = (await tiers_for(app_ctx.db, [member_id], now=app_ctx.clock.now(), tz=app_ctx.settings.tz))[
            member_id
        ]
        return render(
            request,
            "admin_membership/closure_confirm.html",
            {
                "member": member,
                "tier": tier,
                "request_row": await membership_db.pending_closure(app_ctx.db, member_id),
                "errors": errors,
            },
            status=status,
        )

    @post("/members/{member_id:int}", status_code=200)
    async def close(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, member_id: int
    ) -> Response[Any]:
        form = await request.form()
        if text_field(form, "confirm") not in {"1", "on", "true"}:
            return await self._confirm_page(
                request,
                app_ctx,
                member_id,
                {"confirm": "個人情報が削除されることを確認し、チェックを入れてください。"},
                status=form_error_status(request),
            )
        member = await members_db.get_by_id(app_ctx.db, member_id)
        if member is None or member["role"] == "admin":
            raise NotFoundException()
        closed = await account_closure.close_account(
            app_ctx, member_id, admin_id=auth.member_id, ip=client_ip(request)
        )
        return redirect_with_flash(
            request,
            "/admin/closures",
            f"会員番号 {member['member_number']} の退会手続きを完了しました。"
            if closed
            else f"会員番号 {member['member_number']} はすでに退会済みです。",
            "success" if closed else "info",
        )
