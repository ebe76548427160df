"""The gateway interface every payment adapter implements, and the data it takes and returns."""

from __future__ import annotations

import abc
import dataclasses
import functools
import json
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import certifi
import httpx

from services.payments import states

PaymentMethod = Literal["card", "konbini"]
PAYMENT_METHODS: Final[frozenset[str]] = frozenset({"card", "konbini"})

Clock = Callable[[], datetime]

UNAVAILABLE_MESSAGE: Final = "決済サービスに接続できませんでした。しばらくしてからもう一度お試しください。"

# What one convenience-store payment may be, in yen, per gateway: Stripe's konbini takes
# ¥120–¥300,000; GMO's convenience stores refuse more than ¥300,000. The sandbox, and a
# gateway not chosen yet, use the narrower range so a trial run behaves like either real one.
KONBINI_LIMITS: Final[dict[str, tuple[int, int]]] = {
    "stripe": (120, 300_000),
    "gmo": (1, 300_000),
}
DEFAULT_KONBINI_LIMITS: Final = (120, 300_000)


def konbini_limits(gateway_name: str | None) -> tuple[int, int]:
    """The smallest and largest convenience-store payment (yen) the gateway accepts."""
    return KONBINI_LIMITS.get(gateway_name or "", DEFAULT_KONBINI_LIMITS)


def konbini_allows(gateway_name: str | None, amount: int) -> bool:
    low, high = konbini_limits(gateway_name)
    return low <= amount <= high


DEFAULT_TIMEOUT: Final = 10.0

# GMO's OrderID is the tightest limit of the three gateways: 27 characters of A-Z a-z 0-9 and "-".
_ORDER_ID = re.compile(r"^[A-Za-z0-9-]{1,27}$")


def utc_now() -> datetime:
    return datetime.now(UTC)


class PaymentError(Exception):
    """Base of every error raised by the payment layer."""


