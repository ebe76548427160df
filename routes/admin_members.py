"""Admin: find members, a member's page, create, edit, unlock, new initial password, export."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import admin_members as queries
from db import audit
from db import initial_letters as letter_queries
from db import members as member_queries
from db import membership as membership_db
from db import tiers as tier_queries
from db.timestamps import from_db
from routes.common import client_ip, form_error_status, logged_in, redirect_with_flash, render, text_field
from routes.guards import ADMIN_GUARDS, STAFF_ALLOWED
from services import admin_members, initial_passwords
from services import labels as labels_service
from services.context import AppContext
from services.japanese import PREFECTURES, format_phone, format_postal_code
from services.member_import import COLUMNS
from services.perks import org_today, tier_of, tiers_for
from services.profile import LABELS, MAX_LENGTHS
from services.sessions import LoggedIn
from services.spreadsheet import XLSX_MEDIA_TYPE

STATUS_CHOICES = {"active": "有効", "closed": "退会済み", "all": "すべて"}
FEE_CHOICES = {"": "指定なし", "unpaid": "未納あり", "clear": "未納なし"}


def _filter_from(request: Request[Any, Any, Any]) -> queries.MemberFilter:
    params = request.query_params

    def value(name: str, limit: int = 100) -> str:
        raw = params.get(name, "")
        return raw[:limit] if isinstance(raw, str) else ""

    status = value("status", 10)
    auth = logged_in(request)
    return queries.MemberFilter(
        role="member" if auth is not None and auth.is_staff else "",
        q=value("q", 200),
        membership_type=value("membership_type"),
        tier=value("tier", 50),
        locked=value("locked", 5) in ("1", "on", "true"),
        status=status if status in STATUS_CHOICES else "active",
        fee=value("fee", 10) if value("fee", 10) in FEE_CHOICES else "",
    )


def _page(request: Request[Any, Any, Any]) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if isinstance(raw, str) and raw.isdigit() and 0 < len(raw) < 6 else 1


def _query_without_page(request: Request[Any, Any, Any]) -> str:
    items = [(key, value) for key, value in request.query_params.multi_items() if key != "page" and value]
    return urlencode(items)


def _form_values(form: Any) -> dict[str, str]:
    return {name: text_field(form, name, max_length=1000) for name in (*COLUMNS,)}


def _member_ids(form: Any) -> list[int]:
    try:
        values = form.getall("member_id")
    except (KeyError, AttributeError):
        return []
    ids = [
        int(value) for value in values[:500] if isinstance(value, str) and value.isdigit() and len(value) < 12
    ]
    return list(dict.fromkeys(ids))


def _list_url(request: Request[Any, Any, Any]) -> str:
    query = _query_without_page(request)
    return "/admin/members" + (f"?{query}" if query else "")


class AdminMembersController(Controller):
    path = "/admin/members"
    guards = ADMIN_GUARDS
    opt = STAFF_ALLOWED  # 事務局スタッフ may open it (routes/guards.py)

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        now = app_ctx.clock.now()
        today = org_today(now, app_ctx.settings.tz)
        member_filter = _filter_from(request)
        page = _page(request)
        rows, total = await queries.search(app_ctx.db, member_filter, now=now, today=today, page=page)
        tiers = await tiers_for(app_ctx.db, [int(row["id"]) for row in rows], now=now, tz=app_ctx.settings.tz)
        context = {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // queries.PAGE_SIZE)),
            "tiers": tiers,
            "filter": member_filter,
            "types": await queries.membership_types(app_ctx.db),
            "tier_choices": await tier_queries.all_tiers(app_ctx.db),
            "status_choices": STATUS_CHOICES,
            "fee_choices": FEE_CHOICES,
            "now": now,
            "query_string": _query_without_page(request),
        }
        return render(request, "admin_members/page.html", context, fragment="admin_members/_results.html")

    @get("/export.csv")
    async def export(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[bytes]:
        return await self._export(request, app_ctx, auth, "csv")

    @get("/export.xlsx")
    async def export_xlsx(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[bytes]:
        return await self._export(request, app_ctx, auth, "xlsx")

    async def _export(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, kind: str
    ) -> Response[bytes]:
        now = app_ctx.clock.now()
        rows = await queries.export_rows(
            app_ctx.db, _filter_from(request), now=now, today=org_today(now, app_ctx.settings.tz)
        )
        table = await admin_members.export_table(app_ctx, rows)
        body = await anyio.to_thread.run_sync(table.xlsx if kind == "xlsx" else table.csv)
        await audit.record(
            app_ctx.db,
            "members.exported",
            now=now,
            actor_member_id=auth.member_id,
            ip=client_ip(request),
            detail={"count": len(rows), "format": kind},
        )
        stamp = now.astimezone(app_ctx.settings.tz).strftime("%Y%m%d")
        return Response(
            body,
            media_type=XLSX_MEDIA_TYPE if kind == "xlsx" else "text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="members-{stamp}.{kind}"',
                "Cache-Control": "no-store",
            },
        )

    @post("/labels", status_code=200)
    async def labels(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        """Address labels (A4, 12 or 24 a sheet) for the ticked members, or for everyone the list's
        filter (in the query string) finds; members without an address are left out."""
        form = await request.form()
        layout = text_field(form, "layout", max_length=5)
        everyone = text_field(form, "scope", max_length=10) == "all"
        ids = None if everyone else _member_ids(form)
        if layout not in labels_service.LAYOUTS or (ids is not None and not ids):
            message = (
                "ラベルの用紙を選んでください。"
                if layout not in labels_service.LAYOUTS
                else "ラベルを作成する会員を選んでください（一覧のチェックボックス）。"
            )
            return redirect_with_flash(request, _list_url(request), message, "warning")
        now = app_ctx.clock.now()
        rows = await queries.label_rows(
            app_ctx.db,
            _filter_from(request),
            now=now,
            today=org_today(now, app_ctx.settings.tz),
            member_ids=ids,
        )
        entries = [labels_service.label_for(row) for row in rows]
        printable = [entry for entry in entries if labels_service.has_address(entry)]
        if not printable:
            return redirect_with_flash(
                request,
                _list_url(request),
                "選んだ会員には住所が登録されていないため、ラベルを作成できませんでした。",
                "warning",
            )
        pdf = await labels_service.render_address_labels_async(
            printable, layout, font=app_ctx.settings.pdf_font
        )
        await audit.record(
            app_ctx.db,
            "members.labels_made",
            now=now,
            actor_member_id=auth.member_id,
            ip=client_ip(request),
            detail={
                "count": len(printable),
                "layout": layout,
                "without_address": len(entries) - len(printable),
            },
        )
        stamp = now.astimezone(app_ctx.settings.tz).strftime("%Y%m%d-%H%M")
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="address-labels-{stamp}.pdf"',
                "Cache-Control": "no-store",
            },
        )

    @get("/new")
    async def new(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        number = await queries.suggested_number(app_ctx.db, app_ctx.org.member_number_width)
        return await self._edit_form(
            request, app_ctx, None, {"member_number": number, "membership_type": "正会員"}, {}
        )

    @post("/new", status_code=200)
    async def create(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        values = _form_values(await request.form())
        clean, errors = await admin_members.validate_new_member(app_ctx, values)
        if errors:
            return await self._edit_form(
                request, app_ctx, None, values, errors, status=form_error_status(request)
            )
        number = clean.pop("member_number")
        try:
            member_id = await initial_passwords.create_member_with_letter(
                app_ctx, number, clean, actor_id=auth.member_id, ip=client_ip(request)
            )
        except queries.DuplicateMember:
            errors = {
                "form": "同じ会員番号またはメールアドレスの会員が、たった今登録されました。内容をご確認ください。"
            }
            return await self._edit_form(
                request, app_ctx, None, values, errors, status=form_error_status(request)
            )
        return redirect_with_flash(
            request,
            f"/admin/members/{member_id}",
            f"会員番号 {number} を登録しました。「初期パスワード通知」から通知書を印刷してお送りください。",
        )

    @get("/{member_id:int}")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext, member_id: int) -> Template:
        member = await self._member(request, app_ctx, member_id)
        now = app_ctx.clock.now()
        locked_until = from_db(member["locked_until"])
        context = {
            "member": member,
            "tier": await tier_of(app_ctx.db, member_id, now=now, tz=app_ctx.settings.tz),
            "locked": locked_until is not None and locked_until > now,
            "locked_until": locked_until,
            "logins": await queries.recent_logins(app_ctx.db, member_id),
            "events": await queries.audit_for_member(app_ctx.db, member_id),
            "sessions": await queries.session_count(app_ctx.db, member_id, now=now),
            "letter": await letter_queries.for_member(app_ctx.db, member_id),
            "closure": await membership_db.pending_closure(app_ctx.db, member_id),
            "fees": await queries.fees_for_member(app_ctx.db, member_id),
            "labels": LABELS,
            "phone": format_phone(member["phone"]),
            "postal_code": format_postal_code(member["postal_code"]),
        }
        return render(request, "admin_members/member.html", context)

    @get("/{member_id:int}/edit")
    async def edit(self, request: Request[Any, Any, Any], app_ctx: AppContext, member_id: int) -> Template:
        member = await self._member(request, app_ctx, member_id)
        values = {name: str(member[name] or "") for name in COLUMNS}
        values["phone"] = format_phone(values["phone"])
        values["postal_code"] = format_postal_code(values["postal_code"])
        return await self._edit_form(request, app_ctx, member, values, {})

    @post("/{member_id:int}/edit", status_code=200)
    async def update(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, member_id: int
    ) -> Response[Any]:
        member = await self._member(request, app_ctx, member_id)
        values = _form_values(await request.form())
        _, errors = await admin_members.update_member(
            app_ctx, member, values, actor_id=auth.member_id, ip=client_ip(request)
        )
        if errors:
            values["member_number"] = member["member_number"]
            return await self._edit_form(
                request, app_ctx, member, values, errors, status=form_error_status(request)
            )
        return redirect_with_flash(request, f"/admin/members/{member_id}", "会員情報を保存しました。")

    @post("/{member_id:int}/unlock", status_code=200)
    async def unlock(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, member_id: int
    ) -> Response[Any]:
        await self._member(request, app_ctx, member_id)
        await admin_members.unlock(app_ctx, member_id, actor_id=auth.member_id, ip=client_ip(request))
        return redirect_with_flash(
            request, f"/admin/members/{member_id}", "ロックを解除しました。会員はすぐにログインできます。"
        )

    @post("/{member_id:int}/initial-password", status_code=200)
    async def initial_password(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, member_id: int
    ) -> Response[Any]:
        member = await self._member(request, app_ctx, member_id)
        if member["status"] != "active":
            raise NotFoundException()
        await initial_passwords.issue_new_initial_password(app_ctx, member_id, actor_id=auth.member_id)
        return redirect_with_flash(
            request,
            f"/admin/members/{member_id}",
            "新しい初期パスワードを発行しました。「初期パスワード通知」から通知書を印刷してお送りください。",
        )

    async def _member(self, request: Request[Any, Any, Any], app_ctx: AppContext, member_id: int) -> Any:
        member = await member_queries.get_by_id(app_ctx.db, member_id)
        if member is None:
            raise NotFoundException()
        auth = logged_in(request)
        if member["role"] == "admin" and auth is not None and auth.is_staff:
            # Staff look after members; console accounts (theirs included) are the admins' business.
            raise NotFoundException()
        return member

    async def _edit_form(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        member: Any,
        values: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
    ) -> Template:
        return render(
            request,
            "admin_members/edit.html",
            {
                "member": member,
                "values": values,
                "errors": errors,
                "labels": LABELS,
                "max_lengths": MAX_LENGTHS,
                "prefectures": PREFECTURES,
                "types": await queries.membership_types(app_ctx.db),
            },
            status=status,
        )
