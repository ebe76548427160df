"""Stripe Checkout adapter over plain HTTP: sessions, signed webhooks, and konbini details."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

import httpx

from services.payments import states
from services.payments.base import (
    DEFAULT_TIMEOUT,
    CheckoutRequest,
    CheckoutStart,
    Clock,
    GatewayUnavailable,
    HttpGateway,
    KonbiniInfo,
    KonbiniStoreCode,
    Notification,
    NotificationIgnored,
    NotificationRejected,
    header,
    parse_json_object,
    utc_now,
)
from services.payments.signing import DEFAULT_TOLERANCE_SECONDS, verify_signature_header

DEFAULT_API_BASE: Final = "https://api.stripe.com"
SIGNATURE_HEADER: Final = "Stripe-Signature"

_STORE_NAMES: Final[dict[str, str]] = {
    "familymart": "ファミリーマート",
    "lawson": "ローソン",
    "ministop": "ミニストップ",
    "seicomart": "セイコーマート",
}


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    """Stripe's form encoding of nested data: a[b][0][c]=value."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}[{key}]" if prefix else str(key), item, out)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out)
    elif isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    elif value is not None:
        out.append((prefix, str(value)))


def form_encode(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    _flatten("", data, out)
    return out


def konbini_from_payment_intent(payment_intent: object) -> KonbiniInfo | None:
    """The konbini codes in a PaymentIntent's next_action, when it is expanded and has them."""
    if not isinstance(payment_intent, Mapping):
        return None
    next_action = payment_intent.get("next_action")
    if not isinstance(next_action, Mapping):
        return None
    details = next_action.get("konbini_display_details")
    if not isinstance(details, Mapping) or not isinstance(details.get("stores"), Mapping):
        return None
    # Stripe gives one code per chain; chains sharing a code are shown together.
    groups: dict[tuple[str, str | None], list[str]] = {}
    for chain, codes in details["stores"].items():
        if isinstance(codes, Mapping) and codes.get("payment_code"):
            group = (str(codes["payment_code"]), codes.get("confirmation_number") or None)
            groups.setdefault(group, []).append(_STORE_NAMES.get(chain, chain))
    if not groups:
        return None
    (first_code, first_conf), first_stores = next(iter(groups.items()))
    expires_at = details.get("expires_at")
    voucher = details.get("hosted_voucher_url")
    return KonbiniInfo(
        store="・".join(first_stores),
        payment_number=first_code,
        confirmation_number=first_conf,
        deadline=datetime.fromtimestamp(expires_at, tz=utc_now().tzinfo)
        if isinstance(expires_at, int)
        else None,
        voucher_url=voucher if isinstance(voucher, str) else None,
        other_stores=tuple(
            KonbiniStoreCode(store="・".join(names), payment_number=code, confirmation_number=conf)
            for (code, conf), names in list(groups.items())[1:]
        ),
    )


def _state_of_session(session: Mapping[str, Any]) -> str:
    """Where a retrieved Checkout Session stands (the webhook-free view used by fetch_state)."""
    if session.get("status") == "expired":
        return states.EXPIRED
    if session.get("status") != "complete":
        return states.PENDING
    if session.get("payment_status") in ("paid", "no_payment_required"):
        return states.PAID
    intent = session.get("payment_intent")
    intent_status = intent.get("status") if isinstance(intent, Mapping) else None
    if intent_status == "succeeded":
        return states.PAID
    if intent_status in ("canceled", "requires_payment_method"):
        return states.EXPIRED
    return states.AWAITING_KONBINI


class StripeGateway(HttpGateway):
    """Stripe Checkout in payment mode, card or konbini, JPY; no SDK, just its HTTP API."""

    name = "stripe"

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str | Sequence[str],
        *,
        api_base: str = DEFAULT_API_BASE,
        konbini_days: int = 3,
        api_version: str | None = None,
        tolerance: int = DEFAULT_TOLERANCE_SECONDS,
        timeout: float = DEFAULT_TIMEOUT,
        client: httpx.AsyncClient | None = None,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(api_base, timeout=timeout, client=client)
        if not secret_key:
            raise ValueError("Stripe needs a secret key")
        secrets = [webhook_secret] if isinstance(webhook_secret, str) else list(webhook_secret)
        if not any(secrets):
            raise ValueError("Stripe needs a webhook signing secret")
        if not 1 <= konbini_days <= 60:
            raise ValueError("konbini_days must be between 1 and 60")
        self.secret_key = secret_key
        self.webhook_secrets = [secret for secret in secrets if secret]
        self.konbini_days = konbini_days
        self.api_version = api_version
        self.tolerance = tolerance
        self.clock = clock

    def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.secret_key}"}
        if self.api_version:
            headers["Stripe-Version"] = self.api_version
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    async def _call(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        response = await self._request(
            method,
            path,
            headers=self._headers(idempotency_key),
            data=dict(form_encode(form)) if form is not None and method == "POST" else None,
            params=form_encode(form) if form is not None and method == "GET" else None,
        )
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200 or not isinstance(data, dict):
            error = data.get("error") if isinstance(data, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            raise GatewayUnavailable(f"stripe: {method} {path} failed ({response.status_code}): {message}")
        return data

    def build_session_params(self, attempt: CheckoutRequest) -> dict[str, Any]:
        """The Checkout Session fields for one attempt (before form encoding)."""
        metadata = {"attempt_id": attempt.attempt_id, "order_id": attempt.order_id}
        params: dict[str, Any] = {
            "mode": "payment",
            "payment_method_types": ["card" if attempt.method == "card" else "konbini"],
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        # JPY is zero-decimal at Stripe: unit_amount is whole yen.
                        "currency": "jpy",
                        "unit_amount": attempt.amount,
                        "product_data": {"name": attempt.description},
                    },
                }
            ],
            "client_reference_id": attempt.order_id,
            "customer_email": attempt.member_email,
            "success_url": attempt.return_url,
            "cancel_url": attempt.return_url,
            "locale": "ja",
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
        }
        if attempt.method == "konbini":
            params["payment_method_options"] = {"konbini": {"expires_after_days": self.konbini_days}}
        return params

    async def start_checkout(self, attempt: CheckoutRequest) -> CheckoutStart:
        # The key is per attempt, so a double click or a retry after a timeout reuses the session.
        session = await self._call(
            "POST",
            "/v1/checkout/sessions",
            form=self.build_session_params(attempt),
            idempotency_key=f"tsudoi-checkout-{attempt.attempt_id}",
        )
        url, session_id = session.get("url"), session.get("id")
        if not isinstance(url, str) or not isinstance(session_id, str):
            raise GatewayUnavailable("stripe: session response without id or url")
        # Stripe ends an unpaid session after 24 hours (expires_at); the pay flow then makes a new one.
        expires_at = session.get("expires_at")
        return CheckoutStart(
            redirect_url=url,
            reference=session_id,
            expires_at=datetime.fromtimestamp(expires_at, tz=UTC)
            if isinstance(expires_at, int) and not isinstance(expires_at, bool)
            else None,
        )

    def parse_notification(self, raw_body: bytes, headers: Mapping[str, str]) -> Notification:
        verify_signature_header(
            raw_body,
            header(headers, SIGNATURE_HEADER),
            self.webhook_secrets,
            now=self.clock(),
            tolerance=self.tolerance,
        )
        event = parse_json_object(raw_body)
        event_id, event_type = event.get("id"), event.get("type")
        data = event.get("data")
        session = data.get("object") if isinstance(data, Mapping) else None
        if (
            not isinstance(event_id, str)
            or not isinstance(event_type, str)
            or not isinstance(session, Mapping)
        ):
            raise NotificationRejected("event without id, type or data.object")
        if event_type == "checkout.session.completed":
            paid = session.get("payment_status") in ("paid", "no_payment_required")
            state = states.PAID if paid else states.AWAITING_KONBINI
        elif event_type == "checkout.session.async_payment_succeeded":
            state = states.PAID
        elif event_type in ("checkout.session.async_payment_failed", "checkout.session.expired"):
            # For konbini, "failed" means the deadline passed without payment.
            state = states.EXPIRED
        else:
            raise NotificationIgnored(f"event type {event_type} is not tracked")
        session_id = session.get("id")
        if not isinstance(session_id, str) or not session_id:
            raise NotificationRejected("session without id")
        if session.get("currency") not in (None, "jpy"):
            raise NotificationRejected("session is not in JPY")
        amount = session.get("amount_total")
        created = event.get("created")
        return Notification(
            gateway=self.name,
            key=event_id,
            reference=session_id,
            order_id=session.get("client_reference_id")
            if isinstance(session.get("client_reference_id"), str)
            else None,
            state=state,
            amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
            raw=raw_body.decode("utf-8"),
            konbini=konbini_from_payment_intent(session.get("payment_intent"))
            if state == states.AWAITING_KONBINI
            else None,
            occurred_at=datetime.fromtimestamp(created, tz=self.clock().tzinfo)
            if isinstance(created, int)
            else None,
        )

    async def _session(self, reference: str) -> dict[str, Any]:
        if not reference.startswith("cs_"):
            raise ValueError("a Stripe reference is a Checkout Session id (cs_...)")
        return await self._call(
            "GET", f"/v1/checkout/sessions/{quote(reference, safe='')}", form={"expand": ["payment_intent"]}
        )

    async def fetch_state(self, reference: str) -> Notification:
        session = await self._session(reference)
        state = _state_of_session(session)
        amount = session.get("amount_total")
        return Notification(
            gateway=self.name,
            key=f"stripe-session:{reference}:{state}",
            reference=reference,
            order_id=session.get("client_reference_id")
            if isinstance(session.get("client_reference_id"), str)
            else None,
            state=state,
            amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
            raw="",
            konbini=konbini_from_payment_intent(session.get("payment_intent"))
            if state == states.AWAITING_KONBINI
            else None,
        )

    async def cancel(self, reference: str) -> None:
        """An open session is expired; an issued konbini payment has its PaymentIntent cancelled."""
        session = await self._session(reference)
        state = _state_of_session(session)
        if state == states.PENDING and session.get("status") == "open":
            await self._call("POST", f"/v1/checkout/sessions/{quote(reference, safe='')}/expire", form={})
        elif state == states.AWAITING_KONBINI:
            intent = session.get("payment_intent")
            intent_id = intent.get("id") if isinstance(intent, Mapping) else intent
            if isinstance(intent_id, str) and intent_id:
                await self._call("POST", f"/v1/payment_intents/{quote(intent_id, safe='')}/cancel", form={})
