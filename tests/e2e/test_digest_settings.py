"""Mail settings on a phone: the frequency changes in place, the next digest and its preview show, and the
unsubscribe link asks before it stops anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from services import digests
from services.context import AppContext
from tests.digest_helpers import add_article, add_condition, digest_member
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot
from tests.helpers import DEFAULT_PASSWORD


async def prepare(ctx: AppContext) -> int:
    member = await digest_member(ctx, "007701", email="digest-e2e@example.jp")
    await add_condition(ctx, member, "すべての新着")
    await add_article(ctx, "ブラウザテスト用の新着レポート", datetime.now(UTC) - timedelta(minutes=5))
    return member


def test_member_changes_the_digest_frequency_in_place(page: Any, live_server: LiveServer) -> None:
    member = live_server.run(prepare)
    page.goto("/login")
    page.get_by_label("ログインID（会員番号）").fill("007701")
    page.get_by_label("パスワード").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("link", name="メール設定").first.click()
    expect(page).to_have_url("/settings/mail")
    expect(page.get_by_text("ブラウザテスト用の新着レポート")).to_be_visible()
    expect(page.get_by_text("毎日の配信は")).to_be_visible()
    expect(page.locator("#frequency-daily")).to_be_disabled()
    assert_no_horizontal_scroll(page)
    screenshot(page, "mail-settings")

    page.get_by_text("受け取らない", exact=True).click()
    expect(page.get_by_text("新着お知らせメールを「受け取らない」に変更しました。")).to_be_visible()
    expect(page).to_have_url("/settings/mail")  # swapped in place, no navigation
    expect(page.get_by_text("新着お知らせメールは停止中です。")).to_be_visible()
    screenshot(page, "mail-settings-none")
    page.get_by_text("毎週", exact=True).click()
    expect(page.get_by_text("「毎週（水曜日）」に変更しました。")).to_be_visible()

    token = digests.unsubscribe_token(live_server.ctx.settings.secret_key, member)
    page.goto(f"/unsubscribe/{token}")
    expect(page.get_by_role("button", name="配信を停止する")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "unsubscribe-confirm")
    page.get_by_role("button", name="配信を停止する").click()
    expect(page.get_by_text("配信を停止しました。")).to_be_visible()
    page.goto("/settings/mail")
    expect(page.locator("#frequency-none")).to_be_checked()
