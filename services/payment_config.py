"""The payment gateway the app uses, built once from TSUDOI_PAYMENT_GATEWAY and the TSUDOI_GMO_* / TSUDOI_STRIPE_* variables.

No gateway unless one is configured: the sandbox (which lets anyone mark a fee paid) runs only when
TSUDOI_PAYMENT_GATEWAY=sandbox or when the database holds the demo data (`litestar tsudoi demo`).
`gateway_state` tells the console and `litestar tsudoi doctor` which gateway is in use.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Final

from db import app_settings
from services.context import AppContext
from services.payments import GATEWAY_NAMES, PaymentGateway, make_gateway
from services.payments.gmo import PRODUCTION_API_BASE, TEST_API_BASE
from services.payments.stripe import DEFAULT_API_BASE as STRIPE_API_BASE

NOT_CONFIGURED_MESSAGE: Final = "オンラインでのお支払いの設定が完了していないため、現在お支払い手続きができません。事務局までお問い合わせください。"


class PaymentNotConfigured(Exception):
    """The chosen gateway lacks its credentials; the detail names the missing variables (no values)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.message = NOT_CONFIGURED_MESSAGE


def sandbox_secret(secret_key: str) -> str:
    """The sandbox's signing secret, derived from the app's key so it needs no setting of its own."""
    return hmac.new(secret_key.encode("utf-8"), b"tsudoi-sandbox-gateway", hashlib.sha256).hexdigest()


def gateway_config(ctx: AppContext, *, name: str | None = None) -> tuple[str, dict[str, Any]]:
    """The gateway name and its constructor arguments (from the settings); PaymentNotConfigured when
    something is missing.

    `name` defaults to TSUDOI_PAYMENT_GATEWAY; callers pass `configured_gateway_name(ctx)`.
    """
    settings = ctx.settings
    name = settings.payment_gateway if name is None else name
    if not name:
        raise PaymentNotConfigured("TSUDOI_PAYMENT_GATEWAY is not set")
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
        shop_id, shop_pass = settings.gmo_shop_id, settings.gmo_shop_pass
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
            "api_base": settings.gmo_api_base or default_base,
            "shop_id": shop_id,
            "shop_pass": shop_pass,
            "timeout": settings.payment_timeout,
            "clock": clock,
            "contact_name": ctx.org.org_name,
        }
    secret_key = settings.stripe_secret_key
    webhook = list(settings.stripe_webhook_secrets)
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
        "api_base": settings.stripe_api_base or STRIPE_API_BASE,
        "timeout": settings.payment_timeout,
        "clock": clock,
    }


def configured_gateway_name(ctx: AppContext) -> str:
    """TSUDOI_PAYMENT_GATEWAY when set; else "sandbox" on a database with the demo data; else ""."""
    name = ctx.settings.payment_gateway.strip().lower()
    if name:
        return name
    return "sandbox" if ctx.demo_data else ""


async def refresh_demo_flag(ctx: AppContext) -> bool:
    """Re-read from the database whether it holds the demo data (the demo may be loaded by the CLI while
    the app runs, or a backup restored)."""
    ctx.demo_data = await app_settings.get(ctx.db, app_settings.DEMO_DATA_KEY) is not None
    return ctx.demo_data


def get_gateway(ctx: AppContext) -> PaymentGateway:
    """The app's one gateway instance (the sandbox remembers what it accepted, so it must be shared).

    PaymentNotConfigured when no gateway is chosen or its credentials are missing. Uses the demo flag
    as last read; request handlers call `active_gateway`, which reads it first.
    """
    name = configured_gateway_name(ctx)
    if ctx.gateway is not None and ctx.gateway.name == name:
        return ctx.gateway
    name, config = gateway_config(ctx, name=name)
    ctx.gateway = make_gateway(name, **config)
    return ctx.gateway


async def active_gateway(ctx: AppContext) -> PaymentGateway:
    """`get_gateway` after checking the database for the demo data."""
    await refresh_demo_flag(ctx)
    return get_gateway(ctx)


GATEWAY_LABELS: Final[dict[str, str]] = {
    "sandbox": "テスト決済（sandbox）",
    "gmo": "GMOペイメントゲートウェイ",
    "stripe": "Stripe",
}


@dataclass(frozen=True)
class GatewayState:
    """Which gateway takes the members' payments, for the pay flow, the console and the doctor."""

    name: str  # "sandbox", "gmo", "stripe", another (misspelled) value, or "" when none is chosen
    source: str  # "env" (TSUDOI_PAYMENT_GATEWAY), "demo" (the database holds the demo data) or ""
    problem: str = ""  # why it cannot take payments (variable names only, never their values)

    @property
    def ready(self) -> bool:
        """Members can pay online (through a real gateway or the sandbox)."""
        return bool(self.name) and not self.problem

    @property
    def sandbox(self) -> bool:
        """Payments are simulated: anyone can mark a fee paid, receipts are samples (見本)."""
        return self.ready and self.name == "sandbox"

    @property
    def live(self) -> bool:
        """A real gateway is configured: ready for go-live."""
        return self.ready and self.name != "sandbox"

    @property
    def summary(self) -> str:
        """One Japanese sentence for the admin (console card, doctor)."""
        if not self.name:
            return (
                "決済サービスが設定されていません（TSUDOI_PAYMENT_GATEWAY が未設定）。"
                "会員はオンラインで会費を払えません。gmo または stripe を設定してください。"
            )
        label = GATEWAY_LABELS.get(self.name, self.name)
        if self.problem:
            return (
                f"決済サービス「{label}」の設定が不足しています（{self.problem}）。"
                "会員はオンラインで会費を払えません。"
            )
        if self.sandbox:
            why = (
                "デモデータが読み込まれているため"
                if self.source == "demo"
                else "TSUDOI_PAYMENT_GATEWAY=sandbox のため"
            )
            return (
                f"{why}、テスト決済が有効です。会員は実際のお支払いなしで会費をお支払い済みにできます。"
                "公開前に TSUDOI_PAYMENT_GATEWAY を gmo または stripe にしてください。"
            )
        return f"決済サービス「{label}」で会費のオンラインでのお支払いを受け付けています。"


async def gateway_state(ctx: AppContext) -> GatewayState:
    """The gateway in use and whether it can take payments (reads the demo flag from the database)."""
    await refresh_demo_flag(ctx)
    name = configured_gateway_name(ctx)
    if not name:
        return GatewayState(name="", source="")
    source = "env" if ctx.settings.payment_gateway.strip() else "demo"
    try:
        gateway_config(ctx, name=name)
    except PaymentNotConfigured as error:
        return GatewayState(name=name, source=source, problem=error.detail)
    return GatewayState(name=name, source=source)
