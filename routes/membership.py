"""プラン・退会: the member's tier and perks, entering a code in place, and asking to leave."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from routes.common import (
    client_ip,
    flash,
    form_error_status,
    is_htmx,
    redirect,
    redirect_with_flash,
    render,
    text_field,
)
from routes.guards import MEMBER_GUARDS
from services import account_closure, membership, payment_flow
from services.context import AppContext
from services.sessions import LoggedIn


class MembershipController(Controller):
    path = "/settings/membership"
    guards = MEMBER_GUARDS

    async def _page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        auth: LoggedIn,
        *,
        code_value: str = "",
        code_error: str = "",
        code_success: str = "",
        status: int = 200,
    ) -> Template:
        overview = await membership.membership_overview(app_ctx, auth.member_id)
        return render(
            request,
            "membership/page.html",
            {
                **overview,
                "values": {"code": code_value},
                "errors": {"code": code_error} if code_error else {},
                "code_success": code_success,
            },
            fragment="membership/_panel.html",
            status=status,
        )

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        return await self._page(request, app_ctx, auth)

    @post("/code", status_code=200)
    async def enter_code(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        raw = text_field(form, "code", max_length=200)
        outcome = await membership.redeem(app_ctx, auth.member_id, raw, ip=client_ip(request))
        if not outcome.ok:
            return await self._page(
                request,
                app_ctx,
                auth,
                code_value=raw,
                code_error=outcome.message,
                status=form_error_status(request),
            )
        if is_htmx(request):
            return await self._page(request, app_ctx, auth, code_success=outcome.message)
        return redirect_with_flash(request, "/settings/membership", outcome.message)

    @post("/apply", status_code=200)
    async def apply(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        """「…に申し込む」: the tier's fee, then the same pay flow as /payments (profile check, method, 決定…)."""
        form = await request.form()
        tier_code = text_field(form, "tier", max_length=40)
        application = await membership.apply_online(app_ctx, auth.member_id, tier_code, ip=client_ip(request))
        if application.fee_id is None:
            return redirect_with_flash(request, "/settings/membership", application.message, "info")
        return redirect(
            request,
            payment_flow.start_url(
                auth.member, application.fee_id, now=app_ctx.clock.now(), tz=app_ctx.settings.tz
            ),
        )

    @get("/leave")
    async def leave_form(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        if auth.is_admin:
            return render(request, "membership/leave_admin.html")
        overview = await membership.membership_overview(app_ctx, auth.member_id)
        if overview["closure"] is not None:
            return redirect(request, "/settings/membership")
        return render(request, "membership/leave.html", {"values": {}, "errors": {}, **overview})

    @post("/leave", status_code=200)
    async def leave(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        if auth.is_admin:
            return render(request, "membership/leave_admin.html", status=form_error_status(request))
        form = await request.form()
        reason, reason_error = account_closure.validate_reason(text_field(form, "reason", max_length=5000))
        confirmed = text_field(form, "confirm") in {"1", "on", "true"}
        errors: dict[str, str] = {}
        if reason_error:
            errors["reason"] = reason_error
        if not confirmed:
            errors["confirm"] = "退会の内容をご確認のうえ、チェックを入れてください。"
        if errors:
            overview = await membership.membership_overview(app_ctx, auth.member_id)
            return render(
                request,
                "membership/leave.html",
                {"values": {"reason": reason}, "errors": errors, **overview},
                status=form_error_status(request),
            )
        created = await account_closure.request_closure(app_ctx, auth.member, reason, ip=client_ip(request))
        response = redirect(request, "/settings/membership")
        flash(
            request,
            response,
            "退会のお申し出を受け付けました。事務局で手続きが済みましたら、メールでお知らせします。"
            if created
            else account_closure.ALREADY_PENDING,
            "success" if created else "info",
        )
        return response

    @post("/leave/withdraw", status_code=200)
    async def withdraw(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        withdrawn = await account_closure.withdraw_request(app_ctx, auth.member_id, ip=client_ip(request))
        response = redirect(request, "/settings/membership")
        if withdrawn:
            flash(request, response, "退会のお申し出を取り消しました。引き続きご利用いただけます。")
        return response
