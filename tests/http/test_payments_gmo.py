"""The GMO link type Plus adapter end to end: checkout against a local fake GMO, results through the notify route."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from db.timestamps import from_db
from services.payments import UNAVAILABLE_MESSAGE
from services.payments.gmo import JST
from tests.fakes.gmo import FakeGmoServer, card_trade, cvs_trade, notification_body
from tests.helpers import body_text, login, outbox, post_form, test_settings, visible_text
from tests.payments_support import (
    attempts,
    check_profile,
    choose,
    fee_id_of,
    fee_row,
    issue_fee,
    mails,
    member_with_fee,
    to_gateway,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def gmo():
    server = FakeGmoServer().start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path, gmo):
    gmo.reset()
    return test_settings(
        tmp_path,
        payment_gateway="gmo",
        gmo_shop_id=gmo.shop_id,
        gmo_shop_pass=gmo.shop_pass,
        gmo_api_base=gmo.url,
        payment_timeout=0.5,
    )


async def notify(client, gmo, trade):
    return await client.post(
        "/payments/notify/gmo", content=notification_body(gmo.shop_id, trade), headers=FORM
    )


async def started(client, app_ctx, method):
    _, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id, method)
    hosted = await to_gateway(client, fee_id)
    return fee_id, hosted, (await attempts(app_ctx, fee_id))[0]


async def test_card_checkout_sends_the_documented_link_request_and_goes_to_gmo(client, app_ctx, gmo):
    fee_id, hosted, attempt = await started(client, app_ctx, "card")
    assert hosted.startswith("https://stg.link.mul-pay.jp/v1/plus/")
    [request] = gmo.calls("/payment/GetLinkplusUrlPayment.json")
    body = request.json()
    assert body["geturlparam"] == {"ShopID": gmo.shop_id, "ShopPass": gmo.shop_pass}
    transaction = body["transaction"]
    assert transaction["OrderID"] == attempt["order_id"] and transaction["Amount"] == 10_000
    assert transaction["PayMethods"] == ["credit"]
    assert transaction["RetUrl"] == f"http://testserver.local/payments/return?order={attempt['order_id']}"
    assert body["credit"] == {"JobCd": "CAPTURE", "Method": "1"}
    # The back button and a second tap reuse the link: GMO is asked once.
    assert await to_gateway(client, fee_id) == hosted
    assert len(gmo.calls("/payment/GetLinkplusUrlPayment.json")) == 1


async def test_card_result_notification_is_confirmed_with_gmo_then_paid_and_mailed_once(
    client, app_ctx, gmo, settings
):
    fee_id, _, attempt = await started(client, app_ctx, "card")
    trade = card_trade(attempt["order_id"], amount=10_000)
    gmo.trades[attempt["order_id"]] = trade
    response = await notify(client, gmo, trade)
    assert response.status_code == 200 and response.text == "0"
    assert len(gmo.calls("/payment/SearchTradeMulti.idPass")) == 1
    fee = await fee_row(app_ctx, fee_id)
    assert fee["status"] == "paid" and fee["paid_method"] == "card"
    again = await notify(client, gmo, trade)
    assert again.text == "0"
    assert len(mails(settings, "会費のお支払いが完了しました")) == 1
    assert len(outbox(settings)) == 1


async def test_unsigned_claim_of_payment_is_not_believed_without_gmo(client, app_ctx, gmo, settings):
    fee_id, _, attempt = await started(client, app_ctx, "card")
    # Someone posts a "paid" result, but GMO has no such trade: nothing changes.
    response = await notify(client, gmo, card_trade(attempt["order_id"], amount=10_000))
    assert response.text == "0"
    assert (await fee_row(app_ctx, fee_id))["status"] == "unpaid"
    assert outbox(settings) == []


async def test_konbini_number_then_store_payment(client, app_ctx, gmo, settings):
    fee_id, hosted, attempt = await started(client, app_ctx, "konbini")
    body = gmo.calls("/payment/GetLinkplusUrlPayment.json")[0].json()
    assert body["transaction"]["PayMethods"] == ["cvs"] and body["cvs"]["PaymentTermDay"] == "3"
    order_id = attempt["order_id"]
    gmo.trades[order_id] = cvs_trade(order_id, amount=10_000)
    assert (await notify(client, gmo, gmo.trades[order_id])).text == "0"
    assert (await fee_row(app_ctx, fee_id))["status"] == "awaiting_konbini"
    [issued] = mails(settings, "コンビニでのお支払い番号のお知らせ")
    text = body_text(issued)
    assert "ファミリーマート" in text and "123456789012" in text and "2025年4月4日" in text
    page = visible_text((await client.get(f"/payments/{fee_id}/checkout")).text)
    assert "123456789012" in page and "お支払い手続きページへ" not in page
    gmo.trades[order_id] = cvs_trade(order_id, status="PAYSUCCESS", amount=10_000)
    assert (await notify(client, gmo, gmo.trades[order_id])).text == "0"
    assert (await fee_row(app_ctx, fee_id))["status"] == "paid"
    assert len(mails(settings, "コンビニでのお支払いを確認しました")) == 1


async def test_konbini_notification_asks_gmo_once_with_the_attempts_pay_type(client, app_ctx, gmo):
    fee_id, _, attempt = await started(client, app_ctx, "konbini")
    order_id = attempt["order_id"]
    gmo.trades[order_id] = cvs_trade(order_id, amount=10_000)
    # GMO's own notification names the pay type too, but the attempt's method decides the order.
    assert (await notify(client, gmo, gmo.trades[order_id])).text == "0"
    searches = gmo.calls("/payment/SearchTradeMulti.idPass")
    assert [r.form()["PayType"] for r in searches] == ["3"]
    assert (await fee_row(app_ctx, fee_id))["status"] == "awaiting_konbini"


async def test_slow_trade_search_answers_gmo_well_within_its_window(client, app_ctx, gmo, monkeypatch):
    fee_id, _, attempt = await started(client, app_ctx, "card")
    trade = card_trade(attempt["order_id"], amount=10_000)
    gmo.trades[attempt["order_id"]] = trade
    from services.payment_config import get_gateway

    gateway = get_gateway(app_ctx)
    monkeypatch.setattr(gateway, "notify_timeout", 0.2)
    gmo.delay = 0.4  # slower than the notification path allows, quicker than the ordinary timeout
    response = await notify(client, gmo, trade)
    assert response.status_code == 503 and response.text == "1"
    assert len(gmo.calls("/payment/SearchTradeMulti.idPass")) == 1
    gmo.delay = 0.0
    assert (await notify(client, gmo, trade)).text == "0"
    assert (await fee_row(app_ctx, fee_id))["status"] == "paid"


async def test_gmo_convenience_stores_take_small_fees_but_not_over_300000_yen(client, app_ctx, gmo):
    _, small = await member_with_fee(app_ctx, client, amount=100)
    assert 'value="konbini"' in (await client.get(f"/payments/{small}/method")).text
    item = await issue_fee(app_ctx, name="2026年度 特別会費", amount=300_001)
    member_id = await app_ctx.db.fetchval("SELECT id FROM members WHERE member_number = '001001'")
    large = await fee_id_of(app_ctx, member_id, item)
    html = (await client.get(f"/payments/{large}/method")).text
    assert 'value="konbini"' not in html and "1回300,000円まで" in visible_text(html)


async def test_wrong_amount_at_gmo_is_held_for_the_admin(client, app_ctx, gmo, settings):
    fee_id, _, attempt = await started(client, app_ctx, "card")
    gmo.trades[attempt["order_id"]] = card_trade(attempt["order_id"], amount=1_000)
    assert (await notify(client, gmo, gmo.trades[attempt["order_id"]])).text == "0"
    assert (await fee_row(app_ctx, fee_id))["status"] == "unpaid"
    assert (await attempts(app_ctx, fee_id))[0]["needs_attention"] == 1
    assert outbox(settings) == []


async def test_notification_for_another_shop_is_refused(client, app_ctx, gmo):
    fee_id, _, attempt = await started(client, app_ctx, "card")
    body = notification_body("tshop99999999", card_trade(attempt["order_id"]))
    response = await client.post("/payments/notify/gmo", content=body, headers=FORM)
    assert response.status_code == 400 and response.text == "1"
    assert await app_ctx.db.fetchval("SELECT count(*) FROM payment_notifications") == 0


async def test_gmo_down_while_confirming_asks_for_a_resend_and_the_resend_applies(client, app_ctx, gmo):
    fee_id, _, attempt = await started(client, app_ctx, "card")
    trade = card_trade(attempt["order_id"], amount=10_000)
    gmo.trades[attempt["order_id"]] = trade
    gmo.fail_status = 500
    response = await notify(client, gmo, trade)
    assert response.text == "1"
    assert await app_ctx.db.fetchval("SELECT count(*) FROM payment_notifications") == 0
    gmo.fail_status = None
    assert (await notify(client, gmo, trade)).text == "0"
    assert (await fee_row(app_ctx, fee_id))["status"] == "paid"


@pytest.mark.parametrize("failure", ["error", "timeout"])
async def test_gateway_failure_at_checkout_shows_a_message_and_retry_uses_the_same_attempt(
    client, app_ctx, gmo, failure
):
    _, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id, "card")
    if failure == "error":
        gmo.fail_status = 500
    else:
        gmo.delay = 1.0
    from tests.helpers import post_form

    response = await post_form(client, f"/payments/{fee_id}/checkout", {}, follow_redirects=False)
    assert response.status_code == 503
    text = visible_text(response.text)
    assert UNAVAILABLE_MESSAGE in text and "お支払い手続きページへ" in text
    assert "二重にお支払いになることはありません" in text
    gmo.fail_status, gmo.delay = None, 0.0
    hosted = await to_gateway(client, fee_id)
    assert hosted.startswith("https://stg.link.mul-pay.jp/")
    rows = await attempts(app_ctx, fee_id)
    assert len(rows) == 1 and rows[0]["reference"] == rows[0]["order_id"]


async def cross_site_post(client, url, body):
    """A form POST from GMO's page: the browser sends neither the SameSite=Lax session cookie
    nor our CSRF cookie/token with it."""
    saved = httpx.Cookies(client.cookies)
    client.cookies.clear()
    try:
        parts = urlsplit(url)
        return await client.post(
            f"{parts.path}?{parts.query}", content=body, headers=FORM, follow_redirects=False
        )
    finally:
        client.cookies = saved


@pytest.mark.parametrize("method", ["card", "konbini"])
async def test_gmo_posts_the_member_back_and_the_return_page_shows_the_notified_state(
    client, app_ctx, gmo, method
):
    fee_id, _, attempt = await started(client, app_ctx, method)
    order_id = attempt["order_id"]
    trade = card_trade(order_id, amount=10_000) if method == "card" else cvs_trade(order_id, amount=10_000)
    gmo.trades[order_id] = trade
    assert (await notify(client, gmo, trade)).text == "0"
    ret_url, body = gmo.member_returns(order_id, "PAYSUCCESS" if method == "card" else "REQSUCCESS")
    assert ret_url == f"http://testserver.local/payments/return?order={order_id}"
    before = await app_ctx.db.fetchval("SELECT count(*) FROM audit_log")
    answer = await cross_site_post(client, ret_url, body)
    # No CSRF refusal, no login page: a 303 to the same URL, which the browser GETs top-level.
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/payments/return?order={order_id}"
    page = await client.get(answer.headers["location"])
    assert page.status_code == 200
    text = visible_text(page.text)
    if method == "card":
        assert "お支払いが完了しました。" in text
    else:
        assert "コンビニでのお支払い番号を発行しました。" in text and "123456789012" in text
    assert await app_ctx.db.fetchval("SELECT count(*) FROM audit_log") == before


async def test_return_post_body_never_changes_state(client, app_ctx, gmo):
    fee_id, _, attempt = await started(client, app_ctx, "card")
    order_id = attempt["order_id"]
    # A genuine, GMO-signed "PAYSUCCESS" result, but no notification confirmed it: still pending.
    ret_url, body = gmo.member_returns(order_id, "PAYSUCCESS")
    answer = await cross_site_post(client, ret_url, body)
    assert answer.status_code == 303
    page = visible_text((await client.get(answer.headers["location"])).text)
    assert "結果を確認しています" in page
    assert (await fee_row(app_ctx, fee_id))["status"] == "unpaid"
    assert gmo.calls("/payment/SearchTradeMulti.idPass") == []
    # The page itself still belongs to the logged-in member: without the cookie, the login page.
    client.cookies.clear()
    anonymous = await client.get(answer.headers["location"], follow_redirects=False)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]


async def test_return_post_without_order_in_the_url_uses_the_signed_result_only(client, app_ctx, gmo):
    _, _, attempt = await started(client, app_ctx, "card")
    _, body = gmo.member_returns(attempt["order_id"])
    answer = await cross_site_post(client, "http://testserver.local/payments/return?", body)
    assert answer.headers["location"] == f"/payments/return?order={attempt['order_id']}"
    forged = await cross_site_post(client, "http://testserver.local/payments/return?", b"result=e30.00ff")
    assert forged.status_code == 303 and forged.headers["location"] == "/payments"
    odd = await cross_site_post(
        client, "http://testserver.local/payments/return?order=%0d%0aSet-Cookie:x", b"result="
    )
    assert odd.status_code == 303 and odd.headers["location"] == "/payments"


# ---------------------------------------------------------------- link expiry


async def later(client, app_ctx, delta):
    """Move the app's clock on; the member logs in again, as they would after a day away."""
    app_ctx.clock.advance(delta)
    await login(client, "001001")


