"""The installable app and the membership card in a phone-sized Chromium with the service worker on:
installability, the offline page, the card offline after one visit, /verify for valid, expired and closed
members, and the install hint (issue 21)."""

from __future__ import annotations

import io
import itertools
from datetime import timedelta
from typing import Any

import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from db import members as member_queries
from services import account_closure
from services.card import TOKEN_VALID
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, phone_context, screenshot
from tests.helpers import DEFAULT_PASSWORD, make_member

_numbers = itertools.count(1)
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def new_member(live_server: LiveServer) -> str:
    number = f"0061{next(_numbers):02d}"
    live_server.run(lambda ctx: make_member(ctx, number, email=f"c{number}@example.jp"))
    return number


def log_in(page: Any, number: str, next_path: str) -> None:
    page.goto(f"/login?next={next_path}")
    page.get_by_label("ログインID（会員番号）").fill(number)
    page.get_by_label("パスワード").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url(next_path)


def wait_for_service_worker(page: Any) -> None:
    """Until the worker is installed and controls the page (its shell cache is filled by then)."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    if not _controlled(page):
        # A document whose navigation began before the worker activated is never claimed (Chromium keeps
        # the controller chosen at navigation start), e.g. /mypage requested while the login page's worker
        # was still installing. Any navigation after activation is controlled, as on a member's next visit.
        page.reload()
        assert _controlled(page), "the service worker never took control of the page"


def _controlled(page: Any) -> bool:
    # Not page.wait_for_function: when its first check fails it polls with code the page's CSP (no
    # 'unsafe-eval') refuses. page.evaluate runs through DevTools, which the CSP does not govern.
    return bool(
        page.evaluate(
            """() => navigator.serviceWorker.controller !== null || new Promise((resolve) => {
                navigator.serviceWorker.addEventListener("controllerchange", () => resolve(true), { once: true });
                setTimeout(() => resolve(navigator.serviceWorker.controller !== null), 5000);
            })"""
        )
    )


def qr_url(page: Any) -> str:
    shot = page.locator(".member-card-qr").screenshot()
    with Image.open(io.BytesIO(shot)) as image:
        found = zxingcpp.read_barcodes(image.convert("L"))
    assert found, "the card's QR code does not scan"
    return str(found[0].text)


def test_the_app_is_installable_and_shows_the_offline_page(browser: Any, live_server: LiveServer) -> None:
    context = phone_context(browser, live_server.url, width=360, height=740, service_workers="allow")
    page = context.new_page()
    try:
        page.goto("/login")
        wait_for_service_worker(page)
        scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
        assert scope == f"{live_server.url}/"
        # Chromium's own installability check (what the install prompt and Lighthouse rely on).
        cdp = context.new_cdp_session(page)
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        # Playwright's contexts are incognito ones, where Chromium never installs; anything else is ours.
        assert [error["errorId"] for error in errors if error["errorId"] != "in-incognito"] == []
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [] and manifest["url"].endswith("/manifest.webmanifest")
        assert page.request.get("/favicon.ico").status == 200

        context.set_offline(True)
        page.goto("/articles")
        expect(page.get_by_role("heading", name="オフラインです")).to_be_visible()
        expect(page.locator(".site-header")).to_be_visible()  # styled from the shell cache
        assert page.evaluate("getComputedStyle(document.querySelector('.button-link')).minHeight") == "44px"
        assert_no_horizontal_scroll(page)
        screenshot(page, "pwa-offline-page")
        context.set_offline(False)
        page.goto("/login")
        expect(page.get_by_role("button", name="ログイン", exact=True)).to_be_visible()
    finally:
        context.close()


def test_card_works_offline_after_one_visit_and_its_qr_verifies(
    browser: Any, live_server: LiveServer
) -> None:
    number = new_member(live_server)
    context = phone_context(browser, live_server.url, width=360, height=740, service_workers="allow")
    page = context.new_page()
    try:
        log_in(page, number, "/mypage")
        wait_for_service_worker(page)
        page.get_by_role("link", name="会員証").first.click()
        expect(page).to_have_url("/card")
        expect(page.get_by_text(number, exact=True)).to_be_visible()
        refreshed = page.locator(".member-card-refreshed time").get_attribute("datetime")
        verify_url = qr_url(page)
        assert verify_url.startswith(f"{live_server.url}/verify/")
        assert_no_horizontal_scroll(page)
        screenshot(page, "card-online")

        context.set_offline(True)
        page.reload()
        expect(page.get_by_role("heading", name="会員証")).to_be_visible()
        expect(page.get_by_text("オフラインのため、最後に表示した会員証を表示しています。")).to_be_visible()
        assert page.locator(".member-card-refreshed time").get_attribute("datetime") == refreshed
        assert qr_url(page) == verify_url  # the code still scans offline
        screenshot(page, "card-offline")
        # Back online, the card reloads itself from the network.
        with page.expect_navigation():
            context.set_offline(False)
        expect(page.get_by_text("オフラインのため、最後に表示した会員証を表示しています。")).to_be_hidden()
        context.set_offline(True)
        # Other member pages are never kept: offline they give the offline page.
        page.goto("/mypage")
        expect(page.get_by_role("heading", name="オフラインです")).to_be_visible()
        context.set_offline(False)

        # The door staff scan it on another phone, not logged in.
        staff = phone_context(browser, live_server.url, width=360, height=740)
        door = staff.new_page()
        door.goto(verify_url)
        expect(door.locator("#verify-status")).to_have_text("有効")
        expect(door.get_by_text("鈴木 太郎 様")).to_be_visible()
        screenshot(door, "verify-valid")

        # Signing out removes the card from the phone.
        page.goto("/card")
        assert page.evaluate("caches.has('tsudoi-card')")
        page.get_by_role("button", name="ログアウト").click()
        expect(page).to_have_url("/login")
        assert not page.evaluate("caches.has('tsudoi-card')")
        context.set_offline(True)
        page.goto("/card")
        expect(page.get_by_role("heading", name="オフラインです")).to_be_visible()
        context.set_offline(False)

        # A QR code older than its validity, then a closed member: 無効 with no personal data.
        with live_server.clock_at(live_server.clock.now() + TOKEN_VALID + timedelta(hours=1)):
            door.goto(verify_url)
            expect(door.locator("#verify-status")).to_have_text("無効")
            expect(door.get_by_text("鈴木")).to_have_count(0)
        door.goto(verify_url)
        expect(door.locator("#verify-status")).to_have_text("有効")

        async def close(ctx: Any) -> None:
            member = await member_queries.get_by_number(ctx.db, number)
            admin = await member_queries.get_by_number(ctx.db, "900001")
            assert member is not None and admin is not None
            assert await account_closure.close_account(ctx, int(member["id"]), admin_id=int(admin["id"]))

        live_server.run(close)
        door.goto(verify_url)
        expect(door.locator("#verify-status")).to_have_text("無効")
        expect(door.get_by_text("鈴木")).to_have_count(0)
        assert_no_horizontal_scroll(door)
        screenshot(door, "verify-invalid")
        staff.close()
    finally:
        context.close()


def test_install_hint_on_iphone_can_be_dismissed(browser: Any, live_server: LiveServer) -> None:
    number = new_member(live_server)
    context = phone_context(browser, live_server.url, width=390, height=844, user_agent=IPHONE_UA)
    page = context.new_page()
    try:
        log_in(page, number, "/mypage")
        hint = page.locator("#install-hint")
        expect(hint).to_be_visible()
        expect(hint.get_by_text("「ホーム画面に追加」を選んでください")).to_be_visible()
        # Safari has no install prompt: the steps, not a button that could do nothing.
        expect(hint.get_by_role("button", name="ホーム画面に追加する")).to_be_hidden()
        screenshot(page, "mypage-install-hint-iphone")
        hint.get_by_role("button", name="後で").click()
        expect(hint).to_be_hidden()
        page.reload()
        expect(hint).to_be_hidden()  # 後で: not again in this visit
        page.evaluate("sessionStorage.clear()")
        page.reload()
        expect(hint).to_be_visible()
        hint.get_by_role("button", name="表示しない").click()
        page.evaluate("sessionStorage.clear()")
        page.reload()
        expect(hint).to_be_hidden()  # 表示しない: not again on this phone
    finally:
        context.close()


def test_no_install_hint_on_a_desktop_browser(page: Any, live_server: LiveServer) -> None:
    number = new_member(live_server)
    log_in(page, number, "/mypage")
    expect(page.locator("#install-hint")).to_be_hidden()
