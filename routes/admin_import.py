"""Admin: member import (CSV or .xlsx) — upload, a dry run listing every row's errors and every change the
import makes (padded numbers, standard forms), then confirm (all or nothing)."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.response import Template

from db import audit
from db import member_import_uploads as uploads
from routes.common import client_ip, flash, form_error_status, redirect, render, text_field
from routes.guards import ADMIN_GUARDS
from services.context import AppContext
from services.member_import import (
    COLUMN_LABELS,
    COLUMNS,
    JAPANESE_HEADERS,
    MAX_FILE_BYTES,
    OPTIONAL_COLUMNS,
    check_content,
    import_members_file,
    template_csv,
)
from services.sealing import SealError, open_bytes, seal
from services.sessions import LoggedIn

SEAL_PURPOSE = "member-import"


class AdminImportController(Controller):
    path = "/admin/import"
    guards = ADMIN_GUARDS
    request_max_body_size = MAX_FILE_BYTES + 64 * 1024

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Template:
        return self._page(request, None, {})

    @get("/template.csv")
    async def template(self) -> Response[bytes]:
        return Response(
            template_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="members-template.csv"'},
        )

    @post("/", status_code=200)
    async def upload(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return self._page(
                request,
                None,
                {"file": "CSVファイルまたは Excel ファイル（.xlsx）を選んでください。"},
                status=form_error_status(request),
            )
        content = await upload.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:
            return self._page(
                request,
                None,
                {"file": "ファイルが大きすぎます（5MBまで）。ファイルを分けて取り込んでください。"},
                status=form_error_status(request),
            )
        # Name variants are listed with their standard forms; the confirm button then says it replaces them.
        report = await check_content(
            app_ctx, content, dry_run=True, filename=upload.filename, standard_forms=True
        )
        token = ""
        if report.ok:
            token = secrets.token_urlsafe(24)
            await uploads.put(
                app_ctx.db,
                token=token,
                filename=upload.filename,
                content_sealed=seal(app_ctx.settings.secret_key, SEAL_PURPOSE, content),
                now=app_ctx.clock.now(),
                actor_id=auth.member_id,
            )
        status = 200 if report.ok else form_error_status(request)
        return self._page(request, report, {}, token=token, filename=upload.filename, status=status)

    @post("/confirm", status_code=200)
    async def confirm(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        token = text_field(form, "token", max_length=100)
        row = (
            await uploads.take(app_ctx.db, token, actor_id=auth.member_id, now=app_ctx.clock.now())
            if token
            else None
        )
        if row is None:
            errors = {
                "file": "確認の有効期限（1時間）が切れたか、すでに取り込み済みです。もう一度ファイルを選んでください。"
            }
            return self._page(request, None, errors, status=form_error_status(request))
        try:
            content = open_bytes(app_ctx.settings.secret_key, SEAL_PURPOSE, row["content_sealed"])
        except SealError:
            return self._page(
                request,
                None,
                {"file": "ファイルを読み直せませんでした。もう一度選んでください。"},
                status=form_error_status(request),
            )
        report = await import_members_file(
            app_ctx,
            content,
            dry_run=False,
            actor_id=auth.member_id,
            filename=row["filename"],
            standard_forms=text_field(form, "standard_forms", max_length=5) == "1",
        )
        if not report.ok:
            # The data changed since the dry run (someone registered the same number): nothing was written.
            return self._page(
                request, report, {}, filename=row["filename"], status=form_error_status(request)
            )
        await audit.record(
            app_ctx.db,
            "members.imported",
            now=app_ctx.clock.now(),
            actor_member_id=auth.member_id,
            ip=client_ip(request),
            detail={
                "count": report.created,
                "generated_passwords": report.generated_passwords,
                "standard_forms": len(report.replacements) if report.standard_forms else 0,
                "padded_numbers": len(report.padded),
            },
        )
        response = redirect(request, "/admin/letters")
        flash(
            request,
            response,
            f"{report.created} 名を登録しました。続けて初期パスワードのお知らせを印刷してください。",
        )
        return response

    def _page(
        self,
        request: Request[Any, Any, Any],
        report: Any,
        errors: dict[str, str],
        *,
        token: str = "",
        filename: str = "",
        status: int = 200,
    ) -> Template:
        return render(
            request,
            "admin_import/page.html",
            {
                "report": report,
                "errors": errors,
                "token": token,
                "filename": filename,
                "columns": COLUMNS,
                "optional_columns": OPTIONAL_COLUMNS,
                "labels": COLUMN_LABELS,
                "japanese_headers": JAPANESE_HEADERS,
            },
            status=status,
        )
