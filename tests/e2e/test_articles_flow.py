"""At phone width: set a condition, see new arrivals, star an article, find it in bookmarks and history."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot
from tests.helpers import DEFAULT_PASSWORD, make_member


def log_in(page: Any, number: str) -> None:
    page.goto("/login")
    page.get_by_label("ログインID（会員番号）").fill(number)
    page.get_by_label("パスワード").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url("/mypage")


def test_condition_new_arrivals_bookmark_and_history(page: Any, live_server: LiveServer) -> None:
    live_server.run(lambda ctx: make_member(ctx, "005505", email="articles-e2e@example.jp"))
    log_in(page, "005505")
    expect(page.get_by_text("新着条件がまだ登録されていません。")).to_be_visible()
    assert_no_horizontal_scroll(page)

    page.get_by_role("link", name="新着条件を設定する").click()
    expect(page).to_have_url("/conditions")
    page.get_by_label("条件の名前").fill("アジアの通商政策")
    page.locator("summary", has_text="アジア").click()
    page.get_by_label("アジア（全体）").check()
    page.get_by_label("通商政策").check()
    # The live count arrives in place before saving.
    expect(page.locator(".match-count")).to_contain_text("直近14日間に該当する記事：")
    assert_no_horizontal_scroll(page)
    screenshot(page, "conditions-form")
    page.get_by_role("button", name="この条件を追加する").click()
    expect(page.get_by_text("新着条件「アジアの通商政策」を追加しました。")).to_be_visible()
    expect(page.locator(".condition-card h3")).to_have_text("アジアの通商政策")
    expect(page).to_have_url("/conditions")  # in place, no navigation

    page.get_by_role("navigation", name="タブメニュー").get_by_role("link", name="マイページ").click()
    expect(page).to_have_url("/mypage")
    first_card = page.locator("#arrivals .article-card").first
    expect(first_card).to_be_visible()
    title = first_card.locator(".card-title a").inner_text()
    assert_no_horizontal_scroll(page)
    screenshot(page, "mypage-arrivals")

    star = first_card.get_by_role("button", name="ブックマーク")
    star.click()
    expect(first_card.locator("button.star-button")).to_have_attribute("aria-pressed", "true")
    expect(page).to_have_url("/mypage")

    first_card.locator(".card-title a").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator("button.star-button")).to_have_attribute("aria-pressed", "true")
    assert_no_horizontal_scroll(page)
    screenshot(page, "article-page")

    page.goto("/bookmarks")
    expect(page.locator(".article-card .card-title a", has_text=title)).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "bookmarks")

    page.goto("/history")
    expect(page.locator(".article-card .card-title a").first).to_have_text(title)
    assert_no_horizontal_scroll(page)
    screenshot(page, "history")

    # Removing the bookmark on the list happens in place.
    page.goto("/bookmarks")
    page.locator(".article-card").first.get_by_role("button", name="ブックマーク").click()
    expect(page.get_by_text("をブックマークから外しました。")).to_be_visible()


def test_browse_and_search_at_phone_width(page: Any, live_server: LiveServer) -> None:
    live_server.run(lambda ctx: make_member(ctx, "005506", email="articles-e2e2@example.jp"))
    log_in(page, "005506")
    page.goto("/articles")
    page.get_by_label("キーワード").fill("通商")
    page.get_by_role("button", name="検索する").click()
    expect(page.locator("#results-heading")).to_contain_text("検索結果")
    page.get_by_label("国・地域").select_option(label="アジア")
    expect(page.locator("#results-heading")).to_contain_text("アジア")
    assert_no_horizontal_scroll(page)
    screenshot(page, "articles-search")
