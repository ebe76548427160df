"""On a phone: the admin writes an announcement, sees the recipients and the mail, sends it, and watches the
counts; a member reads it from My Page and /announcements; the admin reminds unpaid members from 入金状況."""

from __future__ import annotations

from datetime import date
from typing import Any

from playwright.sync_api import expect

from db import payments as payment_queries
from services.context import AppContext
from tests.e2e.admin import login_admin
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, phone_context, screenshot
from tests.helpers import DEFAULT_PASSWORD, make_member


def test_admin_sends_an_announcement_and_a_member_reads_it(browser: Any, live_server: LiveServer) -> None:
    async def prepare(ctx: AppContext) -> None:
        await ctx.update_org({"digest_rate_per_second": "0"})
        await make_member(ctx, "009401", prefecture="北海道", email="e2e-announce@example.jp")

    live_server.run(prepare)
    admin = phone_context(browser, live_server.url, width=360)
    page = admin.new_page()
    try:
        login_admin(page, live_server)
        page.goto("/admin/announcements")
        assert_no_horizontal_scroll(page)
        page.get_by_role("button", name="新しいお知らせを書く").click()
        page.get_by_role("button", name="下書きを保存して確認する").click()
        expect(page.get_by_text("件名を入力してください。").first).to_be_visible()
        page.get_by_label("件名").fill("北海道の会員の皆さまへ")
        page.locator("#field-body_md").fill("## 札幌での交流会\n\n**1月10日**に開きます。")
        page.get_by_label("都道府県で選ぶ").check()
        page.get_by_label("都道府県", exact=True).select_option("北海道")
        page.get_by_role("button", name="下書きを保存して確認する").click()
        expect(page.locator("#recipient-count")).to_have_text("1 名")
        expect(page.locator(".mail-preview-text")).to_contain_text("札幌での交流会")
        assert_no_horizontal_scroll(page)
        screenshot(page, "admin-announcement-draft-360")
        page.get_by_role("button", name="自分にテスト送信する").click()
        expect(page.get_by_text("テストメールを").first).to_be_visible()
        page.get_by_role("button", name="送信する（1 名）").click()
        expect(page.get_by_text("送信を始めました").first).to_be_visible()
        # The mails go out after the answer; the status section refreshes itself until they are sent.
        expect(page.locator("#count-sent")).to_have_text("1", timeout=15_000)
        expect(page.locator("#send-status")).to_contain_text("送信済み")
        screenshot(page, "admin-announcement-sent-360")
        expect(page.locator("#count-pending")).to_have_text("0")
        assert_no_horizontal_scroll(page)
    finally:
        admin.close()

    member = phone_context(browser, live_server.url, width=360)
    page = member.new_page()
    try:
        page.goto("/login")
        page.get_by_label("ログインID（会員番号）").fill("009401")
        page.get_by_label("パスワード").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="ログイン", exact=True).click()
        expect(page).to_have_url("/mypage")
        block = page.locator(".mypage-announcement")
        expect(block).to_contain_text("北海道の会員の皆さまへ")
        block.get_by_role("link", name="北海道の会員の皆さまへ").click()
        expect(page.get_by_role("heading", name="札幌での交流会")).to_be_visible()
        assert_no_horizontal_scroll(page)
        page.goto("/announcements")
        expect(page.get_by_role("link", name="北海道の会員の皆さまへ")).to_be_visible()
        assert_no_horizontal_scroll(page)
        screenshot(page, "member-announcements-360")
        page.goto("/mypage")
        expect(page.locator(".mypage-announcement")).not_to_contain_text("北海道の会員の皆さまへ")
    finally:
        member.close()


def test_admin_reminds_an_unpaid_member_from_the_payments_list(browser: Any, live_server: LiveServer) -> None:
    async def prepare(ctx: AppContext) -> int:
        member = await make_member(
            ctx, "009402", email="e2e-remind@example.jp", family_name="督促", given_name="花子"
        )
        item = await payment_queries.create_fee_item(
            ctx.db,
            fiscal_year=2026,
            membership_type="正会員",
            name="2026年度 年会費（督促テスト）",
            amount=7000,
            due_on=date(2026, 11, 30),
            now=ctx.clock.now(),
        )
        assert item is not None
        await payment_queries.issue_fee_item_to(ctx.db, item, member, now=ctx.clock.now())
        return int(await ctx.db.fetchval("SELECT id FROM fees WHERE fee_item_id = ?", (item,)))

    fee_id = live_server.run(prepare)
    admin = phone_context(browser, live_server.url, width=360)
    page = admin.new_page()
    try:
        login_admin(page, live_server)
        page.goto("/admin/payments?q=009402")
        page.locator(f"input[name=fee_id][value='{fee_id}']").check()
        page.get_by_role("button", name="督促メールを送る（確認へ）").click()
        expect(page.get_by_role("heading", name="督促メールを送る")).to_be_visible()
        expect(page.locator(".mail-preview-text")).to_contain_text("7,000円")
        expect(page.locator(".mail-preview-text")).to_contain_text(f"/payments/{fee_id}/start")
        assert_no_horizontal_scroll(page)
        screenshot(page, "admin-fee-reminder-360")
        page.get_by_role("button", name="督促メールを送る（1 名）").click()
        expect(page.get_by_text("督促メールを 1 名に送りました。")).to_be_visible()
        assert_no_horizontal_scroll(page)
    finally:
        admin.close()
    sent = live_server.run(
        lambda ctx: ctx.db.fetchval(
            "SELECT count(*) FROM fee_reminders WHERE fee_id = ? AND status = 'sent'", (fee_id,)
        )
    )
    assert sent == 1
