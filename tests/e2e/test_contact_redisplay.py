"""The contact form on a phone never refuses a person twice or drops their screenshot (issue 15, point 6)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.sync_api import expect

from db import inquiries as inquiry_queries
from services.contact import TOO_FAST_MESSAGE
from tests.contact_helpers import png_bytes
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot


def test_quick_fix_after_a_refusal_keeps_the_screenshot_and_is_accepted(
    page: Any, live_server: LiveServer
) -> None:
    shown_at = live_server.clock.now()
    page.goto("/contact")
    page.locator("#field-category").select_option("login")
    page.get_by_label("お名前").fill("村上 健")
    page.get_by_label("メールアドレス").fill("ken.murakami@example.jp")
    page.get_by_label("お問い合わせ内容").fill("ログインできない")
    page.locator("#field-attachment").set_input_files(
        {"name": "ログイン画面.png", "mimeType": "image/png", "buffer": png_bytes((720, 1280))}
    )
    # Sent at once with the subject missing: too fast, an error and the guide's nudge, all on one page.
    page.get_by_role("button", name="送信する").click()
    expect(page.get_by_text(TOO_FAST_MESSAGE)).to_be_visible()
    expect(page.get_by_text("件名を入力してください。").first).to_be_visible()
    expect(page.locator("#note-message")).to_contain_text("どの画面で")
    expect(page.get_by_text("ログイン画面.png")).to_be_visible()
    expect(page.get_by_label("お問い合わせ内容")).to_have_value("ログインできない")
    assert_no_horizontal_scroll(page)
    screenshot(page, "contact-redisplay-kept-file")

    with live_server.clock_at(shown_at + timedelta(seconds=20)):
        page.get_by_label("件名").fill("ログインできません")
        page.get_by_role("button", name="送信する").click()
        expect(page.get_by_role("heading", name="お問い合わせを受け付けました")).to_be_visible()

    async def stored(ctx: Any) -> list[Any]:
        inquiry_id = await ctx.db.fetchval(
            "SELECT id FROM inquiries WHERE email = ?", ("ken.murakami@example.jp",)
        )
        return await inquiry_queries.attachments_for(ctx.db, int(inquiry_id))

    attachments = live_server.run(stored)
    assert [(a["original_name"], a["width"], a["height"]) for a in attachments] == [
        ("ログイン画面.png", 720, 1280)
    ]
