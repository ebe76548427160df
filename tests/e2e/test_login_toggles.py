"""The login page at phone width: show-password and 読みを表示 toggles, and the tries left before the lock."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot
from tests.helpers import make_member


def test_show_password_and_readings_toggles(page: Any, live_server: LiveServer) -> None:
    page.goto("/login")
    field = page.locator("#field-password")
    show = page.get_by_role("button", name="パスワードを表示")
    expect(show).to_be_visible()
    expect(show).to_have_attribute("aria-pressed", "false")
    field.fill("Ab1ｘ")
    expect(field).to_have_attribute("type", "password")
    show.click()
    expect(show).to_have_attribute("aria-pressed", "true")
    expect(field).to_have_attribute("type", "text")
    # The keyboard works too: Space presses the focused toggle back.
    show.focus()
    page.keyboard.press("Space")
    expect(show).to_have_attribute("aria-pressed", "false")
    expect(field).to_have_attribute("type", "password")

    readings_button = page.get_by_role("button", name="読みを表示")
    readings_button.click()
    readings = page.locator("#password-readings")
    expect(readings).to_be_visible()
    items = readings.locator("li")
    expect(items).to_have_count(4)
    expect(items.nth(0)).to_contain_text("エー(大文字)")
    expect(items.nth(2)).to_contain_text("イチ(数字)")
    expect(items.nth(3)).to_contain_text("全角")
    expect(page.get_by_role("button", name="読みを隠す")).to_have_attribute("aria-pressed", "true")
    # Typing more updates the readings as the change form does.
    field.press("End")
    field.type("!")
    expect(items).to_have_count(5)
    assert_no_horizontal_scroll(page)
    screenshot(page, "login-toggles")


def test_tries_left_from_the_third_failure(page: Any, live_server: LiveServer) -> None:
    live_server.run(lambda ctx: make_member(ctx, "530001"))
    for attempt in range(1, 5):
        page.goto("/login")
        page.get_by_label("ログインID（会員番号）").fill("530001")
        page.locator("#field-password").fill("Wrong2026x")
        page.get_by_role("button", name="ログイン", exact=True).click()
        summary = page.locator("#error-summary")
        expect(summary).to_contain_text("ログインIDまたはパスワードが間違っています。")
        if attempt < 3:
            expect(summary).not_to_contain_text("回間違えると")
        else:
            expect(summary).to_contain_text(f"あと{5 - attempt}回間違えると")
    # The password typed is never sent back; the toggles still work on the refused page.
    expect(page.locator("#field-password")).to_have_value("")
    expect(page.get_by_role("button", name="パスワードを表示")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "login-tries-left")