async def test_a_member_back_after_the_link_expired_gets_a_new_link(client, app_ctx, gmo, settings):
    fee_id, hosted, attempt = await started(client, app_ctx, "card")
    sent = gmo.calls("/payment/GetLinkplusUrlPayment.json")[0].json()["transaction"]["PaymentExpireDate"]
    expected = (app_ctx.clock.now() + timedelta(hours=24)).astimezone(JST)
    assert sent == expected.strftime("%Y%m%d%H%M")
    stored = from_db(attempt["link_expires_at"])
    assert stored is not None and stored.astimezone(JST).strftime("%Y%m%d%H%M") == sent
    # Still within the link's life: the same link, GMO is not asked again.
    await later(client, app_ctx, timedelta(hours=23))
    assert await to_gateway(client, fee_id) == hosted
    assert len(gmo.calls("/payment/GetLinkplusUrlPayment.json")) == 1
    # A day later the link is dead at GMO: GMO has no trade for it, so a new attempt and link.
    await later(client, app_ctx, timedelta(hours=2))
    renewed = await to_gateway(client, fee_id)
    assert renewed != hosted and renewed.startswith("https://stg.link.mul-pay.jp/")
    # GMO was asked first (no trade under either pay type) before the attempt was given up.
    assert {r.form()["OrderID"] for r in gmo.calls("/payment/SearchTradeMulti.idPass")} == {
        attempt["order_id"]
    }
    old, new = sorted(await attempts(app_ctx, fee_id), key=lambda row: row["id"])
    assert old["state"] == "expired" and new["state"] == "pending"
    assert new["method"] == "card" and new["order_id"] != old["order_id"]
    assert renewed.endswith(f"{new['order_id']}abc")
    links = gmo.calls("/payment/GetLinkplusUrlPayment.json")
    assert len(links) == 2 and links[1].json()["transaction"]["OrderID"] == new["order_id"]
    assert (await fee_row(app_ctx, fee_id))["status"] == "unpaid"
    assert outbox(settings) == []
    assert (
        await app_ctx.db.fetchval("SELECT count(*) FROM audit_log WHERE event = 'payment.link_expired'") == 1
    )
    # The back button now hands out the new link, and the old order's late payment is held for the admin.
    assert await to_gateway(client, fee_id) == renewed
    gmo.trades[old["order_id"]] = card_trade(old["order_id"], amount=10_000)
    assert (await notify(client, gmo, gmo.trades[old["order_id"]])).text == "0"
    rows = {row["id"]: row for row in await attempts(app_ctx, fee_id)}
    assert rows[old["id"]]["needs_attention"] == 1 and rows[new["id"]]["state"] == "pending"


