"""The built-in sandbox gateway: signed page tokens and signed, replay-safe notifications."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from services.payments import NotificationIgnored, NotificationRejected, states
from services.payments.sandbox import (
    SIGNATURE_HEADER,
    SandboxGateway,
    SandboxTokenInvalid,
    build_notification,
    outcomes_for,
)
from services.payments.signing import signature_header
from tests.fakes.http import FrozenClock
from tests.unit.test_payments_base import checkout

SECRET = "sandbox-test-secret"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def gateway(clock: FrozenClock) -> SandboxGateway:
    return SandboxGateway("http://127.0.0.1:8000/", SECRET, clock=clock)


async def test_checkout_points_at_the_apps_own_page_with_a_signed_token(gateway: SandboxGateway) -> None:
    start = await gateway.start_checkout(checkout(method="konbini"))
    assert start.redirect_url.startswith("http://127.0.0.1:8000/sandbox-gateway/")
    assert start.reference == "sbx-FEE2025-00042-1"
    session = gateway.read_session(start.redirect_url.rsplit("/", 1)[1])
    assert (session.attempt_id, session.amount, session.method) == ("42", 5000, "konbini")
    assert session.reference == start.reference
    assert session.notify_url == "https://tsudoi.example.jp/payments/notify"


async def test_tampered_page_token_is_refused_in_japanese(gateway: SandboxGateway) -> None:
    start = await gateway.start_checkout(checkout())
    token = start.redirect_url.rsplit("/", 1)[1]
    with pytest.raises(SandboxTokenInvalid) as caught:
        gateway.read_session(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert "もう一度お手続きください" in caught.value.message


async def test_page_token_expires_after_an_hour(gateway: SandboxGateway, clock: FrozenClock) -> None:
    start = await gateway.start_checkout(checkout())
    clock.advance(hours=1, seconds=1)
    with pytest.raises(SandboxTokenInvalid):
        gateway.read_session(start.redirect_url.rsplit("/", 1)[1])


def test_token_from_another_secret_is_refused(gateway: SandboxGateway, clock: FrozenClock) -> None:
    other = SandboxGateway("http://127.0.0.1:8000", "another-secret", clock=clock)
    with pytest.raises(SandboxTokenInvalid):
        other.read_session("eyJyZWYiOiJ4In0.bad")


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        ("card_success", "paid"),
        ("card_declined", "declined"),
        ("konbini_issued", "awaiting_konbini"),
        ("konbini_paid", "paid"),
        ("konbini_expired", "expired"),
    ],
)
def test_each_outcome_becomes_a_signed_notification(
    gateway: SandboxGateway, clock: FrozenClock, outcome: str, state: str
) -> None:
    body, headers = build_notification("sbx-FEE1", outcome, 5000, SECRET, clock=clock)
    note = gateway.parse_notification(body, headers)
    assert (note.state, note.amount, note.reference, note.order_id) == (state, 5000, "sbx-FEE1", "FEE1")
    assert note.key.startswith("evt_sbx_")
    assert not note.needs_confirmation


def test_konbini_number_comes_with_store_and_three_day_deadline(
    gateway: SandboxGateway, clock: FrozenClock
) -> None:
    body, headers = build_notification(
        "sbx-FEE1", "konbini_issued", 5000, SECRET, clock=clock, store="ローソン"
    )
    note = gateway.parse_notification(body, headers)
    assert note.konbini is not None
    assert note.konbini.store == "ローソン"
    assert note.konbini.payment_number.isdigit() and len(note.konbini.payment_number) == 11
    assert note.konbini.deadline == clock() + timedelta(days=3)


def test_header_names_are_matched_without_case(gateway: SandboxGateway, clock: FrozenClock) -> None:
    body, headers = build_notification("sbx-FEE1", "card_success", 5000, SECRET, clock=clock)
    lowered = {key.lower(): value for key, value in headers.items()}
    assert gateway.parse_notification(body, lowered).state == "paid"


def test_tampered_amount_is_rejected(gateway: SandboxGateway, clock: FrozenClock) -> None:
    body, headers = build_notification("sbx-FEE1", "card_success", 5000, SECRET, clock=clock)
    with pytest.raises(NotificationRejected, match="does not match"):
        gateway.parse_notification(body.replace(b'"amount":5000', b'"amount":50'), headers)


def test_message_signed_with_another_secret_is_rejected(gateway: SandboxGateway, clock: FrozenClock) -> None:
    body, headers = build_notification("sbx-FEE1", "card_success", 5000, "wrong", clock=clock)
    with pytest.raises(NotificationRejected):
        gateway.parse_notification(body, headers)


def test_missing_signature_is_rejected(gateway: SandboxGateway, clock: FrozenClock) -> None:
    body, _ = build_notification("sbx-FEE1", "card_success", 5000, SECRET, clock=clock)
    with pytest.raises(NotificationRejected, match="missing"):
        gateway.parse_notification(body, {})


def test_message_older_than_five_minutes_is_rejected(gateway: SandboxGateway, clock: FrozenClock) -> None:
    body, headers = build_notification("sbx-FEE1", "card_success", 5000, SECRET, clock=clock)
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(NotificationRejected, match="tolerance"):
        gateway.parse_notification(body, headers)


def test_replayed_message_keeps_its_key_for_deduplication(
    gateway: SandboxGateway, clock: FrozenClock
) -> None:
    body, headers = build_notification("sbx-FEE1", "card_success", 5000, SECRET, clock=clock)
    first = gateway.parse_notification(body, headers)
    clock.advance(seconds=30)
    assert gateway.parse_notification(body, headers).key == first.key


def test_wrong_amount_is_reported_as_is_for_the_amount_check(
    gateway: SandboxGateway, clock: FrozenClock
) -> None:
    body, headers = build_notification("sbx-FEE1", "card_success", 4000, SECRET, clock=clock)
    note = gateway.parse_notification(body, headers)
    assert not states.amount_matches(5000, note.amount)


def test_unknown_outcome_is_ignored_not_stored(gateway: SandboxGateway, clock: FrozenClock) -> None:
    body = json.dumps({"id": "evt_x", "type": "refund", "reference": "sbx-1", "amount": 1}).encode()
    headers = {SIGNATURE_HEADER: signature_header(body, SECRET, int(clock().timestamp()))}
    with pytest.raises(NotificationIgnored):
        gateway.parse_notification(body, headers)


def test_build_notification_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        build_notification("sbx-1", "card_maybe", 5000, SECRET)
    with pytest.raises(ValueError):
        build_notification("sbx-1", "card_success", 0, SECRET)
    with pytest.raises(ValueError):
        build_notification("sbx-1", "card_success", 5000, "")


async def test_fetch_state_follows_accepted_reports_and_ignores_late_ones(
    gateway: SandboxGateway, clock: FrozenClock
) -> None:
    assert (await gateway.fetch_state("sbx-FEE1")).state == "pending"
    paid = build_notification("sbx-FEE1", "konbini_paid", 5000, SECRET, clock=clock)
    issued = build_notification("sbx-FEE1", "konbini_issued", 5000, SECRET, clock=clock)
    gateway.parse_notification(*paid)
    gateway.parse_notification(*issued)
    assert (await gateway.fetch_state("sbx-FEE1")).state == "paid"


async def test_admin_cancel_stops_an_open_attempt(gateway: SandboxGateway, clock: FrozenClock) -> None:
    gateway.parse_notification(*build_notification("sbx-FEE1", "konbini_issued", 5000, SECRET, clock=clock))
    await gateway.cancel("sbx-FEE1")
    assert (await gateway.fetch_state("sbx-FEE1")).state == "cancelled"


def test_page_offers_outcomes_that_fit_the_method_and_state() -> None:
    assert [name for name, _ in outcomes_for("card", "pending")] == ["card_success", "card_declined"]
    assert [name for name, _ in outcomes_for("konbini", "pending")] == ["konbini_issued"]
    assert [name for name, _ in outcomes_for("konbini", "awaiting_konbini")] == [
        "konbini_paid",
        "konbini_expired",
    ]
    assert outcomes_for("card", "paid") == []
    with pytest.raises(ValueError):
        outcomes_for("cash", "pending")


def test_sandbox_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        SandboxGateway("http://localhost", "")
    with pytest.raises(ValueError):
        SandboxGateway("localhost:8000", SECRET)
