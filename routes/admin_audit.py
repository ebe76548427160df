"""Admin: the audit log — who did what when (admin actions and security events), filterable."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.response import Template

from db import admin_audit
from routes.common import render
from routes.guards import ADMIN_GUARDS
from services import admin_settings, audit_words
from services.context import AppContext
from services.japanese import normalize_member_number

EVENT_GROUPS = {
    "login.": "ログイン",
    "account.": "ロック・退会",
    "admin.": "管理者の二段階認証",
    "console.": "管理者・スタッフ",
    "article.": "記事・イベント",
    "payment.": "会費のお支払い",
    "member.": "会員の登録・変更",
    "members.": "会員CSV",
    "password.": "パスワード",
    "settings.": "設定",
    "backup.": "バックアップ",
}


def _param(request: Request[Any, Any, Any], name: str, limit: int = 100) -> str:
    value = request.query_params.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def _date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _detail(raw: str) -> dict[str, Any]:
    try:
        detail = json.loads(raw or "{}")
    except ValueError:
        return {}
    return detail if isinstance(detail, dict) else {}


async def _details(app_ctx: AppContext, rows: list[Any]) -> dict[int, str]:
    """Each entry's detail in words, the fees it names looked up in one query."""
    parsed = {int(row["id"]): (str(row["event"]), _detail(row["detail"])) for row in rows}
    fee_ids = [fee_id for _, detail in parsed.values() for fee_id in audit_words.fee_ids(detail)]
    refs = audit_words.References(
        fees=await admin_audit.fee_names(app_ctx.db, fee_ids),
        field_labels={spec.name: spec.label for spec in admin_settings.all_fields()},
    )
    return {
        entry_id: audit_words.describe(event, detail, refs) for entry_id, (event, detail) in parsed.items()
    }


class AdminAuditController(Controller):
    path = "/admin/audit"
    guards = ADMIN_GUARDS

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        tz = app_ctx.settings.tz
        errors: dict[str, str] = {}
        typed = {name: _param(request, name) for name in ("event", "member", "since", "until", "ip")}
        number = ""
        if typed["member"]:
            number = normalize_member_number(typed["member"]) or ""
            if not number:
                errors["member"] = "会員番号は数字で入力してください。"
        since, until = _date(typed["since"]), _date(typed["until"])
        if typed["since"] and since is None:
            errors["since"] = "日付は 2026-11-23 の形で入力してください。"
        if typed["until"] and until is None:
            errors["until"] = "日付は 2026-11-23 の形で入力してください。"
        raw_page = _param(request, "page", 6)
        page = int(raw_page) if raw_page.isdigit() and int(raw_page) > 0 else 1
        audit_filter = admin_audit.AuditFilter(
            event=typed["event"],
            member_number=number,
            since=datetime.combine(since, time(0), tz) if since else None,
            until=datetime.combine(until + timedelta(days=1), time(0), tz) if until else None,
            ip=typed["ip"],
        )
        rows, has_next = (
            ([], False) if errors else await admin_audit.search(app_ctx.db, audit_filter, page=page)
        )
        query = urlencode([(key, value) for key, value in typed.items() if value])
        return render(
            request,
            "admin_audit/page.html",
            {
                "rows": rows,
                "details": await _details(app_ctx, rows),
                "values": typed,
                "errors": errors,
                "events": await admin_audit.event_names(app_ctx.db),
                "groups": EVENT_GROUPS,
                "page": page,
                "has_next": has_next,
                "query": query,
            },
            fragment="admin_audit/_results.html",
        )
