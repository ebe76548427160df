"""The payment gateway the app uses, built once from TSUDOI_PAYMENT_GATEWAY and the TSUDOI_GMO_* / TSUDOI_STRIPE_* variables."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Any, Final

from services.context import AppContext
from services.payments import GATEWAY_NAMES, PaymentGateway, make_gateway
from services.payments.gmo import PRODUCTION_API_BASE, TEST_API_BASE
from services.payments.stripe import DEFAULT_API_BASE as STRIPE_API_BASE

# Environment variables read here (the README lists them).
ENV_VARS: Final = (
    "TSUDOI_GMO_SHOP_ID",
    "TSUDOI_GMO_SHOP_PASS",
    "TSUDOI_GMO_API_BASE",
    "TSUDOI_STRIPE_SECRET_KEY",
    "TSUDOI_STRIPE_WEBHOOK_SECRET",
    "TSUDOI_STRIPE_API_BASE",
    "TSUDOI_PAYMENT_TIMEOUT",
)
DEFAULT_TIMEOUT: Final = 10.0
_GATEWAY_KEY: Final = "payment_gateway"

NOT_CONFIGURED_MESSAGE: Final = "オンライン決済の設定が完了していないため、現在お支払い手続きができません。事務局までお問い合わせください。"


class PaymentNotConfigured(Exception):
    """The chosen gateway lacks its credentials; the detail names the missing variables (no values)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.message = NOT_CONFIGURED_MESSAGE


def sandbox_secret(secret_key: str) -> str:
    """The sandbox's signing secret, derived from the app's key so it needs no setting of its own."""
    return hmac.new(secret_key.encode("utf-8"), b"tsudoi-sandbox-gateway", hashlib.sha256).hexdigest()


def _timeout(env: Mapping[str, str]) -> float:
    try:
        value = float(env.get("TSUDOI_PAYMENT_TIMEOUT") or DEFAULT_TIMEOUT)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if 0 < value <= 120 else DEFAULT_TIMEOUT


def gateway_config(ctx: AppContext, environ: Mapping[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """The gateway name and its constructor arguments; PaymentNotConfigured when something is missing."""
    env = os.environ if environ is None else environ
    name = ctx.settings.payment_gateway
    if name not in GATEWAY_NAMES:
        raise PaymentNotConfigured(
            f"TSUDOI_PAYMENT_GATEWAY={name!r} is not one of {', '.join(GATEWAY_NAMES)}"
        )
    clock = ctx.clock.now
    if name == "sandbox":
        return name, {
            "base_url": ctx.settings.base_url,
            "secret": sandbox_secret(ctx.settings.secret_key),
            "clock": clock,
        }
    if name == "gmo":
        shop_id, shop_pass = env.get("TSUDOI_GMO_SHOP_ID", ""), env.get("TSUDOI_GMO_SHOP_PASS", "")
        missing = [
            var
            for var, value in (("TSUDOI_GMO_SHOP_ID", shop_id), ("TSUDOI_GMO_SHOP_PASS", shop_pass))
            if not value
        ]
        if missing:
            raise PaymentNotConfigured("missing " + ", ".join(missing))
        # GMO's test shops are named tshop…; they live on the test host, real shops on the production one.
        default_base = TEST_API_BASE if shop_id.startswith("tshop") else PRODUCTION_API_BASE
        return name, {
            "api_base": env.get("TSUDOI_GMO_API_BASE") or default_base,
            "shop_id": shop_id,
            "shop_pass": shop_pass,
            "timeout": _timeout(env),
            "clock": clock,
            "contact_name": ctx.org.org_name,
        }
    secret_key = env.get("TSUDOI_STRIPE_SECRET_KEY", "")
    webhook = [
        part.strip() for part in env.get("TSUDOI_STRIPE_WEBHOOK_SECRET", "").split(",") if part.strip()
    ]
    missing = [
        var
        for var, ok in (
            ("TSUDOI_STRIPE_SECRET_KEY", bool(secret_key)),
            ("TSUDOI_STRIPE_WEBHOOK_SECRET", bool(webhook)),
        )
        if not ok
    ]
    if missing:
        raise PaymentNotConfigured("missing " + ", ".join(missing))
    return name, {
        "secret_key": secret_key,
        "webhook_secret": webhook,
        "api_base": env.get("TSUDOI_STRIPE_API_BASE") or STRIPE_API_BASE,
        "timeout": _timeout(env),
        "clock": clock,
    }


def get_gateway(ctx: AppContext) -> PaymentGateway:
    """The app's one gateway instance (the sandbox remembers what it accepted, so it must be shared)."""
    gateway = ctx.extras.get(_GATEWAY_KEY)
    if isinstance(gateway, PaymentGateway):
        return gateway
    name, config = gateway_config(ctx)
    gateway = make_gateway(name, **config)
    ctx.extras[_GATEWAY_KEY] = gateway
    return gateway
