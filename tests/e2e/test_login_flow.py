"""Login, wrong password, lockout and logout in a phone-sized Chromium."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from services.auth import INVALID_LOGIN_MESSAGE, LOCKED_MESSAGE
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot
from tests.helpers import make_member


def test_member_logs_in_with_the_demo_login_and_logs_out(page: Any) -> None:
    page.goto("/login")
    assert_no_horizontal_scroll(page)
    screenshot(page, "login")
    page.get_by_label("ログインID（会員番号）").fill("001234")
    page.get_by_label("パスワード").fill("Tsudoi2026")
    page.get_by_label("次回から自動ログインする").check()
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url("/mypage")
    expect(page.get_by_text("山田 花子 様").first).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "mypage")
    page.get_by_role("button", name="ログアウト").click()
    expect(page).to_have_url("/login")
    expect(page.get_by_text("ログアウトしました。")).to_be_visible()
    page.goto("/mypage")
    expect(page).to_have_url("/login?next=/mypage")


def test_wrong_password_shows_one_message_and_keeps_the_id(page: Any) -> None:
    page.goto("/login")
    page.get_by_label("ログインID（会員番号）").fill("001234")
    page.get_by_label("パスワード").fill("tsudoi2026")
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page.get_by_text(INVALID_LOGIN_MESSAGE)).to_be_visible()
    expect(page.get_by_label("ログインID（会員番号）")).to_have_value("001234")
    expect(page.get_by_label("パスワード")).to_have_value("")
    screenshot(page, "login-error")


def test_five_wrong_passwords_lock_the_account(page: Any, live_server: LiveServer) -> None:
    live_server.run(lambda ctx: make_member(ctx, "007007", email="lock@example.jp"))
    page.goto("/login")
    for _ in range(5):
        page.get_by_label("ログインID（会員番号）").fill("007007")
        page.get_by_label("パスワード").fill("Wrong2026x")
        page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page.get_by_text(LOCKED_MESSAGE)).to_be_visible()
    expect(page.get_by_text("に解除されます")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "login-locked")
