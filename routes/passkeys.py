"""Passkeys over JSON for the browser's WebAuthn calls (static/js/passkeys.js): adding one, and signing in,
passing the second factor or confirming a sign-in with one. CSRF applies as for forms (x-csrftoken)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_401_UNAUTHORIZED, HTTP_429_TOO_MANY_REQUESTS

from routes.auth import start_signed_in
from routes.common import client_ip, flash, logged_in, redirect, safe_next, text_field
from routes.guards import MFA_FLAG, requires_login
from services import passkeys, sign_ins
from services.context import AppContext
from services.rate_limit import RATE_LIMITED_MESSAGE, Limit, allow
from services.sessions import LoggedIn, set_flag

# Sign-in tries from one address; each needs a fresh challenge, so this only bounds busy work.
LOGIN_LIMIT = Limit("passkey-login", 30, timedelta(minutes=15))
PURPOSES: dict[str, passkeys.Purpose] = {"login": "login", "mfa": "mfa", "reauth": "reauth"}
SIGN_IN_FIRST = "ログインの有効期限が切れました。ページを再読み込みして、もう一度ログインしてください。"
BAD_REQUEST = "パスキーの情報を読み取れませんでした。ページを再読み込みしてから、もう一度お試しください。"


def answer(content: dict[str, Any], status: int = 200) -> Response[Any]:
    return Response(content=content, status_code=status, headers={"Cache-Control": "no-store"})


def refused(message: str, status: int = HTTP_400_BAD_REQUEST, **extra: Any) -> Response[Any]:
    return answer({"ok": False, "error": message, **extra}, status)


async def json_body(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    """The request's JSON object, or None for anything else (garbage, an array, wrong encoding)."""
    # A form or multipart body was read already by the CSRF check; reading it again as JSON would wait forever.
    if not request.headers.get("content-type", "").lower().startswith("application/json"):
        return None
    try:
        body = await request.json()
    except Exception:  # noqa: BLE001 - whatever a client sends must end in a 400, never a 500
        return None
    return body if isinstance(body, dict) else None


class PasskeysController(Controller):
    path = "/passkeys"

    @post("/register/options", status_code=200)
    async def register_options(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        auth = logged_in(request)
        if auth is None or auth.member["must_change_password"]:
            return refused(SIGN_IN_FIRST, HTTP_401_UNAUTHORIZED)
        body = await json_body(request)
        if body is None:
            return refused(BAD_REQUEST)
        _, error = passkeys.validate_name(text_field(body, "name", max_length=500), "パスキー")
        if error:
            return refused(error, 422, field="name")
        return answer(await passkeys.registration_options(app_ctx, auth.member))

    @post("/register/verify", status_code=200)
    async def register_verify(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        auth = logged_in(request)
        if auth is None or auth.member["must_change_password"]:
            return refused(SIGN_IN_FIRST, HTTP_401_UNAUTHORIZED)
        body = await json_body(request)
        if body is None:
            return refused(BAD_REQUEST)
        default = sign_ins.describe_user_agent(request.headers.get("user-agent", ""))
        name, error = passkeys.validate_name(text_field(body, "name", max_length=500), default)
        if error:
            return refused(error, 422, field="name")
        try:
            await passkeys.register(app_ctx, auth.member_id, body, name=name, ip=client_ip(request))
        except passkeys.PasskeyError as problem:
            return refused(problem.message)
        if auth.flags.get(passkeys.OFFER_FLAG):
            await set_flag(app_ctx.db, auth, passkeys.OFFER_FLAG, False)
        response = answer({"ok": True, "redirect": "/settings/security#passkeys"})
        flash(
            request, response, f"パスキー「{name}」を追加しました。次回から、このパスキーでログインできます。"
        )
        return response

    @post("/login/options", status_code=200)
    async def login_options(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        body = await json_body(request)
        if body is None:
            return refused(BAD_REQUEST)
        purpose = PURPOSES.get(text_field(body, "purpose", max_length=20) or "login")
        if purpose is None:
            return refused(BAD_REQUEST)
        member_id = None
        if purpose != "login":
            auth = logged_in(request)
            if auth is None:
                return refused(SIGN_IN_FIRST, HTTP_401_UNAUTHORIZED)
            member_id = auth.member_id
            if not await passkeys.has_passkeys(app_ctx, member_id):
                return refused("登録済みのパスキーがありません。", 404)
        return answer(await passkeys.authentication_options(app_ctx, purpose, member_id))

    @post("/login/verify", status_code=200)
    async def login_verify(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        body = await json_body(request)
        if body is None:
            return refused(BAD_REQUEST)
        purpose = PURPOSES.get(text_field(body, "purpose", max_length=20) or "login")
        if purpose is None:
            return refused(BAD_REQUEST)
        next_path = safe_next(text_field(body, "next", max_length=600), "")
        ip = client_ip(request)
        user_agent = request.headers.get("user-agent", "")
        if purpose == "login":
            if not await allow(app_ctx.db, LOGIN_LIMIT, ip, now=app_ctx.clock.now()):
                return refused(RATE_LIMITED_MESSAGE, HTTP_429_TOO_MANY_REQUESTS)
            try:
                signed_in = await passkeys.authenticate(
                    app_ctx, body, "login", None, ip=ip, user_agent=user_agent
                )
            except passkeys.PasskeyError as problem:
                return refused(problem.message)
            remember = body.get("remember") is True
            target, cookies = await start_signed_in(
                request, app_ctx, signed_in.member, method="passkey", remember=remember, next_path=next_path
            )
            response = answer({"ok": True, "redirect": target})
            for cookie in cookies:
                response.set_cookie(cookie)
            return response
        auth = logged_in(request)
        if auth is None:
            return refused(SIGN_IN_FIRST, HTTP_401_UNAUTHORIZED)
        try:
            await passkeys.authenticate(app_ctx, body, purpose, auth.member_id, ip=ip, user_agent=user_agent)
        except passkeys.PasskeyError as problem:
            return refused(problem.message)
        now = app_ctx.clock.now()
        await set_flag(app_ctx.db, auth, passkeys.REAUTH_FLAG, now.isoformat())
        if purpose == "mfa":
            await set_flag(app_ctx.db, auth, MFA_FLAG, True)
            return answer({"ok": True, "redirect": next_path or "/admin"})
        return answer({"ok": True, "redirect": next_path or "/settings/security"})

    @post("/offer/later", guards=[requires_login], status_code=200)
    async def offer_later(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        await set_flag(app_ctx.db, auth, passkeys.OFFER_FLAG, False)
        return redirect(request, safe_next(text_field(form, "next", max_length=600)))

    @post("/offer/never", guards=[requires_login], status_code=200)
    async def offer_never(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        await set_flag(app_ctx.db, auth, passkeys.OFFER_FLAG, False)
        await sign_ins.decline_passkey_offer(app_ctx, auth.member_id)
        return redirect(request, safe_next(text_field(form, "next", max_length=600)))
