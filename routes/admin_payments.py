"""Admin: fee items (define, issue), payments (filters, bank transfer, cancel, reminders, CSV for the accountant)."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import payments as payment_queries
from db.timestamps import from_db
from routes.common import (
    client_ip,
    flash,
    form_error_status,
    redirect,
    redirect_with_flash,
    render,
    text_field,
)
from routes.guards import ADMIN_GUARDS
from services import fee_reminders, membership, payment_flow
from services import fees as fee_rules
from services.charset import check_text
from services.context import AppContext
from services.payment_config import PaymentNotConfigured, active_gateway
from services.payments import states
from services.sessions import LoggedIn
from services.spreadsheet import XLSX_MEDIA_TYPE, csv_bytes, xlsx_bytes

PAGE_SIZE = 100
CSV_HEADER = [
    "会員番号",
    "氏名",
    "会員種別",
    "年度",
    "会費名称",
    "金額",
    "支払期限",
    "状態",
    "支払方法",
    "支払日",
    "領収書番号",
    "注文番号",
    "決済サービス",
    "メモ",
]


def _filters(request: Request[Any, Any, Any]) -> tuple[payment_queries.FeeFilter, dict[str, str]]:
    params = request.query_params
    raw = {
        "year": unicodedata.normalize("NFKC", params.get("year", ""))[:4],
        "status": params.get("status", "")[:20],
        "method": params.get("method", "")[:20],
        "q": params.get("q", "")[:50].strip(),
        "attention": "1" if params.get("attention") == "1" else "",
    }
    return (
        payment_queries.FeeFilter(
            fiscal_year=int(raw["year"]) if raw["year"].isdigit() else None,
            status=raw["status"] if raw["status"] in fee_rules.FEE_STATUS_LABELS else "",
            method=raw["method"] if raw["method"] in fee_rules.PAID_METHOD_LABELS else "",
            query=unicodedata.normalize("NFKC", raw["q"]).replace(" ", ""),
            attention=bool(raw["attention"]),
        ),
        raw,
    )


class AdminFeesController(Controller):
    path = "/admin/fees"
    guards = ADMIN_GUARDS

    async def _page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        receipt_errors: dict[str, str] | None = None,
        receipt_values: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        year = fee_rules.current_fiscal_year(
            app_ctx.clock.now(), app_ctx.settings.tz, app_ctx.org.fiscal_year_start_month
        )
        if values is None:
            values = {
                "fiscal_year": str(year),
                "membership_type": "正会員",
                "name": fee_rules.default_fee_name(year),
                "amount": "",
                "due_on": date(year, 6, 30).isoformat(),
            }
        if receipt_values is None:
            receipt_values = {
                "invoice_number": app_ctx.org.invoice_number,
                "tax_mode": await payment_flow.tax_mode(app_ctx),
            }
        return render(
            request,
            "admin_fees/page.html",
            {
                "items": await payment_queries.fee_items_with_counts(app_ctx.db),
                "types": await payment_queries.membership_types(app_ctx.db),
                "values": values,
                "errors": errors or {},
                "receipt_values": receipt_values,
                "receipt_errors": receipt_errors or {},
                "tax_modes": payment_flow.TAX_MODE_LABELS,
                "page_title": "会費の設定と発行",
            },
            status=status,
        )

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        return await self._page(request, app_ctx)

    @post("/")
    async def create(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        form = await request.form()
        values = {
            name: text_field(form, name, max_length=200)
            for name in ("fiscal_year", "membership_type", "name", "amount", "due_on")
        }
        checked = fee_rules.check_fee_item(values)
        if checked.ok:
            item_id = await fee_rules.create_fee_item(app_ctx.db, checked, now=app_ctx.clock.now())
            if item_id is not None:
                response = redirect(request, "/admin/fees")
                flash(
                    request,
                    response,
                    f"「{checked.values['name']}」（{checked.values['membership_type']}）を作成しました。"
                    "内容をご確認のうえ「発行する」を押してください。",
                )
                return response
        return await self._page(
            request, app_ctx, values=checked.values, errors=checked.errors, status=form_error_status(request)
        )

    @post("/{item_id:int}/issue")
    async def issue(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, item_id: int
    ) -> Response[Any]:
        item = await payment_queries.get_fee_item(app_ctx.db, item_id)
        if item is None:
            raise NotFoundException()
        result = await fee_rules.issue_fee_item(app_ctx.db, item_id, now=app_ctx.clock.now())
        message = f"「{item['name']}」（{item['membership_type']}）: {result.message()}"
        # The paid tier's renewals go out with the year's annual fees.
        renewed = await membership.issue_renewals(app_ctx, int(item["fiscal_year"]))
        if renewed:
            message += f" 有料プランの継続の会費も {renewed} 名に発行しました。"
        return redirect_with_flash(request, "/admin/fees", message)

    @post("/receipt-settings")
    async def receipt_settings(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        form = await request.form()
        number = unicodedata.normalize("NFKC", text_field(form, "invoice_number", max_length=40))
        number = number.replace("-", "").replace(" ", "").upper()
        tax_mode = text_field(form, "tax_mode", max_length=20)
        errors: dict[str, str] = {}
        if number and not (len(number) == 14 and number[0] == "T" and number[1:].isdigit()):
            errors["invoice_number"] = "登録番号は「T」と13桁の数字で入力してください（例：T1234567890123）。"
        if tax_mode not in payment_flow.TAX_MODE_LABELS:
            errors["tax_mode"] = "消費税の扱いを選んでください。"
        if errors:
            return await self._page(
                request,
                app_ctx,
                receipt_values={"invoice_number": number, "tax_mode": tax_mode},
                receipt_errors=errors,
                status=form_error_status(request),
            )
        await app_ctx.update_org({"invoice_number": number, payment_flow.TAX_MODE_KEY: tax_mode})
        return redirect_with_flash(request, "/admin/fees", "領収書の設定を保存しました。")


class AdminPaymentsController(Controller):
    path = "/admin/payments"
    guards = ADMIN_GUARDS

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        filters, raw = _filters(request)
        page_text = request.query_params.get("page", "1")
        page = int(page_text) if page_text.isdigit() and 0 < int(page_text) < 100_000 else 1
        total = await payment_queries.admin_fee_count(app_ctx.db, filters)
        rows = await payment_queries.admin_fees(
            app_ctx.db, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        query = "&".join(f"{key}={value}" for key, value in raw.items() if value)
        return render(
            request,
            "admin_payments/page.html",
            {
                "rows": rows,
                "total": total,
                "page": page,
                "pages": max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE),
                "filters": raw,
                "query": query,
                "years": await payment_queries.fiscal_years(app_ctx.db),
                "status_labels": fee_rules.FEE_STATUS_LABELS,
                "method_labels": fee_rules.PAID_METHOD_LABELS,
                "attempt_labels": payment_flow.METHOD_LABELS,
                "page_title": "会費の入金状況",
            },
        )

    @get("/export.csv")
    async def export(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[bytes]:
        return await self._export(request, app_ctx, "csv")

    @get("/export.xlsx")
    async def export_xlsx(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[bytes]:
        return await self._export(request, app_ctx, "xlsx")

    async def _export(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, kind: str
    ) -> Response[bytes]:
        filters, _ = _filters(request)
        rows = await payment_queries.admin_fees(app_ctx.db, filters, limit=200_000, offset=0)
        tz = app_ctx.settings.tz
        lines: list[tuple[object, ...]] = []
        for row in rows:
            paid_at = from_db(row["paid_at"])
            method = row["paid_method"] or (row["attempt_method"] if row["status"] != "paid" else "")
            lines.append(
                (
                    str(row["member_number"]),
                    f"{row['family_name'] or ''} {row['given_name'] or ''}".strip(),
                    row["membership_type"] or "",
                    row["fiscal_year"],
                    row["item_name"],
                    row["amount"],
                    row["due_on"] or "",
                    fee_rules.FEE_STATUS_LABELS.get(row["status"], row["status"]),
                    fee_rules.PAID_METHOD_LABELS.get(method or "", ""),
                    paid_at.astimezone(tz).date().isoformat() if paid_at else "",
                    row["receipt_number"] or "",
                    row["order_id"] or "",
                    row["gateway"] or "",
                    row["paid_note"],
                )
            )
        today = app_ctx.clock.now().astimezone(tz).date().isoformat()
        if kind == "xlsx":
            body = await anyio.to_thread.run_sync(xlsx_bytes, CSV_HEADER, lines)
        else:
            body = csv_bytes(CSV_HEADER, lines)
        return Response(
            body,
            media_type=XLSX_MEDIA_TYPE if kind == "xlsx" else "text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="payments-{today}.{kind}"',
                "Cache-Control": "no-store",
            },
        )

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        fee_id: int,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        fee = await payment_queries.admin_fee(app_ctx.db, fee_id)
        if fee is None:
            raise NotFoundException()
        today = app_ctx.clock.now().astimezone(app_ctx.settings.tz).date().isoformat()
        return render(
            request,
            "admin_payments/detail.html",
            {
                "fee": fee,
                "attempts": await payment_queries.attempts_for_fee(app_ctx.db, fee_id),
                "notifications": await payment_queries.notifications_for_fee(app_ctx.db, fee_id),
                "values": values or {"paid_on": today, "note": ""},
                "errors": errors or {},
                "status_labels": fee_rules.FEE_STATUS_LABELS,
                "method_labels": fee_rules.PAID_METHOD_LABELS,
                "state_labels": states.STATE_LABELS,
                "live_states": payment_queries.LIVE_STATES,
                "page_title": "会費の詳細",
            },
            status=status,
        )

    @get("/fees/{fee_id:int}")
    async def detail(self, request: Request[Any, Any, Any], app_ctx: AppContext, fee_id: int) -> Template:
        return await self._detail(request, app_ctx, fee_id)

    @post("/fees/{fee_id:int}/mark-paid")
    async def mark_paid(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, fee_id: int
    ) -> Response[Any]:
        if await payment_queries.admin_fee(app_ctx.db, fee_id) is None:
            raise NotFoundException()
        form = await request.form()
        values = {
            "paid_on": text_field(form, "paid_on", max_length=20).strip(),
            "note": text_field(form, "note", max_length=1000).strip(),
        }
        errors: dict[str, str] = {}
        paid_on: date | None = None
        try:
            paid_on = date.fromisoformat(unicodedata.normalize("NFKC", values["paid_on"]).replace("/", "-"))
        except ValueError:
            errors["paid_on"] = "入金日を日付で入力してください（例：2026-11-20）。"
        today = app_ctx.clock.now().astimezone(app_ctx.settings.tz).date()
        if paid_on is not None and not (date(2000, 1, 1) <= paid_on <= today):
            errors["paid_on"] = "入金日は今日以前の日付を入力してください。"
        if not values["note"]:
            errors["note"] = (
                "確認のためのメモを入力してください（例：11/20 三井住友銀行 ヤマダハナコ名義で入金）。"
            )
        elif len(values["note"]) > 200:
            errors["note"] = "メモは200文字以内で入力してください。"
        elif problem := check_text(values["note"]):
            errors["note"] = problem
        if errors or paid_on is None:
            return await self._detail(
                request, app_ctx, fee_id, values=values, errors=errors, status=form_error_status(request)
            )
        try:
            gateway = await active_gateway(app_ctx)
        except PaymentNotConfigured:
            gateway = None
        ok, message = await payment_flow.mark_paid_by_transfer(
            app_ctx, gateway, fee_id, note=values["note"], paid_on=paid_on, actor_id=auth.member_id
        )
        return redirect_with_flash(
            request, f"/admin/payments/fees/{fee_id}", message, "success" if ok else "warning"
        )

    @post("/attempts/{attempt_id:int}/cancel")
    async def cancel(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, attempt_id: int
    ) -> Response[Any]:
        attempt = await payment_queries.attempt(app_ctx.db, attempt_id)
        if attempt is None:
            raise NotFoundException()
        try:
            gateway = await active_gateway(app_ctx)
        except PaymentNotConfigured:
            ok, message = False, "決済サービスの設定を確認してください。"
        else:
            ok, message = await payment_flow.cancel_attempt(
                app_ctx, gateway, attempt_id, actor_id=auth.member_id
            )
        return redirect_with_flash(
            request, f"/admin/payments/fees/{attempt['fee_id']}", message, "success" if ok else "warning"
        )

    @post("/reminders", status_code=200)
    async def reminder_preview(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        """督促メールを送る, step one: who gets it and how it looks."""
        reminders = await fee_reminders.chosen(app_ctx, _chosen_fee_ids(await request.form()))
        return render(
            request,
            "admin_payments/reminders.html",
            {
                "reminders": reminders,
                "mail": fee_reminders.compose(app_ctx, reminders[0]) if reminders else None,
                "page_title": "督促メールを送る",
            },
            status=200 if reminders else form_error_status(request),
        )

    @post("/reminders/send", status_code=200)
    async def reminder_send(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        fee_ids = _chosen_fee_ids(await request.form())
        report = await fee_reminders.send_chosen(
            app_ctx, fee_ids, actor_id=auth.member_id, ip=client_ip(request)
        )
        parts = [f"督促メールを {len(report.sent)} 名に送りました。"]
        if report.skipped:
            parts.append(f"{report.skipped} 名は今日すでに送っているか、お支払い済みのため送りませんでした。")
        if report.failed:
            parts.append(
                f"{len(report.failed)} 名には送れませんでした（送信サーバーの設定をご確認ください）。"
            )
        return redirect_with_flash(
            request,
            "/admin/payments?status=unpaid",
            "".join(parts),
            "warning" if report.failed else "success",
        )


def _chosen_fee_ids(form: Any) -> list[int]:
    """The checked fees: digits only, at most a thousand (anything else is ignored)."""
    try:
        values = form.getall("fee_id")
    except (KeyError, AttributeError):
        values = []
    ids = {int(value) for value in values if isinstance(value, str) and value.isdigit() and len(value) < 12}
    return sorted(ids)[:1000]
