"""A fake Stripe API (Checkout Sessions, PaymentIntents) and webhook events signed as Stripe documents."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http import FakeServer, RecordedRequest, Reply

_counter = itertools.count(1)


@dataclass
class FakeStripeServer(FakeServer):
    secret_key: str = "sk_test_fake"
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[str, str] = field(default_factory=dict)
    # Set to the test's clock (epoch seconds) to give sessions Stripe's 24-hour expires_at.
    now: int | None = None
    # Finish every session at once (card paid, konbini number issued), as a person would.
    auto_complete: bool = False

    def reset(self) -> None:
        super().reset()
        self.now = None
        self.auto_complete = False
        self.sessions.clear()
        self.payment_intents.clear()
        self.idempotency.clear()

    def handle(self, request: RecordedRequest) -> Reply:
        if request.header("Authorization") != f"Bearer {self.secret_key}":
            return Reply.json(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}})
        if request.method == "POST" and request.path == "/v1/checkout/sessions":
            return self._create(request)
        match = re.fullmatch(r"/v1/checkout/sessions/(cs_[A-Za-z0-9_]+)(/expire)?", request.path)
        if match:
            session = self.sessions.get(match.group(1))
            if session is None:
                return Reply.json(
                    404, {"error": {"type": "invalid_request_error", "message": "No such session"}}
                )
            if match.group(2):
                if session["status"] != "open":
                    return Reply.json(400, {"error": {"message": "Only open sessions can be expired"}})
                session["status"] = "expired"
            return Reply.json(200, self._view(session, ("expand[0]", "payment_intent") in request.query))
        match = re.fullmatch(r"/v1/payment_intents/(pi_[A-Za-z0-9_]+)/cancel", request.path)
        if match and match.group(1) in self.payment_intents:
            intent = self.payment_intents[match.group(1)]
            intent["status"] = "canceled"
            intent["next_action"] = None
            return Reply.json(200, intent)
        return Reply.json(404, {"error": {"message": "Unrecognized request URL"}})

    def _create(self, request: RecordedRequest) -> Reply:
        key = request.header("Idempotency-Key")
        if key and key in self.idempotency:
            return Reply.json(200, self.sessions[self.idempotency[key]])
        form = request.form()
        if form.get("line_items[0][price_data][currency]") != "jpy" or form.get("mode") != "payment":
            return Reply.json(400, {"error": {"message": "Invalid request"}})
        session_id = f"cs_test_{next(_counter)}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
            "currency": "jpy",
            "client_reference_id": form.get("client_reference_id"),
            "payment_intent": None,
            "metadata": {"order_id": form.get("metadata[order_id]")},
        }
        if self.now is not None:
            session["expires_at"] = self.now + 24 * 3600
        self.sessions[session_id] = session
        if key:
            self.idempotency[key] = session_id
        if self.auto_complete:
            reply = Reply.json(200, session)
            self.complete(session_id, konbini=form.get("payment_method_types[0]") == "konbini")
            return reply
        return Reply.json(200, session)

    def _view(self, session: dict[str, Any], expand: bool) -> dict[str, Any]:
        if (
            self.now is not None
            and session["status"] == "open"
            and self.now >= session.get("expires_at", self.now + 1)
        ):
            session["status"] = "expired"  # Stripe ends an unpaid session at expires_at
        view = dict(session)
        if expand and session["payment_intent"]:
            view["payment_intent"] = self.payment_intents[session["payment_intent"]]
        return view

    def complete(self, session_id: str, *, konbini: bool = False) -> dict[str, Any]:
        """What Stripe does when the member finishes the hosted page; returns the session."""
        session = self.sessions[session_id]
        intent_id = f"pi_test_{next(_counter)}"
        intent: dict[str, Any] = {"id": intent_id, "object": "payment_intent", "status": "succeeded"}
        if konbini:
            intent["status"] = "requires_action"
            intent["next_action"] = {
                "type": "konbini_display_details",
                "konbini_display_details": konbini_details(),
            }
        self.payment_intents[intent_id] = intent
        session.update(
            status="complete", payment_status="unpaid" if konbini else "paid", payment_intent=intent_id
        )
        return session


def konbini_details() -> dict[str, Any]:
    return {
        "expires_at": 1743778799,
        "hosted_voucher_url": "https://payments.stripe.com/konbini/voucher/test_123",
        "stores": {
            "familymart": {"confirmation_number": "44321", "payment_code": "123456789012"},
            "lawson": {"confirmation_number": "11223", "payment_code": "998877665544"},
            "ministop": {"confirmation_number": "11223", "payment_code": "998877665544"},
            "seicomart": {"confirmation_number": "11223", "payment_code": "998877665544"},
        },
    }


def event_body(
    event_type: str, session: dict[str, Any], *, event_id: str | None = None, created: int = 0
) -> bytes:
    event = {
        "id": event_id or f"evt_test_{next(_counter)}",
        "object": "event",
        "type": event_type,
        "created": created,
        "data": {"object": session},
    }
    return json.dumps(event).encode("utf-8")


def signature_header(payload: bytes, secret: str, timestamp: int, *extra_secrets: str) -> str:
    """Stripe-Signature: t=…,v1=… where v1 is HMAC-SHA256(secret, "{t}.{payload}") in hex."""
    parts = [f"t={timestamp}"]
    for key in (secret, *extra_secrets):
        digest = hmac.new(key.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
        parts.append(f"v1={digest}")
    return ",".join(parts)
