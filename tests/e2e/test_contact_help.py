"""Contact form, help search and the admin inbox in a phone-sized Chromium."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.sync_api import expect

from db import inquiries as inquiry_queries
from services.contact import ATTACHMENT_TOO_BIG
from services.tokens import make_token
from tests.contact_helpers import png_bytes
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot
from tests.helpers import enrol_admin, fresh_admin_code, make_member


def started_a_minute_ago(page: Any, live_server: LiveServer) -> None:
    """The form's signed start time, moved back instead of waiting out the minimum fill time."""
    settings = live_server.ctx.settings
    token = make_token(
        settings.secret_key, "contact-form", {}, now=live_server.ctx.clock.now() - timedelta(minutes=1)
    )
    page.locator("input[name=form_started]").evaluate("(el, value) => { el.value = value; }", token)


def test_visitor_sends_an_inquiry_with_a_screenshot_at_phone_width(
    page: Any, live_server: LiveServer
) -> None:
    page.goto("/contact")
    expect(page.get_by_role("heading", name="お問い合わせ", exact=True)).to_be_visible()
    expect(page.get_by_text("ログインできない", exact=True)).to_be_visible()
    expect(page.locator("img.contact-qr")).to_be_visible()
    assert page.locator("img.contact-qr").evaluate("img => img.naturalWidth") > 0
    assert_no_horizontal_scroll(page)
    screenshot(page, "contact")

    page.locator("#field-category").select_option("login")
    page.get_by_label("お名前").fill("青木 陽菜")
    page.get_by_label("メールアドレス").fill("hina.aoki@example.jp")
    page.get_by_label("会員番号（会員の方）").fill("００４５６７")
    page.get_by_label("件名").fill("ログインできません")
    page.get_by_label("お問い合わせ内容").fill(
        "今朝、会員番号 004567 とパスワードを入力して「ログイン」を押すと、\n"
        "「ログインIDまたはパスワードが間違っています。」と表示されました。"
    )
    page.locator("#field-attachment").set_input_files(
        {"name": "スクリーンショット.png", "mimeType": "image/png", "buffer": png_bytes((780, 1200))}
    )
    started_a_minute_ago(page, live_server)
    page.get_by_role("button", name="送信する").click()

    expect(page.get_by_role("heading", name="お問い合わせを受け付けました")).to_be_visible()
    expect(page.get_by_text("控えをお送りしました")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "contact-sent")

    async def stored(ctx: Any) -> tuple[Any, list[Any]]:
        row = await ctx.db.fetchone("SELECT * FROM inquiries WHERE email = ?", ("hina.aoki@example.jp",))
        return row, await inquiry_queries.attachments_for(ctx.db, int(row["id"]))

    row, attachments = live_server.run(stored)
    assert row["member_number"] == "004567"
    assert row["admin_mail_status"] == "sent" and row["auto_reply_status"] == "sent"
    assert [(a["original_name"], a["width"], a["height"]) for a in attachments] == [
        ("スクリーンショット.png", 780, 1200)
    ]


def test_too_big_screenshot_is_stopped_before_sending_and_nothing_is_lost(page: Any) -> None:
    page.goto("/contact")
    page.get_by_label("件名").fill("会費について")
    page.locator("#field-attachment").set_input_files(
        {"name": "big.png", "mimeType": "image/png", "buffer": b"\x89PNG" + b"\0" * (5 * 1024 * 1024 + 1)}
    )
    expect(page.get_by_text(ATTACHMENT_TOO_BIG)).to_be_visible()
    page.get_by_role("button", name="送信する").click()
    expect(page).to_have_url("/contact")
    expect(page.get_by_label("件名")).to_have_value("会費について")
    screenshot(page, "contact-too-big")


def test_leaving_from_help_and_contact_leads_to_the_one_leave_request(page: Any) -> None:
    page.goto("/help")
    page.get_by_text("退会したいです。").click()
    page.get_by_role("link", name="退会を申し出る").click()
    expect(page).to_have_url("/login?next=/settings/membership/leave")  # after login: the leave request
    page.goto("/contact?category=leaving")
    expect(page.locator("#field-category")).to_have_value("leaving")
    note = page.locator("#leaving-note")
    expect(note).to_be_visible()
    expect(note.get_by_role("link", name="退会を申し出る")).to_have_attribute(
        "href", "/settings/membership/leave"
    )
    page.locator("#field-category").select_option("other")
    expect(note).to_be_hidden()


