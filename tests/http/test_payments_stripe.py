"""The Stripe Checkout adapter end to end: sessions on a local fake Stripe, signed webhooks through the notify route."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.timestamps import from_db
from services.payments import UNAVAILABLE_MESSAGE
from tests.fakes.stripe import FakeStripeServer, event_body, signature_header
from tests.helpers import body_text, login, outbox, post_form, test_settings, visible_text
from tests.payments_support import attempts, choose, fee_row, mails, member_with_fee, to_gateway

WEBHOOK_SECRET = "whsec_test_secret"


@pytest.fixture(scope="module")
def stripe():
    server = FakeStripeServer().start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path, stripe):
    stripe.reset()
    return test_settings(
        tmp_path,
        payment_gateway="stripe",
        stripe_secret_key=stripe.secret_key,
        stripe_webhook_secrets=("whsec_old_rotated", WEBHOOK_SECRET),  # a rotation in progress
        stripe_api_base=stripe.url,
        payment_timeout=0.5,
    )


async def webhook(client, app_ctx, event_type, session, *, secret=WEBHOOK_SECRET, age=0, event_id=None):
    body = event_body(event_type, session, event_id=event_id, created=int(app_ctx.clock.now().timestamp()))
    timestamp = int(app_ctx.clock.now().timestamp()) - age
    return await client.post(
        "/payments/notify/stripe",
        content=body,
        headers={
            "Stripe-Signature": signature_header(body, secret, timestamp),
            "Content-Type": "application/json",
        },
    )


async def started(client, app_ctx, method):
    _, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id, method)
    hosted = await to_gateway(client, fee_id)
    return fee_id, hosted, (await attempts(app_ctx, fee_id))[0]


async def test_checkout_creates_one_session_with_an_idempotency_key(client, app_ctx, stripe):
    fee_id, hosted, attempt = await started(client, app_ctx, "card")
    [create] = stripe.calls("/v1/checkout/sessions")
    assert create.header("Idempotency-Key") == f"tsudoi-checkout-{attempt['idempotency_key']}"
    form = create.form()
    assert form["mode"] == "payment" and form["payment_method_types[0]"] == "card"
    assert form["line_items[0][price_data][currency]"] == "jpy"
    assert form["line_items[0][price_data][unit_amount]"] == "10000"
    assert form["client_reference_id"] == attempt["order_id"]
    assert hosted == f"https://checkout.stripe.com/c/pay/{attempt['reference']}"
    assert await to_gateway(client, fee_id) == hosted
    assert len(stripe.calls("/v1/checkout/sessions")) == 1


async def test_card_completed_webhook_marks_paid_and_mails_once(client, app_ctx, stripe, settings):
    fee_id, _, attempt = await started(client, app_ctx, "card")
    session = stripe.complete(attempt["reference"])
    response = await webhook(client, app_ctx, "checkout.session.completed", session, event_id="evt_1")
    assert response.status_code == 200
    assert (await fee_row(app_ctx, fee_id))["status"] == "paid"
    replay = await webhook(client, app_ctx, "checkout.session.completed", session, event_id="evt_1")
    assert replay.status_code == 200
    assert len(mails(settings, "会費のお支払いが完了しました")) == 1
    assert len(outbox(settings)) == 1


async def test_konbini_completed_fetches_the_codes_then_async_success_pays(client, app_ctx, stripe, settings):
    fee_id, _, attempt = await started(client, app_ctx, "konbini")
    assert stripe.calls("/v1/checkout/sessions")[0].form()["payment_method_types[0]"] == "konbini"
    session = stripe.complete(attempt["reference"], konbini=True)
    assert (await webhook(client, app_ctx, "checkout.session.completed", session)).status_code == 200
    row = (await attempts(app_ctx, fee_id))[0]
    assert row["state"] == "awaiting_konbini" and row["konbini_number"] == "123456789012"
    [issued] = mails(settings, "コンビニでのお支払い番号のお知らせ")
    text = body_text(issued)
    assert "ファミリーマート" in text and "123456789012" in text and "44321" in text
    assert "ローソン・ミニストップ・セイコーマートでのお支払いは番号 998877665544・確認番号 11223" in text
    assert "https://payments.stripe.com/konbini/voucher/test_123" in text
    session["payment_status"] = "paid"
    await webhook(client, app_ctx, "checkout.session.async_payment_succeeded", session)
    assert (await fee_row(app_ctx, fee_id))["status"] == "paid"
    assert len(mails(settings, "コンビニでのお支払いを確認しました")) == 1


async def test_konbini_async_failure_expires_and_mails_how_to_start_again(client, app_ctx, stripe, settings):
    fee_id, _, attempt = await started(client, app_ctx, "konbini")
    session = stripe.complete(attempt["reference"], konbini=True)
    await webhook(client, app_ctx, "checkout.session.completed", session)
    await webhook(client, app_ctx, "checkout.session.async_payment_failed", session)
    assert (await fee_row(app_ctx, fee_id))["status"] == "expired"
    [notice] = mails(settings, "お支払い期限が過ぎました")
    assert "会員情報確認 支払手続き" in body_text(notice)


async def test_bad_or_stale_signatures_and_other_events(client, app_ctx, stripe):
    fee_id, _, attempt = await started(client, app_ctx, "card")
    session = stripe.complete(attempt["reference"])
    forged = await webhook(client, app_ctx, "checkout.session.completed", session, secret="whsec_wrong")
    assert forged.status_code == 400
    stale = await webhook(client, app_ctx, "checkout.session.completed", session, age=301)
    assert stale.status_code == 400
    other = await webhook(client, app_ctx, "payment_intent.created", session)
    assert other.status_code == 200
    assert (await fee_row(app_ctx, fee_id))["status"] == "unpaid"
    # Within the 5-minute tolerance, a signature with the current secret is accepted.
    ok = await webhook(client, app_ctx, "checkout.session.completed", session, age=299)
    assert ok.status_code == 200
    assert (await fee_row(app_ctx, fee_id))["status"] == "paid"


async def test_a_server_clock_minutes_slow_still_takes_genuine_events(client, app_ctx, stripe):
    fee_id, _, attempt = await started(client, app_ctx, "card")
    session = stripe.complete(attempt["reference"])
    # Stripe signed this ten minutes "in the future" as our slow clock sees it (beyond the
    # five-minute tolerance, which only bounds how old a message may be).
    ahead = await webhook(client, app_ctx, "checkout.session.completed", session, age=-600)
    assert ahead.status_code == 200
    assert (await fee_row(app_ctx, fee_id))["status"] == "paid"


async def test_konbini_is_not_offered_below_stripes_120_yen(client, app_ctx, stripe):
    _, fee_id = await member_with_fee(app_ctx, client, amount=100)
    text = visible_text((await client.get(f"/payments/{fee_id}/method")).text)
    assert "コンビニ払いは120円以上のお支払いにご利用いただけるため" in text
    refused = await post_form(
        client, f"/payments/{fee_id}/method", {"method": "konbini"}, follow_redirects=False
    )
    assert refused.status_code == 422 and await attempts(app_ctx, fee_id) == []
    assert stripe.calls("/v1/checkout/sessions") == []


async def test_a_member_back_after_the_session_ended_gets_a_new_one(client, app_ctx, stripe, settings):
    stripe.now = int(app_ctx.clock.now().timestamp())
    fee_id, hosted, attempt = await started(client, app_ctx, "konbini")
    assert from_db(attempt["link_expires_at"]) == app_ctx.clock.now() + timedelta(hours=24)
    # The checkout.session.expired event was lost; a day and a half later the member is back.
    app_ctx.clock.advance(timedelta(hours=36))
    stripe.now = int(app_ctx.clock.now().timestamp())
    await login(client, "001001")
    renewed = await to_gateway(client, fee_id)
    assert renewed != hosted and renewed.startswith("https://checkout.stripe.com/c/pay/cs_test_")
    new, old = await attempts(app_ctx, fee_id)
    assert old["state"] == "expired" and new["state"] == "pending" and new["method"] == "konbini"
    assert renewed.endswith(new["reference"])
    assert len(stripe.calls("/v1/checkout/sessions")) == 2
    # No number was ever issued, so no "deadline passed" mail for the abandoned page.
    assert outbox(settings) == []


async def test_wrong_amount_in_a_signed_event_is_held(client, app_ctx, stripe, settings):
    fee_id, _, attempt = await started(client, app_ctx, "card")
    session = dict(stripe.complete(attempt["reference"]), amount_total=100)
    await webhook(client, app_ctx, "checkout.session.completed", session)
    assert (await fee_row(app_ctx, fee_id))["status"] == "unpaid"
    assert (await attempts(app_ctx, fee_id))[0]["needs_attention"] == 1
    assert outbox(settings) == []


@pytest.mark.parametrize("failure", ["error", "timeout"])
async def test_stripe_failure_at_checkout_is_explained_and_the_retry_reuses_the_session(
    client, app_ctx, stripe, failure
):
    _, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id, "card")
    if failure == "error":
        stripe.fail_status = 500
    else:
        stripe.delay = 1.0
    response = await post_form(client, f"/payments/{fee_id}/checkout", {}, follow_redirects=False)
    assert response.status_code == 503
    assert UNAVAILABLE_MESSAGE in visible_text(response.text)
    stripe.fail_status, stripe.delay = None, 0.0
    hosted = await to_gateway(client, fee_id)
    rows = await attempts(app_ctx, fee_id)
    assert len(rows) == 1
    # A timed-out creation did reach Stripe; the same idempotency key returns that session.
    assert len(stripe.sessions) == 1 and hosted.endswith(rows[0]["reference"])


async def test_admin_cancel_expires_the_open_session(client, app_ctx, stripe):
    from tests.helpers import login_admin

    fee_id, _, attempt = await started(client, app_ctx, "card")
    await login_admin(client, app_ctx)
    response = await post_form(
        client, f"/admin/payments/attempts/{attempt['id']}/cancel", {}, follow_redirects=False
    )
    assert response.status_code == 303
    assert stripe.sessions[attempt["reference"]]["status"] == "expired"
    assert (await fee_row(app_ctx, fee_id))["status"] == "cancelled"
