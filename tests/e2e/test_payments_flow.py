"""Paying the annual fee on a phone with the sandbox gateway: card and convenience store, mails checked."""

from __future__ import annotations

import re
from contextlib import nullcontext
from typing import Any

import pytest
from playwright.sync_api import expect

from db import payments as payment_queries
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot
from tests.helpers import CLOCK_EDGES, body_text, make_member, outbox
from tests.payments_support import check_profile, fee_id_of, issue_fee

PROFILE = {
    "family_name": "田中",
    "given_name": "美咲",
    "family_kana": "タナカ",
    "given_kana": "ミサキ",
    "phone": "0312345678",
    "postal_code": "1000001",
    "prefecture": "東京都",
    "address1": "千代田区千代田1-1",
    "affiliation": "つどい大学",
    "membership_type": "正会員",
}


def prepare(live_server: LiveServer, number: str, *, checked: bool) -> tuple[int, str]:
    email = f"pay{number}@example.jp"

    async def setup(ctx: Any) -> int:
        member_id = await make_member(ctx, number, email=email, **PROFILE)
        item_id = await issue_fee(ctx, year=2026)
        if checked:
            await check_profile(ctx, member_id)
        return await fee_id_of(ctx, member_id, item_id)

    return live_server.run(setup), email


def login(page: Any, number: str) -> None:
    page.goto("/login")
    page.get_by_label("ログインID（会員番号）").fill(number)
    page.get_by_label("パスワード").fill("Sakura2026")
    page.get_by_role("button", name="ログイン").click()
    expect(page).to_have_url(re.compile(r"/mypage$"))


def mails_to(live_server: LiveServer, email: str) -> list[Any]:
    return [m for m in outbox(live_server.settings) if str(m["To"]) == email]


# The run's own instant, then the edges (Wednesday before the weekly send, 31 March, New Year).
MOMENTS = {"run-instant": None, **CLOCK_EDGES}


@pytest.mark.parametrize("moment_name", list(MOMENTS))
def test_card_payment_through_the_profile_check_on_a_phone(
    page: Any, live_server: LiveServer, moment_name: str
) -> None:
    moment = MOMENTS[moment_name]
    with live_server.clock_at(moment) if moment else nullcontext():
        pay_by_card(page, live_server, f"0088{list(MOMENTS).index(moment_name) + 10:02d}")


def pay_by_card(page: Any, live_server: LiveServer, number: str) -> None:
    fee_id, email = prepare(live_server, number, checked=False)
    login(page, number)
    page.get_by_role("link", name="会費のお支払い").first.click()
    expect(page.get_by_role("heading", name="会費支払明細")).to_be_visible()
    expect(page.get_by_text("未払い").first).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "payments-history-unpaid")

    page.get_by_role("button", name="会員情報確認 支払手続き").first.click()
    expect(page).to_have_url(re.compile(r"/profile\?next=.*purpose=payment"))
    page.get_by_role("button", name="変更してお支払い手続きへ").click()
    expect(page).to_have_url(f"{live_server.url}/payments/{fee_id}/method")
    expect(page.get_by_text("確定後はお支払い方法を変更できません")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "payments-method")

    page.get_by_label("クレジットカード（一括払い）").check()
    page.get_by_role("button", name="決定").click()
    expect(page).to_have_url(f"{live_server.url}/payments/{fee_id}/checkout")
    expect(page.get_by_text("お支払い方法は確定済みのため、変更できません。")).to_be_visible()
    screenshot(page, "payments-checkout")
    # The back button returns to the method page, which now shows the fixed choice.
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/payments/{fee_id}/checkout")

    page.get_by_role("button", name="お支払い手続きページへ").click()
    expect(page).to_have_url(re.compile(r"/sandbox-gateway/"))
    expect(page.get_by_text("テスト用の決済画面").first).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "payments-sandbox-card")
    page.get_by_role("button", name="支払いに成功する").click()
    expect(page).to_have_url(re.compile(r"/payments/return\?order="))
    expect(page.get_by_text("お支払いが完了しました。")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "payments-return-paid")

    page.get_by_role("link", name="会費支払明細に戻る").click()
    expect(page.get_by_text("支払済み").first).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("領収書"))).to_be_visible()

    sent = mails_to(live_server, email)
    assert [str(m["Subject"]) for m in sent] == [
        "【一般社団法人 日本つどい学会】会費のお支払いが完了しました"
    ]
    assert "田中 美咲 様" in body_text(sent[0]) and "10,000円" in body_text(sent[0])
    rows = live_server.run(lambda ctx: payment_queries.attempts_for_fee(ctx.db, fee_id))
    assert len(rows) == 1 and rows[0]["state"] == "paid"


def test_convenience_store_payment_skips_a_profile_checked_today(page: Any, live_server: LiveServer) -> None:
    fee_id, email = prepare(live_server, "008802", checked=True)
    login(page, "008802")
    page.goto("/payments")
    page.get_by_role("button", name="会員情報確認 支払手続き").first.click()
    expect(page).to_have_url(f"{live_server.url}/payments/{fee_id}/method")
    page.get_by_label("コンビニ払い").check()
    page.get_by_role("button", name="決定").click()
    page.get_by_role("button", name="お支払い手続きページへ").click()
    expect(page.get_by_text("テスト用の決済画面").first).to_be_visible()
    page.get_by_role("button", name="コンビニの支払い番号を発行する").click()
    expect(page.get_by_text("コンビニでのお支払い番号を発行しました。")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "payments-return-konbini")

    [issued] = mails_to(live_server, email)
    assert str(issued["Subject"]).endswith("コンビニでのお支払い番号のお知らせ")
    attempt = live_server.run(lambda ctx: payment_queries.live_attempt(ctx.db, fee_id))
    text = body_text(issued)
    assert attempt["konbini_number"] in text and attempt["konbini_store"] in text and "お支払い期限" in text

    page.goto("/payments")
    expect(page.get_by_text("支払待ち(コンビニ)").first).to_be_visible()
    expect(page.get_by_text(attempt["konbini_number"]).first).to_be_visible()
    screenshot(page, "payments-history-konbini")
    page.get_by_role("button", name="お支払い番号を確認する").click()
    expect(page.get_by_text(attempt["konbini_number"]).first).to_be_visible()
    page.get_by_role("button", name="お支払い手続きページへ").click()
    screenshot(page, "payments-sandbox-konbini")
    page.get_by_role("button", name="店頭で支払ったことにする").click()
    expect(page.get_by_text("お支払いが完了しました。")).to_be_visible()

    subjects = [str(m["Subject"]) for m in mails_to(live_server, email)]
    assert len(subjects) == 2 and subjects[1].endswith("コンビニでのお支払いを確認しました")
    page.goto("/payments")
    expect(page.get_by_text("支払済み").first).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "payments-history-paid")
