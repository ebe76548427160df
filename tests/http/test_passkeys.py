"""Passkeys over HTTP with a software authenticator: adding, signing in, the server's rules, bad input."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from db import passkeys as passkey_queries
from db import sign_ins as sign_in_queries
from services.account_closure import close_account
from services.passkeys import EXPIRED, UNKNOWN_PASSKEY
from tests.helpers import (
    DEFAULT_PASSWORD,
    csrf_token,
    enrol_admin,
    free_port,
    fresh_admin_code,
    login,
    make_member,
    post_form,
    test_settings,
    visible_text,
)
from tests.live_server import LiveServer
from tests.webauthn_helpers import SoftAuthenticator, add_passkey, b64url, passkey_login, post_json

ORIGIN = "http://testserver.local"


@pytest.fixture
def phone() -> SoftAuthenticator:
    return SoftAuthenticator(ORIGIN)


async def member_with_passkey(client, app_ctx, phone, number="001001"):
    member_id = await make_member(app_ctx, number)
    assert (await login(client, number)).status_code == 303
    await add_passkey(client, phone)
    await post_form(client, "/logout", {})
    return member_id


async def test_creation_options_name_the_site_and_require_a_verified_discoverable_passkey(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    response = await post_json(client, "/passkeys/register/options", {"name": "iPhone"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    options = response.json()
    assert options["rp"]["id"] == "testserver.local"
    assert len(options["challenge"]) >= 40
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["user"]["name"] == "001001"
    assert "001001" not in options["user"]["id"]  # a random handle, not the member number


async def test_options_need_the_csrf_token_and_a_signed_in_member(client, app_ctx):
    await make_member(app_ctx, "001001")
    assert (await post_json(client, "/passkeys/register/options", {})).status_code == 401
    assert (await post_json(client, "/passkeys/login/options", {"purpose": "reauth"})).status_code == 401
    await login(client, "001001")
    assert (await post_json(client, "/passkeys/register/options", {}, csrf=False)).status_code == 403


async def test_member_adds_a_passkey_signs_out_and_signs_in_with_it(client, app_ctx, phone):
    member_id = await member_with_passkey(client, app_ctx, phone)
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 303
    await client.get("/login")
    response = await passkey_login(client, phone)
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "redirect": "/mypage"}
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 200
    [passkey] = await passkey_queries.for_member(app_ctx.db, member_id)
    assert passkey["name"] == "iPhone" and passkey["last_used_at"] is not None
    attempts = await sign_in_queries.recent_attempts(app_ctx.db, member_id)
    assert [(a["method"], a["succeeded"]) for a in attempts[:2]] == [("passkey", 1), ("password", 1)]
    page = visible_text((await client.get("/settings/security")).text)
    assert "iPhone" in page and "最後に使った日時" in page


async def test_a_passkey_from_another_site_is_refused(client, app_ctx, phone):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    options = (await post_json(client, "/passkeys/register/options", {"name": "x"})).json()
    credential = phone.create(options, origin="https://evil.example")
    response = await post_json(client, "/passkeys/register/verify", {"name": "x", "credential": credential})
    assert response.status_code == 400
    assert await passkey_queries.count_for_member(app_ctx.db, 1) == 0

    await add_passkey(client, phone)
    await post_form(client, "/logout", {})
    options = (await post_json(client, "/passkeys/login/options", {"purpose": "login"})).json()
    assertion = phone.get(options, origin="https://evil.example")
    response = await post_json(
        client, "/passkeys/login/verify", {"purpose": "login", "credential": assertion}
    )
    assert response.status_code == 400
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 303


async def test_an_expired_challenge_is_refused(client, app_ctx, phone, clock):
    await member_with_passkey(client, app_ctx, phone)
    options = (await post_json(client, "/passkeys/login/options", {"purpose": "login"})).json()
    clock.advance(timedelta(minutes=5, seconds=1))
    response = await post_json(
        client, "/passkeys/login/verify", {"purpose": "login", "credential": phone.get(options)}
    )
    assert response.status_code == 400
    assert response.json()["error"] == EXPIRED


async def test_a_replayed_assertion_is_refused(client, app_ctx, phone):
    await member_with_passkey(client, app_ctx, phone)
    options = (await post_json(client, "/passkeys/login/options", {"purpose": "login"})).json()
    assertion = phone.get(options)
    first = await post_json(client, "/passkeys/login/verify", {"purpose": "login", "credential": assertion})
    assert first.status_code == 200
    await post_form(client, "/logout", {})
    again = await post_json(client, "/passkeys/login/verify", {"purpose": "login", "credential": assertion})
    assert again.status_code == 400
    assert again.json()["error"] == EXPIRED
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 303


async def test_a_challenge_for_adding_cannot_sign_in(client, app_ctx, phone):
    await member_with_passkey(client, app_ctx, phone)
    await login(client, "001001")
    options = (await post_json(client, "/passkeys/register/options", {"name": "x"})).json()
    await post_form(client, "/logout", {})
    response = await post_json(
        client, "/passkeys/login/verify", {"purpose": "login", "credential": phone.get(options)}
    )
    assert response.status_code == 400


async def test_a_lower_signature_counter_is_refused(client, app_ctx, phone):
    await member_with_passkey(client, app_ctx, phone)
    assert (await passkey_login(client, phone)).status_code == 200  # counter 1
    assert (await passkey_login(client, phone)).status_code == 200  # counter 2
    await post_form(client, "/logout", {})
    options = (await post_json(client, "/passkeys/login/options", {"purpose": "login"})).json()
    cloned = phone.get(options, sign_count=2)  # a copied key that is behind
    response = await post_json(client, "/passkeys/login/verify", {"purpose": "login", "credential": cloned})
    assert response.status_code == 400
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 303


async def test_user_verification_is_required(client, app_ctx, phone):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    options = (await post_json(client, "/passkeys/register/options", {"name": "x"})).json()
    credential = phone.create(options, user_verified=False)
    response = await post_json(client, "/passkeys/register/verify", {"name": "x", "credential": credential})
    assert response.status_code == 400
    await add_passkey(client, phone)
    await post_form(client, "/logout", {})
    options = (await post_json(client, "/passkeys/login/options", {"purpose": "login"})).json()
    assertion = phone.get(
        options, next(iter(phone.keys)) if len(phone.keys) == 1 else None, user_verified=False
    )
    response = await post_json(
        client, "/passkeys/login/verify", {"purpose": "login", "credential": assertion}
    )
    assert response.status_code == 400


async def test_a_removed_passkey_no_longer_signs_in(client, app_ctx, phone):
    member_id = await member_with_passkey(client, app_ctx, phone)
    await login(client, "001001")
    [passkey] = await passkey_queries.for_member(app_ctx.db, member_id)
    response = await post_form(
        client, f"/settings/security/passkeys/{passkey['id']}/delete", {}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/settings/security")
    assert await passkey_queries.count_for_member(app_ctx.db, member_id) == 0
    await post_form(client, "/logout", {})
    response = await passkey_login(client, phone)
    assert response.status_code == 400
    assert response.json()["error"] == UNKNOWN_PASSKEY


async def test_removing_a_passkey_asks_for_a_fresh_sign_in(client, app_ctx, phone, clock):
    member_id = await member_with_passkey(client, app_ctx, phone)
    await login(client, "001001")
    clock.advance(timedelta(minutes=6))
    [passkey] = await passkey_queries.for_member(app_ctx.db, member_id)
    url = f"/settings/security/passkeys/{passkey['id']}/delete"
    response = await post_form(client, url, {}, follow_redirects=False)
    assert response.headers["location"].startswith("/settings/security/confirm")
    assert await passkey_queries.count_for_member(app_ctx.db, member_id) == 1
    wrong = await post_form(
        client, "/settings/security/confirm", {"password": "Wrong12345", "next": "/settings/security"}
    )
    assert wrong.status_code == 422 and "パスワードが正しくありません" in wrong.text
    await post_form(
        client, "/settings/security/confirm", {"password": DEFAULT_PASSWORD, "next": "/settings/security"}
    )
    assert (await post_form(client, url, {}, follow_redirects=False)).status_code == 303
    assert await passkey_queries.count_for_member(app_ctx.db, member_id) == 0


async def test_a_passkey_confirms_the_fresh_sign_in(client, app_ctx, phone, clock):
    member_id = await member_with_passkey(client, app_ctx, phone)
    await login(client, "001001")
    clock.advance(timedelta(minutes=6))
    response = await passkey_login(client, phone, purpose="reauth", next="/settings/security")
    assert response.json() == {"ok": True, "redirect": "/settings/security"}
    [passkey] = await passkey_queries.for_member(app_ctx.db, member_id)
    response = await post_form(
        client, f"/settings/security/passkeys/{passkey['id']}/delete", {}, follow_redirects=False
    )
    assert response.headers["location"] == "/settings/security#passkeys"


async def test_another_members_passkey_is_neither_removable_nor_usable_for_them(client, app_ctx, phone):
    other_id = await member_with_passkey(client, app_ctx, phone, "001002")
    [theirs] = await passkey_queries.for_member(app_ctx.db, other_id)
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    response = await post_form(
        client, f"/settings/security/passkeys/{theirs['id']}/delete", {}, follow_redirects=False
    )
    assert response.status_code == 404
    assert await passkey_queries.count_for_member(app_ctx.db, other_id) == 1
    # Confirming as 001001 with 001002's passkey: refused (the credential is bound to its member).
    mine = SoftAuthenticator(ORIGIN)
    await add_passkey(client, mine)
    options = (await post_json(client, "/passkeys/login/options", {"purpose": "reauth"})).json()
    response = await post_json(
        client, "/passkeys/login/verify", {"purpose": "reauth", "credential": phone.get(options)}
    )
    assert response.status_code == 400
    assert response.json()["error"] == UNKNOWN_PASSKEY


async def test_an_assertion_naming_another_members_handle_is_refused(client, app_ctx, phone):
    await member_with_passkey(client, app_ctx, phone)
    options = (await post_json(client, "/passkeys/login/options", {"purpose": "login"})).json()
    assertion = phone.get(options)
    assertion["response"]["userHandle"] = b64url(b"someone else")
    response = await post_json(
        client, "/passkeys/login/verify", {"purpose": "login", "credential": assertion}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        "[1, 2, 3]",
        '{"purpose": "login"}',
        '{"purpose": "login", "credential": "x"}',
        '{"purpose": "login", "credential": {"id": "\\u0000", "rawId": "\\u0000", "response": {}}}',
        '{"purpose": "login", "credential": {"id": "あ", "rawId": "あ", "response": {"clientDataJSON": "あ"}}}',
        '{"purpose": "login", "credential": {"id": "AA", "rawId": "AA", "response": {"clientDataJSON": "e30"}}}',
        '{"purpose": 99999999999999999999999, "credential": {}}',
        '{"purpose": "elevate"}',
    ],
)
async def test_garbage_is_a_clear_400_never_a_500(client, app_ctx, body):
    await client.get("/login")
    headers = {"x-csrftoken": await csrf_token(client), "content-type": "application/json"}
    response = await client.post("/passkeys/login/verify", content=body.encode(), headers=headers)
    assert response.status_code == 400
    assert "error" in response.json()


async def test_garbage_registration_is_refused(client, app_ctx, phone):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    options = (await post_json(client, "/passkeys/register/options", {"name": "x"})).json()
    credential = phone.create(options)
    credential["response"]["attestationObject"] = b64url(b"\xff" * 50)
    response = await post_json(client, "/passkeys/register/verify", {"name": "x", "credential": credential})
    assert response.status_code == 400
    response = await post_json(
        client, "/passkeys/register/verify", {"name": "x" * 51, "credential": credential}
    )
    assert response.status_code == 422 and response.json()["field"] == "name"


async def test_a_locked_account_cannot_sign_in_with_a_passkey(client, app_ctx, phone):
    await member_with_passkey(client, app_ctx, phone)
    for _ in range(6):
        await login(client, "001001", "Wrong12345")
    response = await passkey_login(client, phone)
    assert response.status_code == 400
    assert "ロックされています" in response.json()["error"]


async def test_closing_the_account_removes_its_passkeys(client, app_ctx, phone):
    member_id = await member_with_passkey(client, app_ctx, phone)
    admin_id = await make_member(app_ctx, "900001", role="admin")
    assert await close_account(app_ctx, member_id, admin_id=admin_id)
    assert await passkey_queries.count_for_member(app_ctx.db, member_id) == 0
    assert await sign_in_queries.recent_attempts(app_ctx.db, member_id) == []
    response = await passkey_login(client, phone)
    assert response.status_code == 400


async def test_an_initial_password_is_changed_first_even_after_a_passkey(client, app_ctx, phone):
    member_id = await member_with_passkey(client, app_ctx, phone)
    await app_ctx.db.execute("UPDATE members SET must_change_password = 1 WHERE id = ?", (member_id,))
    response = await passkey_login(client, phone)
    assert response.json()["redirect"] == "/password/change"
    assert (
        (await client.get("/mypage", follow_redirects=False))
        .headers["location"]
        .startswith("/password/change")
    )


async def test_an_admin_signs_in_with_a_passkey_alone(client, app_ctx, phone):
    admin_id = await make_member(app_ctx, "900001", role="admin")
    await enrol_admin(app_ctx, admin_id, "900001")
    await login(client, "900001")
    await post_form(client, "/mfa", {"code": await fresh_admin_code(app_ctx, admin_id), "next": "/admin"})
    await add_passkey(client, phone)
    await post_form(client, "/logout", {})
    response = await passkey_login(client, phone)
    assert response.json()["redirect"] == "/admin"
    assert (await client.get("/admin", follow_redirects=False)).status_code == 200


async def test_an_admin_uses_a_passkey_as_the_second_factor(client, app_ctx, phone):
    admin_id = await make_member(app_ctx, "900001", role="admin")
    await enrol_admin(app_ctx, admin_id, "900001")
    await login(client, "900001")
    await post_form(client, "/mfa", {"code": await fresh_admin_code(app_ctx, admin_id), "next": "/admin"})
    await add_passkey(client, phone)
    await post_form(client, "/logout", {})
    response = await login(client, "900001")
    assert response.headers["location"].startswith("/mfa")
    page = await client.get("/mfa?next=/admin")
    assert "パスキーで確認する" in page.text
    assert (await client.get("/admin", follow_redirects=False)).status_code != 200
    response = await passkey_login(client, phone, purpose="mfa", next="/admin/members")
    assert response.json() == {"ok": True, "redirect": "/admin/members"}
    assert (await client.get("/admin", follow_redirects=False)).status_code == 200


async def test_a_password_sign_in_offers_a_passkey_until_declined(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    page = await client.get("/mypage")
    assert "data-passkey-offer" in page.text and "今後表示しない" in page.text
    await post_form(client, "/passkeys/offer/later", {"next": "/mypage"})
    assert "data-passkey-offer" not in (await client.get("/mypage")).text
    await post_form(client, "/logout", {})
    await login(client, "001001")
    assert "data-passkey-offer" in (await client.get("/mypage")).text
    response = await post_form(client, "/passkeys/offer/never", {"next": "/mypage"}, follow_redirects=False)
    assert response.headers["location"] == "/mypage"
    await post_form(client, "/logout", {})
    await login(client, "001001")
    assert "data-passkey-offer" not in (await client.get("/mypage")).text


async def test_login_page_offers_passkeys_and_autofill(client):
    page = (await client.get("/login")).text
    assert 'autocomplete="username webauthn"' in page
    assert "パスキーでログイン" in page
    assert "/static/js/passkeys.js" in page


@pytest.fixture
def live(tmp_path, clock):
    """The app on a real port, so requests truly run in parallel (the test client serializes them)."""
    port = free_port()
    server = LiveServer(test_settings(tmp_path, base_url=f"http://localhost:{port}"), port, clock)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_one_assertion_sent_twenty_times_at_once_signs_in_once(live):
    live.run(lambda ctx: make_member(ctx, "001001"))
    phone = SoftAuthenticator(live.url)
    async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
        await login(client, "001001")
        await add_passkey(client, phone)
        await post_form(client, "/logout", {})
        options = (await post_json(client, "/passkeys/login/options", {"purpose": "login"})).json()
        body = {"purpose": "login", "credential": phone.get(options)}
        headers = {"x-csrftoken": await csrf_token(client)}
        responses = await asyncio.gather(
            *(client.post("/passkeys/login/verify", json=body, headers=headers) for _ in range(20))
        )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [400] * 19, codes
    sessions = live.run(lambda ctx: ctx.db.fetchval("SELECT count(*) FROM sessions"))
    assert sessions == 1
