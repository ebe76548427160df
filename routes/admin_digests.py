"""Admin: digest schedule and sending settings, runs with their counts, each recipient's status,
a preview of any member's digest and a test send to the admin."""

from __future__ import annotations

import math
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import audit
from db import digests as digests_db
from db import members as members_db
from routes.common import client_ip, form_error_status, redirect_with_flash, render, text_field
from routes.guards import ADMIN_GUARDS
from services import digests, scheduler
from services.context import AppContext
from services.digest_windows import next_run
from services.japanese import normalize_member_number
from services.sessions import LoggedIn

RUNS_PER_PAGE = 20
RECIPIENTS_PER_PAGE = 100
STATUS_LABELS = {
    "pending": "送信待ち",
    "sending": "送信中",
    "sent": "送信済み",
    "failed": "失敗",
    "skipped": "対象外",
}
RUN_STATUS_LABELS = {"building": "準備中", "sending": "送信中", "done": "完了"}
TRIGGER_LABELS = {"schedule": "定時", "catch_up": "取りこぼし分", "cli": "コマンド", "admin": "管理画面"}


def _page(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 else 1


async def overview_context(
    request: Request[Any, Any, Any], app_ctx: AppContext, page: int = 1
) -> dict[str, Any]:
    now = app_ctx.clock.now()
    runs = await digests_db.recent_runs(app_ctx.db, limit=RUNS_PER_PAGE, offset=(page - 1) * RUNS_PER_PAGE)
    counts = await digests_db.run_counts(app_ctx.db, [int(run["id"]) for run in runs])
    options = await digests.load_options(app_ctx)
    return {
        "runs": runs,
        "counts": counts,
        "page": page,
        "pages": max(1, math.ceil(await digests_db.count_runs(app_ctx.db) / RUNS_PER_PAGE)),
        "options": options,
        "option_values": {
            "rate": f"{options.rate_per_second:g}",
            "concurrency": str(options.concurrency),
            "catch_up_days": str(options.catch_up_days),
        },
        "option_errors": {},
        "next_weekly": next_run("weekly", now, app_ctx.settings.tz, app_ctx.org.weekly_digest_hour),
        "next_daily": next_run("daily", now, app_ctx.settings.tz, app_ctx.org.daily_digest_hour),
        "scheduler_on": app_ctx.settings.scheduler,
        "jobs": await scheduler.job_overview(app_ctx),
        "flagged": await digests_db.flagged_members(app_ctx.db),
        "run_status_labels": RUN_STATUS_LABELS,
        "trigger_labels": TRIGGER_LABELS,
        "preview_values": {"member_number": "", "kind": "weekly"},
    }


def _parse_options(form: Any) -> tuple[dict[str, str], dict[str, str]]:
    values = {
        "rate": text_field(form, "rate", max_length=20).strip(),
        "concurrency": text_field(form, "concurrency", max_length=20).strip(),
        "catch_up_days": text_field(form, "catch_up_days", max_length=20).strip(),
    }
    errors: dict[str, str] = {}
    checks = {
        "rate": (0, 1000, "1秒あたりの送信数は0〜1000の数で入力してください（0は制限なし）。"),
        "concurrency": (1, 32, "同時に送る数は1〜32の整数で入力してください。"),
        "catch_up_days": (0, 30, "取りこぼした配信を送る期限は0〜30日の整数で入力してください。"),
    }
    for key, (low, high, message) in checks.items():
        try:
            number = float(values[key].translate(str.maketrans("０１２３４５６７８９．", "0123456789.")))
        except ValueError:
            errors[key] = message
            continue
        if not low <= number <= high or (key != "rate" and not number.is_integer()):
            errors[key] = message
        else:
            values[key] = f"{number:g}"
    return values, errors


class AdminDigestsController(Controller):
    path = "/admin/digests"
    guards = ADMIN_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        page = _page(request.query_params.get("page"))
        return render(request, "admin_digests/page.html", await overview_context(request, app_ctx, page))

    @post("/options", status_code=200)
    async def save_options(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        values, errors = _parse_options(await request.form())
        if errors:
            context = await overview_context(request, app_ctx)
            context.update(option_values=values, option_errors=errors)
            return render(
                request,
                "admin_digests/page.html",
                context,
                fragment="admin_digests/_options.html",
                status=form_error_status(request),
            )
        await app_ctx.update_org(
            {
                "digest_rate_per_second": values["rate"],
                "digest_concurrency": values["concurrency"],
                "digest_catch_up_days": values["catch_up_days"],
            }
        )
        return redirect_with_flash(request, "/admin/digests", "送信の設定を保存しました。")

    @get("/runs/{run_id:int}")
    async def run(self, request: Request[Any, Any, Any], app_ctx: AppContext, run_id: int) -> Template:
        row = await digests_db.get_run(app_ctx.db, run_id)
        if row is None:
            raise NotFoundException()
        status = str(request.query_params.get("status") or "")
        status = status if status in STATUS_LABELS else ""
        page = _page(request.query_params.get("page"))
        counts = (await digests_db.run_counts(app_ctx.db, [run_id]))[run_id]
        total = getattr(counts, status) if status else counts.total
        recipients = await digests_db.deliveries_for_run(
            app_ctx.db,
            run_id,
            status=status or None,
            limit=RECIPIENTS_PER_PAGE,
            offset=(page - 1) * RECIPIENTS_PER_PAGE,
        )
        return render(
            request,
            "admin_digests/run.html",
            {
                "run": row,
                "counts": counts,
                "recipients": recipients,
                "status": status,
                "page": page,
                "pages": max(1, math.ceil(total / RECIPIENTS_PER_PAGE)),
                "status_labels": STATUS_LABELS,
                "run_status_labels": RUN_STATUS_LABELS,
                "trigger_labels": TRIGGER_LABELS,
            },
            fragment="admin_digests/_recipients.html",
        )

    async def _preview_page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        number: str,
        kind: str,
        *,
        message: str = "",
        error: str = "",
    ) -> Template:
        context = await overview_context(request, app_ctx)
        context["preview_values"] = {"member_number": number, "kind": kind}
        errors: dict[str, str] = {}
        result = None
        mail = None
        if kind not in ("weekly", "daily"):
            errors["kind"] = "種類は「毎週」か「毎日」を選んでください。"
        normalized = (normalize_member_number(number) or "") if number else ""
        member = await members_db.get_by_number(app_ctx.db, normalized) if normalized else None
        if not number:
            errors["member_number"] = "会員番号を入力してください。"
        elif member is None:
            errors["member_number"] = "その会員番号の会員は見つかりません。"
        elif not errors:
            result = await digests.preview(app_ctx, int(member["id"]), kind=kind)
            if result is not None:
                result.kind = kind
                mail = digests.preview_mail(app_ctx, result)
        if error:
            errors["form"] = error
        context.update(
            preview_errors=errors,
            preview=result,
            preview_sections=result.items(app_ctx) if result else [],
            preview_mail=mail,
            preview_member=member,
            test_message=message,
        )
        status = form_error_status(request) if errors and request.method == "POST" else 200
        return render(
            request, "admin_digests/page.html", context, fragment="admin_digests/_preview.html", status=status
        )

    @get("/preview")
    async def preview(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        params = request.query_params
        number = str(params.get("member_number") or "")[:30].strip()
        kind = str(params.get("kind") or "weekly")[:10]
        return await self._preview_page(request, app_ctx, number, kind)

    @post("/test-send", status_code=200)
    async def test_send(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Template:
        form = await request.form()
        number = text_field(form, "member_number", max_length=30).strip()
        kind = text_field(form, "kind", max_length=10)
        normalized = normalize_member_number(number) or ""
        member = await members_db.get_by_number(app_ctx.db, normalized) if normalized else None
        if member is None or kind not in ("weekly", "daily"):
            return await self._preview_page(request, app_ctx, number, kind)
        admin = auth.member
        error = await digests.send_test(app_ctx, int(member["id"]), kind=kind, to=str(admin["email"]))
        if error:
            return await self._preview_page(request, app_ctx, number, kind, error=error)
        return await self._preview_page(
            request, app_ctx, number, kind, message=f"{admin['email']} 宛てにテスト送信しました。"
        )

    @post("/bounces/{member_id:int}/clear", status_code=200)
    async def clear_bounces(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, member_id: int
    ) -> Response[Any]:
        await digests_db.clear_bounces(app_ctx.db, member_id)
        await audit.record(
            app_ctx.db,
            "digest.bounce_flag_cleared",
            now=app_ctx.clock.now(),
            actor_member_id=auth.member_id,
            subject_member_id=member_id,
            ip=client_ip(request),
        )
        return redirect_with_flash(
            request, "/admin/digests", "配信停止の印を外しました。次回の配信から送信します。"
        )
