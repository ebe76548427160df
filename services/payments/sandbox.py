"""The built-in sandbox gateway: the app serves its hosted page and sends itself signed reports."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from itsdangerous import BadSignature, URLSafeSerializer

from services.payments import states
from services.payments.base import (
    PAYMENT_METHODS,
    CheckoutRequest,
    CheckoutStart,
    Clock,
    KonbiniInfo,
    Notification,
    NotificationIgnored,
    NotificationRejected,
    PaymentError,
    PaymentGateway,
    header,
    parse_json_object,
    utc_now,
)
from services.payments.signing import DEFAULT_TOLERANCE_SECONDS, signature_header, verify_signature_header

SIGNATURE_HEADER: Final = "X-Sandbox-Signature"
PAGE_PATH: Final = "/sandbox-gateway/"
_TOKEN_SALT: Final = "tsudoi.sandbox-gateway.session"  # noqa: S105 - a salt names a purpose, it is not secret
DEFAULT_TOKEN_MAX_AGE: Final = 60 * 60
KONBINI_DAYS: Final = 3

OUTCOME_STATES: Final[dict[str, str]] = {
    "card_success": states.PAID,
    "card_declined": states.DECLINED,
    "konbini_issued": states.AWAITING_KONBINI,
    "konbini_paid": states.PAID,
    "konbini_expired": states.EXPIRED,
}

# Button labels for the sandbox hosted page, in the order they are offered.
OUTCOME_LABELS: Final[dict[str, str]] = {
    "card_success": "支払いに成功する",
    "card_declined": "カードが使えなかったことにする",
    "konbini_issued": "コンビニの支払い番号を発行する",
    "konbini_paid": "店頭で支払ったことにする",
    "konbini_expired": "支払い期限を過ぎたことにする",
}

# The stores the sandbox offers; the member picks one on its page, as on a real gateway's.
KONBINI_STORES: Final = ("ファミリーマート", "ローソン", "ミニストップ", "セイコーマート")


class SandboxTokenInvalid(PaymentError):
    """The sandbox page link was altered or is too old; the member starts again."""

    def __init__(self, reason: str) -> None:
        self.message = (
            "お支払いページの有効期限が切れているか、URLが正しくありません。もう一度お手続きください。"
        )
        super().__init__(self.message)
        self.reason = reason


@dataclass(frozen=True)
class SandboxSession:
    """What the sandbox page needs, carried in its signed URL token."""

    reference: str
    attempt_id: str
    order_id: str
    amount: int
    method: str
    description: str
    return_url: str
    notify_url: str
    expires_at: datetime


def make_session_token(
    secret: str,
    attempt: CheckoutRequest,
    reference: str,
    *,
    clock: Clock = utc_now,
    max_age: int = DEFAULT_TOKEN_MAX_AGE,
) -> str:
    """A signed, URL-safe token naming the attempt, amount and method for the sandbox page."""
    expires = int((clock() + timedelta(seconds=max_age)).timestamp())
    payload = {
        "ref": reference,
        "att": attempt.attempt_id,
        "ord": attempt.order_id,
        "amt": attempt.amount,
        "met": attempt.method,
        "dsc": attempt.description,
        "ret": attempt.return_url,
        "ntf": attempt.notify_url,
        "exp": expires,
    }
    return str(URLSafeSerializer(secret, salt=_TOKEN_SALT).dumps(payload))


def read_session_token(secret: str, token: str, *, clock: Clock = utc_now) -> SandboxSession:
    """The session in a token; SandboxTokenInvalid when it was tampered with or has expired."""
    try:
        data = URLSafeSerializer(secret, salt=_TOKEN_SALT).loads(token)
    except BadSignature as exc:
        raise SandboxTokenInvalid("bad token signature") from exc
    try:
        session = SandboxSession(
            reference=str(data["ref"]),
            attempt_id=str(data["att"]),
            order_id=str(data["ord"]),
            amount=int(data["amt"]),
            method=str(data["met"]),
            description=str(data["dsc"]),
            return_url=str(data["ret"]),
            notify_url=str(data["ntf"]),
            expires_at=datetime.fromtimestamp(int(data["exp"]), tz=clock().tzinfo),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SandboxTokenInvalid("malformed token") from exc
    if session.expires_at <= clock():
        raise SandboxTokenInvalid("token expired")
    return session


def outcomes_for(method: str, state: str) -> list[tuple[str, str]]:
    """The (outcome, button label) pairs the sandbox page offers for an attempt in `state`."""
    if method not in PAYMENT_METHODS:
        raise ValueError(f"unknown payment method: {method!r}")
    if method == "card":
        names = ["card_success", "card_declined"] if state == states.PENDING else []
    elif state == states.PENDING:
        names = ["konbini_issued"]
    elif state == states.AWAITING_KONBINI:
        names = ["konbini_paid", "konbini_expired"]
    else:
        names = []
    return [(name, OUTCOME_LABELS[name]) for name in names]


def build_notification(
    attempt_ref: str,
    outcome: str,
    amount: int,
    secret: str,
    *,
    clock: Clock = utc_now,
    store: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A signed JSON report, as a real gateway would POST it to the notify URL."""
    if outcome not in OUTCOME_STATES:
        raise ValueError(f"unknown sandbox outcome: {outcome!r}")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError("amount must be a positive whole number of yen")
    if not secret:
        raise ValueError("a signing secret is required")
    now = clock()
    event: dict[str, Any] = {
        "id": f"evt_sbx_{uuid.uuid4().hex}",
        "type": outcome,
        "reference": attempt_ref,
        "amount": amount,
        "created": int(now.timestamp()),
    }
    if outcome == "konbini_issued":
        event["konbini"] = {
            "store": store or secrets.choice(KONBINI_STORES),
            "payment_number": "".join(secrets.choice("0123456789") for _ in range(11)),
            "confirmation_number": "".join(secrets.choice("0123456789") for _ in range(6)),
            "deadline": (now + timedelta(days=KONBINI_DAYS)).isoformat(),
        }
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    timestamp = int(now.timestamp())
    return body, {
        SIGNATURE_HEADER: signature_header(body, secret, timestamp),
        "Content-Type": "application/json",
    }


