"""会費のお支払い: payment history, the pay flow, the return page, receipts and gateway notifications."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from db import payments as payment_queries
from routes.common import form_error_status, redirect, redirect_with_flash, render, text_field
from routes.guards import MEMBER_GUARDS
from services import payment_flow
from services.context import AppContext
from services.konbini_steps import konbini_steps
from services.payment_config import (
    GatewayState,
    PaymentNotConfigured,
    active_gateway,
    configured_gateway_name,
    gateway_state,
    get_gateway,
    refresh_demo_flag,
)
from services.payments import (
    GatewayUnavailable,
    NotificationIgnored,
    NotificationRejected,
    PaymentGateway,
    states,
)
from services.payments import gmo as gmo_protocol
from services.sessions import LoggedIn

log = logging.getLogger("tsudoi.payments")

NO_METHOD_MESSAGE = (
    "現在、オンラインでのお支払いを受け付けておりません。お手数ですが事務局までお問い合わせください。"
)
METHOD_REQUIRED = "お支払い方法を選んでください。"


async def _own_fee(request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, fee_id: int) -> Any:
    """The logged-in member's fee; another member's (or a missing) fee is 404."""
    fee = await payment_queries.member_fee(app_ctx.db, auth.member_id, fee_id)
    if fee is None:
        raise NotFoundException()
    return fee


async def _gateway(request: Request[Any, Any, Any], app_ctx: AppContext) -> PaymentGateway:
    return await active_gateway(app_ctx)


def _steps(attempt: Any) -> list[str]:
    return konbini_steps(attempt["konbini_store"], has_confirmation=bool(attempt["konbini_confirmation"]))


def _not_set_up(request: Request[Any, Any, Any], fee: Any, state: GatewayState) -> Template:
    """Every step of the pay flow while no gateway can take payments: how to pay instead."""
    if state.name:
        log.error("payment gateway %s not configured: %s", state.name, state.problem)
    return render(
        request,
        "payments/not_set_up.html",
        {"fee": fee, "page_title": "お支払い手続き"},
        status=503,
    )


class PaymentsController(Controller):
    path = "/payments"
    guards = MEMBER_GUARDS

    @get("/")
    async def history(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        fees = await payment_queries.member_fees(app_ctx.db, auth.member_id)
        now = app_ctx.clock.now()
        rows = [
            {
                "fee": fee,
                "view": payment_flow.fee_view(fee),
                "overdue": payment_flow.is_overdue(fee, now=now, tz=app_ctx.settings.tz),
            }
            for fee in fees
        ]
        state = await gateway_state(app_ctx)
        return render(
            request,
            "payments/page.html",
            {
                "rows": rows,
                "online": state.ready,
                "test_payments": state.sandbox,
                "page_title": "会費支払明細",
            },
        )

    @get("/{fee_id:int}/start")
    async def start(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, fee_id: int
    ) -> Response[Any]:
        """会員情報確認 支払手続き: the profile form first, unless it was saved today."""
        fee = await _own_fee(request, app_ctx, auth, fee_id)
        if fee["status"] == "paid":
            return redirect_with_flash(request, "/payments", "この会費はお支払い済みです。", "info")
        state = await gateway_state(app_ctx)
        if not state.ready:
            return _not_set_up(request, fee, state)
        if fee["attempt_state"] in payment_queries.LIVE_STATES:
            return redirect(request, payment_flow.checkout_page_url(fee_id))
        member = auth.member
        return redirect(
            request, payment_flow.start_url(member, fee_id, now=app_ctx.clock.now(), tz=app_ctx.settings.tz)
        )

    @get("/{fee_id:int}/method")
    async def method_page(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, fee_id: int
    ) -> Response[Any]:
        fee = await _own_fee(request, app_ctx, auth, fee_id)
        if fee["status"] == "paid":
            return redirect(request, "/payments")
        state = await gateway_state(app_ctx)
        if not state.ready:
            return _not_set_up(request, fee, state)
        if fee["attempt_state"] in payment_queries.LIVE_STATES:
            # The method is fixed once chosen: the back button lands on the chosen one.
            return redirect(request, payment_flow.checkout_page_url(fee_id))
        member = auth.member
        target = payment_flow.start_url(member, fee_id, now=app_ctx.clock.now(), tz=app_ctx.settings.tz)
        if target != payment_flow.method_page_url(fee_id):
            return redirect(request, target)
        return self._method_form(request, app_ctx, fee, {}, {}, test_payments=state.sandbox)

    def _method_form(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        fee: Any,
        values: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
        *,
        test_payments: bool,
    ) -> Template:
        amount = int(fee["amount"])
        methods = payment_flow.offered_methods(app_ctx.org, configured_gateway_name(app_ctx), amount)
        # Said only when convenience stores would otherwise be offered: the member learns why it is missing.
        limit_note = (
            payment_flow.konbini_limit_note(configured_gateway_name(app_ctx), amount)
            if "konbini" in payment_flow.enabled_methods(app_ctx.org)
            else None
        )
        if len(methods) == 1 and not values.get("method"):
            values = {**values, "method": methods[0]}
        return render(
            request,
            "payments/method.html",
            {
                "fee": fee,
                "methods": methods,
                "labels": payment_flow.METHOD_LABELS,
                "hints": payment_flow.METHOD_HINTS,
                "values": values,
                "errors": errors,
                "limit_note": limit_note,
                "no_method_message": NO_METHOD_MESSAGE,
                "test_payments": test_payments,
                "page_title": "お支払い方法の選択",
            },
            status=status,
        )

    @post("/{fee_id:int}/method")
    async def choose(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, fee_id: int
    ) -> Response[Any]:
        """決定: creates the attempt and fixes the method; a second 決定 reuses the first attempt."""
        fee = await _own_fee(request, app_ctx, auth, fee_id)
        if fee["status"] == "paid":
            return redirect(request, "/payments")
        state = await gateway_state(app_ctx)
        if not state.ready:
            return _not_set_up(request, fee, state)
        form = await request.form()
        method = text_field(form, "method", max_length=20)
        if fee["attempt_state"] in payment_queries.LIVE_STATES:
            return redirect(request, payment_flow.checkout_page_url(fee_id))
        offered = payment_flow.offered_methods(
            app_ctx.org, configured_gateway_name(app_ctx), int(fee["amount"])
        )
        if method not in offered:
            limit_note = payment_flow.konbini_limit_note(configured_gateway_name(app_ctx), int(fee["amount"]))
            if method == "konbini" and "konbini" in payment_flow.enabled_methods(app_ctx.org) and limit_note:
                message = limit_note
            elif not offered:
                message = NO_METHOD_MESSAGE
            else:
                message = METHOD_REQUIRED
            return self._method_form(
                request,
                app_ctx,
                fee,
                {"method": ""},
                {"method": message},
                status=form_error_status(request),
                test_payments=state.sandbox,
            )
        choice = await payment_flow.choose_method(
            app_ctx, member_id=auth.member_id, fee_id=fee_id, method=method, gateway=state.name
        )
        if choice.refused == "paid":
            return redirect(request, "/payments")
        return redirect(request, payment_flow.checkout_page_url(fee_id))

    async def _checkout_page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        fee: Any,
        *,
        error: str | None = None,
        status: int = 200,
    ) -> Response[Any]:
        attempt = await payment_queries.live_attempt(app_ctx.db, int(fee["id"]))
        if attempt is None:
            if fee["status"] == "paid":
                return redirect(request, "/payments")
            return redirect(request, payment_flow.method_page_url(int(fee["id"])))
        state = await gateway_state(app_ctx)
        if not state.ready:
            return _not_set_up(request, fee, state)
        return render(
            request,
            "payments/checkout.html",
            {
                "fee": fee,
                "attempt": attempt,
                "method_label": payment_flow.METHOD_LABELS.get(attempt["method"], attempt["method"]),
                "gateway_name": state.name,
                "test_payments": state.sandbox,
                "konbini_steps": _steps(attempt),
                "error": error,
                "page_title": "お支払い手続き",
            },
            status=status,
        )

    @get("/{fee_id:int}/checkout")
    async def checkout_page(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, fee_id: int
    ) -> Response[Any]:
        fee = await _own_fee(request, app_ctx, auth, fee_id)
        return await self._checkout_page(request, app_ctx, fee)

    @post("/{fee_id:int}/checkout")
    async def checkout(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, fee_id: int
    ) -> Response[Any]:
        """お支払い手続きページへ: to the gateway's hosted page (the same attempt every time)."""
        fee = await _own_fee(request, app_ctx, auth, fee_id)
        attempt = await payment_queries.live_attempt(app_ctx.db, fee_id)
        if attempt is None:
            return await self._checkout_page(request, app_ctx, fee)
        try:
            gateway = await _gateway(request, app_ctx)
            url = await payment_flow.start_checkout(
                app_ctx, gateway, member=auth.member, fee=fee, attempt_id=int(attempt["id"])
            )
        except GatewayUnavailable as error:
            log.warning("checkout failed: %s", error.detail)
            return await self._checkout_page(request, app_ctx, fee, error=error.message, status=503)
        except PaymentNotConfigured as error:
            log.error("payment gateway not configured: %s", error.detail)
            return _not_set_up(request, fee, GatewayState(name="", source=""))
        if url is None:
            return redirect(request, payment_flow.checkout_page_url(fee_id))
        return redirect(request, url)

    @get("/{fee_id:int}/receipt.pdf")
    async def receipt(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, fee_id: int
    ) -> Response[bytes]:
        fee = await _own_fee(request, app_ctx, auth, fee_id)
        if fee["status"] != "paid":
            raise NotFoundException()
        receipt = await payment_flow.receipt_pdf(app_ctx, auth.member, fee)
        filename = f"領収書_{receipt.receipt_number}{'_再発行' if receipt.reissue else ''}.pdf"
        return Response(
            receipt.pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="receipt-{receipt.receipt_number}.pdf"; '
                f"filename*=UTF-8''{quote(filename)}",
                "Cache-Control": "no-store",
            },
        )


