"""The sandbox gateway's hosted page (テスト決済): its buttons post signed reports to the notify route.

Only where the sandbox is meant (TSUDOI_PAYMENT_GATEWAY=sandbox, or a demo database); 404 elsewhere.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import payments as payment_queries
from routes.common import redirect, render, text_field
from services import payment_flow
from services.context import AppContext
from services.payment_config import configured_gateway_name, get_gateway, refresh_demo_flag
from services.payments import states
from services.payments.sandbox import (
    KONBINI_STORES,
    OUTCOME_STATES,
    SandboxGateway,
    SandboxSession,
    SandboxTokenInvalid,
    outcomes_for,
)

log = logging.getLogger("tsudoi.payments")


async def _sandbox(request: Request[Any, Any, Any], app_ctx: AppContext) -> SandboxGateway:
    await refresh_demo_flag(app_ctx)
    if configured_gateway_name(app_ctx) != "sandbox":
        raise NotFoundException()
    gateway = get_gateway(app_ctx)
    assert isinstance(gateway, SandboxGateway)
    return gateway


class SandboxGatewayController(Controller):
    path = "/sandbox-gateway"

    async def _page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        token: str,
        *,
        session: SandboxSession | None,
        error: str | None = None,
        status: int = 200,
    ) -> Template:
        attempt = None
        if session is not None:
            attempt = await payment_queries.attempt_by_order(app_ctx.db, session.order_id)
        state = str(attempt["state"]) if attempt is not None else states.PENDING
        outcomes = outcomes_for(session.method, state) if session is not None and attempt is not None else []
        return render(
            request,
            "sandbox_gateway/page.html",
            {
                "token": token,
                "session": session,
                "attempt": attempt,
                "state_label": states.STATE_LABELS.get(state, state),
                "method_label": payment_flow.METHOD_LABELS.get(session.method, "") if session else "",
                "outcomes": outcomes,
                "stores": KONBINI_STORES,
                "error": error,
            },
            status=status,
        )

    @get("/{token:str}")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext, token: str) -> Template:
        gateway = await _sandbox(request, app_ctx)
        try:
            session = gateway.read_session(token[:4000])
        except SandboxTokenInvalid as invalid:
            return await self._page(request, app_ctx, token, session=None, error=invalid.message, status=400)
        return await self._page(request, app_ctx, token, session=session)

    @post("/{token:str}")
    async def choose(self, request: Request[Any, Any, Any], app_ctx: AppContext, token: str) -> Response[Any]:
        gateway = await _sandbox(request, app_ctx)
        try:
            session = gateway.read_session(token[:4000])
        except SandboxTokenInvalid as invalid:
            return await self._page(request, app_ctx, token, session=None, error=invalid.message, status=400)
        form = await request.form()
        outcome = text_field(form, "outcome", max_length=40)
        attempt = await payment_queries.attempt_by_order(app_ctx.db, session.order_id)
        allowed = [name for name, _ in outcomes_for(session.method, attempt["state"])] if attempt else []
        if outcome not in OUTCOME_STATES or outcome not in allowed:
            # A second click or a stale tab: the report was already sent, nothing is sent twice.
            return await self._page(
                request,
                app_ctx,
                token,
                session=session,
                error="この操作はすでに完了しているか、選べない操作です。",
                status=409,
            )
        store = text_field(form, "store", max_length=40)
        if outcome == "konbini_issued" and store not in KONBINI_STORES:
            return await self._page(
                request,
                app_ctx,
                token,
                session=session,
                error="お支払いに使うコンビニを選んでください。",
                status=422,
            )
        body, headers = gateway.build_notification(
            session.reference, outcome, session.amount, store=store if outcome == "konbini_issued" else None
        )
        delivered = await payment_flow.deliver_sandbox_report(app_ctx, gateway, body, headers)
        if isinstance(delivered, int) and delivered >= 400:
            log.warning("sandbox report answered %s", delivered)
            return await self._page(
                request,
                app_ctx,
                token,
                session=session,
                error="お支払い結果をお店のシステムに通知できませんでした。もう一度お試しください。",
                status=502,
            )
        return redirect(request, session.return_url)