def _konbini_from(data: object) -> KonbiniInfo | None:
    if not isinstance(data, dict):
        return None
    try:
        return KonbiniInfo(
            store=str(data["store"]),
            payment_number=str(data["payment_number"]),
            confirmation_number=str(data["confirmation_number"]),
            deadline=datetime.fromisoformat(str(data["deadline"])),
        )
    except (KeyError, ValueError) as exc:
        raise NotificationRejected("malformed konbini details") from exc


class SandboxGateway(PaymentGateway):
    """The demo and test gateway: no outside service, the same flow as a real one.

    Keep one instance per app: fetch_state answers from the reports this instance has
    accepted, in memory (the database stays the record of truth).
    """

    name = "sandbox"

    def __init__(
        self,
        base_url: str,
        secret: str,
        *,
        clock: Clock = utc_now,
        token_max_age: int = DEFAULT_TOKEN_MAX_AGE,
        tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    ) -> None:
        if not secret:
            raise ValueError("the sandbox gateway needs a secret")
        if not base_url.startswith(("https://", "http://")):
            raise ValueError("base_url must be an absolute http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.clock = clock
        self.token_max_age = token_max_age
        self.tolerance = tolerance
        # The sandbox has no server of its own: what it has accepted is what it "knows".
        self._known: dict[str, Notification] = {}

    async def start_checkout(self, attempt: CheckoutRequest) -> CheckoutStart:
        reference = f"sbx-{attempt.order_id}"
        token = make_session_token(
            self.secret, attempt, reference, clock=self.clock, max_age=self.token_max_age
        )
        return CheckoutStart(redirect_url=f"{self.base_url}{PAGE_PATH}{token}", reference=reference)

    def read_session(self, token: str) -> SandboxSession:
        return read_session_token(self.secret, token, clock=self.clock)

    def build_notification(
        self, attempt_ref: str, outcome: str, amount: int, *, store: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        return build_notification(attempt_ref, outcome, amount, self.secret, clock=self.clock, store=store)

    def parse_notification(self, raw_body: bytes, headers: Mapping[str, str]) -> Notification:
        verify_signature_header(
            raw_body,
            header(headers, SIGNATURE_HEADER),
            [self.secret],
            now=self.clock(),
            tolerance=self.tolerance,
        )
        event = parse_json_object(raw_body)
        outcome = event.get("type")
        if not isinstance(outcome, str) or outcome not in OUTCOME_STATES:
            raise NotificationIgnored(f"unknown sandbox outcome {outcome!r}")
        event_id, reference, amount = event.get("id"), event.get("reference"), event.get("amount")
        if not isinstance(event_id, str) or not event_id or not isinstance(reference, str) or not reference:
            raise NotificationRejected("missing id or reference")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise NotificationRejected("amount is not a whole number")
        created = event.get("created")
        note = Notification(
            gateway=self.name,
            key=event_id,
            reference=reference,
            order_id=reference.removeprefix("sbx-"),
            state=OUTCOME_STATES[outcome],
            amount=amount,
            raw=raw_body.decode("utf-8"),
            konbini=_konbini_from(event.get("konbini")) if outcome == "konbini_issued" else None,
            occurred_at=datetime.fromtimestamp(created, tz=self.clock().tzinfo)
            if isinstance(created, int)
            else None,
        )
        self._remember(note)
        return note

    def _remember(self, note: Notification) -> None:
        known = self._known.get(note.reference)
        if known is None or states.next_state(known.state, note.state) is not None:
            self._known[note.reference] = note

    async def fetch_state(self, reference: str) -> Notification:
        known = self._known.get(reference)
        if known is not None:
            return known
        return Notification(
            gateway=self.name,
            key=f"sbx-state:{reference}:{states.PENDING}",
            reference=reference,
            order_id=reference.removeprefix("sbx-"),
            state=states.PENDING,
            amount=None,
            raw="",
        )

    async def cancel(self, reference: str) -> None:
        current = await self.fetch_state(reference)
        if current.state in states.ADMIN_CANCELLABLE:
            self._known[reference] = Notification(
                gateway=self.name,
                key=f"sbx-state:{reference}:{states.CANCELLED}",
                reference=reference,
                order_id=current.order_id,
                state=states.CANCELLED,
                amount=current.amount,
                raw="",
            )