_ORDER_ID = re.compile(r"[A-Za-z0-9-]{1,27}")


def _return_order(request: Request[Any, Any, Any], app_ctx: AppContext, result: str) -> str | None:
    """The order the gateway's return POST is about: RetUrl's own `order`, else the signed result's."""
    order_id = request.query_params.get("order", "")
    if _ORDER_ID.fullmatch(order_id):
        return order_id
    if not result or configured_gateway_name(app_ctx) != "gmo":
        return None
    try:
        gateway = get_gateway(app_ctx)
    except PaymentNotConfigured:
        return None
    if not isinstance(gateway, gmo_protocol.GmoGateway):
        return None
    try:
        # Only where to go is read from it, and only when GMO's hash proves it is GMO's.
        note = gateway.parse_return(result)
    except NotificationRejected:
        return None
    return note.order_id if note.order_id and _ORDER_ID.fullmatch(note.order_id) else None


class PaymentNotifyController(Controller):
    """Where the gateway sends things: its server-to-server reports (no login; /payments/notify
    is in CSRF_EXEMPT) and the member's browser on the way back (/payments/return: the page is
    for the logged-in member, GMO's cross-site POST to it needs neither login nor CSRF token).
    One controller, because both methods of /payments/return must live on one route."""

    path = "/payments"

    @get("/return", guards=MEMBER_GUARDS)
    async def returned(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Template:
        """Where the gateway sends the member back: shows the state, changes nothing."""
        order_id = request.query_params.get("order", "")[:40]
        attempt = await payment_queries.attempt_by_order(app_ctx.db, order_id) if order_id else None
        fee = None
        if attempt is not None:
            fee = await payment_queries.member_fee(app_ctx.db, auth.member_id, int(attempt["fee_id"]))
        if attempt is None or fee is None:
            raise NotFoundException()
        return render(
            request,
            "payments/return.html",
            {
                "fee": fee,
                "attempt": attempt,
                "state_label": states.STATE_LABELS.get(attempt["state"], attempt["state"]),
                "method_label": payment_flow.METHOD_LABELS.get(attempt["method"], attempt["method"]),
                "test_payments": attempt["gateway"] == "sandbox",
                "konbini_steps": _steps(attempt),
                "page_title": "お支払い手続きの結果",
            },
        )

    @post("/return", status_code=303, opt={"exclude_from_csrf": True})
    async def return_post(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        """GMO link type Plus brings the member back with a cross-site form POST to RetUrl
        (field `result`). The SameSite=Lax session cookie is not sent on it, so nothing is
        shown or changed here: a 303 turns it into a top-level GET of the return page, which
        carries the cookie and shows the state the notifications have set."""
        form = await request.form()
        result = text_field(form, "result", max_length=20_000)
        order_id = _return_order(request, app_ctx, result)
        if order_id is None:
            return Redirect("/payments", status_code=303)
        return Redirect(f"/payments/return?order={order_id}", status_code=303)

    @post("/notify/{gateway_name:str}", status_code=200)
    async def notify(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, gateway_name: str
    ) -> Response[Any]:
        await refresh_demo_flag(app_ctx)
        if gateway_name != configured_gateway_name(app_ctx):
            raise NotFoundException()
        try:
            gateway = get_gateway(app_ctx)
        except PaymentNotConfigured as error:
            log.error("payment notification while the gateway is not configured: %s", error.detail)
            return _answer(gateway_name, ok=False, status=503)
        raw = await request.body()
        try:
            result = await payment_flow.receive_notification(app_ctx, gateway, raw, dict(request.headers))
        except NotificationRejected as error:
            log.warning("payment notification rejected (%s): %s", gateway_name, error.reason)
            return _answer(gateway_name, ok=False, status=400)
        except NotificationIgnored as error:
            log.info("payment notification ignored (%s): %s", gateway_name, error.reason)
            return _answer(gateway_name, ok=True)
        except GatewayUnavailable as error:
            # GMO's reports are confirmed by asking GMO; if it cannot answer, ask to be sent again.
            log.warning("payment notification could not be confirmed: %s", error.detail)
            return _answer(gateway_name, ok=False, status=503)
        return _answer(gateway_name, ok=True, outcome=result.outcome)


def _answer(gateway_name: str, *, ok: bool, status: int = 200, outcome: str = "") -> Response[Any]:
    if gateway_name == "gmo":
        # GMO reads the body: "0" accepted, anything else makes it resend later.
        return Response(
            gmo_protocol.NOTIFY_OK if ok else gmo_protocol.NOTIFY_RETRY,
            status_code=status,
            media_type="text/plain",
        )
    return Response({"received": ok, "outcome": outcome}, status_code=status, media_type="application/json")
