"""Sign-up and entering a code, in a phone-sized Chromium."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import date
from typing import Any

from playwright.sync_api import expect

from db import membership as membership_db
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot

EMAIL = "e2e.signup@example.jp"


def confirmation_path(live_server: LiveServer, to: str) -> str:
    for path in sorted(live_server.settings.outbox_dir.glob("*.eml"), reverse=True):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == to and "会員登録のご確認" in str(message["Subject"]):
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            match = re.search(r"https?://[^/\s]+(/signup/confirm/\S+)", str(body.get_content()))
            assert match
            return match.group(1)
    raise AssertionError("no confirmation mail")


async def _create_code(ctx: Any) -> None:
    tier = await membership_db.get_tier_by_code(ctx.db, "members")
    await membership_db.create_code(
        ctx.db,
        code="E2EPHONE",
        tier_id=int(tier["id"]),
        use_limit=10,
        expires_on=None,
        tier_ends_on=date(2099, 3, 31),
        note="e2e",
        now=ctx.clock.now(),
    )


def test_sign_up_then_enter_a_code_on_a_phone(page: Any, live_server: LiveServer) -> None:
    page.goto("/login")
    page.get_by_role("link", name="はじめての方（新規会員登録）").click()
    expect(page).to_have_url("/signup")
    assert_no_horizontal_scroll(page)

    # A first try without consent: the message shows next to the box, the values stay.
    page.locator("#field-family_name").fill("青木")
    page.locator("#field-given_name").fill("陽菜")
    page.locator("#field-family_kana").fill("あおき")
    page.locator("#field-given_kana").fill("ヒナ")
    page.locator("#field-email").fill(EMAIL)
    page.locator("#field-postal_code").fill("1000001")
    expect(page.locator("#field-prefecture")).to_have_value("東京都")
    expect(page.locator("#field-address1")).to_have_value("千代田区千代田")
    page.locator("#field-address1").fill("千代田区千代田1-1")
    page.locator("#field-phone").fill("090-1111-2222")
    page.get_by_role("button", name="確認メールを送信する").click()
    expect(page.locator("#error-terms")).to_contain_text("同意にチェック")
    expect(page.locator("#field-family_name")).to_have_value("青木")
    assert_no_horizontal_scroll(page)
    screenshot(page, "signup-error")

    page.get_by_label("会員規約と個人情報の取り扱いに同意します").check()
    page.get_by_role("button", name="確認メールを送信する").click()
    expect(page).to_have_url("/signup/sent")
    expect(page.get_by_role("heading", name="確認メールを送信しました")).to_be_visible()

    page.goto(confirmation_path(live_server, EMAIL))
    expect(page.get_by_text("青木 陽菜 様")).to_be_visible()
    page.locator("#field-new_password").fill("Aoki2026x")
    page.locator("#field-new_password_confirm").fill("Aoki2026x")
    expect(page.locator('#password-rules [data-rule="confirm"]')).to_have_attribute("data-state", "ok")
    assert_no_horizontal_scroll(page)
    screenshot(page, "signup-password")
    page.get_by_role("button", name="登録を完了する").click()
    expect(page).to_have_url("/signup/welcome")
    number = page.locator("[data-member-number]").inner_text().strip()
    assert re.fullmatch(r"\d{6}", number), number
    assert_no_horizontal_scroll(page)
    screenshot(page, "signup-welcome")

    live_server.run(_create_code)
    page.get_by_role("link", name="プランを確認する").click()
    expect(page).to_have_url("/settings/membership")
    expect(page.locator(".tier-name")).to_contain_text("無料プラン")
    page.get_by_role("textbox", name="参加コード").fill("ｅ２ｅｐｈｏｎｅ")
    page.get_by_role("button", name="コードを使う").click()
    expect(
        page.get_by_text("「有料会員」プランに参加しました。2099年3月31日(火)までご利用いただけます。")
    ).to_be_visible()
    expect(page.locator(".tier-name")).to_contain_text("「有料会員」プラン")
    expect(page).to_have_url("/settings/membership")  # swapped in place, no reload
    assert_no_horizontal_scroll(page)
    screenshot(page, "membership-code")

    page.get_by_role("textbox", name="参加コード").fill("WRONGCODE")
    page.get_by_role("button", name="コードを使う").click()
    expect(page.locator("#error-code")).to_contain_text("見つかりませんでした")
    screenshot(page, "membership-code-error")
