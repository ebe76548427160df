"""Console accounts (管理者・スタッフ): an admin creates 事務局スタッフ or a second admin with an initial
password shown once; the new account changes it and enrols TOTP at first login; staff open only their
screens, never console accounts; removing an account ends its sessions; the audit log names who acted."""

from __future__ import annotations

import re

import pyotp

from db import audit
from db import members as member_queries
from routes.guards import STAFF_REFUSED_MESSAGE
from services import admin_mfa
from tests.helpers import login, login_admin, make_member, post_form, visible_text

NEW_PASSWORD = "Hikari2027"


async def create_account(client, role="staff", number="900101", **extra):
    data = {
        "role": role,
        "member_number": number,
        "family_name": "佐藤",
        "given_name": "花子",
        "email": f"staff{number}@example.jp",
        **extra,
    }
    return await post_form(client, "/admin/staff", data)


async def first_login(client, app_ctx, clock, number, password):
    """Initial password → change → enrol the authenticator → console; returns the landing response."""
    response = await login(client, number, password)
    assert response.headers["location"] == "/password/change"
    response = await post_form(
        client,
        "/password/change",
        {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/mfa?next=/admin"
    response = await client.get("/mfa?next=/admin", follow_redirects=False)
    assert response.headers["location"].startswith("/mfa/enrol")
    page = await client.get(response.headers["location"])
    assert page.status_code == 200
    member = await member_queries.get_by_number(app_ctx.db, number)
    secret = await admin_mfa.secret_of(app_ctx, int(member["id"]))
    code = pyotp.TOTP(secret).at(clock.now())
    done = await post_form(client, "/mfa/enrol", {"code": code, "next": "/admin"})
    assert done.status_code == 200
    assert "リカバリーコード" in done.text
    return member


async def test_admin_creates_staff_who_sets_password_and_totp_then_sees_only_their_screens(
    client, app, app_ctx, clock
):
    admin_id = await login_admin(client, app_ctx)
    page = await client.get("/admin/staff")
    assert page.status_code == 200
    assert 'value="900002"' in page.text  # the next console number is suggested
    created = await create_account(client)
    assert created.status_code == 200
    password = re.search(r'data-testid="new-password">([^<]+)<', created.text).group(1)
    assert "この画面は一度しか表示されません" in created.text
    assert created.headers["cache-control"] == "no-store"
    member = await member_queries.get_by_number(app_ctx.db, "900101")
    assert member["role"] == "admin" and member["staff"] == 1 and member["must_change_password"] == 1
    assert member["password_hash"] and password not in member["password_hash"]
    (entry,) = await audit.events(app_ctx.db, "console.account_created")
    assert entry["actor_member_id"] == admin_id and entry["subject_member_id"] == member["id"]
    # The list shows the new account; the password is never shown again.
    listing = await client.get("/admin/staff")
    assert "佐藤 花子（900101）" in visible_text(listing.text) and password not in listing.text

    await client.post("/logout", data={"_csrf_token": client.cookies.get("tsudoi_csrf")})
    client.cookies.clear()
    await first_login(client, app_ctx, clock, "900101", password)
    dashboard = await client.get("/admin")
    assert dashboard.status_code == 200
    text = visible_text(dashboard.text)
    assert "公開前チェック" not in text and "最新のバックアップ" not in text
    nav = re.search(r'aria-label="管理メニュー".*?</nav>', dashboard.text, flags=re.S)
    menu = nav.group(0) if nav else dashboard.text
    assert "/admin/members" in menu and "/admin/inbox" in menu
    for hidden in ("/admin/settings", "/admin/backup", "/admin/audit", "/admin/staff", "/admin/payments"):
        assert f'href="{hidden}"' not in dashboard.text, hidden
    assert (await client.get("/admin/members")).status_code == 200
    refused = await client.get("/admin/settings")
    assert refused.status_code == 403
    assert STAFF_REFUSED_MESSAGE in refused.text


async def test_staff_edit_members_but_never_console_accounts_and_the_log_names_them(client, app_ctx):
    admin_id = await make_member(app_ctx, "900001", role="admin", family_name="事務局", given_name="管理者")
    member_id = await make_member(app_ctx, "001001")
    staff_id = await make_member(app_ctx, "900101", role="admin", family_name="佐藤", given_name="花子")
    await app_ctx.db.execute("UPDATE members SET staff = 1 WHERE id = ?", (staff_id,))
    await login_admin(client, app_ctx, "900101")
    listing = await client.get("/admin/members?status=all")
    assert "001001" in listing.text and "900001" not in listing.text
    assert (await client.get(f"/admin/members/{admin_id}")).status_code == 404
    assert (await post_form(client, f"/admin/members/{admin_id}/initial-password", {})).status_code == 404
    assert (await client.get(f"/admin/members/{member_id}")).status_code == 200
    response = await post_form(client, f"/admin/members/{member_id}/unlock", {}, follow_redirects=False)
    assert response.status_code == 303
    (entry,) = await audit.events(app_ctx.db, "account.unlocked")
    assert entry["actor_member_id"] == staff_id


async def test_removing_an_account_ends_its_sessions_and_its_login(client, app, app_ctx, clock):
    import httpx

    admin_id = await login_admin(client, app_ctx)
    staff_id = await make_member(app_ctx, "900101", role="admin", family_name="佐藤", given_name="花子")
    await app_ctx.db.execute("UPDATE members SET staff = 1 WHERE id = ?", (staff_id,))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
    ) as other:
        await login_admin(other, app_ctx, "900101")
        assert (await other.get("/admin/members")).status_code == 200

        # One's own account cannot be removed (so an admin always remains).
        assert (await post_form(client, f"/admin/staff/{admin_id}/remove", {})).status_code == 404
        removed = await post_form(client, f"/admin/staff/{staff_id}/remove", {}, follow_redirects=False)
        assert removed.status_code == 303
        again = await post_form(client, f"/admin/staff/{staff_id}/remove", {})
        assert again.status_code == 404

        response = await other.get("/admin/members", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    client.cookies.clear()
    response = await login(client, "900101")
    assert response.status_code == 422  # refused like a wrong password
    (entry,) = await audit.events(app_ctx.db, "console.account_removed")
    assert entry["actor_member_id"] == admin_id and entry["subject_member_id"] == staff_id


async def test_a_second_admin_made_in_the_console_opens_every_screen(client, app_ctx, clock):
    await login_admin(client, app_ctx)
    created = await create_account(client, role="admin", number="900002")
    password = re.search(r'data-testid="new-password">([^<]+)<', created.text).group(1)
    client.cookies.clear()
    member = await first_login(client, app_ctx, clock, "900002", password)
    assert member["staff"] == 0
    for path in ("/admin/settings", "/admin/audit", "/admin/staff", "/admin/backup"):
        assert (await client.get(path)).status_code == 200, path


async def test_the_form_explains_every_mistake_and_keeps_what_was_typed(client, app_ctx):
    await login_admin(client, app_ctx)
    response = await create_account(
        client, role="boss", number="90０00１", family_name="", email="ｔａｒｏ＠", given_name="花子\x00"
    )
    assert response.status_code == 422
    text = visible_text(response.text)
    assert "役割を選んでください。" in text
    assert "ログインID 900001 はすでに使われています。" in text
    assert "姓を入力してください。" in text
    assert "メールアドレスの形式が正しくありません" in text
    assert 'value="ｔａｒｏ＠"' in response.text
    huge = await create_account(client, number="9" * 40, family_name="山" * 31)
    assert huge.status_code == 422
    assert "ログインIDは数字で入力してください。" in visible_text(huge.text)
    assert "姓は30文字以内で入力してください。" in visible_text(huge.text)


async def test_staff_cannot_manage_accounts(client, app_ctx):
    staff_id = await make_member(app_ctx, "900101", role="admin")
    await app_ctx.db.execute("UPDATE members SET staff = 1 WHERE id = ?", (staff_id,))
    await login_admin(client, app_ctx, "900101")
    response = await create_account(client, role="admin", number="900102")
    assert response.status_code == 403
    assert await member_queries.get_by_number(app_ctx.db, "900102") is None


async def test_recovery_codes_can_be_printed_or_saved_as_a_text_file(client, app_ctx, clock):
    from urllib.parse import unquote

    await make_member(app_ctx, "900001", role="admin", family_name="事務局", given_name="管理者")
    await login(client, "900001")
    await client.get("/mfa/enrol?next=/admin")
    member = await member_queries.get_by_number(app_ctx.db, "900001")
    secret = await admin_mfa.secret_of(app_ctx, int(member["id"]))
    done = await post_form(
        client, "/mfa/enrol", {"code": pyotp.TOTP(secret).at(clock.now()), "next": "/admin"}
    )
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.text)
    assert len(codes) == admin_mfa.RECOVERY_CODE_COUNT
    assert "data-print" in done.text
    href = re.search(
        r'href="data:text/plain;charset=utf-8,([^"]+)" download="recovery-codes-900001.txt"', done.text
    )
    assert href, done.text
    saved = unquote(href.group(1))
    assert all(code in saved for code in codes) and "リカバリーコード（900001）" in saved


async def test_staff_pages_link_only_to_screens_staff_can_open(client, app, app_ctx):
    staff_id = await make_member(app_ctx, "900101", role="admin", family_name="佐藤", given_name="花子")
    await app_ctx.db.execute("UPDATE members SET staff = 1 WHERE id = ?", (staff_id,))
    member_id = await make_member(app_ctx, "001001")
    await login_admin(client, app_ctx, "900101")
    closed = (
        "/admin/import",
        "/admin/closures",
        "/admin/audit",
        "/admin/settings",
        "/admin/fees",
        "/admin/backup",
    )
    for path in ("/admin", "/admin/members", f"/admin/members/{member_id}", "/admin/letters", "/admin/inbox"):
        page = await client.get(path)
        assert page.status_code == 200, path
        for target in closed:
            assert f'href="{target}' not in page.text, (path, target)
