"""The contact form (logged in or not), its thank-you page, and the contact page's QR code."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException
from litestar.response import Template
from litestar.status_codes import HTTP_304_NOT_MODIFIED, HTTP_413_REQUEST_ENTITY_TOO_LARGE

from routes.common import client_ip, ctx, form_error_status, logged_in, redirect, render, text_field
from routes.errors import http_exception
from services import contact as contact_service
from services.contact import (
    ATTACHMENT_REMOVE_FIELD,
    CATEGORIES,
    FIELDS,
    FORM_TOKEN_FIELD,
    HONEYPOT_FIELD,
    MAX_ATTACHMENT_BYTES,
    MAX_LENGTHS,
    NUDGE_FIELD,
    RAW_LIMITS,
    STORAGE_FULL_MESSAGE,
    AttachmentRefused,
    FormState,
    PreparedAttachment,
    StorageFull,
)
from services.contact_qr import cached_contact_qr, contact_qr, contact_url
from services.context import AppContext

# Litestar's default request body limit, stated here on purpose: a 5–10 MB screenshot still arrives,
# so the form can be shown again with everything typed and a clear message about the 5 MB limit.
CONTACT_MAX_BODY = 10 * 1024 * 1024
BODY_TOO_LARGE_MESSAGE = (
    "送信されたデータが大きすぎるため、受け付けられませんでした。添付できる画像は5MBまでです。"
    "ブラウザの「戻る」で前の画面に戻ると、入力した内容が残っている場合があります。"
    "小さい画像を選ぶか、画像を添付せずにお送りください。"
)


def _prefill(request: Request[Any, Any, Any]) -> dict[str, str]:
    auth = logged_in(request)
    values = dict.fromkeys(FIELDS, "")
    if auth is not None:
        member = auth.member
        values["name"] = f"{member['family_name']} {member['given_name']}".strip()
        values["email"] = str(member["email"])
        values["member_number"] = str(member["member_number"])
    return values


def _form_context(
    request: Request[Any, Any, Any],
    app_ctx: AppContext,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    prepared: PreparedAttachment | None,
    qr_version: str,
    form: FormState | None = None,
    notes: dict[str, str] | None = None,
) -> dict[str, Any]:
    if form is None:
        form = contact_service.new_form(app_ctx.settings.secret_key, now=app_ctx.clock.now())
    return {
        "values": values,
        "errors": errors,
        "notes": notes or {},
        "nudge_field": NUDGE_FIELD,
        "categories": CATEGORIES,
        "member_fixed": logged_in(request) is not None,
        # The same token on every re-display: the fill time counts from the first display.
        "form_token": form.token,
        "prepared": prepared,
        "max_lengths": MAX_LENGTHS,
        "max_attachment_bytes": MAX_ATTACHMENT_BYTES,
        "honeypot_field": HONEYPOT_FIELD,
        "qr_version": qr_version,
        "contact_url": contact_url(app_ctx),
    }


async def _page(
    request: Request[Any, Any, Any],
    app_ctx: AppContext,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    prepared: PreparedAttachment | None = None,
    form: FormState | None = None,
    notes: dict[str, str] | None = None,
    status: int = 200,
) -> Template:
    qr = await contact_qr(app_ctx)
    context = _form_context(
        request, app_ctx, values, errors, prepared=prepared, qr_version=qr.version, form=form, notes=notes
    )
    return render(request, "contact/page.html", context, status=status)


def _too_large(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """The body passed the app's limit before the form could be read: say why, on the form itself.
    An exception handler gets no handler parameters, hence ctx(request)."""
    if exc.status_code != HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        return http_exception(request, exc)
    app_ctx = ctx(request)
    cached = cached_contact_qr(app_ctx)
    context = _form_context(
        request,
        app_ctx,
        _prefill(request),
        {"attachment": BODY_TOO_LARGE_MESSAGE},
        prepared=None,
        qr_version=cached.version if cached else "",
    )
    return render(request, "contact/page.html", context, status=HTTP_413_REQUEST_ENTITY_TOO_LARGE)


class ContactController(Controller):
    path = "/contact"

    @get("/", name="contact")
    async def show(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, category: str | None = None
    ) -> Template:
        values = _prefill(request)
        if category in CATEGORIES:
            values["category"] = category
        return await _page(request, app_ctx, values, {})

    @post(
        "/",
        status_code=200,
        request_max_body_size=CONTACT_MAX_BODY,
        exception_handlers={HTTPException: _too_large},
    )
    async def submit(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        form = await request.form()
        uploads = [value for value in form.getall("attachment", []) if isinstance(value, UploadFile)]
        try:
            return await self._submit(request, app_ctx, form, uploads[0] if uploads else None)
        finally:
            for upload in uploads:
                await upload.close()

    async def _submit(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, form: Any, upload: UploadFile | None
    ) -> Response[Any]:
        auth = logged_in(request)
        now = app_ctx.clock.now()
        raw = {name: text_field(form, name, max_length=RAW_LIMITS[name]) for name in FIELDS}
        for name in (HONEYPOT_FIELD, FORM_TOKEN_FIELD, ATTACHMENT_REMOVE_FIELD, NUDGE_FIELD):
            raw[name] = text_field(form, name, max_length=3000)
        values, errors = contact_service.clean_inquiry(raw, member=auth.member if auth else None)
        state = contact_service.read_form(app_ctx.settings.secret_key, raw[FORM_TOKEN_FIELD], now=now)

        # The screenshot is checked and kept with the form before anything can refuse the post, so no
        # re-display (an error, the too-fast guard, a nudge) ever loses it.
        if raw[ATTACHMENT_REMOVE_FIELD]:
            await contact_service.drop_pending(app_ctx, state.form_id)
        if upload is not None and upload.filename:
            try:
                chosen = await contact_service.prepare_attachment(app_ctx, upload)
                await contact_service.keep_pending(app_ctx, state.form_id, chosen)
            except AttachmentRefused as refused:
                errors["attachment"] = refused.message
            except StorageFull:
                errors["form"] = STORAGE_FULL_MESSAGE
        prepared = await contact_service.pending_for(app_ctx, state.form_id)

        # A nudge is shown once, with whatever else the page says; the next press sends as it is.
        notes = {} if raw[NUDGE_FIELD] else contact_service.nudges(values)

        def again(page_errors: dict[str, str]) -> Awaitable[Template]:
            return _page(
                request,
                app_ctx,
                values,
                page_errors,
                prepared=prepared,
                form=state,
                notes=notes,
                status=form_error_status(request),
            )

        spam = contact_service.spam_check(raw, secret_key=app_ctx.settings.secret_key, now=now, form=state)
        if spam:
            return await again({"form": spam, **errors})
        if errors or notes:
            return await again(errors)

        limited = await contact_service.rate_limited(
            app_ctx, ip=client_ip(request), email=values["email"], now=now
        )
        if limited:
            return await again({"form": limited})
        try:
            inquiry_id = await contact_service.store_inquiry(
                app_ctx,
                values,
                member_id=auth.member_id if auth else None,
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent", ""),
                prepared=prepared,
                form_id=state.form_id,
            )
        except StorageFull:
            return await _page(
                request,
                app_ctx,
                values,
                {"form": STORAGE_FULL_MESSAGE},
                form=state,
                status=form_error_status(request),
            )
        outcome = await contact_service.send_inquiry_mails(app_ctx, inquiry_id)
        token = contact_service.sent_token(app_ctx.settings.secret_key, inquiry_id, outcome, now=now)
        return redirect(request, f"/contact/sent?t={token}")

    @get("/sent")
    async def sent(self, request: Request[Any, Any, Any], app_ctx: AppContext, t: str = "") -> Response[Any]:
        found = contact_service.read_sent_token(app_ctx.settings.secret_key, t, now=app_ctx.clock.now())
        if found is None:
            return redirect(request, "/contact")
        inquiry_id, mailed = found
        return render(
            request,
            "contact/sent.html",
            {"inquiry_id": inquiry_id, "mailed": mailed, "contact_email": app_ctx.org.contact_email},
        )

    @get("/qr.svg")
    async def qr_svg(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, v: str = ""
    ) -> Response[Any]:
        qr = await contact_qr(app_ctx)
        # A versioned URL (the page links to ?v=<version>) never changes, so browsers may keep it for a
        # year; the bare URL is kept a day and revalidated with the ETag.
        cache = "public, max-age=31536000, immutable" if v == qr.version else "public, max-age=86400"
        headers = {"ETag": qr.etag, "Cache-Control": cache}
        candidates = {
            tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")
        }
        if qr.etag in candidates or "*" in candidates:
            return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(qr.svg, media_type="image/svg+xml; charset=utf-8", headers=headers)

    @get("/poster")
    async def poster(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        qr = await contact_qr(app_ctx)
        return render(
            request,
            "contact/poster.html",
            {
                "qr_version": qr.version,
                "contact_url": contact_url(app_ctx),
                "contact_email": app_ctx.org.contact_email,
            },
        )
