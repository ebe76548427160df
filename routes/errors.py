"""Friendly error pages, the login redirect for ended sessions, and the stale-form page."""

from __future__ import annotations

import logging
import secrets
import sqlite3
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.datastructures import FormMultiDict
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.status_codes import (
    HTTP_403_FORBIDDEN,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.utils.scope.state import ScopeState

from routes.common import htmx, is_htmx, login_url, redirect, render
from routes.guards import MfaRequired, PasswordChangeRequired

log = logging.getLogger("tsudoi.errors")

CSRF_FAILURE = "CSRF token verification failed"
# Never echoed back into the resubmit page: the member types these again.
SECRET_FIELDS = {"password", "current_password", "new_password", "new_password_confirm", "_csrf_token"}

MESSAGES = {
    400: (
        "送信された内容を受け付けられませんでした",
        "前の画面に戻り、入力内容をご確認のうえ、もう一度お送りください。",
    ),
    403: (
        "このページを表示する権限がありません",
        "ログインしている会員番号をご確認ください。マイページのメニューから、目的の画面を開き直してください。",
    ),
    404: (
        "ページが見つかりません",
        "URLが正しいかご確認ください。ページが移動または削除された可能性があります。",
    ),
    405: (
        "この操作はできません",
        "画面のボタンやリンクから操作してください。ページを再読み込みしてから、もう一度お試しください。",
    ),
    413: ("送信されたデータが大きすぎます", "ファイルの大きさをご確認のうえ、もう一度お試しください。"),
    429: ("アクセスが集中しています", "しばらく時間をおいてから、もう一度お試しください。"),
    503: (
        "ただいま混み合っています",
        "数秒おいてから、もう一度お試しください。入力した内容は保存されていません。",
    ),
    500: (
        "システムエラーが発生しました",
        "お手数ですが、しばらく時間をおいてから、もう一度お試しください。"
        "続けて表示される場合は、下のエラーコードを添えてお問い合わせください。",
    ),
}


def error_page(
    request: Request[Any, Any, Any], status: int, detail: str | None = None, *, reference: str = ""
) -> Response[Any]:
    title, hint = MESSAGES.get(status, MESSAGES[400 if status < 500 else 500])
    code = f"{status}-{reference}" if reference else str(status)
    if detail and detail.endswith("。") and detail != hint:
        hint = f"{detail}{hint}"  # what happened, then what to do next
        detail = None
    return render(
        request,
        "errors/page.html",
        {"status": status, "title": title, "hint": detail or hint, "error_code": code},
        fragment="errors/_message.html",
        status=status,
    )


def not_authorized(request: Request[Any, Any, Any], _: NotAuthorizedException) -> Response[Any]:
    path = request.url.path
    if request.method == "GET" and request.url.query:
        # A sign-in request from another service (DiscourseConnect, OpenID Connect) lives in the query.
        path += f"?{request.url.query}"
    if is_htmx(request):
        path = htmx(request).current_url or "/mypage"
        path = "/" + path.split("/", 3)[-1] if "://" in path else path
    return redirect(request, login_url(path))


def password_change_required(request: Request[Any, Any, Any], _: PasswordChangeRequired) -> Response[Any]:
    return redirect(request, "/password/change")


def mfa_required(request: Request[Any, Any, Any], _: MfaRequired) -> Response[Any]:
    next_path = "/admin"
    if request.method == "GET" and not is_htmx(request):
        next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(request, "/mfa?next=" + quote(next_path, safe="/"))


def permission_denied(request: Request[Any, Any, Any], exc: PermissionDeniedException) -> Response[Any]:
    if exc.detail == CSRF_FAILURE:
        return stale_form(request)
    return error_page(request, HTTP_403_FORBIDDEN, exc.detail if exc.detail != "Forbidden" else None)


def stale_form(request: Request[Any, Any, Any]) -> Response[Any]:
    """The page was open too long or cookies were cleared: offer to send the same fields again."""
    fields: list[tuple[str, str]] = []
    dropped_secret = False
    try:
        # Exception handlers are sync; the CSRF middleware has already parsed the form into the scope.
        parsed = ScopeState.from_scope(request.scope).form
        form = FormMultiDict.from_form_data(parsed if isinstance(parsed, dict) else {})
        for key, value in form.multi_items():
            if key in SECRET_FIELDS:
                dropped_secret = dropped_secret or key != "_csrf_token"
            elif isinstance(value, str):
                fields.append((key, value[:10_000]))
    except Exception:  # noqa: BLE001 — a broken body just means nothing to keep
        fields = []
    return render(
        request,
        "errors/stale_form.html",
        {"fields": fields, "action": request.url.path, "had_password": dropped_secret},
        status=HTTP_403_FORBIDDEN,
    )


def http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        log.error("HTTP %s on %s %s: %s", status, request.method, request.url.path, exc.detail)
    return error_page(request, status)


def server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
        # Another process held the database longer than the busy timeout: a passing state, not a bug.
        log.warning("database busy on %s %s", request.method, request.url.path)
        return error_page(request, HTTP_503_SERVICE_UNAVAILABLE)
    # The code on the page is in the log line too, so the office can find the error a member quotes.
    reference = secrets.token_hex(4)
    log.exception("unhandled error %s on %s %s", reference, request.method, request.url.path, exc_info=exc)
    try:
        return error_page(request, HTTP_500_INTERNAL_SERVER_ERROR, reference=reference)
    except Exception:  # noqa: BLE001 — the error page itself must never fail
        return Response(
            "システムエラーが発生しました。", status_code=500, media_type="text/plain; charset=utf-8"
        )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    NotAuthorizedException: not_authorized,
    PasswordChangeRequired: password_change_required,
    MfaRequired: mfa_required,
    PermissionDeniedException: permission_denied,
    HTTPException: http_exception,
    Exception: server_error,
}
