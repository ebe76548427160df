"""First login at phone width: the initial password, the forced change with live ticks and readings, the profile."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from db import members as member_queries
from db.timestamps import to_db
from services import password_flow
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot
from tests.helpers import make_member

INITIAL_PASSWORD = "Kx7mPq4Wzr"
NEW_PASSWORD = "Hikari2027"


def log_in(page: Any, number: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("ログインID（会員番号）").fill(number)
    page.locator("#field-password").fill(password)
    page.get_by_role("button", name="ログイン", exact=True).click()


def assert_accessible(page: Any) -> None:
    """No serious or critical axe-core finding, like the site-wide quality gate (which cannot reach
    reset links or refused forms by crawling)."""
    violations = Axe().run(page).response["violations"]
    serious = [
        f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, serious


def tick(page: Any, rule: str) -> Any:
    return page.locator(f"#password-rules-box [data-rule='{rule}']")


def test_first_login_changes_the_password_then_checks_the_profile(page: Any, live_server: LiveServer) -> None:
    live_server.run(
        lambda ctx: make_member(
            ctx, "300301", INITIAL_PASSWORD, must_change_password=True, email="first@example.jp"
        )
    )
    log_in(page, "300301", INITIAL_PASSWORD)
    expect(page).to_have_url("/password/change")
    expect(page.get_by_text("初回ログインのため、パスワードの変更をお願いします。")).to_be_visible()
    # Nothing else is reachable yet.
    page.goto("/mypage")
    expect(page).to_have_url("/password/change")
    assert_no_horizontal_scroll(page)
    screenshot(page, "password-first-login")

    new_field = page.locator("#field-new_password")
    new_field.press_sequentially("hikari", delay=20)
    expect(tick(page, "length")).to_have_attribute("data-state", "ng")
    expect(tick(page, "uppercase")).to_have_attribute("data-state", "ng")
    expect(tick(page, "charset")).to_have_attribute("data-state", "ok")
    new_field.fill("")
    new_field.press_sequentially(NEW_PASSWORD, delay=20)
    expect(tick(page, "length")).to_have_attribute("data-state", "ok")
    expect(tick(page, "uppercase")).to_have_attribute("data-state", "ok")
    expect(tick(page, "digit")).to_have_attribute("data-state", "ok")
    expect(tick(page, "not_recent")).to_have_attribute("data-state", "ok")

    toggle = page.get_by_role("button", name="読みを表示")
    toggle.click()
    readings = page.locator("#password-readings")
    expect(readings).to_be_visible()
    expect(readings.locator("li")).to_have_count(len(NEW_PASSWORD))
    expect(readings.locator("li").first).to_contain_text("エイチ(大文字)")
    expect(readings.locator("li").nth(6)).to_contain_text("ニ(数字)")
    expect(page.get_by_role("button", name="読みを隠す")).to_have_attribute("aria-pressed", "true")

    page.locator("#field-new_password_confirm").press_sequentially(NEW_PASSWORD, delay=10)
    expect(tick(page, "confirm")).to_have_attribute("data-state", "ok")
    assert_no_horizontal_scroll(page)
    screenshot(page, "password-first-login-ticks")

    page.get_by_role("button", name="変更する").click()
    expect(page).to_have_url(re.compile(r"/profile\?next="))
    expect(page.get_by_text("パスワードを変更しました。").first).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "password-first-login-profile")

    # The profile save leads on to the new-arrival conditions, then to My Page with the first matches.
    page.get_by_role("button", name="保存").click()
    expect(page).to_have_url("/conditions?welcome=1")
    expect(page.get_by_role("heading", name="続いて、新着記事の条件を設定しましょう")).to_be_visible()
    expect(page.get_by_role("link", name="後で", exact=True)).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "first-login-conditions")
    page.get_by_label("条件の名前").fill("アジアの新着")
    page.locator("summary", has_text="アジア").click()
    page.get_by_label("アジア（全体）").check()
    page.get_by_role("button", name="この条件を追加する").click()
    expect(page).to_have_url(re.compile(r"/mypage\?condition=\d+$"))
    expect(page.get_by_text("新着条件「アジアの新着」を追加しました。")).to_be_visible()
    expect(page.locator(".view-tabs a[aria-current='page']")).to_contain_text("アジアの新着")
    assert_no_horizontal_scroll(page)
    screenshot(page, "first-login-mypage")

    # The new password works from now on; the initial one no longer does.
    page.get_by_role("button", name="ログアウト").click()
    log_in(page, "300301", INITIAL_PASSWORD)
    expect(page.get_by_text("ログインIDまたはパスワードが間違っています。")).to_be_visible()
    log_in(page, "300301", NEW_PASSWORD)
    expect(page).to_have_url("/mypage")


def test_refused_password_shows_each_rule_and_the_ime_hint(page: Any, live_server: LiveServer) -> None:
    live_server.run(lambda ctx: make_member(ctx, "300302", INITIAL_PASSWORD, must_change_password=True))
    log_in(page, "300302", INITIAL_PASSWORD)
    expect(page).to_have_url("/password/change")
    field = page.locator("#field-new_password")
    # Headless Chromium keeps no Caps Lock state, so the key event says it is on, as a keyboard would.
    field.evaluate(
        "el => el.dispatchEvent(new KeyboardEvent('keyup', {key: 'A', modifierCapsLock: true, bubbles: true}))"
    )
    expect(page.get_by_text("Caps Lock がオンになっています。")).to_be_visible()
    field.press_sequentially("ｈｉｋａｒｉ", delay=20)
    expect(page.get_by_text("日本語入力（IME）がオンになっていないか").first).to_be_visible()
    page.locator("#field-new_password_confirm").fill("ｈｉｋａｒｉ")
    page.get_by_role("button", name="変更する").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("英大文字を1文字以上含めてください。")
    expect(summary).to_contain_text("使用できない文字が含まれています")
    expect(page.locator("#field-new_password")).to_have_value("")
    # The swapped-in form still has the readings toggle working.
    expect(page.get_by_role("button", name="読みを表示")).to_be_visible()
    assert_no_horizontal_scroll(page)
    assert_accessible(page)
    screenshot(page, "password-change-errors")


def test_reset_link_from_the_mail_sets_a_new_password(page: Any, live_server: LiveServer) -> None:
    async def prepare(ctx: Any) -> str:
        await make_member(ctx, "300303", INITIAL_PASSWORD, email="reset@example.jp")
        member = await member_queries.get_by_number(ctx.db, "300303")
        return password_flow.reset_url(ctx, member).removeprefix(live_server.url)

    link = live_server.run(prepare)
    page.goto(link)
    expect(page.get_by_role("heading", name="新しいパスワードの設定")).to_be_visible()
    page.locator("#field-new_password").press_sequentially(NEW_PASSWORD, delay=10)
    expect(tick(page, "not_recent")).to_have_attribute("data-state", "ok")
    page.locator("#field-new_password_confirm").fill(NEW_PASSWORD)
    assert_no_horizontal_scroll(page)
    assert_accessible(page)
    page.get_by_role("button", name="パスワードを設定する").click()
    expect(page).to_have_url("/login")
    expect(page.get_by_text("パスワードを再設定しました。")).to_be_visible()
    page.goto(link)
    expect(page.get_by_role("heading", name="このリンクはすでに使用されています")).to_be_visible()
    assert_no_horizontal_scroll(page)
    assert_accessible(page)
    screenshot(page, "password-reset-used")


def test_forgot_password_page_at_phone_width(page: Any) -> None:
    page.goto("/login")
    page.get_by_role("link", name="パスワードをお忘れの方").click()
    expect(page).to_have_url("/password/forgot")
    page.get_by_label("会員番号またはメールアドレス").fill("999999")
    page.get_by_role("button", name="再設定用のメールを送る").click()
    expect(page.get_by_role("heading", name="メールをご確認ください")).to_be_visible()
    assert_no_horizontal_scroll(page)
    assert_accessible(page)
    screenshot(page, "password-forgot-sent")


def test_expired_password_reminder_can_be_postponed(page: Any, live_server: LiveServer) -> None:
    async def prepare(ctx: Any) -> None:
        member_id = await make_member(ctx, "300304", INITIAL_PASSWORD)
        long_ago = to_db(ctx.clock.now() - timedelta(days=130))
        await ctx.db.execute("UPDATE members SET password_changed_at = ? WHERE id = ?", (long_ago, member_id))

    live_server.run(prepare)
    log_in(page, "300304", INITIAL_PASSWORD)
    expect(page).to_have_url("/password/expired")
    expect(page.get_by_role("heading", name="パスワードの変更のお願い")).to_be_visible()
    expect(page.get_by_role("button", name="変更する", exact=True)).to_be_visible()
    assert_no_horizontal_scroll(page)
    assert_accessible(page)
    screenshot(page, "password-expired")
    page.get_by_role("button", name="後で変更する").click()
    expect(page).to_have_url("/mypage")
    expect(page.get_by_text("パスワードの変更は次回ログイン時にもご案内します。")).to_be_visible()
