"""Applying for the paid tier and paying with the sandbox gateway on a phone (360 px)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, phone_context, screenshot
from tests.helpers import make_member

PROFILE = {
    "family_name": "森",
    "given_name": "結衣",
    "family_kana": "モリ",
    "given_kana": "ユイ",
    "phone": "0312345678",
    "postal_code": "1000001",
    "prefecture": "東京都",
    "address1": "千代田区千代田1-1",
    "affiliation": "つどい大学",
    "membership_type": "正会員",
}


def test_free_member_applies_and_pays_for_the_paid_tier_at_360px(
    browser: Any, live_server: LiveServer
) -> None:
    live_server.run(lambda ctx: make_member(ctx, "007801", email="yui.mori@example.jp", **PROFILE))
    context = phone_context(browser, live_server.url, width=360, height=740)
    page = context.new_page()
    try:
        page.goto("/login")
        page.get_by_label("ログインID（会員番号）").fill("007801")
        page.get_by_label("パスワード").fill("Sakura2026")
        page.get_by_role("button", name="ログイン", exact=True).click()
        expect(page).to_have_url(re.compile(r"/mypage$"))

        page.goto("/settings/membership")
        expect(page.get_by_role("heading", name="プランの比較")).to_be_visible()
        expect(page.get_by_text("年額 5,000円")).to_be_visible()
        assert_no_horizontal_scroll(page)
        screenshot(page, "membership-compare")
        apply_button = page.get_by_role("button", name="「有料会員」プランに申し込む")
        assert apply_button.bounding_box()["height"] >= 44
        apply_button.click()

        expect(page).to_have_url(re.compile(r"/profile\?next=.*purpose=payment"))
        page.get_by_role("button", name="変更してお支払い手続きへ").click()
        expect(page).to_have_url(re.compile(r"/payments/\d+/method$"))
        expect(page.get_by_text("5,000円").first).to_be_visible()
        page.get_by_label("クレジットカード（一括払い）").check()
        page.get_by_role("button", name="決定").click()
        expect(page).to_have_url(re.compile(r"/payments/\d+/checkout$"))
        page.get_by_role("button", name="お支払い手続きページへ").click()
        expect(page).to_have_url(re.compile(r"/sandbox-gateway/"))
        page.get_by_role("button", name="支払いに成功する").click()
        expect(page.get_by_text("お支払いが完了しました。")).to_be_visible()

        page.goto("/settings/membership")
        expect(page.locator(".tier-name")).to_contain_text("「有料会員」プラン")
        expect(page.get_by_text("2027年3月31日(水)").first).to_be_visible()
        expect(page.get_by_role("button", name="「有料会員」プランに申し込む")).to_have_count(0)
        assert_no_horizontal_scroll(page)
        screenshot(page, "membership-paid")
    finally:
        context.close()
