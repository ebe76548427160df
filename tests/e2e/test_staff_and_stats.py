"""事務局スタッフ at phone width: the admin adds a staff account, the staff member signs in (initial password,
new password, authenticator, recovery codes) and sees only their screens; the statistics page and the
members list with label checkboxes at 360 px; the console menu at 1280 px shows every entry."""

from __future__ import annotations

from typing import Any

import pyotp
from playwright.sync_api import expect

from tests.e2e.admin import login_admin
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, phone_context, screenshot

NEW_PASSWORD = "Hikari2027"


def narrow_page(browser: Any, live_server: LiveServer) -> Any:
    return phone_context(browser, live_server.url, width=360, height=780).new_page()


def test_staff_sign_in_at_360_px(browser: Any, live_server: LiveServer) -> None:
    page = narrow_page(browser, live_server)
    try:
        login_admin(page, live_server)
        page.goto("/admin/staff")
        assert_no_horizontal_scroll(page)
        page.get_by_label("事務局スタッフ").check()
        page.locator("#field-member_number").fill("900321")
        page.locator("#field-family_name").fill("佐藤")
        page.locator("#field-given_name").fill("花子")
        page.locator("#field-email").fill("sato@example.jp")
        page.get_by_role("button", name="追加する").click()
        expect(page.get_by_text("事務局スタッフのアカウントを追加しました。")).to_be_visible()
        password = page.get_by_test_id("new-password").inner_text().strip()
        assert_no_horizontal_scroll(page)
        screenshot(page, "staff-created-360")
        page.get_by_role("button", name="ログアウト").click()

        page.goto("/login")
        page.get_by_label("ログインID（会員番号）").fill("900321")
        page.locator("#field-password").fill(password)
        page.get_by_role("button", name="ログイン", exact=True).click()
        expect(page).to_have_url("/password/change")
        page.locator("#field-new_password").fill(NEW_PASSWORD)
        page.locator("#field-new_password_confirm").fill(NEW_PASSWORD)
        # Let the form's own check of the typed password answer before submitting (it runs on input).
        expect(page.locator("#password-rules-box [data-rule='confirm']")).to_have_attribute(
            "data-state", "ok"
        )
        page.wait_for_load_state("networkidle")
        page.get_by_role("button", name="変更する").click()
        expect(page).to_have_url("/mfa/enrol?next=/admin")
        assert_no_horizontal_scroll(page)
        screenshot(page, "staff-enrol-360")
        secret = page.locator("#mfa-key").inner_text().replace(" ", "")
        page.locator("#field-code").fill(pyotp.TOTP(secret).at(live_server.clock.now()))
        page.get_by_role("button", name="登録する").click()
        expect(page.get_by_text("二段階認証を登録しました。")).to_be_visible()
        expect(page.get_by_role("button", name="印刷する")).to_be_visible()
        expect(page.get_by_test_id("recovery-download")).to_be_visible()
        assert_no_horizontal_scroll(page)
        screenshot(page, "staff-recovery-codes-360")
        page.get_by_role("button", name="保管しました。続ける").click()
        expect(page).to_have_url("/admin")
        menu = page.get_by_role("navigation", name="管理メニュー")
        expect(menu.get_by_role("link", name="会員", exact=True)).to_be_visible()
        expect(menu.get_by_role("link", name="設定", exact=True)).to_have_count(0)
        expect(page.get_by_text("公開前チェック")).to_have_count(0)
        assert_no_horizontal_scroll(page)
        screenshot(page, "staff-dashboard-360")
        response = page.goto("/admin/settings")
        assert response is not None and response.status == 403
        expect(page.get_by_text("事務局スタッフのアカウントでは開けません")).to_be_visible()
        assert_no_horizontal_scroll(page)
        screenshot(page, "staff-refused-360")
    finally:
        page.context.close()


def test_stats_and_member_labels_at_360_px(browser: Any, live_server: LiveServer) -> None:
    page = narrow_page(browser, live_server)
    try:
        login_admin(page, live_server)
        page.goto("/admin/stats")
        expect(page.get_by_role("heading", name="都道府県別の会員数")).to_be_visible()
        assert page.locator("svg.stat-chart").count() >= 6
        expect(page.get_by_role("img", name="プラン別の会員数")).to_be_visible()
        assert_no_horizontal_scroll(page)
        screenshot(page, "admin-stats-360")
        page.goto("/admin/members")
        expect(page.get_by_role("button", name="チェックした会員のラベル")).to_be_visible()
        box = page.locator(".record-select").first.bounding_box()
        assert box is not None and box["width"] >= 44 and box["height"] >= 44
        assert_no_horizontal_scroll(page)
        screenshot(page, "admin-members-labels-360")
    finally:
        page.context.close()


def test_console_menu_shows_every_entry_at_1280_px(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="ja-JP", base_url=live_server.url
    )
    page = context.new_page()
    try:
        login_admin(page, live_server)
        links = page.get_by_role("navigation", name="管理メニュー").get_by_role("link")
        assert links.count() >= 20
        for index in range(links.count()):
            box = links.nth(index).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 1280, (index, box)
        scroll = page.evaluate(
            "(() => { const ul = document.querySelector('.admin-nav ul'); return ul.scrollWidth - ul.clientWidth; })()"
        )
        assert scroll <= 0
        screenshot(page, "admin-menu-1280")
    finally:
        context.close()
