"""GMO-PG link type Plus adapter, driven against a local fake of GMO's endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from services.payments import GatewayUnavailable, NotificationRejected
from services.payments.base import UNAVAILABLE_MESSAGE
from services.payments.gmo import JST, NOTIFY_OK, NOTIFY_RETRY, GmoGateway
from tests.fakes.gmo import FakeGmoServer, card_trade, cvs_trade, notification_body, result_param
from tests.fakes.http import FrozenClock
from tests.unit.test_payments_base import checkout

ORDER = "FEE2025-00042-1"


@pytest.fixture(scope="module")
def running_server() -> Iterator[FakeGmoServer]:
    fake = FakeGmoServer().start()
    yield fake
    fake.stop()


@pytest.fixture
def server(running_server: FakeGmoServer) -> FakeGmoServer:
    running_server.reset()
    return running_server


@pytest.fixture
def gateway(server: FakeGmoServer) -> GmoGateway:
    return GmoGateway(
        server.url,
        server.shop_id,
        server.shop_pass,
        config_id="tsudoi",
        contact_name="集い事務局",
        contact_phone="03-1234-5678",
        contact_hours="10:00-17:00",
        timeout=5.0,  # time-out tests shorten it; a loaded test machine must not time out the others
    )


async def test_card_checkout_requests_a_link_url_with_the_documented_fields(
    gateway: GmoGateway, server: FakeGmoServer
) -> None:
    start = await gateway.start_checkout(checkout())
    assert start.redirect_url.startswith("https://stg.link.mul-pay.jp/v1/plus/")
    assert start.reference == ORDER
    body = server.calls("/payment/GetLinkplusUrlPayment.json")[0].json()
    assert body["geturlparam"] == {"ShopID": server.shop_id, "ShopPass": server.shop_pass}
    assert body["configid"] == "tsudoi"
    assert body["transaction"]["OrderID"] == ORDER
    assert body["transaction"]["Amount"] == 5000
    assert body["transaction"]["PayMethods"] == ["credit"]
    assert body["transaction"]["RetUrl"] == "https://tsudoi.example.jp/payments/return"
    assert body["credit"] == {"JobCd": "CAPTURE", "Method": "1"}
    assert "cvs" not in body


async def test_link_is_sent_with_its_payment_expiry_in_japan_time(server: FakeGmoServer) -> None:
    clock = FrozenClock(datetime(2025, 4, 1, 14, 59, 40, tzinfo=UTC))  # 23:59:40 JST
    gateway = GmoGateway(server.url, server.shop_id, server.shop_pass, timeout=5.0, clock=clock, link_hours=2)
    start = await gateway.start_checkout(checkout(order_id="EXPIRY-1"))
    body = server.calls("/payment/GetLinkplusUrlPayment.json")[0].json()
    # yyyyMMddHHmm, JST: two hours on is 01:59 on 2 April in Japan.
    assert body["transaction"]["PaymentExpireDate"] == "202504020159"
    assert start.expires_at == datetime(2025, 4, 2, 1, 59, tzinfo=JST)
    assert GmoGateway(server.url, "tshop", "pass").link_hours == 24
    with pytest.raises(ValueError):
        GmoGateway(server.url, "tshop", "pass", link_hours=0)


async def test_konbini_checkout_offers_only_convenience_stores(
    gateway: GmoGateway, server: FakeGmoServer
) -> None:
    await gateway.start_checkout(checkout(method="konbini"))
    body = server.calls("/payment/GetLinkplusUrlPayment.json")[0].json()
    assert body["transaction"]["PayMethods"] == ["cvs"]
    assert body["cvs"]["PaymentTermDay"] == "3"
    assert body["cvs"]["ReceiptsDisp11"] == "集い事務局"
    assert "credit" not in body


async def test_wrong_shop_password_is_unavailable_for_the_member(server: FakeGmoServer) -> None:
    gateway = GmoGateway(server.url, server.shop_id, "wrong", timeout=0.2)
    with pytest.raises(GatewayUnavailable) as caught:
        await gateway.start_checkout(checkout())
    assert caught.value.message == UNAVAILABLE_MESSAGE
    assert "E01030002" in caught.value.detail


async def test_gateway_error_500_is_unavailable(gateway: GmoGateway, server: FakeGmoServer) -> None:
    server.fail_status = 500
    with pytest.raises(GatewayUnavailable):
        await gateway.start_checkout(checkout())


async def test_slow_gateway_times_out_as_unavailable(gateway: GmoGateway, server: FakeGmoServer) -> None:
    gateway.timeout = 0.2
    server.delay = 0.5
    with pytest.raises(GatewayUnavailable, match="決済サービスに接続できませんでした"):
        await gateway.start_checkout(checkout())


async def test_unreachable_gateway_is_unavailable() -> None:
    fake = FakeGmoServer().start()
    url = fake.url
    fake.stop()
    with pytest.raises(GatewayUnavailable):
        await GmoGateway(url, "tshop", "pass", timeout=0.2).start_checkout(checkout())


def _return_payload(result: str = "PAYSUCCESS") -> dict[str, object]:
    return {
        "transactionresult": {
            "OrderID": ORDER,
            "Result": result,
            "Processdate": "20250401121000",
            "Paymethod": "credit",
        }
    }


def test_signed_return_result_is_read(gateway: GmoGateway, server: FakeGmoServer) -> None:
    note = gateway.parse_return(result_param(_return_payload(), server.shop_pass))
    assert (note.state, note.order_id) == ("paid", ORDER)
    assert note.occurred_at == datetime(2025, 4, 1, 12, 10, tzinfo=JST)


def test_tampered_return_result_is_rejected(gateway: GmoGateway, server: FakeGmoServer) -> None:
    genuine = result_param(_return_payload("ERROR"), server.shop_pass)
    forged_payload = result_param(_return_payload("PAYSUCCESS"), server.shop_pass).split(".")[0]
    with pytest.raises(NotificationRejected):
        gateway.parse_return(forged_payload + "." + genuine.split(".")[1])


@pytest.mark.parametrize("bad", ["", "no-dot-here", ".abc", "abc."])
def test_malformed_return_result_is_rejected(gateway: GmoGateway, bad: str) -> None:
    with pytest.raises(NotificationRejected):
        gateway.parse_return(bad)


def test_return_result_signed_with_another_password_is_rejected(gateway: GmoGateway) -> None:
    with pytest.raises(NotificationRejected, match="hash"):
        gateway.parse_return(result_param(_return_payload(), "someone-else"))


def test_card_notification_is_read_but_needs_confirmation(gateway: GmoGateway, server: FakeGmoServer) -> None:
    note = gateway.parse_notification(notification_body(server.shop_id, card_trade(ORDER)), {})
    assert (note.state, note.amount, note.reference) == ("paid", 5000, ORDER)
    assert note.needs_confirmation


def test_konbini_notification_carries_store_number_and_deadline(
    gateway: GmoGateway, server: FakeGmoServer
) -> None:
    note = gateway.parse_notification(notification_body(server.shop_id, cvs_trade(ORDER)), {})
    assert note.state == "awaiting_konbini"
    assert note.konbini is not None
    assert (note.konbini.store, note.konbini.payment_number, note.konbini.confirmation_number) == (
        "ファミリーマート",
        "123456789012",
        "400",
    )
    assert note.konbini.deadline == datetime(2025, 4, 4, 23, 59, 59, tzinfo=JST)


@pytest.mark.parametrize(("status", "state"), [("PAYSUCCESS", "paid"), ("EXPIRED", "expired")])
def test_later_konbini_notifications(
    gateway: GmoGateway, server: FakeGmoServer, status: str, state: str
) -> None:
    note = gateway.parse_notification(notification_body(server.shop_id, cvs_trade(ORDER, status)), {})
    assert note.state == state


def test_notification_for_another_shop_is_rejected(gateway: GmoGateway) -> None:
    with pytest.raises(NotificationRejected, match="another shop"):
        gateway.parse_notification(notification_body("tshop99999999", card_trade(ORDER)), {})


def test_notification_without_order_is_rejected(gateway: GmoGateway, server: FakeGmoServer) -> None:
    with pytest.raises(NotificationRejected):
        gateway.parse_notification(f"ShopID={server.shop_id}&Status=CAPTURE".encode(), {})


def test_replayed_notification_has_the_same_key(gateway: GmoGateway, server: FakeGmoServer) -> None:
    body = notification_body(server.shop_id, card_trade(ORDER))
    assert gateway.parse_notification(body, {}).key == gateway.parse_notification(body, {}).key
    later = notification_body(server.shop_id, cvs_trade(ORDER, "PAYSUCCESS"))
    assert gateway.parse_notification(later, {}).key != gateway.parse_notification(body, {}).key


async def test_forged_paid_notification_is_overruled_by_the_trade_search(
    gateway: GmoGateway, server: FakeGmoServer
) -> None:
    body = notification_body(server.shop_id, card_trade(ORDER))
    note = await gateway.receive(body, {})
    assert note.state == "pending"
    assert not note.needs_confirmation
    assert note.key == gateway.parse_notification(body, {}).key
    searched = [r.form()["PayType"] for r in server.calls("/payment/SearchTradeMulti.idPass")]
    assert searched == ["0", "3"]


async def test_confirmed_notification_takes_state_and_amount_from_gmo(
    gateway: GmoGateway, server: FakeGmoServer
) -> None:
    server.trades[ORDER] = card_trade(ORDER, amount=4000)
    note = await gateway.receive(notification_body(server.shop_id, card_trade(ORDER, amount=5000)), {})
    assert (note.state, note.amount) == ("paid", 4000)


async def test_konbini_state_is_found_with_the_second_pay_type(
    gateway: GmoGateway, server: FakeGmoServer
) -> None:
    server.trades[ORDER] = cvs_trade(ORDER)
    note = await gateway.fetch_state(ORDER)
    assert note.state == "awaiting_konbini"
    assert note.konbini is not None and note.konbini.payment_number == "123456789012"
    assert "AccessPass" not in note.raw


async def test_search_with_wrong_credentials_is_unavailable(server: FakeGmoServer) -> None:
    gateway = GmoGateway(server.url, server.shop_id, "wrong", timeout=0.2)
    with pytest.raises(GatewayUnavailable):
        await gateway.fetch_state(ORDER)


async def test_konbini_attempt_is_confirmed_with_one_search_of_its_own_pay_type(
    gateway: GmoGateway, server: FakeGmoServer
) -> None:
    server.trades[ORDER] = cvs_trade(ORDER)
    note = await gateway.receive(notification_body(server.shop_id, cvs_trade(ORDER)), {}, method="konbini")
    assert note.state == "awaiting_konbini"
    assert [r.form()["PayType"] for r in server.calls("/payment/SearchTradeMulti.idPass")] == ["3"]


async def test_card_attempt_is_confirmed_with_one_card_search(
    gateway: GmoGateway, server: FakeGmoServer
) -> None:
    server.trades[ORDER] = card_trade(ORDER)
    note = await gateway.receive(notification_body(server.shop_id, card_trade(ORDER)), {}, method="card")
    assert note.state == "paid"
    assert [r.form()["PayType"] for r in server.calls("/payment/SearchTradeMulti.idPass")] == ["0"]


async def test_confirming_a_notification_uses_the_short_timeout(server: FakeGmoServer) -> None:
    # The ordinary calls may wait (10 s by default); GMO gives the notification 15 s in all,
    # so the trade searches made while it waits stop early and ask GMO to send again.
    gateway = GmoGateway(server.url, server.shop_id, server.shop_pass, timeout=5.0, notify_timeout=0.2)
    server.delay = 0.6
    start = await gateway.start_checkout(checkout(order_id="SLOW-LINK-1"))
    assert start.reference == "SLOW-LINK-1"
    with pytest.raises(GatewayUnavailable) as caught:
        await gateway.receive(notification_body(server.shop_id, card_trade(ORDER)), {}, method="card")
    assert "timeout" in caught.value.detail
    assert gateway.notify_timeout == 0.2
    assert GmoGateway(server.url, "tshop", "pass").notify_timeout * 2 < 15


async def test_search_timing_out_is_unavailable(gateway: GmoGateway, server: FakeGmoServer) -> None:
    gateway.timeout = gateway.notify_timeout = 0.2
    server.delay = 0.5
    with pytest.raises(GatewayUnavailable):
        await gateway.receive(notification_body(server.shop_id, card_trade(ORDER)), {})


async def test_cancel_of_unused_link_disables_it(gateway: GmoGateway, server: FakeGmoServer) -> None:
    await gateway.cancel(ORDER)
    assert server.calls("/payment/RejectLinkplusUrlPayment.json")[0].json()["OrderID"] == ORDER


async def test_cancel_of_issued_konbini_number_voids_it(gateway: GmoGateway, server: FakeGmoServer) -> None:
    server.trades[ORDER] = cvs_trade(ORDER)
    await gateway.cancel(ORDER)
    assert server.trades[ORDER]["Status"] == "CANCEL"
    assert (await gateway.fetch_state(ORDER)).state == "cancelled"


async def test_cancel_leaves_a_paid_trade_alone(gateway: GmoGateway, server: FakeGmoServer) -> None:
    server.trades[ORDER] = card_trade(ORDER)
    await gateway.cancel(ORDER)
    assert server.calls("/payment/RejectLinkplusUrlPayment.json") == []
    assert server.calls("/payment/CvsCancel.idPass") == []


def test_notification_answers_are_the_documented_bodies() -> None:
    assert (NOTIFY_OK, NOTIFY_RETRY) == ("0", "1")


def test_gateway_refuses_missing_settings() -> None:
    with pytest.raises(ValueError):
        GmoGateway("https://pt01.mul-pay.jp", "", "pass")
    with pytest.raises(ValueError):
        GmoGateway("pt01.mul-pay.jp", "tshop", "pass")
    with pytest.raises(ValueError):
        GmoGateway("https://pt01.mul-pay.jp", "tshop", "pass", konbini_days=0)
