"""Timestamped HMAC-SHA256 signatures in the `t=…,v1=…` header form (Stripe's, reused by the sandbox)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from services.payments.base import NotificationRejected

DEFAULT_TOLERANCE_SECONDS: Final = 300


def compute_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 over "{timestamp}.{payload}" with the shared secret."""
    signed = str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    return f"t={timestamp},v1={compute_signature(payload, secret, timestamp)}"


def verify_signature_header(
    payload: bytes,
    header_value: str | None,
    secrets: Sequence[str],
    *,
    now: datetime,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Check a `t=…,v1=…` header and return its timestamp; raise NotificationRejected otherwise.

    Several v1 entries are allowed (the sender signs with old and new secrets while a
    secret is rolled) and so are several secrets on our side; any match is enough.
    The timestamp window is what makes a captured message useless for a later replay.
    Only messages older than the tolerance are refused, as Stripe's own libraries do: a
    timestamp ahead of our clock means our clock is slow, not that the message is a replay,
    and refusing it would drop genuine payments whenever the server's clock drifts.
    """
    if not header_value:
        raise NotificationRejected("missing signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header_value.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError as exc:
                raise NotificationRejected("signature timestamp is not a number") from exc
        elif key == "v1":
            candidates.append(value)
    if timestamp is None:
        raise NotificationRejected("signature header has no timestamp")
    if not candidates:
        raise NotificationRejected("signature header has no v1 signature")
    if timestamp < now.timestamp() - tolerance:
        raise NotificationRejected("signature timestamp outside tolerance (too old)")
    usable = [secret for secret in secrets if secret]
    if not usable:
        raise NotificationRejected("no signing secret configured")
    for secret in usable:
        expected = compute_signature(payload, secret, timestamp)
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return timestamp
    raise NotificationRejected("signature does not match")