async def test_a_payment_gmo_knows_of_wins_over_a_new_link(client, app_ctx, gmo, settings):
    fee_id, _, attempt = await started(client, app_ctx, "card")
    # The member paid, but GMO's notification never arrived.
    gmo.trades[attempt["order_id"]] = card_trade(attempt["order_id"], amount=10_000)
    await later(client, app_ctx, timedelta(days=2))
    response = await post_form(client, f"/payments/{fee_id}/checkout", {}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/payments/{fee_id}/checkout"
    assert (await fee_row(app_ctx, fee_id))["status"] == "paid"
    assert len(await attempts(app_ctx, fee_id)) == 1
    assert len(gmo.calls("/payment/GetLinkplusUrlPayment.json")) == 1
    assert len(mails(settings, "会費のお支払いが完了しました")) == 1


async def test_an_issued_convenience_store_number_outlives_the_link(client, app_ctx, gmo):
    fee_id, _, attempt = await started(client, app_ctx, "konbini")
    order_id = attempt["order_id"]
    gmo.trades[order_id] = cvs_trade(order_id, amount=10_000)
    assert (await notify(client, gmo, gmo.trades[order_id])).text == "0"
    await later(client, app_ctx, timedelta(days=2))
    response = await post_form(client, f"/payments/{fee_id}/checkout", {}, follow_redirects=False)
    assert response.headers["location"] == f"/payments/{fee_id}/checkout"
    [row] = await attempts(app_ctx, fee_id)
    assert row["state"] == "awaiting_konbini"
    assert "123456789012" in visible_text((await client.get(f"/payments/{fee_id}/checkout")).text)
    assert len(gmo.calls("/payment/GetLinkplusUrlPayment.json")) == 1


async def test_gmo_down_when_the_link_expired_keeps_the_attempt_and_says_so(client, app_ctx, gmo):
    fee_id, _, _ = await started(client, app_ctx, "card")
    await later(client, app_ctx, timedelta(days=2))
    gmo.fail_status = 500
    response = await post_form(client, f"/payments/{fee_id}/checkout", {}, follow_redirects=False)
    assert response.status_code == 503 and UNAVAILABLE_MESSAGE in visible_text(response.text)
    [row] = await attempts(app_ctx, fee_id)
    assert row["state"] == "pending"
    gmo.fail_status = None
    assert (await to_gateway(client, fee_id)).startswith("https://stg.link.mul-pay.jp/")
    assert [row["state"] for row in await attempts(app_ctx, fee_id)] == ["pending", "expired"]


async def test_a_dead_link_for_a_method_no_longer_offered_leads_back_to_the_method_page(client, app_ctx, gmo):
    fee_id, _, _ = await started(client, app_ctx, "konbini")
    await app_ctx.update_org({"payment_konbini_enabled": "0"})
    await later(client, app_ctx, timedelta(days=2))
    response = await post_form(client, f"/payments/{fee_id}/checkout", {}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/payments/{fee_id}/checkout"
    assert [row["state"] for row in await attempts(app_ctx, fee_id)] == ["expired"]
    page = await client.get(f"/payments/{fee_id}/checkout", follow_redirects=False)
    assert page.headers["location"] == f"/payments/{fee_id}/method"
    member_id = await app_ctx.db.fetchval("SELECT id FROM members WHERE member_number = '001001'")
    await check_profile(app_ctx, member_id)  # two days on, the profile is checked again first
    html = (await client.get(page.headers["location"])).text
    assert 'value="card"' in html and 'value="konbini"' not in html


async def test_parallel_taps_after_the_link_died_make_one_new_attempt(client, app_ctx, gmo):
    fee_id, hosted, _ = await started(client, app_ctx, "card")
    await later(client, app_ctx, timedelta(days=2))
    answers = await asyncio.gather(
        *(post_form(client, f"/payments/{fee_id}/checkout", {}, follow_redirects=False) for _ in range(4))
    )
    assert all(answer.status_code == 303 for answer in answers)
    rows = await attempts(app_ctx, fee_id)
    assert sorted(row["state"] for row in rows) == ["expired", "pending"]
    assert len(gmo.calls("/payment/GetLinkplusUrlPayment.json")) == 2
    new_links = {answer.headers["location"] for answer in answers} - {f"/payments/{fee_id}/checkout"}
    assert len(new_links) == 1 and hosted not in new_links
