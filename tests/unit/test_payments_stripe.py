"""Stripe Checkout adapter, driven against a local fake Stripe API and Stripe-signed webhooks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from services.payments import GatewayUnavailable, NotificationIgnored, NotificationRejected, states
from services.payments.stripe import StripeGateway
from tests.fakes.http import FrozenClock
from tests.fakes.stripe import FakeStripeServer, event_body, konbini_details, signature_header
from tests.unit.test_payments_base import checkout

WHSEC = "whsec_test_secret"


@pytest.fixture(scope="module")
def running_server() -> Iterator[FakeStripeServer]:
    fake = FakeStripeServer().start()
    yield fake
    fake.stop()


@pytest.fixture
def server(running_server: FakeStripeServer) -> FakeStripeServer:
    running_server.reset()
    return running_server


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def gateway(server: FakeStripeServer, clock: FrozenClock) -> StripeGateway:
    return StripeGateway(server.secret_key, WHSEC, api_base=server.url, timeout=5.0, clock=clock)


def signed(body: bytes, clock: FrozenClock, secret: str = WHSEC) -> dict[str, str]:
    return {"Stripe-Signature": signature_header(body, secret, int(clock().timestamp()))}


async def test_card_checkout_creates_a_jpy_session_once_per_attempt(
    gateway: StripeGateway, server: FakeStripeServer
) -> None:
    start = await gateway.start_checkout(checkout())
    assert start.reference.startswith("cs_test_")
    assert start.redirect_url == f"https://checkout.stripe.com/c/pay/{start.reference}"
    call = server.calls("/v1/checkout/sessions")[0]
    form = call.form()
    assert form["mode"] == "payment"
    assert form["payment_method_types[0]"] == "card"
    assert form["line_items[0][price_data][currency]"] == "jpy"
    assert form["line_items[0][price_data][unit_amount]"] == "5000"
    assert form["line_items[0][price_data][product_data][name]"] == "2025年度 年会費"
    assert form["client_reference_id"] == "FEE2025-00042-1"
    assert form["metadata[attempt_id]"] == "42"
    assert form["success_url"] == form["cancel_url"] == "https://tsudoi.example.jp/payments/return"
    assert call.header("Idempotency-Key") == "tsudoi-checkout-42"
    again = await gateway.start_checkout(checkout())
    assert again.reference == start.reference
    assert len(server.sessions) == 1


async def test_konbini_checkout_sets_the_payment_deadline(
    gateway: StripeGateway, server: FakeStripeServer
) -> None:
    await gateway.start_checkout(checkout(method="konbini"))
    form = server.calls("/v1/checkout/sessions")[0].form()
    assert form["payment_method_types[0]"] == "konbini"
    assert form["payment_method_options[konbini][expires_after_days]"] == "3"


async def test_wrong_api_key_is_unavailable(server: FakeStripeServer) -> None:
    gateway = StripeGateway("sk_test_wrong", WHSEC, api_base=server.url, timeout=0.2)
    with pytest.raises(GatewayUnavailable) as caught:
        await gateway.start_checkout(checkout())
    assert "401" in caught.value.detail


async def test_gateway_error_500_is_unavailable(gateway: StripeGateway, server: FakeStripeServer) -> None:
    server.fail_status = 500
    with pytest.raises(GatewayUnavailable):
        await gateway.start_checkout(checkout())


async def test_slow_gateway_times_out_as_unavailable(
    gateway: StripeGateway, server: FakeStripeServer
) -> None:
    gateway.timeout = 0.2
    server.delay = 0.5
    with pytest.raises(GatewayUnavailable, match="しばらくしてから"):
        await gateway.fetch_state("cs_test_1")


def _session(server: FakeStripeServer, *, konbini: bool = False) -> dict[str, object]:
    server.sessions["cs_test_a"] = {
        "id": "cs_test_a",
        "object": "checkout.session",
        "url": "https://checkout.stripe.com/c/pay/cs_test_a",
        "status": "open",
        "payment_status": "unpaid",
        "amount_total": 5000,
        "currency": "jpy",
        "client_reference_id": "FEE2025-00042-1",
        "payment_intent": None,
    }
    return server.complete("cs_test_a", konbini=konbini)


def test_completed_card_session_is_paid(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock
) -> None:
    body = event_body("checkout.session.completed", _session(server), event_id="evt_1")
    note = gateway.parse_notification(body, signed(body, clock))
    assert (note.state, note.amount, note.key, note.reference) == ("paid", 5000, "evt_1", "cs_test_a")
    assert note.order_id == "FEE2025-00042-1"
    assert not note.needs_confirmation


async def test_completed_konbini_session_awaits_payment_with_codes_fetched(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock
) -> None:
    body = event_body("checkout.session.completed", _session(server, konbini=True))
    assert gateway.parse_notification(body, signed(body, clock)).konbini is None
    note = await gateway.receive(body, signed(body, clock))
    assert note.state == "awaiting_konbini"
    assert note.konbini is not None
    assert (note.konbini.store, note.konbini.payment_number, note.konbini.confirmation_number) == (
        "ファミリーマート",
        "123456789012",
        "44321",
    )
    assert note.konbini.other_stores[0].store == "ローソン・ミニストップ・セイコーマート"
    assert note.konbini.deadline == datetime.fromtimestamp(1743778799, tz=UTC)
    assert note.konbini.voucher_url is not None


async def test_konbini_codes_are_optional_when_stripe_cannot_be_asked(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock
) -> None:
    body = event_body("checkout.session.completed", _session(server, konbini=True))
    server.fail_status = 500
    note = await gateway.receive(body, signed(body, clock))
    assert (note.state, note.konbini) == ("awaiting_konbini", None)


def test_expanded_payment_intent_in_the_event_gives_codes_directly(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock
) -> None:
    session = dict(_session(server, konbini=True))
    session["payment_intent"] = {"id": "pi_x", "next_action": {"konbini_display_details": konbini_details()}}
    body = event_body("checkout.session.completed", session)
    note = gateway.parse_notification(body, signed(body, clock))
    assert note.konbini is not None and note.konbini.payment_number == "123456789012"


@pytest.mark.parametrize(
    ("event_type", "state"),
    [
        ("checkout.session.async_payment_succeeded", "paid"),
        ("checkout.session.async_payment_failed", "expired"),
        ("checkout.session.expired", "expired"),
    ],
)
def test_async_konbini_outcomes(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock, event_type: str, state: str
) -> None:
    body = event_body(event_type, _session(server, konbini=True))
    assert gateway.parse_notification(body, signed(body, clock)).state == state


def test_tampered_event_is_rejected(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock
) -> None:
    body = event_body("checkout.session.completed", _session(server))
    headers = signed(body, clock)
    with pytest.raises(NotificationRejected, match="does not match"):
        gateway.parse_notification(body.replace(b'"amount_total": 5000', b'"amount_total": 1'), headers)


def test_event_signed_with_another_secret_is_rejected(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock
) -> None:
    body = event_body("checkout.session.completed", _session(server))
    with pytest.raises(NotificationRejected):
        gateway.parse_notification(body, signed(body, clock, secret="whsec_other"))


def test_event_older_than_five_minutes_is_rejected(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock
) -> None:
    body = event_body("checkout.session.completed", _session(server))
    headers = signed(body, clock)
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(NotificationRejected, match="tolerance"):
        gateway.parse_notification(body, headers)


@pytest.mark.parametrize("minutes", [3, 10, 60])
def test_event_from_ahead_of_a_slow_server_clock_is_accepted(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock, minutes: int
) -> None:
    # Like stripe-python's WebhookSignature.verify_header: only a timestamp older than the
    # tolerance is refused; our clock being minutes behind Stripe's must not drop a payment.
    body = event_body("checkout.session.completed", _session(server))
    headers = signed(body, clock)
    clock.advance(minutes=-minutes)
    assert gateway.parse_notification(body, headers).state == "paid"


def test_any_of_several_v1_signatures_may_match(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock
) -> None:
    body = event_body("checkout.session.completed", _session(server))
    header = signature_header(body, "whsec_rolled_out", int(clock().timestamp()), WHSEC)
    assert gateway.parse_notification(body, {"stripe-signature": header}).state == "paid"


def test_rotated_webhook_secrets_are_all_accepted(server: FakeStripeServer, clock: FrozenClock) -> None:
    gateway = StripeGateway(server.secret_key, ["whsec_new", WHSEC], api_base=server.url, clock=clock)
    body = event_body("checkout.session.completed", _session(server))
    assert gateway.parse_notification(body, signed(body, clock)).state == "paid"


def test_replayed_event_keeps_its_event_id_as_key(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock
) -> None:
    body = event_body("checkout.session.completed", _session(server), event_id="evt_replay")
    headers = signed(body, clock)
    first = gateway.parse_notification(body, headers)
    clock.advance(minutes=2)
    assert gateway.parse_notification(body, headers).key == first.key == "evt_replay"


def test_succeeded_before_completed_is_not_moved_backwards(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock
) -> None:
    session = _session(server, konbini=True)
    succeeded = event_body("checkout.session.async_payment_succeeded", session)
    completed = event_body("checkout.session.completed", session)
    state = states.PENDING
    for body in (succeeded, completed):
        incoming = gateway.parse_notification(body, signed(body, clock)).state
        state = states.next_state(state, incoming) or state
    assert state == "paid"


def test_wrong_amount_fails_the_amount_check(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock
) -> None:
    session = dict(_session(server))
    session["amount_total"] = 500
    body = event_body("checkout.session.completed", session)
    assert not states.amount_matches(5000, gateway.parse_notification(body, signed(body, clock)).amount)


def test_other_event_types_are_ignored(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock
) -> None:
    body = event_body("customer.created", _session(server))
    with pytest.raises(NotificationIgnored):
        gateway.parse_notification(body, signed(body, clock))


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"id": "evt_1", "type": "checkout.session.completed"}']
)
def test_signed_but_malformed_bodies_are_rejected(
    gateway: StripeGateway, clock: FrozenClock, body: bytes
) -> None:
    with pytest.raises(NotificationRejected):
        gateway.parse_notification(body, signed(body, clock))


def test_non_yen_session_is_rejected(
    gateway: StripeGateway, server: FakeStripeServer, clock: FrozenClock
) -> None:
    session = dict(_session(server))
    session["currency"] = "usd"
    body = event_body("checkout.session.completed", session)
    with pytest.raises(NotificationRejected, match="JPY"):
        gateway.parse_notification(body, signed(body, clock))


async def test_fetch_state_follows_the_session(gateway: StripeGateway, server: FakeStripeServer) -> None:
    start = await gateway.start_checkout(checkout())
    assert (await gateway.fetch_state(start.reference)).state == "pending"
    server.complete(start.reference)
    current = await gateway.fetch_state(start.reference)
    assert (current.state, current.amount) == ("paid", 5000)


async def test_fetch_state_of_unknown_session_is_unavailable(gateway: StripeGateway) -> None:
    with pytest.raises(GatewayUnavailable):
        await gateway.fetch_state("cs_test_missing")
    with pytest.raises(ValueError):
        await gateway.fetch_state("pi_123")


async def test_cancel_expires_an_open_session(gateway: StripeGateway, server: FakeStripeServer) -> None:
    start = await gateway.start_checkout(checkout())
    await gateway.cancel(start.reference)
    assert (await gateway.fetch_state(start.reference)).state == "expired"


async def test_cancel_voids_an_issued_konbini_payment(
    gateway: StripeGateway, server: FakeStripeServer
) -> None:
    start = await gateway.start_checkout(checkout(method="konbini"))
    server.complete(start.reference, konbini=True)
    await gateway.cancel(start.reference)
    intent_id = server.sessions[start.reference]["payment_intent"]
    assert server.payment_intents[intent_id]["status"] == "canceled"
    assert (await gateway.fetch_state(start.reference)).state == "expired"


def test_gateway_refuses_missing_secrets() -> None:
    with pytest.raises(ValueError):
        StripeGateway("sk_test", "")
    with pytest.raises(ValueError):
        StripeGateway("sk_test", [])
