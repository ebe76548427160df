"""Admins' second factor: enrolment with a QR code, the code step after the password, recovery codes."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import zxingcpp

from db import audit
from services import admin_mfa
from tests.helpers import (
    fresh_admin_code,
    login,
    login_admin,
    make_member,
    post_form,
    visible_text,
)
from tests.unit.test_qr import rasterize_svg


async def make_admin(app_ctx, number="900001"):
    return await make_member(app_ctx, number, role="admin", family_name="事務局", given_name="管理者")


async def test_admin_without_enrolment_is_sent_to_enrol_after_the_password(client, app_ctx):
    await make_admin(app_ctx)
    response = await login(client, "900001")
    assert response.status_code == 303
    assert response.headers["location"] == "/mfa?next=/admin"
    response = await client.get("/mfa?next=/admin", follow_redirects=False)
    assert response.headers["location"] == "/mfa/enrol?next=/admin"
    # Not yet past the second factor: the console is out of reach.
    response = await client.get("/admin", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/mfa")


async def test_enrolment_qr_decodes_to_an_otpauth_uri_and_a_code_confirms_it(client, app_ctx, clock):
    admin_id = await make_admin(app_ctx)
    await login(client, "900001")
    page = await client.get("/mfa/enrol?next=/admin")
    assert page.status_code == 200
    svg = re.search(r"<svg.*?</svg>", page.text, flags=re.S).group(0)
    decoded = [r.text for r in zxingcpp.read_barcodes(rasterize_svg(svg))]
    assert len(decoded) == 1 and decoded[0].startswith("otpauth://totp/")
    secret = pyotp.parse_uri(decoded[0]).secret
    # Reloading shows the same key, so a code scanned a moment ago still works.
    again = await client.get("/mfa/enrol?next=/admin")
    assert re.search(r"<svg.*?</svg>", again.text, flags=re.S).group(0) == svg
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in page.text

    wrong = await post_form(client, "/mfa/enrol", {"code": "000000", "next": "/admin"})
    assert wrong.status_code == 422
    assert admin_mfa.CODE_INVALID_MESSAGE in wrong.text

    code = pyotp.TOTP(secret).at(clock.now())
    done = await post_form(client, "/mfa/enrol", {"code": code, "next": "/admin"})
    assert done.status_code == 200
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", done.text)
    assert len(codes) == 10
    assert "一度しか表示されません" in done.text
    assert (await client.get("/admin")).status_code == 200
    assert await admin_mfa.is_enrolled(app_ctx, admin_id)
    assert len(await audit.events(app_ctx.db, "admin.mfa_enrolled")) == 1


async def test_code_step_after_password_admits_to_the_console(client, app_ctx, clock):
    admin_id = await make_admin(app_ctx)
    secret = await enrolled_secret(app_ctx, admin_id)
    clock.advance(timedelta(minutes=1))
    response = await login(client, "900001")
    assert response.headers["location"] == "/mfa?next=/admin"
    page = await client.get("/mfa?next=/admin")
    assert 'autocomplete="one-time-code"' in page.text and 'inputmode="numeric"' in page.text
    code = pyotp.TOTP(secret).at(clock.now())
    response = await post_form(
        client, "/mfa", {"code": code, "next": "/admin/members"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/members"
    assert (await client.get("/admin")).status_code == 200


async def test_full_width_code_with_spaces_is_accepted(client, app_ctx, clock):
    admin_id = await make_admin(app_ctx)
    secret = await enrolled_secret(app_ctx, admin_id)
    clock.advance(timedelta(minutes=1))
    await login(client, "900001")
    code = pyotp.TOTP(secret).at(clock.now())
    typed = " ".join(chr(ord(c) + 0xFEE0) for c in code)
    response = await post_form(client, "/mfa", {"code": typed, "next": "/admin"}, follow_redirects=False)
    assert response.status_code == 303


async def test_a_code_is_never_accepted_twice(client, app_ctx, clock):
    admin_id = await make_admin(app_ctx)
    secret = await enrolled_secret(app_ctx, admin_id)
    clock.advance(timedelta(minutes=1))
    code = pyotp.TOTP(secret).at(clock.now())
    await login(client, "900001")
    assert (await post_form(client, "/mfa", {"code": code}, follow_redirects=False)).status_code == 303
    await login(client, "900001")
    replay = await post_form(client, "/mfa", {"code": code})
    assert replay.status_code == 422
    assert "すでに使われたコード" in replay.text
    assert (await client.get("/admin", follow_redirects=False)).status_code == 303


async def test_old_code_and_garbage_are_refused(client, app_ctx, clock):
    admin_id = await make_admin(app_ctx)
    secret = await enrolled_secret(app_ctx, admin_id)
    old_code = pyotp.TOTP(secret).at(clock.now())
    clock.advance(timedelta(minutes=5))
    await login(client, "900001")
    for code in (old_code, "abc", "1" * 5000, "１２３"):
        response = await post_form(client, "/mfa", {"code": code})
        assert response.status_code == 422
    empty = await post_form(client, "/mfa", {"code": ""})
    assert admin_mfa.CODE_REQUIRED_MESSAGE in empty.text
    assert len(await audit.events(app_ctx.db, "admin.mfa_failed")) == 4


async def test_recovery_code_works_once(client, app_ctx, clock):
    admin_id = await make_admin(app_ctx)
    await enrolled_secret(app_ctx, admin_id)
    codes = await admin_mfa.regenerate_recovery_codes(app_ctx, admin_id)
    await login(client, "900001")
    response = await post_form(
        client, "/mfa", {"code": codes[3].upper(), "next": "/admin"}, follow_redirects=False
    )
    assert response.status_code == 303
    page = await client.get("/admin")
    assert "リカバリーコードでログインしました。残りは 9 個です。" in visible_text(page.text)
    await login(client, "900001")
    again = await post_form(client, "/mfa", {"code": codes[3]})
    assert again.status_code == 422


async def test_too_many_wrong_codes_are_rate_limited(client, app_ctx, clock):
    admin_id = await make_admin(app_ctx)
    secret = await enrolled_secret(app_ctx, admin_id)
    clock.advance(timedelta(minutes=1))
    await login(client, "900001")
    for _ in range(admin_mfa.MFA_LIMIT.attempts):
        await post_form(client, "/mfa", {"code": "999999"})
    right = pyotp.TOTP(secret).at(clock.now())
    response = await post_form(client, "/mfa", {"code": right})
    assert response.status_code == 422
    assert "一時停止" in response.text


async def test_member_cannot_use_the_code_step(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    assert (await client.get("/mfa")).status_code == 403
    assert (await client.get("/mfa/enrol")).status_code == 403


async def test_login_admin_helper_works_twice_in_one_frozen_moment(client, app_ctx):
    await login_admin(client, app_ctx)
    await login_admin(client, app_ctx)
    await login_admin(client, app_ctx)
    assert (await client.get("/admin")).status_code == 200


async def test_security_page_renews_recovery_codes_and_switches_phone(client, app_ctx, clock):
    admin_id = await login_admin(client, app_ctx)
    page = await client.get("/admin/security")
    assert "未使用のリカバリーコードは 10 個" in visible_text(page.text)
    bad = await post_form(client, "/admin/security/recovery-codes", {"code": "123456"})
    assert bad.status_code == 422
    code = await fresh_admin_code(app_ctx, admin_id)
    renewed = await post_form(client, "/admin/security/recovery-codes", {"code": code})
    assert len(re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", renewed.text)) == 10
    clock.advance(timedelta(minutes=1))
    code = await fresh_admin_code(app_ctx, admin_id)
    switched = await post_form(client, "/admin/security/reset", {"code": code}, follow_redirects=False)
    assert switched.headers["location"] == "/mfa/enrol?next=/admin/security"
    assert not await admin_mfa.is_enrolled(app_ctx, admin_id)
    assert (await client.get("/admin", follow_redirects=False)).status_code == 303


async def enrolled_secret(app_ctx, admin_id):
    await admin_mfa.begin_enrolment(app_ctx, admin_id, "900001")
    secret = await admin_mfa.secret_of(app_ctx, admin_id)
    assert await admin_mfa.confirm_enrolment(
        app_ctx, admin_id, admin_mfa.code_for(secret, app_ctx.clock.now())
    )
    return secret


async def test_the_page_asked_for_keeps_its_query_through_the_code_step(client, app_ctx, clock):
    admin_id = await make_admin(app_ctx)
    await enrolled_secret(app_ctx, admin_id)
    clock.advance(timedelta(minutes=1))
    await login(client, "900001")
    response = await client.get("/admin/members?q=a&locked=1", follow_redirects=False)
    assert response.headers["location"] == "/mfa?next=/admin/members%3Fq%3Da%26locked%3D1"
    page = await client.get(response.headers["location"])
    assert 'name="next" value="/admin/members?q=a&amp;locked=1"' in page.text
    code = await fresh_admin_code(app_ctx, admin_id)
    done = await post_form(
        client, "/mfa", {"code": code, "next": "/admin/members?q=a&locked=1"}, follow_redirects=False
    )
    assert done.headers["location"] == "/admin/members?q=a&locked=1"
