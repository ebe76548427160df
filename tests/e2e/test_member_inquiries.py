"""The member reads the office's reply and answers it on /inquiries, on a phone (360 px)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from db import inquiries as inquiry_queries
from services import contact as contact_service
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, phone_context, screenshot
from tests.helpers import make_member


def test_member_reads_the_reply_and_answers_at_360px(browser: Any, live_server: LiveServer) -> None:
    async def setup(ctx: Any) -> int:
        member_id = await make_member(ctx, "009601", family_name="小林", given_name="葵")
        admin_id = await make_member(ctx, "907701", role="admin")
        inquiry_id = await contact_service.store_inquiry(
            ctx,
            {
                "category": "fee",
                "name": "小林 葵",
                "email": "member009601@example.jp",
                "member_number": "009601",
                "subject": "領収書の宛名を変えたい",
                "message": "会費支払明細の領収書の宛名を、勤務先の名前にできますか。",
            },
            member_id=member_id,
            ip="",
            user_agent="",
            prepared=None,
        )
        inquiry = await inquiry_queries.get(ctx.db, inquiry_id)
        await contact_service.reply_to_inquiry(
            ctx, inquiry, admin_id=admin_id, body="宛名は会員情報の所属から選べます。", status="done", ip=""
        )
        return inquiry_id

    inquiry_id = live_server.run(setup)
    context = phone_context(browser, live_server.url, width=360, height=740)
    page = context.new_page()
    try:
        page.goto("/login")
        page.get_by_label("ログインID（会員番号）").fill("009601")
        page.get_by_label("パスワード").fill("Sakura2026")
        page.get_by_role("button", name="ログイン", exact=True).click()
        expect(page).to_have_url(re.compile(r"/mypage$"))

        page.goto("/inquiries")
        expect(page.get_by_role("heading", name="お問い合わせ履歴")).to_be_visible()
        expect(page.get_by_text("回答済").first).to_be_visible()
        expect(page.get_by_text("未読の返信")).to_be_visible()
        assert_no_horizontal_scroll(page)
        screenshot(page, "inquiries-list")

        page.get_by_role("button", name="返信を読む").click()
        expect(page).to_have_url(f"{live_server.url}/inquiries/{inquiry_id}")
        expect(page.get_by_text("宛名は会員情報の所属から選べます。")).to_be_visible()
        page.get_by_role("button", name="お返事を送る").click()
        expect(page.get_by_text("お返事の内容を入力してください。")).to_be_visible()
        page.get_by_label("お返事の内容").fill("ありがとうございます。所属を変更しました。")
        page.get_by_role("button", name="お返事を送る").click()
        expect(page.get_by_text("お返事を送りました。")).to_be_visible()
        expect(page.locator(".thread-body", has_text="所属を変更しました。")).to_be_visible()
        expect(page.get_by_text("受付済").first).to_be_visible()
        assert_no_horizontal_scroll(page)
        screenshot(page, "inquiries-thread")
        height = page.get_by_role("button", name="お返事を送る").bounding_box()["height"]
        assert height >= 44

        page.goto("/inquiries")
        expect(page.get_by_text("未読の返信")).to_have_count(0)
    finally:
        context.close()
