"""Mail settings on a phone: the frequency changes in place, the next digest and its preview show, and the
unsubscribe link asks before it stops anything."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from services import digests
from services.context import AppContext
from services.digest_windows import next_run, window_at
from tests.digest_helpers import add_article, add_condition, digest_member
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot
from tests.helpers import CLOCK_EDGES, DEFAULT_PASSWORD

# The run's own instant, then the edges (Wednesday before the weekly send, 31 March, New Year).
MOMENTS = {"run-instant": None, **CLOCK_EDGES}


def preparer(number: str) -> Any:
    async def prepare(ctx: AppContext) -> int:
        member = await digest_member(ctx, number, email=f"digest-e2e-{number}@example.jp")
        await add_condition(ctx, member, "すべての新着")
        # Just inside the next weekly digest's window. Windows run midnight to midnight: on Wednesday before
        # the send hour, "five minutes ago" already belongs to the week after.
        now = ctx.clock.now()
        hour = digests.send_hour(ctx, "weekly")
        window = window_at("weekly", next_run("weekly", now, ctx.settings.tz, hour), ctx.settings.tz, hour)
        published = min(now, window.end_utc) - timedelta(minutes=5)
        await add_article(ctx, f"ブラウザテスト用の新着レポート{number}", published)
        return member

    return prepare


@pytest.mark.parametrize("moment_name", list(MOMENTS))
def test_member_changes_the_digest_frequency_in_place(
    page: Any, live_server: LiveServer, moment_name: str
) -> None:
    moment = MOMENTS[moment_name]
    number = f"0077{list(MOMENTS).index(moment_name):02d}"
    with live_server.clock_at(moment) if moment else nullcontext():
        member_changes_the_frequency(page, live_server, number)


def member_changes_the_frequency(page: Any, live_server: LiveServer, number: str) -> None:
    member = live_server.run(preparer(number))
    page.goto("/login")
    page.get_by_label("ログインID（会員番号）").fill(number)
    page.get_by_label("パスワード").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()
    page.get_by_role("link", name="メール設定").first.click()
    expect(page).to_have_url("/settings/mail")
    expect(page.get_by_text(f"ブラウザテスト用の新着レポート{number}")).to_be_visible()
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
