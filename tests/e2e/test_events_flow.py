"""At 360 px: sign up for an event, see the check-in QR code and the calendar links, a second member lands
on the waitlist, the first cancels and the second moves up."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, phone_context, screenshot
from tests.event_helpers import make_event, paid_member
from tests.helpers import DEFAULT_PASSWORD


def log_in(page: Any, number: str) -> None:
    page.goto("/login")
    page.get_by_label("ログインID（会員番号）").fill(number)
    page.get_by_label("パスワード").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url("/mypage")


def test_register_waitlist_cancel_and_calendar_at_phone_width(browser: Any, live_server: LiveServer) -> None:
    live_server.run(lambda ctx: paid_member(ctx, "005601", email="events-e2e1@example.jp"))
    live_server.run(lambda ctx: paid_member(ctx, "005602", email="events-e2e2@example.jp"))
    event_id = live_server.run(lambda ctx: make_event(ctx, "スマホで申し込む勉強会", capacity=1, fee=0))

    first = phone_context(browser, live_server.url, width=360, height=780)
    second = phone_context(browser, live_server.url, width=360, height=780)
    try:
        page = first.new_page()
        log_in(page, "005601")
        expect(page.locator('a[href="/events"]').first).to_be_attached()  # in the member menu
        page.goto("/events")
        expect(page.get_by_role("heading", level=1)).to_have_text("イベント")
        assert_no_horizontal_scroll(page)
        screenshot(page, "events-list")
        page.get_by_role("link", name="スマホで申し込む勉強会").click()
        expect(page).to_have_url(f"/events/{event_id}")
        assert_no_horizontal_scroll(page)
        screenshot(page, "events-show")
        button = page.get_by_role("button", name="申し込む")
        box = button.bounding_box()
        assert box is not None and box["height"] >= 44
        button.click()
        expect(page.get_by_text("お申し込みを受け付けました。")).to_be_visible()
        expect(page.locator(".event-qr svg")).to_be_visible()
        expect(page.locator(".event-code")).to_contain_text("受付コード")
        ics = page.get_by_role("link", name="この予定をカレンダーに追加（.ics ファイル）")
        expect(ics).to_have_attribute("href", f"/events/{event_id}.ics")
        assert_no_horizontal_scroll(page)
        screenshot(page, "events-registration")
        registration_url = page.url

        page.get_by_role("link", name="申し込んだイベントをカレンダーアプリで購読する").click()
        expect(page).to_have_url("/events/calendar")
        subscribe = page.get_by_role("button", name="カレンダーアプリで購読する")
        href = subscribe.get_attribute("href") or ""
        assert href.startswith(
            live_server.url.replace("http://", "webcal://") + "/events/feed/"
        ) and href.endswith(".ics")
        assert_no_horizontal_scroll(page)
        screenshot(page, "events-calendar")

        other = second.new_page()
        log_in(other, "005602")
        other.goto(f"/events/{event_id}")
        other.get_by_role("button", name="キャンセル待ちで申し込む").click()
        expect(other.get_by_text("満席のため、キャンセル待ちに登録しました。")).to_be_visible()
        expect(other.locator(".event-registration .badge")).to_have_text("キャンセル待ち")
        assert_no_horizontal_scroll(other)
        screenshot(other, "events-waitlisted")

        page.goto(registration_url)
        page.get_by_role("button", name="申し込みを取り消す").click()
        expect(page.get_by_text("お申し込みを取り消しました。")).to_be_visible()
        expect(page).to_have_url(f"/events/{event_id}")
        expect(
            page.get_by_role("button", name="キャンセル待ちで申し込む")
        ).to_be_visible()  # the seat went on

        other.reload()
        expect(other.locator(".event-registration .badge")).to_have_text("参加確定")
        expect(other.locator(".event-qr svg")).to_be_visible()
        screenshot(other, "events-promoted")
    finally:
        first.close()
        second.close()


def test_admin_registrations_and_check_in_at_phone_width(browser: Any, live_server: LiveServer) -> None:
    from tests.e2e.admin import login_admin

    live_server.run(lambda ctx: paid_member(ctx, "005611", email="events-e2e11@example.jp"))
    event_id = live_server.run(lambda ctx: make_event(ctx, "受付テストの会", capacity=1))
    member = phone_context(browser, live_server.url, width=360, height=780)
    admin = phone_context(browser, live_server.url, width=360, height=780)
    try:
        page = member.new_page()
        log_in(page, "005611")
        page.goto(f"/events/{event_id}")
        page.get_by_role("button", name="申し込む").click()
        code = page.locator(".event-code strong").inner_text()

        office = admin.new_page()
        login_admin(office, live_server)
        office.goto(f"/admin/events/{event_id}/registrations")
        expect(office.get_by_role("heading", name="参加確定（1名）")).to_be_visible()
        assert_no_horizontal_scroll(office)
        screenshot(office, "admin-event-registrations")
        office.get_by_role("link", name="受付（QRコード・受付コード）").click()
        office.get_by_label("受付コード").fill(code.lower())
        office.get_by_role("button", name="受付する").click()
        expect(office.get_by_text("を受付しました")).to_be_visible()
        assert_no_horizontal_scroll(office)
        screenshot(office, "admin-event-checkin")
        office.goto(f"/admin/events/{event_id}/registrations")
        expect(office.locator(".badge-ok", has_text="出席")).to_be_visible()
    finally:
        member.close()
        admin.close()
