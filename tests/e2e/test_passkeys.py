"""Passkeys in a phone-sized Chromium with its virtual authenticator (DevTools WebAuthn domain): add one,
log out, sign in with it, see where one is signed in, remove it; the removed passkey then signs no one in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from services.passkeys import UNKNOWN_PASSKEY
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, phone_context, screenshot
from tests.helpers import DEFAULT_PASSWORD, make_member


@pytest.fixture
def phone(browser: Any, live_server: LiveServer) -> Iterator[tuple[Any, Any]]:
    """A 360 px wide page with a platform authenticator that verifies the user (fingerprint, face)."""
    context = phone_context(browser, live_server.url, width=360)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
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
        yield page, (cdp, added["authenticatorId"])
    finally:
        context.close()


def credentials(authenticator: tuple[Any, Any]) -> list[dict[str, Any]]:
    cdp, authenticator_id = authenticator
    return list(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"])


def test_member_adds_a_passkey_signs_in_with_it_and_removes_it(phone: Any, live_server: LiveServer) -> None:
    page, authenticator = phone
    live_server.run(lambda ctx: make_member(ctx, "007101", family_name="青木", given_name="葵"))

    page.goto("/login")
    expect(page.get_by_role("button", name="パスキーでログイン")).to_be_visible()
    page.get_by_label("ログインID（会員番号）").fill("007101")
    page.get_by_label("パスワード").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url("/mypage")
    # A phone with a platform authenticator gets the offer once after a password sign-in.
    offer = page.locator("[data-passkey-offer]")
    expect(offer).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "passkey-offer")
    offer.get_by_role("button", name="パスキーを追加").click()

    expect(page).to_have_url("/settings/security#passkeys")
    page.get_by_label("パスキーの名前").fill("わたしのスマホ")
    page.get_by_role("button", name="パスキーを追加").click()
    expect(page.get_by_text("パスキー「わたしのスマホ」を追加しました。")).to_be_visible()
    expect(page.get_by_text("まだ使われていません")).to_be_visible()
    [stored] = credentials(authenticator)
    assert stored["isResidentCredential"] and stored["rpId"] == "localhost"
    expect(page.locator("[data-passkey-offer]")).to_have_count(0)

    # The member-number field offers the passkey (conditional mediation); the virtual authenticator
    # answers such a request at once, as a member picking it from the autofill list would.
    page.get_by_role("button", name="ログアウト").click()
    expect(page).to_have_url("/mypage")
    expect(page.get_by_text("青木 葵 様").first).to_be_visible()

    # The パスキーでログイン button, in a browser without passkey autofill.
    page.add_init_script("delete PublicKeyCredential.isConditionalMediationAvailable;")
    page.get_by_role("button", name="ログアウト").click()
    expect(page).to_have_url("/login")
    page.get_by_role("button", name="パスキーでログイン").click()
    expect(page).to_have_url("/mypage")
    expect(page.get_by_text("青木 葵 様").first).to_be_visible()

    page.goto("/settings/security")
    expect(page.get_by_text("この端末")).to_be_visible()
    expect(page.get_by_text("最後に使った日時：2026")).to_be_visible()
    expect(page.locator(".attempt-list .record").first).to_contain_text("パスキー")
    assert_no_horizontal_scroll(page)
    screenshot(page, "security-settings")

    page.goto("/settings/data")
    expect(page.get_by_role("button", name="登録情報をダウンロード")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "data-download")
    with page.expect_download() as download:
        page.get_by_role("button", name="登録情報をダウンロード").click()
    assert download.value.suggested_filename.startswith("tsudoi-data-007101-")
    page.goto("/settings/security/confirm")
    assert_no_horizontal_scroll(page)
    screenshot(page, "security-confirm")
    page.goto("/settings/security")

    # Signed in with the passkey a moment ago: that counts as the fresh sign-in removing asks for.
    page.get_by_role("button", name="「わたしのスマホ」を削除").click()
    expect(page.get_by_text("パスキーを削除しました。")).to_be_visible()
    expect(page.get_by_text("登録済みのパスキーはありません。")).to_be_visible()

    page.get_by_role("button", name="ログアウト").click()
    expect(page).to_have_url("/login")
    page.get_by_role("button", name="パスキーでログイン").click()
    expect(page.get_by_text(UNKNOWN_PASSKEY)).to_be_visible()
    expect(page).to_have_url("/login")
    screenshot(page, "passkey-removed-login")
