"""Password screens: change (first login, expiry, voluntary), live rule ticks, reset by e-mail, forgotten ID."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.response import Template
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_410_GONE, HTTP_429_TOO_MANY_REQUESTS

from routes.common import (
    clear_session_cookie,
    client_ip,
    flash,
    form_error_status,
    logged_in,
    redirect,
    redirect_with_flash,
    render,
    safe_next,
    session_cookie,
    text_field,
)
from routes.guards import requires_login
from services import password_flow
from services.context import AppContext
from services.japanese import normalize_email
from services.rate_limit import RATE_LIMITED_MESSAGE
from services.readings import READINGS_JSON
from services.sessions import LoggedIn

PASSWORD_MAX_INPUT = 1000
CHANGED_MESSAGES = {
    "first_login": "パスワードを変更しました。続いて、ご登録の会員情報をご確認ください。",
    "expired": "パスワードを変更しました。",
    "change": "パスワードを変更しました。",
}
# First login: password → profile → conditions (with 後で) → My Page with the first matches.
FIRST_LOGIN_NEXT = "/profile?next=" + quote("/conditions?welcome=1", safe="/")
RESET_STATUS = {"invalid": HTTP_400_BAD_REQUEST, "expired": HTTP_410_GONE, "used": HTTP_410_GONE}


def _password_fields(form: Any) -> tuple[str, str]:
    return (
        text_field(form, "new_password", max_length=PASSWORD_MAX_INPUT),
        text_field(form, "new_password_confirm", max_length=PASSWORD_MAX_INPUT),
    )


def _policy_context(request: Request[Any, Any, Any], app_ctx: AppContext) -> dict[str, Any]:
    return {"policy": password_flow.policy_from_org(app_ctx.org), "readings_json": READINGS_JSON}


class PasswordChangeController(Controller):
    """Reachable with an initial password (requires_login only): the guards send such members here."""

    path = "/password"
    guards = [requires_login]

    async def _change_page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        auth: LoggedIn,
        *,
        errors: dict[str, list[str]],
        next_path: str,
        status: int = 200,
    ) -> Template:
        member = auth.member
        return render(
            request,
            "password/change.html",
            {
                **_policy_context(request, app_ctx),
                "errors": errors,
                "next": next_path,
                "forced": bool(member["must_change_password"]),
                "expired": password_flow.password_expired(app_ctx.org, member, app_ctx.clock.now()),
                # Passwords are never echoed back: the tick list starts over after a refused submit.
                "evaluation": await password_flow.evaluate(app_ctx, member, "", "", check_history=False),
                "check_url": "/password/change/check",
            },
            fragment="password/_change_form.html",
            status=status,
        )

    @get("/change")
    async def show_change(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, next: str | None = None
    ) -> Template:  # noqa: A002
        return await self._change_page(request, app_ctx, auth, errors={}, next_path=safe_next(next, ""))

    @post("/change", status_code=200)
    async def submit_change(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        next_path = safe_next(text_field(form, "next", max_length=600), "")
        new_password, confirm = _password_fields(form)
        result = await password_flow.change_password(
            app_ctx,
            auth.member_id,
            current_password=text_field(form, "current_password", max_length=PASSWORD_MAX_INPUT),
            new_password=new_password,
            new_password_confirm=confirm,
            remember=auth.remember,
            session_flags=auth.flags,
            user_agent=request.headers.get("user-agent", ""),
            ip=client_ip(request),
        )
        if not result.ok or result.session_token is None:
            return await self._change_page(
                request,
                app_ctx,
                auth,
                errors=result.errors,
                next_path=next_path,
                status=form_error_status(request),
            )
        # After the first-login change the guide continues with the profile check, and its save with
        # the new-arrival conditions (FIRST_LOGIN_NEXT), which end on My Page; a new console account (admin
        # or staff made in 管理者・スタッフ) goes on to set up its authenticator app instead.
        target = FIRST_LOGIN_NEXT if result.via == "first_login" else (next_path or "/mypage")
        if result.via == "first_login" and auth.is_admin:
            target = "/mfa?next=/admin"
        response = redirect(request, target)
        response.set_cookie(
            session_cookie(
                request,
                result.session_token,
                remember=auth.remember,
                max_age=app_ctx.org.remember_days * 86400,
            )
        )
        flash(request, response, CHANGED_MESSAGES.get(result.via, "パスワードを変更しました。"))
        return response

    @post("/change/check", status_code=200)
    async def check_change(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Template:
        """Live rule ticks while typing; POST so the password never appears in a URL or access log."""
        member = auth.member
        new_password, confirm = _password_fields(await request.form())
        evaluation = await password_flow.live_evaluation(app_ctx, member, new_password, confirm)
        return render(
            request,
            "password/change.html",
            {
                **_policy_context(request, app_ctx),
                "errors": {},
                "next": "",
                "forced": bool(member["must_change_password"]),
                "expired": False,
                "evaluation": evaluation,
                "check_url": "/password/change/check",
            },
            fragment="password/_rules.html",
        )

    @get("/expired")
    async def show_expired(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, next: str | None = None
    ) -> Response[Any]:  # noqa: A002
        member = auth.member
        next_path = safe_next(next, "/mypage")
        if member["must_change_password"]:
            return redirect(request, "/password/change")
        if not password_flow.password_expired(app_ctx.org, member, app_ctx.clock.now()):
            return redirect(request, next_path)
        return render(
            request,
            "password/expired.html",
            {
                "next": next_path,
                "expiry_days": password_flow.policy_from_org(app_ctx.org).expiry_days,
                "changed_at": member["password_changed_at"],
                "expired_at": password_flow.password_expiry(app_ctx.org, member),
            },
        )

    @post("/expired", status_code=200)
    async def postpone(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        next_path = safe_next(text_field(await request.form(), "next", max_length=600), "/mypage")
        if auth.member["must_change_password"]:
            return redirect(request, "/password/change")
        await password_flow.postpone_expired_change(app_ctx, auth.member_id, ip=client_ip(request))
        return redirect_with_flash(
            request, next_path, "パスワードの変更は次回ログイン時にもご案内します。", kind="info"
        )


class PasswordRecoveryController(Controller):
    """Forgotten password: a reset link by e-mail. Open to everyone; answers never reveal an account."""

    path = "/password"

    def _forgot_form(
        self, request: Request[Any, Any, Any], values: dict[str, str], errors: dict[str, str], status: int
    ) -> Template:
        return render(request, "password/forgot.html", {"values": values, "errors": errors}, status=status)

    @get("/forgot")
    async def show_forgot(self, request: Request[Any, Any, Any]) -> Template:
        return self._forgot_form(request, {}, {}, 200)

    @post("/forgot", status_code=200)
    async def submit_forgot(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        raw = text_field(await request.form(), "identifier", max_length=300)
        values = {"identifier": raw}
        identifier = password_flow.parse_identifier(raw)
        if isinstance(identifier, str):
            return self._forgot_form(request, values, {"identifier": identifier}, form_error_status(request))
        ip = client_ip(request)
        if not await password_flow.allow_password_forgot(app_ctx, identifier, ip):
            return self._forgot_form(
                request, values, {"form": RATE_LIMITED_MESSAGE}, HTTP_429_TOO_MANY_REQUESTS
            )
        response = render(request, "password/forgot_sent.html")
        # Looked up and mailed after the answer is sent, so its timing is the same for every input.
        response.background = BackgroundTask(password_flow.send_reset_links, app_ctx, identifier, ip=ip)
        return response

    def _reset_page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        token: str,
        ticket: password_flow.ResetTicket,
        *,
        errors: dict[str, list[str]],
        status: int = 200,
        evaluation: password_flow.Evaluation | None = None,
        fragment: str = "password/_reset_form.html",
    ) -> Template:
        if ticket.problem is not None or ticket.member is None:
            return render(
                request,
                "password/reset_invalid.html",
                {"problem": ticket.problem or "invalid"},
                status=RESET_STATUS.get(ticket.problem or "invalid", HTTP_400_BAD_REQUEST),
            )
        return render(
            request,
            "password/reset.html",
            {
                **_policy_context(request, app_ctx),
                "member": ticket.member,
                "token": token,
                "errors": errors,
                "evaluation": evaluation,
                "check_url": f"/password/reset/{token}/check",
            },
            fragment=fragment,
            status=status,
        )

    @get("/reset/{token:str}")
    async def show_reset(self, request: Request[Any, Any, Any], app_ctx: AppContext, token: str) -> Template:
        ticket = await password_flow.open_reset(app_ctx, token)
        evaluation = None
        if ticket.member is not None:
            evaluation = await password_flow.evaluate(app_ctx, ticket.member, "", "", check_history=False)
        return self._reset_page(request, app_ctx, token, ticket, errors={}, evaluation=evaluation)

    @post("/reset/{token:str}", status_code=200)
    async def submit_reset(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, token: str
    ) -> Response[Any]:
        new_password, confirm = _password_fields(await request.form())
        result = await password_flow.reset_password(
            app_ctx, token, new_password=new_password, new_password_confirm=confirm, ip=client_ip(request)
        )
        if not result.ok:
            evaluation = None
            if result.ticket.member is not None:
                evaluation = await password_flow.evaluate(
                    app_ctx, result.ticket.member, "", "", check_history=False
                )
            return self._reset_page(
                request,
                app_ctx,
                token,
                result.ticket,
                errors=result.errors,
                evaluation=evaluation,
                status=form_error_status(request),
            )
        response = redirect(request, "/login")
        if logged_in(request) is not None:
            clear_session_cookie(request, response)
        flash(request, response, "パスワードを再設定しました。新しいパスワードでログインしてください。")
        return response

    @post("/reset/{token:str}/check", status_code=200)
    async def check_reset(self, request: Request[Any, Any, Any], app_ctx: AppContext, token: str) -> Template:
        ticket = await password_flow.open_reset(app_ctx, token)
        evaluation = None
        if ticket.member is not None:
            new_password, confirm = _password_fields(await request.form())
            evaluation = await password_flow.live_evaluation(app_ctx, ticket.member, new_password, confirm)
        return self._reset_page(
            request, app_ctx, token, ticket, errors={}, evaluation=evaluation, fragment="password/_rules.html"
        )


class ForgotIdController(Controller):
    """Forgotten member number: sent to the registered address, with the same answer for any address."""

    path = "/login/forgot-id"

    def _form(
        self, request: Request[Any, Any, Any], values: dict[str, str], errors: dict[str, str], status: int
    ) -> Template:
        return render(request, "password/forgot_id.html", {"values": values, "errors": errors}, status=status)

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Template:
        return self._form(request, {}, {}, 200)

    @post("/", status_code=200)
    async def submit(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        raw = text_field(await request.form(), "email", max_length=300)
        values = {"email": raw}
        email = normalize_email(raw)
        if email.error:
            return self._form(request, values, {"email": email.error}, form_error_status(request))
        ip = client_ip(request)
        if not await password_flow.allow_member_number_reminder(app_ctx, email.value, ip):
            return self._form(request, values, {"form": RATE_LIMITED_MESSAGE}, HTTP_429_TOO_MANY_REQUESTS)
        response = render(request, "password/forgot_id_sent.html")
        response.background = BackgroundTask(
            password_flow.send_member_number_reminder, app_ctx, email.value, ip=ip
        )
        return response
