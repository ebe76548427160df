"""The gateway interface: checkout requests, the factory and the shared signature scheme."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from services.payments import (
    UNAVAILABLE_MESSAGE,
    CheckoutRequest,
    GatewayUnavailable,
    NotificationRejected,
    make_gateway,
)
from services.payments.base import konbini_allows
from services.payments.gmo import GmoGateway
from services.payments.sandbox import SandboxGateway
from services.payments.signing import signature_header, verify_signature_header
from services.payments.stripe import StripeGateway, form_encode
from tests.fakes.http import FrozenClock


def checkout(**changes: Any) -> CheckoutRequest:
    base = CheckoutRequest(
        attempt_id="42",
        order_id="FEE2025-00042-1",
        amount=5000,
        method="card",
        member_name="山田 太郎",
        member_email="taro@example.jp",
        return_url="https://tsudoi.example.jp/payments/return",
        notify_url="https://tsudoi.example.jp/payments/notify",
        description="2025年度 年会費",
    )
    return dataclasses.replace(base, **changes)


def test_valid_request_is_accepted() -> None:
    assert checkout().amount == 5000


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": 0},
        {"amount": -1},
        {"amount": 10_000_000},
        {"amount": True},
        {"method": "bank"},
        {"order_id": ""},
        {"order_id": "x" * 28},
        {"order_id": "会費1"},
        {"return_url": "/payments/return"},
        {"description": "  "},
    ],
)
def test_bad_requests_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        checkout(**changes)


def test_factory_builds_each_gateway() -> None:
    assert isinstance(make_gateway("sandbox", base_url="http://localhost:8000", secret="s"), SandboxGateway)
    gmo = make_gateway("gmo", api_base="https://pt01.mul-pay.jp", shop_id="tshop1", shop_pass="p")
    assert isinstance(gmo, GmoGateway)
    stripe = make_gateway("stripe", secret_key="sk_test", webhook_secret="whsec")
    assert isinstance(stripe, StripeGateway)


def test_factory_refuses_unknown_gateway_and_missing_settings() -> None:
    with pytest.raises(ValueError, match="unknown payment gateway"):
        make_gateway("paypal")
    with pytest.raises(ValueError):
        make_gateway("stripe", secret_key="", webhook_secret="whsec")
    with pytest.raises(TypeError):
        make_gateway("gmo", api_base="https://pt01.mul-pay.jp")


def test_unavailable_error_speaks_to_the_member_in_japanese() -> None:
    error = GatewayUnavailable("stripe: timeout")
    assert error.message == UNAVAILABLE_MESSAGE
    assert "しばらくしてからもう一度お試しください" in str(error)


def test_signature_accepts_any_of_several_v1_and_secrets() -> None:
    clock = FrozenClock()
    now = int(clock().timestamp())
    body = b'{"a":1}'
    value = signature_header(body, "new", now) + ",v1=" + "0" * 64
    assert verify_signature_header(body, value, ["old", "new"], now=clock()) == now


@pytest.mark.parametrize(
    "value",
    [None, "", "v1=abc", "t=notanumber,v1=abc", "t=1743476400", "t=1743476400,v1=deadbeef"],
)
def test_malformed_signature_headers_are_rejected(value: str | None) -> None:
    clock = FrozenClock()
    with pytest.raises(NotificationRejected):
        verify_signature_header(b"{}", value, ["secret"], now=clock())


def test_stripe_form_encoding_nests_with_brackets() -> None:
    encoded = form_encode({"a": [{"b": {"c": 1}}], "flag": True, "skip": None})
    assert encoded == [("a[0][b][c]", "1"), ("flag", "true")]


@pytest.mark.parametrize(
    ("gateway", "amount", "allowed"),
    [
        ("stripe", 119, False),
        ("stripe", 120, True),
        ("stripe", 300_000, True),
        ("stripe", 300_001, False),
        ("gmo", 1, True),
        ("gmo", 300_000, True),
        ("gmo", 300_001, False),
        ("sandbox", 119, False),
        (None, 300_001, False),
    ],
)
def test_convenience_store_limits_per_gateway(gateway: str | None, amount: int, allowed: bool) -> None:
    assert konbini_allows(gateway, amount) is allowed