class GatewayUnavailable(PaymentError):
    """The gateway could not be reached, timed out or refused the request.

    `message` is what the member sees; `detail` is for the log only.
    """

    def __init__(self, detail: str = "", message: str = UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class NotificationRejected(PaymentError):
    """A notification that must not be trusted (bad signature, stale, malformed).

    The notify route answers 400 and stores nothing; `reason` is for the log.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotificationIgnored(PaymentError):
    """A genuine notification about something we do not track (another event type).

    The notify route answers with success so the gateway stops resending it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CheckoutRequest:
    """One payment attempt to hand to a gateway."""

    attempt_id: str
    order_id: str
    amount: int
    method: PaymentMethod
    member_name: str
    member_email: str
    return_url: str
    notify_url: str
    description: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise ValueError("amount must be a positive whole number of yen")
        if self.amount > 9_999_999:
            raise ValueError("amount exceeds what the gateways accept (9,999,999 yen)")
        if self.method not in PAYMENT_METHODS:
            raise ValueError(f"unknown payment method: {self.method!r}")
        if not _ORDER_ID.fullmatch(self.order_id):
            raise ValueError("order_id must be 1-27 characters of A-Z, a-z, 0-9 or '-'")
        if not str(self.attempt_id):
            raise ValueError("attempt_id must not be empty")
        for name in ("return_url", "notify_url"):
            value = getattr(self, name)
            if not value.startswith(("https://", "http://")):
                raise ValueError(f"{name} must be an absolute http(s) URL")
        if not self.description.strip():
            raise ValueError("description must not be empty")


@dataclass(frozen=True)
class CheckoutStart:
    """Where to send the member, the gateway's reference to store with the attempt, and when
    the hosted page stops taking payments (None: the gateway sets no end we know of)."""

    redirect_url: str
    reference: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class KonbiniStoreCode:
    """Codes for stores that use a different number from the main one (Stripe gives one per chain)."""

    store: str
    payment_number: str
    confirmation_number: str | None = None


@dataclass(frozen=True)
class KonbiniInfo:
    """What the member needs to pay at the store: told by mail and on the payment page."""

    store: str
    payment_number: str
    confirmation_number: str | None
    deadline: datetime | None
    voucher_url: str | None = None
    other_stores: tuple[KonbiniStoreCode, ...] = ()


@dataclass(frozen=True)
class Notification:
    """A gateway's report about one attempt, normalized to our states.

    `key` is unique per report and is what de-duplication stores. When
    `needs_confirmation` is set the report was not signed and only `fetch_state`
    may be believed (see `PaymentGateway.receive`).
    """

    gateway: str
    key: str
    reference: str
    order_id: str | None
    state: str
    amount: int | None
    raw: str
    konbini: KonbiniInfo | None = None
    needs_confirmation: bool = False
    occurred_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.state not in states.ALL_STATES:
            raise ValueError(f"unknown payment attempt state: {self.state!r}")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup: frameworks differ in how they spell header names."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def parse_json_object(raw_body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw_body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotificationRejected("body is not JSON") from exc
    if not isinstance(data, dict):
        raise NotificationRejected("body is not a JSON object")
    return data


class PaymentGateway(abc.ABC):
    """One payment gateway: start a hosted checkout, read its reports, ask it, cancel."""

    name: str = ""

    @abc.abstractmethod
    async def start_checkout(self, attempt: CheckoutRequest) -> CheckoutStart:
        """Create the hosted payment page for this attempt."""

    @abc.abstractmethod
    def parse_notification(self, raw_body: bytes, headers: Mapping[str, str]) -> Notification:
        """Check and read a server-to-server report; raise NotificationRejected if untrusted."""

    @abc.abstractmethod
    async def fetch_state(self, reference: str) -> Notification:
        """Ask the gateway where this payment stands now."""

    @abc.abstractmethod
    async def cancel(self, reference: str) -> None:
        """Stop the payment at the gateway, so it can no longer be paid (admin cancel)."""

    async def receive(
        self, raw_body: bytes, headers: Mapping[str, str], *, method: str | None = None
    ) -> Notification:
        """parse_notification, then `confirm`: what the route should store."""
        return await self.confirm(self.parse_notification(raw_body, headers), method=method)

    async def confirm(self, note: Notification, *, method: str | None = None) -> Notification:
        """What to store for a parsed report; `method` is the attempt's own (card/konbini) when known.

        An unsigned report is replaced by the gateway's own answer (keeping the report's
        key and raw body for de-duplication and the record). A konbini report without
        the payment number is filled from the gateway when it can be: the member's mail
        needs the number, but losing the state change for it would be worse.
        """
        if note.needs_confirmation:
            confirmed = await self.confirm_state(note, method=method)
            return dataclasses.replace(confirmed, key=note.key, raw=note.raw, needs_confirmation=False)
        if note.state == states.AWAITING_KONBINI and note.konbini is None:
            try:
                current = await self.confirm_state(note, method=method)
            except GatewayUnavailable:
                return note
            if current.konbini is not None:
                return dataclasses.replace(note, konbini=current.konbini)
        return note

    async def confirm_state(self, note: Notification, *, method: str | None = None) -> Notification:
        """The gateway's answer while it waits for ours (fetch_state; GMO makes it quicker)."""
        return await self.fetch_state(note.reference)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Building a context loads the CA bundle (tens of milliseconds); once per process is enough.
    return ssl.create_default_context(cafile=certifi.where())


class HttpGateway(PaymentGateway):
    """Shared HTTP plumbing: timeouts, and every transport failure as GatewayUnavailable."""

    def __init__(self, api_base: str, *, timeout: float, client: httpx.AsyncClient | None) -> None:
        if not api_base.startswith(("https://", "http://")):
            raise ValueError("api_base must be an absolute http(s) URL")
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self._client = client

    async def _request(
        self, method: str, path: str, *, limit: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        url = f"{self.api_base}{path}"
        limit = self.timeout if limit is None else limit
        try:
            if self._client is not None:
                return await self._client.request(method, url, timeout=limit, **kwargs)
            async with httpx.AsyncClient(timeout=limit, verify=_tls_context()) as client:
                return await client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise GatewayUnavailable(f"{self.name}: timeout calling {path}") from exc
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(f"{self.name}: {type(exc).__name__} calling {path}") from exc


__all__ = [
    "DEFAULT_KONBINI_LIMITS",
    "KONBINI_LIMITS",
    "PAYMENT_METHODS",
    "UNAVAILABLE_MESSAGE",
    "CheckoutRequest",
    "CheckoutStart",
    "Clock",
    "GatewayUnavailable",
    "KonbiniInfo",
    "KonbiniStoreCode",
    "Notification",
    "NotificationIgnored",
    "NotificationRejected",
    "PaymentError",
    "PaymentGateway",
    "PaymentMethod",
    "konbini_allows",
    "konbini_limits",
    "utc_now",
]
