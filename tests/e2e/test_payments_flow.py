"""Paying the annual fee on a phone with the sandbox gateway: card and convenience store, mails checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from db import payments as payment_queries
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot
from tests.helpers import body_text, free_port, make_member, outbox, test_settings
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


def test_card_payment_through_the_profile_check_on_a_phone(page: Any, live_server: LiveServer) -> None:
    fee_id, email = prepare(live_server, "008801", checked=False)
    login(page, "008801")
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
    expect(page.get_by_text("テスト決済").first).to_be_visible()
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
    expect(page.get_by_text("テスト決済").first).to_be_visible()
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


@pytest.fixture(scope="module")
def unconfigured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real install before its gateway is set: TSUDOI_PAYMENT_GATEWAY unset, no demo data."""
    port = free_port()
    settings = test_settings(
        tmp_path_factory.mktemp("no-gateway"), base_url=f"http://127.0.0.1:{port}", payment_gateway=""
    )
    server = LiveServer(settings, port)
    server.start()

    async def organization(ctx: Any) -> None:
        await ctx.update_org(
            {
                "org_name": "一般社団法人 日本つどい学会",
                "org_address": "〒100-0001 東京都千代田区千代田1-1",
                "contact_email": "office@tsudoi.example.jp",
            }
        )

    server.run(organization)
    try:
        yield server
    finally:
        server.stop()


def test_without_a_gateway_the_pay_page_says_how_to_pay_at_360px(
    browser: Any, unconfigured_server: LiveServer
) -> None:
    fee_id, _ = prepare(unconfigured_server, "008901", checked=True)
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
        base_url=unconfigured_server.url,
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        login(page, "008901")
        page.goto("/payments")
        expect(page.get_by_role("heading", name="オンラインでのお支払いは準備中です")).to_be_visible()
        expect(page.get_by_role("button", name="会員情報確認 支払手続き")).to_have_count(0)
        assert_no_horizontal_scroll(page)
        screenshot(page, "payments-history-not-set-up-360")
        page.goto(f"/payments/{fee_id}/start")
        expect(page.get_by_role("heading", name="お支払い手続き", exact=True)).to_be_visible()
        expect(page.get_by_role("link", name="office@tsudoi.example.jp")).to_have_attribute(
            "href", "mailto:office@tsudoi.example.jp"
        )
        expect(page.get_by_text("テスト決済")).to_have_count(0)
        assert_no_horizontal_scroll(page)
        screenshot(page, "payments-not-set-up-360")
        assert page.request.get(f"{unconfigured_server.url}/sandbox-gateway/anything").status == 404
    finally:
        context.close()
