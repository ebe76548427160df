"""Admin: tiers (names and perks), codes, and account closures."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import members as members_db
from db import membership as membership_db
from db.tiers import all_tiers
from routes.common import client_ip, ctx, current, flash, form_error_status, redirect, render, text_field
from routes.guards import ADMIN_GUARDS
from services import account_closure, membership
from services.japanese import normalize_member_number
from services.perks import tiers_for

CODE_FIELDS = ("code", "tier_id", "use_limit", "expires_on", "tier_ends_on", "note")


class AdminTiersController(Controller):
    path = "/admin/tiers"
    guards = ADMIN_GUARDS

    async def _page(
        self,
        request: Request[Any, Any, Any],
        *,
        editing: int | None = None,
        values: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        grant_values: dict[str, str] | None = None,
        grant_errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        app = ctx(request)
        tiers = await all_tiers(app.db)
        counts = await membership_db.member_counts_by_tier(app.db, membership.today_for(app))
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
    async def show(self, request: Request[Any, Any, Any]) -> Template:
        return await self._page(request)

    @post("/{tier_id:int}", status_code=200)
    async def update(self, request: Request[Any, Any, Any], tier_id: int) -> Response[Any]:
        app = ctx(request)
        if await membership_db.get_tier(app.db, tier_id) is None:
            raise NotFoundException()
        form = await request.form()
        values = {"name": text_field(form, "name", max_length=200)}
        for column in membership_db.PERK_COLUMNS:
            values[column] = text_field(form, column, max_length=10)
        clean, errors = membership.validate_tier_form(values)
        if errors:
            return await self._page(
                request, editing=tier_id, values=values, errors=errors, status=form_error_status(request)
            )
        await membership.update_tier(app, tier_id, clean, admin_id=current(request).member_id)
        response = redirect(request, "/admin/tiers")
        flash(request, response, f"プラン「{clean['name']}」を保存しました。")
        return response

    @post("/grant", status_code=200)
    async def grant(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Put one member in a tier (e.g. after a fee paid by bank transfer)."""
        app = ctx(request)
        form = await request.form()
        values = {
            name: text_field(form, name, max_length=100) for name in ("member_number", "tier_code", "ends_on")
        }
        member, tier_code, ends_on, errors = await membership.validate_grant_form(app, values)
        if errors or member is None:
            return await self._page(
                request, grant_values=values, grant_errors=errors, status=form_error_status(request)
            )
        await membership.grant_tier(
            app,
            int(member["id"]),
            tier_code,
            ends_on=ends_on,
            source="admin",
            actor_id=current(request).member_id,
        )
        response = redirect(request, "/admin/tiers")
        flash(request, response, f"会員番号 {member['member_number']} のプランを変更しました。")
        return response


class AdminCodesController(Controller):
    path = "/admin/codes"
    guards = ADMIN_GUARDS

    async def _page(
        self,
        request: Request[Any, Any, Any],
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        app = ctx(request)
        tiers = [tier for tier in await all_tiers(app.db) if tier["code"] != "free"]
        return render(
            request,
            "admin_membership/codes.html",
            {
                "codes": await membership_db.list_codes(app.db),
                "tiers": tiers,
                "values": values or {"tier_id": str(tiers[0]["id"]) if tiers else ""},
                "errors": errors or {},
                "today": membership.today_for(app).isoformat(),
            },
            status=status,
        )

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Template:
        return await self._page(request)

    @post("/", status_code=200)
    async def create(self, request: Request[Any, Any, Any]) -> Response[Any]:
        app = ctx(request)
        form = await request.form()
        values = {name: text_field(form, name, max_length=500) for name in CODE_FIELDS}
        tiers = [tier for tier in await all_tiers(app.db) if tier["code"] != "free"]
        clean, errors = membership.validate_code_form(values, tiers, membership.today_for(app))
        code_id = None
        if not errors:
            code_id = await membership.create_code(app, clean, admin_id=current(request).member_id)
            if code_id is None:
                errors["code"] = (
                    f"コード「{clean['code']}」はすでに登録されています。別のコードにしてください。"
                )
        if errors:
            return await self._page(request, values=values, errors=errors, status=form_error_status(request))
        response = redirect(request, "/admin/codes")
        flash(request, response, f"参加コード「{clean['code']}」を作成しました。")
        return response

    @post("/{code_id:int}/active", status_code=200)
    async def set_active(self, request: Request[Any, Any, Any], code_id: int) -> Response[Any]:
        app = ctx(request)
        code = await membership_db.get_code(app.db, code_id)
        if code is None:
            raise NotFoundException()
        form = await request.form()
        active = text_field(form, "active") == "1"
        await membership_db.set_code_active(app.db, code_id, active)
        response = redirect(request, "/admin/codes")
        flash(request, response, f"コード「{code['code']}」を{'再開' if active else '停止'}しました。")
        return response


class AdminClosuresController(Controller):
    path = "/admin/closures"
    guards = ADMIN_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any], member_number: str | None = None) -> Response[Any]:
        app = ctx(request)
        lookup_error = ""
        if member_number is not None:
            number = normalize_member_number(member_number[:100])
            member = await members_db.get_by_number(app.db, number) if number else None
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
                "pending": await membership_db.list_closures(app.db, "pending"),
                "closed": await membership_db.list_closures(app.db, "closed", limit=30),
                "lookup_value": member_number or "",
                "lookup_error": lookup_error,
            },
            status=form_error_status(request) if lookup_error else 200,
        )

    @get("/members/{member_id:int}")
    async def confirm(self, request: Request[Any, Any, Any], member_id: int) -> Template:
        return await self._confirm_page(request, member_id, {})

    async def _confirm_page(
        self, request: Request[Any, Any, Any], member_id: int, errors: dict[str, str], status: int = 200
    ) -> Template:
        app = ctx(request)
        member = await members_db.get_by_id(app.db, member_id)
        if member is None or member["role"] == "admin":
            raise NotFoundException()
        tier = (await tiers_for(app.db, [member_id], now=app.clock.now(), tz=app.settings.tz))[member_id]
        return render(
            request,
            "admin_membership/closure_confirm.html",
            {
                "member": member,
                "tier": tier,
                "request_row": await membership_db.pending_closure(app.db, member_id),
                "errors": errors,
            },
            status=status,
        )

    @post("/members/{member_id:int}", status_code=200)
    async def close(self, request: Request[Any, Any, Any], member_id: int) -> Response[Any]:
        app = ctx(request)
        form = await request.form()
        if text_field(form, "confirm") not in {"1", "on", "true"}:
            return await self._confirm_page(
                request,
                member_id,
                {"confirm": "個人情報が削除されることを確認し、チェックを入れてください。"},
                status=form_error_status(request),
            )
        member = await members_db.get_by_id(app.db, member_id)
        if member is None or member["role"] == "admin":
            raise NotFoundException()
        closed = await account_closure.close_account(
            app, member_id, admin_id=current(request).member_id, ip=client_ip(request)
        )
        response = redirect(request, "/admin/closures")
        flash(
            request,
            response,
            f"会員番号 {member['member_number']} の退会手続きを完了しました。"
            if closed
            else f"会員番号 {member['member_number']} はすでに退会済みです。",
            "success" if closed else "info",
        )
        return response
