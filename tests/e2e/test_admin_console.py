"""The admin console at phone width: enrolling the second factor, finding a member, unlocking the account."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
from playwright.sync_api import expect

from db.timestamps import to_db
from tests.e2e.admin import login_admin
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot
from tests.helpers import make_member


def test_new_admin_enrols_the_authenticator_from_the_qr_page(page: Any, live_server: LiveServer) -> None:
    live_server.run(
        lambda ctx: make_member(
            ctx, "900777", "Kanri2026x", role="admin", family_name="新任", given_name="管理者"
        )
    )
    page.goto("/login")
    page.get_by_label("ログインID（会員番号）").fill("900777")
    page.get_by_label("パスワード").fill("Kanri2026x")
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url("/mfa/enrol?next=/admin")
    expect(page.get_by_role("img", name="二段階認証の登録用QRコード")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "admin-mfa-enrol")
    secret = page.locator("#mfa-key").inner_text().replace(" ", "")
    page.locator("#field-code").fill(pyotp.TOTP(secret).at(live_server.clock.now()))
    page.get_by_role("button", name="登録する").click()
    expect(page.get_by_text("二段階認証を登録しました。")).to_be_visible()
    assert page.locator(".recovery-codes li").count() == 10
    assert_no_horizontal_scroll(page)
    screenshot(page, "admin-recovery-codes")
    page.get_by_role("button", name="保管しました。続ける").click()
    expect(page).to_have_url("/admin")


def test_admin_finds_a_locked_member_and_unlocks_the_account(page: Any, live_server: LiveServer) -> None:
    def lock(ctx: Any) -> Any:
        async def run() -> None:
            member_id = await make_member(
                ctx,
                "007770",
                family_name="錠前",
                given_name="次郎",
                family_kana="ジョウマエ",
                given_kana="ジロウ",
                email="jiro.lock@example.jp",
            )
            until = ctx.clock.now() + timedelta(hours=2)
            await ctx.db.execute(
                "UPDATE members SET failed_logins = 5, locked_until = ? WHERE id = ?",
                (to_db(until), member_id),
            )

        return run()

    live_server.run(lock)
    login_admin(page, live_server)
    expect(page.get_by_role("heading", name="管理ダッシュボード")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "admin-dashboard")

    page.goto("/admin/members")
    page.get_by_label("検索").fill("じょうまえ")
    page.get_by_role("button", name="検索").click()
    result = page.get_by_role("link", name="錠前 次郎")
    expect(result).to_be_visible()
    expect(page.locator("#member-results").get_by_text("ロック中")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "admin-members-search")

    result.click()
    expect(page.get_by_role("heading", name="ロック中")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "admin-member-locked")
    page.get_by_role("button", name="ロックを解除する").click()
    expect(page.get_by_text("ロックを解除しました。会員はすぐにログインできます。")).to_be_visible()
    expect(page.get_by_role("heading", name="ロック中")).to_have_count(0)
    screenshot(page, "admin-member-unlocked")

    # The member can log in again at once.
    page.get_by_role("button", name="ログアウト").click()
    page.goto("/login")
    page.get_by_label("ログインID（会員番号）").fill("007770")
    page.get_by_label("パスワード").fill("Sakura2026")
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url("/mypage")
