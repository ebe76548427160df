"""One login for the organization's services, in a phone-sized Chromium: a small relying party (tests/e2e/
oidc_client_app.py) signs a member in through Tsudoi: login, the consent page, back signed in (issue 23)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from services.oidc import clients
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, phone_context, screenshot
from tests.e2e.oidc_client_app import RelyingParty
from tests.helpers import DEFAULT_PASSWORD, free_port, make_member


def test_member_signs_in_to_another_service_through_tsudoi(browser: Any, live_server: LiveServer) -> None:
    live_server.run(lambda ctx: make_member(ctx, "009701", email="rp@example.jp", given_name="結衣"))
    port = free_port()
    clean, errors = clients.validate(
        {
            "name": "会員フォーラム",
            "redirect_uris": f"http://127.0.0.1:{port}/callback",
            "scopes": ["profile", "membership"],
        }
    )
    assert not errors
    registered = live_server.run(lambda ctx: clients.register(ctx, clean, actor_id=None))
    relying = RelyingParty(
        live_server.url,
        registered.client_id,
        str(registered.secret),
        port,
        now=lambda: int(live_server.clock.now().timestamp()),
    )
    relying.start()
    context = phone_context(browser, live_server.url, width=360, height=740)
    page = context.new_page()
    try:
        page.goto(relying.url)
        page.get_by_role("link", name="団体のアカウントでログイン").click()
        expect(page).to_have_url(re.compile(r"/login\?next=/oauth/authorize%3F"))
        page.get_by_label("ログインID（会員番号）").fill("009701")
        page.get_by_label("パスワード").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="ログイン", exact=True).click()
        expect(page.get_by_role("heading", name="会員フォーラムへのログイン")).to_be_visible()
        expect(page.get_by_text("会員番号、プランとその有効期限")).to_be_visible()
        assert_no_horizontal_scroll(page)
        screenshot(page, "oidc-consent")
        page.get_by_role("button", name="許可してログインする").click()
        expect(page.get_by_role("heading", name="ようこそ、鈴木 結衣 様")).to_be_visible()
        expect(page.locator("#tier")).to_have_text("無料プラン")
        # Signing in to the service left the member signed in to the portal too.
        page.goto(f"{live_server.url}/mypage")
        expect(page.get_by_role("heading", name="マイページ")).to_be_visible()
        # The second time, no consent page: straight back to the service.
        page.goto(f"{relying.url}/login")
        expect(page.get_by_role("heading", name="ようこそ、鈴木 結衣 様")).to_be_visible()
    finally:
        context.close()
        relying.stop()


def test_a_passkey_signs_the_member_in_to_the_other_service(browser: Any, live_server: LiveServer) -> None:
    """The same journey with a passkey: no member number or password typed on the way to the service."""
    live_server.run(lambda ctx: make_member(ctx, "009702", email="rp2@example.jp", given_name="陽菜"))
    port = free_port()
    clean, errors = clients.validate(
        {
            "name": "会員講座",
            "redirect_uris": f"http://127.0.0.1:{port}/callback",
            "scopes": ["profile", "membership"],
        }
    )
    assert not errors
    registered = live_server.run(lambda ctx: clients.register(ctx, clean, actor_id=None))
    relying = RelyingParty(
        live_server.url,
        registered.client_id,
        str(registered.secret),
        port,
        now=lambda: int(live_server.clock.now().timestamp()),
    )
    relying.start()
    context = phone_context(browser, live_server.url, width=360, height=740)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    try:
        page.goto("/login")
        page.get_by_label("ログインID（会員番号）").fill("009702")
        page.get_by_label("パスワード").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="ログイン", exact=True).click()
        expect(page).to_have_url("/mypage")
        page.goto("/settings/security#passkeys")
        page.get_by_label("パスキーの名前").fill("わたしのスマホ")
        page.get_by_role("button", name="パスキーを追加").click()
        expect(page.get_by_text("パスキー「わたしのスマホ」を追加しました。")).to_be_visible()
        context.clear_cookies()  # signed out of the portal, the passkey stays on the phone

        # The passkey autofill may sign the member in the moment the login page opens, so the login page is
        # checked in the list of pages the tab went through, not as the address at one instant.
        visited: list[str] = []
        page.on(
            "framenavigated", lambda frame: visited.append(frame.url) if frame == page.main_frame else None
        )
        page.goto(relying.url)
        page.get_by_role("link", name="団体のアカウントでログイン").click()
        consent = page.get_by_role("heading", name="会員講座へのログイン")
        try:
            # The member-number field offers the passkey (conditional mediation), which the virtual
            # authenticator answers at once, as a member picking it from the autofill list would.
            expect(consent).to_be_visible(timeout=4000)
        except AssertionError:
            page.get_by_role("button", name="パスキーでログイン").click()
            expect(consent).to_be_visible()
        assert any(re.search(r"/login\?next=/oauth/authorize%3F", url) for url in visited), visited
        page.get_by_role("button", name="許可してログインする").click()
        expect(page.get_by_role("heading", name="ようこそ、鈴木 陽菜 様")).to_be_visible()
        attempts = live_server.run(
            lambda ctx: ctx.db.fetchall(
                "SELECT method, succeeded FROM sign_in_attempts WHERE member_id = "
                "(SELECT id FROM members WHERE member_number = '009702') ORDER BY id"
            )
        )
        assert [row["method"] for row in attempts][-1] == "passkey"
    finally:
        context.close()
        relying.stop()
