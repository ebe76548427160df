"""Smaller things a member trips over, at phone width: errors that go once fixed, readable hints, and the
login link on an article read without logging in."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from db.timestamps import to_db
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot
from tests.helpers import make_member


def log_in(page: Any, number: str) -> None:
    page.goto("/login")
    page.get_by_label("ログインID（会員番号）").fill(number)
    page.locator("#field-password").fill("Sakura2026")
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url(re.compile(r"/mypage$"))


def test_an_error_goes_once_the_field_is_changed(page: Any, live_server: LiveServer) -> None:
    live_server.run(lambda ctx: make_member(ctx, "540001", phone="0312345678"))
    log_in(page, "540001")
    page.goto("/profile")
    page.locator("#field-phone").fill("12345")
    page.locator("form.profile-form button[type=submit]").click()
    error = page.locator("#error-phone")
    expect(error).not_to_be_empty()
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#field-phone")).to_have_attribute("aria-invalid", "true")
    page.locator("#field-phone").fill("03-1234-5678")
    expect(error).to_be_empty()
    expect(page.locator("#field-phone")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#error-summary")).to_be_hidden()
    screenshot(page, "profile-error-cleared")


def test_an_emptied_required_field_keeps_its_message(page: Any, live_server: LiveServer) -> None:
    page.goto("/login")
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page.locator("#error-member_id")).not_to_be_empty()
    page.locator("#field-member_id").fill("1")
    expect(page.locator("#error-member_id")).to_be_empty()
    # The password's own message stays: that field was not touched.
    expect(page.locator("#error-password")).not_to_be_empty()


def test_hints_are_at_least_14_px(page: Any, live_server: LiveServer) -> None:
    live_server.run(lambda ctx: make_member(ctx, "540002"))
    sizes: dict[str, float] = {}
    for path in ("/login", "/password/forgot", "/contact"):
        page.goto(path)
        sizes.update(hint_sizes(page, path))
    log_in(page, "540002")
    for path in ("/profile", "/conditions", "/settings/mail", "/password/change"):
        page.goto(path)
        sizes.update(hint_sizes(page, path))
    assert len(sizes) >= 7
    small = {where: size for where, size in sizes.items() if size < 14}
    assert not small, small


def hint_sizes(page: Any, path: str) -> dict[str, float]:
    found = page.locator(".hint, .field-error, .small-note").evaluate_all(
        "els => els.filter(e => e.textContent.trim()).map(e => [e.id || e.className, parseFloat(getComputedStyle(e).fontSize)])"
    )
    return {f"{path} {name}": size for name, size in found}


def test_article_read_logged_out_links_to_login(page: Any, live_server: LiveServer) -> None:
    article_id = live_server.run(
        lambda ctx: ctx.db.fetchval(
            "SELECT id FROM articles WHERE status = 'published' AND members_only = 0 AND kind = 'article' "
            "AND published_at <= ? ORDER BY id LIMIT 1",
            (to_db(ctx.clock.now()),),
        )
    )
    assert article_id is not None
    page.goto(f"/articles/{article_id}")
    note = page.locator(".login-note")
    expect(note).to_contain_text("ブックマークと閲覧履歴のご利用には、ログインが必要です。")
    assert_no_horizontal_scroll(page)
    screenshot(page, "article-logged-out")
    note.get_by_role("link", name="ログインする").click()
    expect(page).to_have_url(re.compile(rf"/login\?next=/articles/{article_id}$"))
