"""Annual fees through the test client on the sandbox gateway: the pay flow, notifications, receipts."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from db import payments as payment_queries
from services.payment_config import gateway_state, get_gateway
from services.payments import states
from services.payments.sandbox import SIGNATURE_HEADER, SandboxGateway
from services.payments.signing import signature_header
from tests.helpers import TOKYO, body_text, ja_date, login, make_member, outbox, post_form, visible_text
from tests.payments_support import (
    attempts,
    check_profile,
    choose,
    fee_id_of,
    fee_row,
    issue_fee,
    mails,
    member_with_fee,
    method_page_text,
    pdf_text,
    to_gateway,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def sandbox(app_ctx) -> SandboxGateway:
    gateway = get_gateway(app_ctx)
    assert isinstance(gateway, SandboxGateway)
    return gateway


async def notify(client, body, headers):
    return await client.post("/payments/notify/sandbox", content=body, headers=headers)


async def press(client, hosted_url, outcome, store="ローソン"):
    path = urlsplit(hosted_url).path
    data = {"outcome": outcome, **({"store": store} if outcome == "konbini_issued" else {})}
    return await post_form(client, path, data, follow_redirects=False)


# ---------------------------------------------------------------- history and the pay flow


async def test_history_lists_each_fee_with_status_amount_due_date_and_pay_button(client, app_ctx):
    _, fee_id = await member_with_fee(app_ctx, client)
    page = await client.get("/payments")
    assert page.status_code == 200
    text = visible_text(page.text)
    for expected in (
        "会費支払明細",
        "2026年度 年会費",
        "10,000円",
        "会費の支払期限",
        "2027年3月31日(水)",
        "お支払い待ち",
        "会員情報確認 支払手続き",
    ):
        assert expected in text, expected
    assert f'href="/payments/{fee_id}/start"' in page.text
    assert 'href="/payments"' in page.text  # the member menu entry 会費のお支払い


async def test_history_page_runs_a_fixed_number_of_queries(client, app_ctx):
    member_id, _ = await member_with_fee(app_ctx, client)
    await client.get("/payments")
    before = app_ctx.db.query_count
    await client.get("/payments")
    one_fee = app_ctx.db.query_count - before
    for year in (2021, 2022, 2023, 2024, 2025):
        await issue_fee(app_ctx, year=year)
    before = app_ctx.db.query_count
    page = await client.get("/payments")
    assert page.text.count("年度 年会費") >= 6
    assert app_ctx.db.query_count - before == one_fee


async def test_start_skips_the_profile_only_when_it_was_saved_today_in_japan(client, app_ctx, clock):
    clock.set(datetime(2026, 11, 23, 14, 59, tzinfo=UTC))
    member_id, fee_id = await member_with_fee(app_ctx, client, checked=False)
    # Saved at 00:10 JST on the 23rd; at 23:59 the same day the profile step is skipped.
    await check_profile(app_ctx, member_id, datetime(2026, 11, 22, 15, 10, tzinfo=UTC))
    response = await client.get(f"/payments/{fee_id}/start", follow_redirects=False)
    assert response.headers["location"] == f"/payments/{fee_id}/method"
    # One minute later it is the 24th in Tokyo (still the 23rd in UTC): check the profile again.
    clock.set(datetime(2026, 11, 23, 15, 0, tzinfo=UTC))
    response = await client.get(f"/payments/{fee_id}/start", follow_redirects=False)
    assert response.headers["location"] == f"/profile?next=/payments/{fee_id}/method&purpose=payment"
    # The method page itself sends an unchecked member to the profile too.
    response = await client.get(f"/payments/{fee_id}/method", follow_redirects=False)
    assert response.headers["location"].startswith("/profile?next=")


async def test_profile_link_offers_to_save_and_continue_to_payment(client, app_ctx):
    _, fee_id = await member_with_fee(app_ctx, client, checked=False)
    response = await client.get(f"/payments/{fee_id}/start", follow_redirects=False)
    page = await client.get(response.headers["location"])
    assert page.status_code == 200
    assert "変更してお支払い手続きへ" in page.text


async def test_method_page_says_the_choice_is_final_and_offers_both_methods(client, app_ctx):
    _, fee_id = await member_with_fee(app_ctx, client)
    page = await client.get(f"/payments/{fee_id}/method")
    text = visible_text(page.text)
    assert "クレジットカード（一括払い）" in text and "コンビニ払い" in text
    assert "確定後はお支払い方法を変更できません" in text
    assert "決定" in text


async def test_missing_or_unknown_method_shows_the_error_next_to_the_field(client, app_ctx):
    _, fee_id = await member_with_fee(app_ctx, client)
    for data in ({}, {"method": "bitcoin"}, {"method": "カード" * 5000}, {"method": "💳"}):
        response = await post_form(client, f"/payments/{fee_id}/method", data)
        assert response.status_code == 422
        assert "お支払い方法を選んでください。" in response.text
        assert 'aria-invalid="true"' in response.text
    assert await attempts(app_ctx, fee_id) == []


async def test_a_method_the_admin_turned_off_is_not_offered_nor_accepted(client, app_ctx):
    _, fee_id = await member_with_fee(app_ctx, client)
    await app_ctx.update_org({"payment_card_enabled": "0"})
    page = await client.get(f"/payments/{fee_id}/method")
    assert 'value="konbini"' in page.text and 'value="card"' not in page.text
    response = await post_form(client, f"/payments/{fee_id}/method", {"method": "card"})
    assert response.status_code == 422
    await app_ctx.update_org({"payment_konbini_enabled": "0"})
    page = await client.get(f"/payments/{fee_id}/method")
    assert "現在、オンラインでのお支払いを受け付けておりません" in page.text
    assert await attempts(app_ctx, fee_id) == []


async def test_double_submit_and_back_button_never_create_a_second_attempt(client, app_ctx):
    _, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id, "card")
    # A second 決定 (double tap, or back and submit again, even with another method) reuses it.
    await choose(client, fee_id, "konbini")
    back = await client.get(f"/payments/{fee_id}/method", follow_redirects=False)
    assert back.headers["location"] == f"/payments/{fee_id}/checkout"
    again = await client.get(f"/payments/{fee_id}/start", follow_redirects=False)
    assert again.headers["location"] == f"/payments/{fee_id}/checkout"
    page = await client.get(f"/payments/{fee_id}/checkout")
    text = visible_text(page.text)
    assert "クレジットカード（一括払い）" in text and "変更できません" in text
    first = await to_gateway(client, fee_id)
    second = await to_gateway(client, fee_id)
    assert first == second
    rows = await attempts(app_ctx, fee_id)
    assert len(rows) == 1 and rows[0]["method"] == "card" and rows[0]["state"] == "pending"


async def test_the_database_refuses_a_second_live_attempt(client, app_ctx):
    _, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id)
    import sqlite3

    with pytest.raises(sqlite3.IntegrityError):
        await app_ctx.db.execute(
            "INSERT INTO payment_attempts (fee_id, member_number, method, gateway, order_id, amount, "
            "idempotency_key, created_at, updated_at) VALUES (?, '001001', 'card', 'sandbox', 'X-1', 10000, "
            "'k2', 'now', 'now')",
            (fee_id,),
        )


async def test_the_sandbox_set_in_the_environment_is_reported_as_a_test_gateway(client, app_ctx):
    state = await gateway_state(app_ctx)
    assert (state.name, state.source, state.ready, state.sandbox, state.live) == (
        "sandbox",
        "env",
        True,
        True,
        False,
    )
    assert "TSUDOI_PAYMENT_GATEWAY=sandbox" in state.summary and "gmo または stripe" in state.summary
    _, fee_id = await member_with_fee(app_ctx, client)
    for path in ("/payments", f"/payments/{fee_id}/method"):
        assert "テスト決済" in visible_text((await client.get(path)).text), path


async def test_card_payment_on_the_sandbox_end_to_end(client, app_ctx, settings):
    _, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id, "card")
    hosted = await to_gateway(client, fee_id)
    assert hosted.startswith("http://testserver.local/sandbox-gateway/")
    page = await client.get(urlsplit(hosted).path)
    text = visible_text(page.text)
    assert "テスト決済" in text and "10,000円" in text
    assert "支払いに成功する" in text and "カードが使えなかったことにする" in text
    done = await press(client, hosted, "card_success")
    assert done.status_code == 303
    order_id = (await attempts(app_ctx, fee_id))[0]["order_id"]
    assert done.headers["location"] == f"http://testserver.local/payments/return?order={order_id}"
    result = await client.get(f"/payments/return?order={order_id}")
    assert "お支払い済み" in visible_text(result.text)
    fee = await fee_row(app_ctx, fee_id)
    assert fee["status"] == "paid" and fee["paid_method"] == "card" and fee["paid_at"]
    history = visible_text((await client.get("/payments")).text)
    assert (
        "お支払い済み" in history and ja_date(app_ctx.clock.now()) in history and "領収書（PDF）" in history
    )
    sent = mails(settings, "会費のお支払いが完了しました")
    assert len(sent) == 1
    body = body_text(sent[0])
    assert "鈴木 太郎 様" in body and "10,000円" in body and order_id in body
    # Pressing again (a second tab) sends nothing and mails nothing.
    again = await press(client, hosted, "card_success")
    assert again.status_code == 409
    assert len(mails(settings, "会費のお支払いが完了しました")) == 1


async def test_declined_card_lets_the_member_start_again_with_any_method(client, app_ctx, settings):
    _, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id, "card")
    hosted = await to_gateway(client, fee_id)
    await press(client, hosted, "card_declined")
    order_id = (await attempts(app_ctx, fee_id))[0]["order_id"]
    result = visible_text((await client.get(f"/payments/return?order={order_id}")).text)
    assert "カードがご利用いただけませんでした" in result
    history = visible_text((await client.get("/payments")).text)
    assert "お支払い待ち" in history and "会員情報確認 支払手続き" in history
    await choose(client, fee_id, "konbini")
    rows = await attempts(app_ctx, fee_id)
    assert [r["state"] for r in rows] == ["pending", "declined"]
    assert outbox(settings) == []


async def test_konbini_payment_on_the_sandbox_with_number_mail_then_paid_mail(client, app_ctx, settings):
    _, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id, "konbini")
    hosted = await to_gateway(client, fee_id)
    page = visible_text((await client.get(urlsplit(hosted).path)).text)
    assert "コンビニの支払い番号を発行する" in page and "支払いに成功する" not in page
    await press(client, hosted, "konbini_issued")
    attempt = (await attempts(app_ctx, fee_id))[0]
    assert attempt["state"] == "awaiting_konbini" and len(attempt["konbini_number"]) == 11
    history = visible_text((await client.get("/payments")).text)
    assert "コンビニでのお支払い待ち" in history and attempt["konbini_number"] in history
    issued = mails(settings, "コンビニでのお支払い番号のお知らせ")
    assert len(issued) == 1
    body = body_text(issued[0])
    for expected in (
        attempt["konbini_store"],
        attempt["konbini_number"],
        f"お支払い期限：{ja_date(app_ctx.clock.now() + timedelta(days=3))}",
        "レジ",
    ):
        assert expected in body, expected
    # The checkout page shows the number; the hosted page now offers the store outcomes.
    checkout = visible_text((await client.get(f"/payments/{fee_id}/checkout")).text)
    assert attempt["konbini_number"] in checkout
    hosted_again = await to_gateway(client, fee_id)
    page = visible_text((await client.get(urlsplit(hosted_again).path)).text)
    assert "店頭で支払ったことにする" in page and "支払い期限を過ぎたことにする" in page
    await press(client, hosted_again, "konbini_paid")
    assert (await fee_row(app_ctx, fee_id))["status"] == "paid"
    paid = mails(settings, "コンビニでのお支払いを確認しました")
    assert len(paid) == 1 and "10,000円" in body_text(paid[0])
    assert len(outbox(settings)) == 2


async def test_expired_konbini_mails_how_to_start_again_and_allows_a_new_attempt(client, app_ctx, settings):
    _, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id, "konbini")
    hosted = await to_gateway(client, fee_id)
    await press(client, hosted, "konbini_issued")
    await press(client, await to_gateway(client, fee_id), "konbini_expired")
    assert (await fee_row(app_ctx, fee_id))["status"] == "expired"
    history = visible_text((await client.get("/payments")).text)
    assert "期限切れ" in history and "会員情報確認 支払手続き" in history
    notice = mails(settings, "お支払い期限が過ぎました")
    assert len(notice) == 1
    body = body_text(notice[0])
    assert "会員情報確認 支払手続き" in body and "http://testserver.local/payments" in body
    await choose(client, fee_id, "card")
    assert [r["state"] for r in await attempts(app_ctx, fee_id)] == ["pending", "expired"]


# ---------------------------------------------------------------- notifications


async def started_attempt(client, app_ctx, method="konbini"):
    _, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id, method)
    await to_gateway(client, fee_id)
    return fee_id, (await attempts(app_ctx, fee_id))[0]


async def test_replayed_notification_changes_nothing_and_mails_once(client, app_ctx, settings):
    fee_id, attempt = await started_attempt(client, app_ctx, "card")
    body, headers = sandbox(app_ctx).build_notification(attempt["reference"], "card_success", 10_000)
    first = await notify(client, body, headers)
    assert first.status_code == 200 and first.json()["outcome"] == "applied"
    second = await notify(client, body, headers)
    assert second.status_code == 200 and second.json()["outcome"] == "duplicate"
    stored = await app_ctx.db.fetchval("SELECT count(*) FROM payment_notifications")
    assert stored == 1
    assert len(outbox(settings)) == 1
    # A different report of the same state (a gateway resend with a new id) is recorded, not applied.
    body2, headers2 = sandbox(app_ctx).build_notification(attempt["reference"], "card_success", 10_000)
    third = await notify(client, body2, headers2)
    assert third.json()["outcome"] == "replay"
    assert len(outbox(settings)) == 1


async def test_out_of_order_notifications_only_move_forward(client, app_ctx, settings):
    fee_id, attempt = await started_attempt(client, app_ctx, "konbini")
    gateway = sandbox(app_ctx)
    paid = gateway.build_notification(attempt["reference"], "konbini_paid", 10_000)
    issued = gateway.build_notification(attempt["reference"], "konbini_issued", 10_000)
    expired = gateway.build_notification(attempt["reference"], "konbini_expired", 10_000)
    assert (await notify(client, *paid)).json()["outcome"] == "applied"
    assert (await notify(client, *issued)).json()["outcome"] == "ignored"
    assert (await notify(client, *expired)).json()["outcome"] == "ignored"
    row = await payment_queries.attempt(app_ctx.db, int(attempt["id"]))
    assert row["state"] == "paid"
    assert (await fee_row(app_ctx, fee_id))["status"] == "paid"
    assert [str(m["Subject"]) for m in outbox(settings)] == [
        "【集い会員ポータル】コンビニでのお支払いを確認しました"
    ]


async def test_tampered_notification_is_refused_and_stores_nothing(client, app_ctx):
    fee_id, attempt = await started_attempt(client, app_ctx, "card")
    body, headers = sandbox(app_ctx).build_notification(attempt["reference"], "card_declined", 10_000)
    tampered = body.replace(b"card_declined", b"card_success")
    response = await notify(client, tampered, headers)
    assert response.status_code == 400
    unsigned = await notify(client, body, {"Content-Type": "application/json"})
    assert unsigned.status_code == 400
    other_secret = signature_header(body, "not-the-secret", int(app_ctx.clock.now().timestamp()))
    forged = await notify(client, body, {SIGNATURE_HEADER: other_secret})
    assert forged.status_code == 400
    garbage = await notify(client, "\U0001f4b3".encode() * 1000, headers)
    assert garbage.status_code == 400
    assert await app_ctx.db.fetchval("SELECT count(*) FROM payment_notifications") == 0
    assert (await fee_row(app_ctx, fee_id))["status"] == "unpaid"


async def test_stale_signed_notification_is_refused(client, app_ctx, clock):
    fee_id, attempt = await started_attempt(client, app_ctx, "card")
    body, headers = sandbox(app_ctx).build_notification(attempt["reference"], "card_success", 10_000)
    clock.advance(timedelta(minutes=6))
    assert (await notify(client, body, headers)).status_code == 400
    assert (await fee_row(app_ctx, fee_id))["status"] == "unpaid"


async def test_wrong_amount_is_stored_flagged_and_changes_nothing(client, app_ctx, settings):
    fee_id, attempt = await started_attempt(client, app_ctx, "card")
    body, headers = sandbox(app_ctx).build_notification(attempt["reference"], "card_success", 1_000)
    response = await notify(client, body, headers)
    assert response.status_code == 200 and response.json()["outcome"] == "mismatch"
    row = await payment_queries.attempt(app_ctx.db, int(attempt["id"]))
    assert row["state"] == "pending" and row["needs_attention"] == 1 and "金額" in row["attention_reason"]
    assert (await fee_row(app_ctx, fee_id))["status"] == "unpaid"
    assert outbox(settings) == []


async def test_notification_for_an_unknown_payment_is_recorded_without_effect(client, app_ctx):
    body, headers = sandbox(app_ctx).build_notification("sbx-NOPE", "card_success", 10_000)
    response = await notify(client, body, headers)
    assert response.status_code == 200 and response.json()["outcome"] == "unknown"


async def test_notify_route_for_another_gateway_is_not_found(client, app_ctx):
    response = await client.post("/payments/notify/stripe", content=b"{}")
    assert response.status_code == 404


async def test_payment_after_an_admin_cancel_is_flagged_for_the_admin(client, app_ctx):
    fee_id, attempt = await started_attempt(client, app_ctx, "konbini")
    await payment_queries.cancel_attempt(app_ctx.db, int(attempt["id"]), now=app_ctx.clock.now())
    body, headers = sandbox(app_ctx).build_notification(attempt["reference"], "konbini_paid", 10_000)
    assert (await notify(client, body, headers)).json()["outcome"] == "ignored"
    row = await payment_queries.attempt(app_ctx.db, int(attempt["id"]))
    assert row["state"] == "cancelled" and row["needs_attention"] == 1


# ---------------------------------------------------------------- another member's things


async def test_another_members_fee_pages_and_receipt_are_not_found(client, app_ctx):
    other_id = await make_member(app_ctx, "002002")
    item_id = await issue_fee(app_ctx)
    other_fee = await fee_id_of(app_ctx, other_id, item_id)
    other_order = "TS-OTHER-1"
    await payment_queries.record_paid_attempt(
        app_ctx.db,
        other_fee,
        method="card",
        gateway="sandbox",
        order_id=other_order,
        paid_at=app_ctx.clock.now(),
    )
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    for path in (
        f"/payments/{other_fee}/start",
        f"/payments/{other_fee}/method",
        f"/payments/{other_fee}/checkout",
        f"/payments/{other_fee}/receipt.pdf",
        f"/payments/return?order={other_order}",
        "/payments/999999/receipt.pdf",
        "/payments/return?order=",
    ):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 404, path
    for path in (f"/payments/{other_fee}/method", f"/payments/{other_fee}/checkout"):
        response = await post_form(client, path, {"method": "card"}, follow_redirects=False)
        assert response.status_code == 404, path
    assert await attempts(app_ctx, other_fee) != []
    assert await app_ctx.db.fetchval("SELECT count(*) FROM receipts") == 0


async def test_pay_pages_need_a_login(client, app_ctx):
    response = await client.get("/payments", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


# ---------------------------------------------------------------- receipts


async def paid_fee(client, app_ctx):
    _, fee_id = await member_with_fee(app_ctx, client, family_name="山田", given_name="花子")
    await choose(client, fee_id, "card")
    await press(client, await to_gateway(client, fee_id), "card_success")
    return fee_id


async def test_receipt_pdf_has_the_receipt_fields_and_the_second_download_says_reissued(client, app_ctx):
    await app_ctx.update_org(
        {"org_name": "一般社団法人 日本つどい学会", "org_address": "〒100-0001 東京都千代田区千代田1-1"}
    )
    fee_id = await paid_fee(client, app_ctx)
    response = await client.get(f"/payments/{fee_id}/receipt.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    year = app_ctx.clock.now().astimezone(TOKYO).year  # receipts are numbered per year of issue
    assert f"receipt-R{year}-000001.pdf" in response.headers["content-disposition"]
    text = pdf_text(response.content)
    for expected in (
        "領収書",
        f"R{year}-000001",
        f"発行日{ja_date(app_ctx.clock.now())}",
        "山田花子",
        "￥10,000-",
        "但し2026年度年会費として",
        "お支払い方法：クレジットカード",
        f"お支払い日：{ja_date(app_ctx.clock.now())}",
        "一般社団法人日本つどい学会",
        "東京都千代田区千代田1-1",
    ):
        assert expected in text, expected
    assert "再発行" not in text and "登録番号" not in text
    again = await client.get(f"/payments/{fee_id}/receipt.pdf")
    again_text = pdf_text(again.content)
    assert "再発行" in again_text and f"R{year}-000001" in again_text
    history = visible_text((await client.get("/payments")).text)
    assert "※再発行" in history


async def test_receipt_shows_the_invoice_number_and_tax_breakdown_the_admin_set(client, app_ctx):
    await app_ctx.update_org({"invoice_number": "T1234567890123", "receipt_tax_mode": "inclusive10"})
    fee_id = await paid_fee(client, app_ctx)
    text = pdf_text((await client.get(f"/payments/{fee_id}/receipt.pdf")).content)
    assert "登録番号T1234567890123" in text
    assert "10%対象￥10,000（内消費税等￥909）" in text
    # The tax line was fixed when the receipt was issued: a later change applies to new receipts only.
    await app_ctx.update_org({"receipt_tax_mode": "outside"})
    text = pdf_text((await client.get(f"/payments/{fee_id}/receipt.pdf")).content)
    assert "10%対象￥10,000（内消費税等￥909）" in text and "不課税" not in text and "再発行" in text


async def test_an_issued_receipt_keeps_its_issuer_payer_and_tax_line_when_settings_change(
    client, app_ctx, clock
):
    await app_ctx.update_org(
        {
            "org_name": "一般社団法人 日本つどい学会",
            "org_address": "〒100-0001 東京都千代田区千代田1-1",
            "invoice_number": "T1234567890123",
            "receipt_tax_mode": "inclusive10",
        }
    )
    fee_id = await paid_fee(client, app_ctx)
    first = pdf_text((await client.get(f"/payments/{fee_id}/receipt.pdf")).content)
    for expected in (
        "一般社団法人日本つどい学会",
        "東京都千代田区千代田1-1",
        "登録番号T1234567890123",
        "10%対象￥10,000（内消費税等￥909）",
        "山田花子様",
        "発行日2026年11月23日",
    ):
        assert expected in first, expected
    # A month later the organization moves, renames itself, drops its registration; the member renames.
    clock.advance(timedelta(days=30))
    await login(client, "001001")
    await app_ctx.update_org(
        {
            "org_name": "一般財団法人 新つどい会",
            "org_address": "〒530-0001 大阪府大阪市北区梅田1-1",
            "invoice_number": "",
            "receipt_tax_mode": "outside",
        }
    )
    member_id = (await fee_row(app_ctx, fee_id))["member_id"]
    await app_ctx.db.execute("UPDATE members SET family_name = '佐藤' WHERE id = ?", (member_id,))
    again = pdf_text((await client.get(f"/payments/{fee_id}/receipt.pdf")).content)
    assert "再発行" in again and "再発行" not in first
    assert again.replace("再発行", "") == first  # the same document, word for word, plus 再発行
    # A receipt issued after the change says what the settings say now.
    later_item = await issue_fee(app_ctx, year=2027)
    later_fee = await fee_id_of(app_ctx, member_id, later_item)
    await payment_queries.mark_paid_by_transfer(
        app_ctx.db, later_fee, note="n", paid_at=app_ctx.clock.now(), now=app_ctx.clock.now()
    )
    later = pdf_text((await client.get(f"/payments/{later_fee}/receipt.pdf")).content)
    assert "一般財団法人新つどい会" in later and "佐藤花子様" in later and "大阪府" in later
    assert "登録番号" not in later and "不課税" in later
    assert "見本" not in later  # paid by bank transfer, not through the sandbox


async def test_receipt_numbers_count_up_and_unpaid_fees_have_none(client, app_ctx):
    fee_id = await paid_fee(client, app_ctx)
    unpaid_item = await issue_fee(app_ctx, year=2027)
    member_id = (await fee_row(app_ctx, fee_id))["member_id"]
    unpaid = await fee_id_of(app_ctx, member_id, unpaid_item)
    assert (await client.get(f"/payments/{unpaid}/receipt.pdf")).status_code == 404
    await client.get(f"/payments/{fee_id}/receipt.pdf")
    other_id = await make_member(app_ctx, "003003")
    await issue_fee(app_ctx, year=2027)
    other_fee = await fee_id_of(app_ctx, other_id, unpaid_item)
    await payment_queries.mark_paid_by_transfer(
        app_ctx.db, other_fee, note="n", paid_at=app_ctx.clock.now(), now=app_ctx.clock.now()
    )
    await login(client, "003003")
    response = await client.get(f"/payments/{other_fee}/receipt.pdf")
    text = pdf_text(response.content)
    year = app_ctx.clock.now().astimezone(TOKYO).year
    assert f"R{year}-000002" in text and "お支払い方法：銀行振込" in text


async def test_receipt_renders_to_an_image(client, app_ctx):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    await app_ctx.update_org(
        {
            "org_name": "一般社団法人 日本つどい学会",
            "org_address": "〒100-0001 東京都千代田区千代田1-1",
            "invoice_number": "T1234567890123",
        }
    )
    fee_id = await paid_fee(client, app_ctx)
    await client.get(f"/payments/{fee_id}/receipt.pdf")
    pdf = (await client.get(f"/payments/{fee_id}/receipt.pdf")).content
    ARTIFACTS.mkdir(exist_ok=True)
    source = ARTIFACTS / "payment-receipt.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "110", "-singlefile", str(source), str(ARTIFACTS / "payment-receipt")],
        check=True,
        timeout=60,
    )
    png = ARTIFACTS / "payment-receipt.png"
    assert png.stat().st_size > 10_000
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True, text=True, timeout=60
        ).stdout
        assert "再発行" in text and "山田 花子" in text


# ---------------------------------------------------------------- convenience-store limits


@pytest.mark.parametrize("amount", [300_001, 119])
async def test_convenience_store_is_hidden_with_the_reason_outside_its_limits(client, app_ctx, amount):
    _, fee_id = await member_with_fee(app_ctx, client, amount=amount)
    html = await method_page_text(client, fee_id)
    text = visible_text(html)
    assert 'value="konbini"' not in html and 'value="card"' in html
    assert "コンビニ払い" in text and "ご利用いただけません" in text
    assert f"この会費（{amount:,}円）" in text
    assert ("1回300,000円まで" if amount > 300_000 else "120円以上") in text
    # Refused on the server too, with the reason, the form still there, and nothing created.
    response = await post_form(
        client, f"/payments/{fee_id}/method", {"method": "konbini"}, follow_redirects=False
    )
    assert response.status_code == 422
    refused = visible_text(response.text)
    assert "入力内容をご確認ください。" in refused and "ご利用いただけません" in refused
    assert "決定" in refused and 'value="card"' in response.text
    assert await attempts(app_ctx, fee_id) == []
    await choose(client, fee_id, "card")
    assert [row["method"] for row in await attempts(app_ctx, fee_id)] == ["card"]


@pytest.mark.parametrize("amount", [300_000, 120])
async def test_convenience_store_is_offered_at_its_limits(client, app_ctx, amount):
    _, fee_id = await member_with_fee(app_ctx, client, amount=amount)
    html = await method_page_text(client, fee_id)
    assert 'value="konbini"' in html and "ご利用いただけません" not in visible_text(html)
    await choose(client, fee_id, "konbini")


async def test_choose_method_refuses_konbini_over_the_limit_even_without_the_page(client, app_ctx):
    from services import payment_flow

    member_id, fee_id = await member_with_fee(app_ctx, client, amount=500_000)
    with pytest.raises(ValueError, match="amount"):
        await payment_flow.choose_method(
            app_ctx, member_id=member_id, fee_id=fee_id, method="konbini", gateway="sandbox"
        )


# ---------------------------------------------------------------- the return page


async def test_return_page_only_shows_and_changes_nothing(client, app_ctx):
    fee_id, attempt = await started_attempt(client, app_ctx, "card")
    before = await app_ctx.db.fetchval("SELECT count(*) FROM audit_log")
    page = await client.get(f"/payments/return?order={attempt['order_id']}&result=forged")
    assert page.status_code == 200
    assert "結果を確認しています" in visible_text(page.text)
    row = await payment_queries.attempt(app_ctx.db, int(attempt["id"]))
    assert row["state"] == states.PENDING
    assert await app_ctx.db.fetchval("SELECT count(*) FROM audit_log") == before


async def test_sandbox_page_with_a_broken_link_explains_what_to_do(client, app_ctx):
    fee_id, attempt = await started_attempt(client, app_ctx, "card")
    page = await client.get("/sandbox-gateway/not-a-token")
    assert page.status_code == 400
    text = visible_text(page.text)
    assert "テスト決済" in text and "もう一度お手続きください" in text
    response = await post_form(client, "/sandbox-gateway/not-a-token", {"outcome": "card_success"})
    assert response.status_code == 400
    row = await payment_queries.attempt(app_ctx.db, int(attempt["id"]))
    assert row["state"] == "pending"


async def test_notify_body_is_json_for_the_sandbox(client, app_ctx):
    _, attempt = await started_attempt(client, app_ctx, "card")
    body, headers = sandbox(app_ctx).build_notification(attempt["reference"], "card_success", 10_000)
    response = await notify(client, body, headers)
    assert json.loads(response.text) == {"received": True, "outcome": "applied"}
