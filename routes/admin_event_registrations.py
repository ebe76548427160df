"""The admin's side of イベント申込: an event's registration settings, its registrations and waitlist,
the CSV/xlsx export, closing registration, attendance and the check-in page that takes a member's code."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import events as event_queries
from routes.common import form_error_status, redirect_with_flash, render, text_field
from routes.guards import ADMIN_GUARDS, STAFF_ALLOWED
from services import events as event_service
from services.articles import local_input_value
from services.context import AppContext
from services.spreadsheet import csv_bytes, xlsx_bytes

SETTINGS_FIELDS = {"capacity": 20, "deadline": 40, "ends_at": 40, "fee_amount": 20, "closed": 5}


class AdminEventRegistrationsController(Controller):
    path = "/admin/events"
    guards = ADMIN_GUARDS
    opt = STAFF_ALLOWED  # 事務局スタッフ may open it (routes/guards.py)

    async def _event(self, app_ctx: AppContext, article_id: int) -> Any:
        event = await event_queries.event(app_ctx.db, article_id)
        if event is None:
            raise NotFoundException()
        return event

    async def _page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        event: Any,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        tz = app_ctx.settings.tz
        if values is None:
            values = {
                "capacity": str(event["capacity"] or ""),
                "deadline": local_input_value(event["deadline"] or event["event_date"], tz),
                "ends_at": local_input_value(event["ends_at"], tz),
                "fee_amount": str(event["fee_amount"] or 0),
                "closed": "1" if event["closed"] else "",
            }
        rows = await event_queries.event_registrations(app_ctx.db, int(event["id"]))
        return render(
            request,
            "admin_events/registrations.html",
            {
                "event": event,
                "values": values,
                "errors": errors or {},
                "seated": [r for r in rows if r["status"] == "registered"],
                "waiting": [r for r in rows if r["status"] == "waitlisted"],
                "cancelled": [r for r in rows if r["status"] == "cancelled"],
                "openness": event_service.openness(event, app_ctx.clock.now()),
                "labels": event_service.OPENNESS_LABELS,
                "display_code": event_service.display_code,
                "page_title": f"申込状況：{event['title']}",
            },
            status=status,
        )

    @get("/{article_id:int}/registrations")
    async def registrations(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, article_id: int
    ) -> Template:
        return await self._page(request, app_ctx, await self._event(app_ctx, article_id))

    @post("/{article_id:int}/registration-settings", status_code=200)
    async def save_settings(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, article_id: int
    ) -> Response[Any]:
        event = await self._event(app_ctx, article_id)
        form = await request.form()
        values = {name: text_field(form, name, max_length=limit) for name, limit in SETTINGS_FIELDS.items()}
        checked = event_service.check_settings(values, event, tz=app_ctx.settings.tz)
        if checked.settings is None:
            return await self._page(
                request,
                app_ctx,
                event,
                values=values,
                errors=checked.errors,
                status=form_error_status(request),
            )
        await event_service.save_settings(app_ctx, event, checked)
        return redirect_with_flash(
            request, f"/admin/events/{article_id}/registrations", "申込受付の設定を保存しました。"
        )

    @post("/{article_id:int}/closed", status_code=200)
    async def set_closed(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, article_id: int
    ) -> Response[Any]:
        await self._event(app_ctx, article_id)
        form = await request.form()
        closed = text_field(form, "closed", max_length=5) == "1"
        if not await event_queries.set_closed(app_ctx.db, article_id, closed, now=app_ctx.clock.now()):
            return redirect_with_flash(
                request,
                f"/admin/events/{article_id}/registrations",
                "先に申込受付の設定を保存してください。",
                "warning",
            )
        message = "申込受付を終了しました。" if closed else "申込受付を再開しました。"
        return redirect_with_flash(request, f"/admin/events/{article_id}/registrations", message)

    @get("/{article_id:int}/registrations.csv")
    async def export_csv(self, app_ctx: AppContext, article_id: int) -> Response[bytes]:
        return await self._export(app_ctx, article_id, "csv")

    @get("/{article_id:int}/registrations.xlsx")
    async def export_xlsx(self, app_ctx: AppContext, article_id: int) -> Response[bytes]:
        return await self._export(app_ctx, article_id, "xlsx")

    async def _export(self, app_ctx: AppContext, article_id: int, kind: str) -> Response[bytes]:
        event = await self._event(app_ctx, article_id)
        rows = event_service.export_rows(
            await event_queries.event_registrations(app_ctx.db, article_id), app_ctx.settings.tz
        )
        today = app_ctx.clock.now().astimezone(app_ctx.settings.tz).date()
        name = event_service.export_name(event, kind, today)
        if kind == "csv":
            body, media = csv_bytes(event_service.EXPORT_HEADER, rows), "text/csv; charset=utf-8"
        else:
            body = xlsx_bytes(event_service.EXPORT_HEADER, rows)
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            body,
            media_type=media,
            headers={
                "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}",
                "Cache-Control": "no-store",
            },
        )

    @post("/registrations/{registration_id:int}/attendance", status_code=200)
    async def attendance(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, registration_id: int
    ) -> Response[Any]:
        row = await event_queries.registration(app_ctx.db, registration_id)
        if row is None:
            raise NotFoundException()
        form = await request.form()
        attended = text_field(form, "attended", max_length=5) == "1"
        done = await event_queries.set_attended(
            app_ctx.db, registration_id, attended, now=app_ctx.clock.now()
        )
        back = f"/admin/events/{row['article_id']}/registrations"
        if done is None:
            return redirect_with_flash(request, back, "参加確定のお申し込みだけ出席にできます。", "warning")
        return redirect_with_flash(
            request, back, "出席にしました。" if attended else "出席を取り消しました。"
        )

    async def _checkin_page(
        self,
        request: Request[Any, Any, Any],
        *,
        code: str,
        found: Any = None,
        error: str = "",
        status: int = 200,
    ) -> Template:
        return render(
            request,
            "admin_events/checkin.html",
            {
                "values": {"code": code},
                "errors": {"code": error} if error else {},
                "found": found,
                "display_code": event_service.display_code,
                "page_title": "イベントの受付",
            },
            status=status,
        )

    @get("/checkin")
    async def checkin_page(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        """A scanned QR code opens this page with ?code=…; the admin confirms with one button."""
        raw = str(request.query_params.get("code") or "")[:300]
        if not raw:
            return await self._checkin_page(request, code="")
        card_token = event_service.card_token_in(raw)
        if card_token:
            # A membership card's QR code (/card): the member's registration for today's event.
            registration, problem = await event_service.registration_from_card(app_ctx, card_token)
            if registration is None:
                return await self._checkin_page(request, code=raw, error=problem, status=404)
            code = str(registration["checkin_code"])
            return await self._checkin_page(
                request, code=event_service.display_code(code), found=registration
            )
        code = event_service.normalize_code(raw)
        found = await event_queries.by_checkin_code(app_ctx.db, code) if code else None
        if found is None:
            return await self._checkin_page(
                request,
                code=raw,
                error="この受付コードのお申し込みは見つかりません。コードをご確認ください。",
                status=404,
            )
        return await self._checkin_page(request, code=event_service.display_code(code), found=found)

    @post("/checkin", status_code=200)
    async def checkin(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        form = await request.form()
        raw = text_field(form, "code", max_length=300)
        card_token = event_service.card_token_in(raw)
        if card_token:
            registration, problem = await event_service.registration_from_card(app_ctx, card_token)
            if registration is None:
                return await self._checkin_page(
                    request, code=raw, error=problem, status=form_error_status(request)
                )
            raw = str(registration["checkin_code"])
        code = event_service.normalize_code(raw)
        found = (
            await event_queries.by_checkin_code(app_ctx.db, code)
            if len(code) == event_service.CODE_LENGTH
            else None
        )
        if found is None:
            message = (
                "受付コードを入力してください（例：ABCD-2345）。"
                if not raw.strip()
                else "この受付コードのお申し込みは見つかりません。コードをご確認ください。"
            )
            return await self._checkin_page(
                request, code=raw, error=message, status=form_error_status(request)
            )
        if found["status"] != "registered":
            label = event_service.STATUS_LABELS[str(found["status"])]
            return await self._checkin_page(
                request,
                code=raw,
                found=found,
                error=f"このお申し込みは「{label}」のため受付できません。",
                status=form_error_status(request),
            )
        already = found["attended_at"] is not None
        await event_queries.set_attended(app_ctx.db, int(found["id"]), True, now=app_ctx.clock.now())
        name = f"{found['family_name']} {found['given_name']}"
        message = (
            f"{name} 様はすでに受付済みです（{found['title']}）。"
            if already
            else f"{name} 様（会員番号 {found['member_number']}）を受付しました：{found['title']}"
        )
        return redirect_with_flash(
            request, "/admin/events/checkin", message, "info" if already else "success"
        )
