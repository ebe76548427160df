"""Keyboard only: a member can log in, reach a screen from the menu and log out without a pointer, and a
form error moves focus to the error summary."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect


def focused(page: Any) -> str:
    return str(
        page.evaluate(
            "document.activeElement ? (document.activeElement.id || document.activeElement.textContent || '').trim() : ''"
        )
    )


def tab_until(page: Any, predicate: Any, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if predicate(page):
            return
    raise AssertionError(f"focus never reached the target; last focused: {focused(page)!r}")


def test_login_menu_and_logout_work_with_the_keyboard_alone(page: Any) -> None:
    page.goto("/login")
    tab_until(page, lambda p: focused(p) == "field-member_id")
    page.keyboard.type("001234")
    page.keyboard.press("Tab")
    assert focused(page) == "field-password"
    page.keyboard.type("Tsudoi2026")
    page.keyboard.press("Enter")
    expect(page).to_have_url("/mypage")

    tab_until(page, lambda p: focused(p) == "会員情報")
    page.keyboard.press("Enter")
    expect(page).to_have_url("/profile")

    tab_until(page, lambda p: focused(p) == "ログアウト")
    page.keyboard.press("Enter")
    expect(page).to_have_url("/login")


def test_a_form_error_takes_focus_to_the_error_summary(page: Any) -> None:
    page.goto("/login")
    tab_until(page, lambda p: focused(p) == "field-member_id")
    page.keyboard.press("Enter")  # submit the empty form
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator("#error-summary")).to_have_attribute("role", "alert")
    # The messages are tied to their fields for screen readers.
    described_by = page.locator("#field-password").get_attribute("aria-describedby") or ""
    assert "error-password" in described_by
    expect(page.locator("#error-password")).to_contain_text("パスワードを入力してください。")
