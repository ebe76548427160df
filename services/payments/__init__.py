"""Annual-fee payments: the gateway interface, its adapters, and the attempt state machine."""

from __future__ import annotations

from typing import Any

from services.payments.base import (
    UNAVAILABLE_MESSAGE,
    CheckoutRequest,
    CheckoutStart,
    GatewayUnavailable,
    KonbiniInfo,
    KonbiniStoreCode,
    Notification,
    NotificationIgnored,
    NotificationRejected,
    PaymentError,
    PaymentGateway,
    PaymentMethod,
)

GATEWAY_NAMES = ("sandbox", "gmo", "stripe")


def make_gateway(name: str, **config: Any) -> PaymentGateway:
    """The gateway named by TSUDOI_PAYMENT_GATEWAY, built from its constructor arguments.

    sandbox: base_url, secret; gmo: api_base, shop_id, shop_pass[, config_id, ...];
    stripe: secret_key, webhook_secret[, api_base, ...].
    """
    # Imported here so choosing the sandbox never needs the other adapters' settings.
    if name == "sandbox":
        from services.payments.sandbox import SandboxGateway

        return SandboxGateway(**config)
    if name == "gmo":
        from services.payments.gmo import GmoGateway

        return GmoGateway(**config)
    if name == "stripe":
        from services.payments.stripe import StripeGateway

        return StripeGateway(**config)
    raise ValueError(f"unknown payment gateway {name!r}; choose one of {', '.join(GATEWAY_NAMES)}")


__all__ = [
    "GATEWAY_NAMES",
    "UNAVAILABLE_MESSAGE",
    "CheckoutRequest",
    "CheckoutStart",
    "GatewayUnavailable",
    "KonbiniInfo",
    "KonbiniStoreCode",
    "Notification",
    "NotificationIgnored",
    "NotificationRejected",
    "PaymentError",
    "PaymentGateway",
    "PaymentMethod",
    "make_gateway",
]
