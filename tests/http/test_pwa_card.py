"""The installable app (manifest, service worker, icons, offline page) and the membership card with
its public check (/verify/{token}): issue 21."""

from __future__ import annotations

import io
import json
import re
from datetime import date, timedelta
from typing import Any

import pytest
from PIL import Image

from db import audit as audit_queries
from services import account_closure, membership
from services.card import TOKEN_VALID, VERIFY_LIMIT
from tests.helpers import login, login_admin, make_member, post_form, visible_text


def _png(width: int, height: int, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def _verify_path(html: str) -> str:
    match = re.search(r"/verify/[A-Za-z0-9_\-.]+", html)
    assert match, "the card carries no verification URL"
    return match.group(0)


def _status(html: str) -> str:
    match = re.search(r'<p class="verify-status" id="verify-status">(.*?)</p>', html)
    assert match, "no verification status on the page"
    return match.group(1)


async def _card_html(client: Any) -> str:
    response = await client.get("/card")
    assert response.status_code == 200, response.text
    return str(response.text)


# --- the installable app -------------------------------------------------------------------------


async def test_every_page_links_the_manifest_icons_and_a_description(client: Any, app_ctx: Any) -> None:
    for path in ("/login", "/help", "/contact"):
        html = (await client.get(path)).text
        assert '<link rel="manifest" href="/manifest.webmanifest">' in html, path
        assert 'rel="apple-touch-icon"' in html and 'rel="icon"' in html, path
        description = re.search(r'<meta name="description" content="([^"]+)">', html)
        assert description and app_ctx.org.org_name in description.group(1), path
        assert '<meta name="theme-color" content="#0172ad">' in html


async def test_manifest_is_installable_and_uses_the_organizations_names(client: Any, app_ctx: Any) -> None:
    await app_ctx.update_org({"org_name": "日本テスト学会", "org_short_name": "テスト学会"})
    response = await client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.content)
    assert manifest["name"] == "日本テスト学会" and manifest["short_name"] == "テスト学会"
    assert manifest["start_url"] == "/mypage" and manifest["display"] == "standalone"
    assert manifest["lang"] == "ja" and manifest["theme_color"] == "#0172ad"
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        image = await client.get(icon["src"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(image.content)) as opened:
            assert f"{opened.width}x{opened.height}" == icon["sizes"]


async def test_favicon_and_touch_icons_exist(client: Any) -> None:
    favicon = await client.get("/favicon.ico")
    assert favicon.status_code == 200 and favicon.headers["content-type"] == "image/x-icon"
    with Image.open(io.BytesIO(favicon.content)) as ico:
        assert ico.format == "ICO"
    for path in ("/apple-touch-icon.png", "/apple-touch-icon-precomposed.png"):
        touch = await client.get(path)
        assert touch.status_code == 200
        with Image.open(io.BytesIO(touch.content)) as opened:
            assert opened.size == (180, 180)
            # iOS puts transparent touch icons on black: the icon is opaque.
            assert opened.convert("RGBA").getpixel((0, 0))[3] == 255
    assert (await client.get("/icons/nothing.png")).status_code == 404
    assert (await client.get("/icons/logo.png")).status_code == 404  # no logo uploaded yet


async def test_service_worker_caches_the_shell_and_only_the_card(client: Any) -> None:
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    script = response.text
    assert "__VERSION__" not in script and "__SHELL_FILES__" not in script
    shell = json.loads(re.search(r"var SHELL_FILES = (\[.*?\]);", script).group(1))
    assert "/offline" in shell
    # Every file the worker stores at install is really there (one 404 would fail the install).
    for url in shell:
        assert (await client.get(url)).status_code == 200, url
    # The only member page cached is the card.
    assert 'var CARD_PAGE = "/card";' in script


async def test_service_worker_version_follows_static_files_and_icons(client: Any, app_ctx: Any) -> None:
    before = re.search(r'var VERSION = "([^"]+)"', (await client.get("/sw.js")).text).group(1)
    await app_ctx.update_org({"theme_color": "#aa3300"})
    after = re.search(r'var VERSION = "([^"]+)"', (await client.get("/sw.js")).text).group(1)
    assert before != after
    assert before.split("-")[0] == after.split("-")[0] == app_ctx.templates.globals["static_version"]


async def test_offline_page_never_carries_the_member(client: Any, app_ctx: Any) -> None:
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    html = (await client.get("/offline")).text
    assert "オフラインです" in html
    assert "鈴木" not in html and "ログアウト" not in html
    assert "/card" in html


# --- the membership card ---------------------------------------------------------------------------


async def test_card_needs_login(client: Any) -> None:
    response = await client.get("/card", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/login")


async def test_card_shows_the_member_and_a_qr_code_that_verifies(client: Any, app_ctx: Any) -> None:
    member_id = await make_member(app_ctx, "001001")
    await membership.grant_tier(app_ctx, member_id, "members", ends_on=date(2027, 3, 31), source="test")
    await login(client, "001001")
    html = await _card_html(client)
    text = visible_text(html)
    assert "鈴木 太郎 様" in text and "001001" in text
    assert "2027年3月31日(水)まで" in text
    assert "<svg" in html and "表示の更新" in text
    path = _verify_path(html)
    assert f"{app_ctx.settings.base_url.rstrip('/')}{path}" in html

    client.cookies.clear()  # the staff at the door are not logged in
    checked = await client.get(path)
    assert checked.status_code == 200
    page = visible_text(checked.text)
    assert _status(checked.text) == "有効"
    assert "鈴木 太郎 様" in page and "「有料会員」プラン" in page
    # Only validity, the name and the tier: no member number, no e-mail address.
    assert "001001" not in page and "example.jp" not in page
    assert 'content="noindex, nofollow"' in checked.text


async def test_free_member_card_has_no_end_date(client: Any, app_ctx: Any) -> None:
    await make_member(app_ctx, "001002")
    await login(client, "001002")
    text = visible_text(await _card_html(client))
    assert "期限はありません" in text


async def test_verify_refuses_closed_expired_reissued_and_forged_cards(
    client: Any, app_ctx: Any, clock: Any
) -> None:
    admin_client_member = await make_member(app_ctx, "001003")
    await login(client, "001003")
    first = _verify_path(await _card_html(client))

    # Reissued: the earlier QR code is revoked, the new one works.
    response = await post_form(client, "/card/reissue", {}, follow_redirects=False)
    assert response.status_code == 303
    second = _verify_path(await _card_html(client))
    assert second != first
    revoked = (await client.get(first)).text
    assert _status(revoked) == "無効" and "再発行" in visible_text(revoked)
    assert _status((await client.get(second)).text) == "有効"

    # Expired: the code's validity has passed (the card refreshes it whenever it is opened online).
    clock.advance(TOKEN_VALID + timedelta(minutes=1))
    expired = (await client.get(second)).text
    assert _status(expired) == "無効" and "有効期限が切れています" in expired and "鈴木" not in expired
    client.cookies.clear()
    await login(client, "001003")  # a month later the session has ended too
    fresh = _verify_path(await _card_html(client))

    # Forged or mangled tokens.
    client.cookies.clear()
    forged = fresh.removeprefix("/verify/").rsplit(".", 1)[0] + ".AAAA"
    for token in ("x", forged, "ａｂｃ", "%00", "9" * 150, "WzEsMCwxXQ"):
        page = await client.get(f"/verify/{token}")
        assert page.status_code == 200, token
        assert _status(page.text) == "無効" and "鈴木" not in page.text

    # Closed: no personal data, 無効.
    admin_id = await make_member(app_ctx, "900001", role="admin")
    assert await account_closure.close_account(app_ctx, admin_client_member, admin_id=admin_id)
    closed = (await client.get(fresh)).text
    assert _status(closed) == "無効" and "鈴木" not in closed


async def test_verify_is_rate_limited(client: Any, app_ctx: Any) -> None:
    for _ in range(VERIFY_LIMIT.attempts):
        assert (await client.get("/verify/nothing")).status_code == 200
    limited = await client.get("/verify/nothing")
    assert limited.status_code == 429
    assert "しばらく時間をおいて" in visible_text(limited.text)


async def test_reissue_needs_csrf(client: Any, app_ctx: Any) -> None:
    await make_member(app_ctx, "001004")
    await login(client, "001004")
    response = await client.post("/card/reissue", data={})
    assert response.status_code == 403


# --- the console: logo and colour -------------------------------------------------------------------


async def test_admin_uploads_a_logo_and_the_icons_follow(client: Any, app_ctx: Any) -> None:
    admin_id = await login_admin(client, app_ctx)
    page = await client.get("/admin/app")
    assert page.status_code == 200 and "アプリとロゴ" in page.text
    before = (await client.get("/icons/icon-192.png")).content

    token = client.cookies.get("tsudoi_csrf")
    response = await client.post(
        "/admin/app/logo",
        data={"_csrf_token": token},
        files={"logo": ("logo.png", _png(600, 300), "image/png")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert app_ctx.org.logo_version
    logo = await client.get("/icons/logo.png")
    with Image.open(io.BytesIO(logo.content)) as opened:
        assert opened.size == (512, 512)  # padded to a square
    after = (await client.get("/icons/icon-192.png")).content
    assert after != before
    assert await audit_queries.events(app_ctx.db, "app.logo_updated")

    # The card shows it.
    await make_member(app_ctx, "001005")
    client.cookies.clear()
    await login(client, "001005")
    assert "/icons/logo.png?v=" in await _card_html(client)

    client.cookies.clear()
    await login_admin(client, app_ctx)
    response = await post_form(client, "/admin/app/logo/delete", {}, follow_redirects=False)
    assert response.status_code == 303 and not app_ctx.org.logo_version
    assert (await client.get("/icons/logo.png")).status_code == 404
    assert admin_id


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (b"not an image at all", "画像として読み込めませんでした"),
        (_png(40, 40), "画像が小さすぎます"),
        (b"GIF89a" + b"\x00" * 20, "画像として読み込めませんでした"),
    ],
)
async def test_bad_logo_uploads_get_a_message(client: Any, app_ctx: Any, upload: bytes, message: str) -> None:
    await login_admin(client, app_ctx)
    token = client.cookies.get("tsudoi_csrf")
    response = await client.post(
        "/admin/app/logo", data={"_csrf_token": token}, files={"logo": ("logo.png", upload, "image/png")}
    )
    assert response.status_code == 422
    assert message in visible_text(response.text)
    assert not app_ctx.org.logo_version


async def test_theme_color_is_validated_and_used(client: Any, app_ctx: Any) -> None:
    await login_admin(client, app_ctx)
    bad = await post_form(client, "/admin/app/color", {"theme_color": "#12345g;}"})
    assert bad.status_code == 422
    assert "16進数6桁" in visible_text(bad.text)
    assert 'value="#12345g;}"' in bad.text  # what was typed comes back
    ok = await post_form(client, "/admin/app/color", {"theme_color": "#AA3300"}, follow_redirects=False)
    assert ok.status_code == 303
    assert app_ctx.org.theme_color == "#aa3300"
    manifest = json.loads((await client.get("/manifest.webmanifest")).content)
    assert manifest["theme_color"] == "#aa3300"
    assert "--tsudoi-theme: #aa3300" in (await client.get("/icons/theme.css")).text


async def test_app_console_is_admin_only(client: Any, app_ctx: Any) -> None:
    await make_member(app_ctx, "001006")
    await login(client, "001006")
    assert (await client.get("/admin/app")).status_code in (403, 404)