def test_help_search_filters_in_place(page: Any) -> None:
    page.goto("/help")
    entries = page.locator("[data-help-entry]")
    total = entries.count()
    assert total >= 14
    assert_no_horizontal_scroll(page)
    screenshot(page, "help")
    page.get_by_label("質問を検索").fill("めーる")
    expect(page.locator("#help-status")).to_contain_text("件")
    visible = page.locator("[data-help-entry]:not([hidden])")
    assert 0 < visible.count() < total
    expect(page.get_by_text("ログインできません。", exact=True)).to_be_hidden()
    expect(page.get_by_text("お知らせメールを止めたいです。")).to_be_visible()
    assert "/help?q=" in page.url
    page.get_by_label("質問を検索").fill("ろっく")
    expect(page.locator("#help-status")).to_have_text("「ろっく」に当てはまる質問：1件")
    expect(page.get_by_role("link", name="パスワードを再設定する")).to_be_visible()  # a single match opens
    screenshot(page, "help-search")
    page.get_by_label("質問を検索").fill("")
    assert page.locator("[data-help-entry]:not([hidden])").count() == total
    page.get_by_label("質問を検索").fill("ないしつもん")
    expect(page.get_by_text("当てはまる質問が見つかりませんでした")).to_be_visible()


def test_print_shows_only_the_qr_card(page: Any) -> None:
    page.goto("/contact")
    page.emulate_media(media="print")
    expect(page.locator("form[data-contact-form]")).to_be_hidden()
    expect(page.locator("header.site-header")).to_be_hidden()
    expect(page.locator("img.contact-qr")).to_be_visible()
    expect(
        page.locator(".contact-print")
        .get_by_text("info@example.jp")
        .or_(page.locator(".contact-print a[href^=mailto]"))
    ).to_be_visible()
    screenshot(page, "contact-print")
    page.goto("/contact/poster")
    expect(page.get_by_role("button", name="このご案内を印刷する")).to_be_hidden()
    screenshot(page, "contact-poster-print")


def test_admin_reads_the_inquiry_and_replies_on_a_phone(page: Any, live_server: LiveServer) -> None:
    async def prepare(ctx: Any) -> int:
        admin_id = await make_member(
            ctx, "900077", "Kanri2026x", role="admin", family_name="事務局", given_name="次郎"
        )
        await enrol_admin(ctx, admin_id, "900077")
        return admin_id

    admin_id = live_server.run(prepare)
    page.goto("/contact")
    page.locator("#field-category").select_option("leaving")
    page.get_by_label("お名前").fill("退会 希望")
    page.get_by_label("メールアドレス").fill("leaving.member@example.jp")
    page.get_by_label("件名").fill("退会の手続きについて")
    page.get_by_label("お問い合わせ内容").fill("今年度末で退会したいです。")
    started_a_minute_ago(page, live_server)
    page.get_by_role("button", name="送信する").click()
    expect(page.get_by_role("heading", name="お問い合わせを受け付けました")).to_be_visible()

    page.goto("/login?next=/admin/inbox")
    page.get_by_label("ログインID（会員番号）").fill("900077")
    page.get_by_label("パスワード").fill("Kanri2026x")
    page.get_by_role("button", name="ログイン", exact=True).click()
    code = live_server.run(lambda ctx: fresh_admin_code(ctx, admin_id))
    page.locator("input[name=code]").fill(code)
    page.locator("input[name=code]").press("Enter")
    page.goto("/admin/inbox")
    expect(page.get_by_text("退会の手続きについて")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "admin-inbox")
    page.get_by_text("退会の手続きについて").click()
    expect(page.get_by_role("link", name="退会手続きの画面を開く")).to_be_visible()
    page.get_by_label("返信の本文").fill("お問い合わせありがとうございます。会員番号をお知らせください。")
    page.get_by_role("button", name="返信を送信する").click()
    expect(page.get_by_text("に返信を送信しました")).to_be_visible()
    expect(page.locator(".thread-outgoing")).to_contain_text("会員番号をお知らせください")
    assert_no_horizontal_scroll(page)
    screenshot(page, "admin-inbox-detail")
