"""会員情報: the member's own profile, the postal-code lookup and the e-mail change link."""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.response import Template
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT, HTTP_400_BAD_REQUEST, HTTP_409_CONFLICT

from routes.common import (
    client_ip,
    flash,
    form_error_status,
    is_htmx,
    logged_in,
    redirect,
    redirect_with_flash,
    render,
    safe_next,
    text_field,
)
from routes.guards import MEMBER_GUARDS
from services.context import AppContext
from services.japanese import PREFECTURES
from services.profile import (
    EDITABLE_FIELDS,
    LABELS,
    Difference,
    cancel_email_change,
    confirm_email_change,
    differences,
    display_values,
    email_change_expires_at,
    postal_fill,
    save_profile,
)
from services.sessions import LoggedIn

# Generous: the service reports anything over a field's limit; this only bounds the work.
_MAX_TYPED = 1000


def _next_and_purpose(values: Any) -> tuple[str, str]:
    next_path = safe_next(text_field(values, "next", max_length=600), "")
    purpose = "payment" if text_field(values, "purpose", max_length=20) == "payment" else ""
    return next_path, purpose


def _version(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        return -1


def _saved_message(email_to: str, mail_sent: bool) -> str:
    if not email_to:
        return "会員情報を保存しました。"
    if not mail_sent:
        return (
            "会員情報を保存しました。ただし、新しいメールアドレスへ確認メールを送信できませんでした。"
            "アドレスに誤りがないかご確認のうえ、もう一度保存してください。"
        )
    return (
        f"会員情報を保存しました。新しいメールアドレス（{email_to}）に確認メールを送信しました。"
        "メール内のリンクを24時間以内に開くと、メールアドレスの変更が完了します。"
    )


def _profile_page(
    request: Request[Any, Any, Any],
    app_ctx: AppContext,
    member: sqlite3.Row,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    next_path: str = "",
    purpose: str = "",
    conflict: list[Difference] | None = None,
    typed: dict[str, str] | None = None,
    status: int = HTTP_200_OK,
) -> Template:
    now = app_ctx.clock.now()
    expires_at = email_change_expires_at(member) if member["pending_email"] else None
    return render(
        request,
        "profile/page.html",
        {
            "member": member,
            "values": values,
            "errors": errors or {},
            "next": next_path,
            "purpose": purpose,
            "conflict": conflict,
            "typed": typed or {},
            "labels": LABELS,
            "prefectures": PREFECTURES,
            "pending_expires_at": expires_at,
            "pending_expired": expires_at is not None and expires_at <= now,
            # Typed values that were not saved: the leave-page guard must count them as unsaved.
            "unsaved": bool(errors) or conflict is not None,
        },
        fragment="profile/_form.html",
        status=status,
    )


class ProfileController(Controller):
    path = "/profile"
    guards = MEMBER_GUARDS

    @get("/", name="profile")
    async def show(self, request: Request[Any, Any, Any], auth: LoggedIn, app_ctx: AppContext) -> Template:
        member = auth.member
        next_path, purpose = _next_and_purpose(request.query_params)
        return _profile_page(
            request, app_ctx, member, display_values(member), next_path=next_path, purpose=purpose
        )

    @post("/", status_code=200)
    async def save(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        typed = {name: text_field(form, name, max_length=_MAX_TYPED) for name in EDITABLE_FIELDS}
        next_path, purpose = _next_and_purpose(form)
        outcome = await save_profile(
            app_ctx,
            auth.member,
            typed,
            expected_version=_version(text_field(form, "profile_version", max_length=20)),
            ip=client_ip(request),
        )
        page = partial(_profile_page, request, app_ctx, next_path=next_path, purpose=purpose)
        if outcome.status == "invalid":
            return page(auth.member, typed, errors=outcome.errors, status=form_error_status(request))
        if outcome.status == "stale":
            latest = outcome.latest or auth.member
            return page(
                latest,
                display_values(latest),
                conflict=differences(latest, typed),
                typed=typed,
                status=HTTP_200_OK if is_htmx(request) else HTTP_409_CONFLICT,
            )
        return redirect_with_flash(
            request,
            next_path or "/profile",
            _saved_message(outcome.email_change_to, outcome.email_change_mail_sent),
        )

    @get("/postal")
    async def postal(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """htmx: the prefecture and address line 1 for a complete postal code."""
        if not is_htmx(request):
            return redirect(request, "/profile")
        query = request.query_params
        prefecture = text_field(query, "prefecture", max_length=_MAX_TYPED)
        address1 = text_field(query, "address1", max_length=_MAX_TYPED)
        fill = await anyio.to_thread.run_sync(
            partial(
                postal_fill,
                text_field(query, "postal_code", max_length=40),
                prefecture=prefecture,
                address1=address1,
            )
        )
        if fill is None:
            return Response(content=b"", status_code=HTTP_204_NO_CONTENT)
        return render(
            request,
            "profile/_address.html",
            {
                "values": {"prefecture": fill.prefecture, "address1": fill.address1},
                "errors": {},
                "prefectures": PREFECTURES,
                "postal": fill,
                "labels": LABELS,
            },
        )

    @post("/email/cancel", status_code=200)
    async def cancel_email(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        cancelled = await cancel_email_change(app_ctx, auth.member_id, ip=client_ip(request))
        response = redirect(request, "/profile")
        if cancelled:
            flash(
                request,
                response,
                "メールアドレスの変更を取り消しました。現在のメールアドレスを引き続きお使いいただけます。",
            )
        return response


class EmailChangeController(Controller):
    """Opened from the confirmation mail, often in another browser: no login needed, the signed link is the proof."""

    path = "/profile/email/confirm"

    @get("/{token:str}")
    async def confirm(self, request: Request[Any, Any, Any], app_ctx: AppContext, token: str) -> Template:
        outcome = await confirm_email_change(app_ctx, token[:2100], ip=client_ip(request))
        ok = outcome.status in ("changed", "already")
        return render(
            request,
            "profile/email_confirmed.html",
            {"outcome": outcome, "logged_in": logged_in(request) is not None},
            status=HTTP_200_OK if ok else HTTP_400_BAD_REQUEST,
        )
