"""First start: the one-time setup page behind the token from the server log, then gone for good."""

from __future__ import annotations

import logging

from db import members as member_queries
from services import setup
from tests.helpers import login, login_admin, make_member, post_form

GOOD = {
    "org_name": "一般社団法人 日本つどい学会",
    "contact_email": "office@tsudoi.example.jp",
    "base_url": "https://portal.example.jp",
    "member_number": "900001",
    "family_name": "事務局",
    "given_name": "管理者",
    "email": "admin@tsudoi.example.jp",
    "password": "Kanri2026x",
    "password_confirm": "Kanri2026x",
}


async def test_empty_database_prints_the_setup_url_with_its_token(app_ctx, caplog):
    caplog.set_level(logging.WARNING, logger="tsudoi.setup")
    token = await setup.announce(app_ctx)
    assert token and f"/setup?token={token}" in caplog.text
    assert app_ctx.setup_token == token


async def test_setup_creates_the_admin_and_org_settings_then_is_gone(client, app_ctx):
    token = app_ctx.setup_token
    page = await client.get(f"/setup?token={token}")
    assert page.status_code == 200 and f'value="{token}"' in page.text
    response = await post_form(client, "/setup", {**GOOD, "setup_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/mfa/enrol?next=/admin"
    admin = await member_queries.get_by_number(app_ctx.db, "900001")
    assert admin["role"] == "admin" and admin["must_change_password"] == 0
    assert app_ctx.org.org_name == GOOD["org_name"] and app_ctx.org.contact_email == GOOD["contact_email"]
    assert app_ctx.settings.base_url == "https://portal.example.jp"
    enrol = await client.get("/mfa/enrol?next=/admin")
    assert enrol.status_code == 200  # logged in as the new admin, on to the second factor
    assert (await client.get("/setup")).status_code == 404
    assert (await post_form(client, "/setup", {**GOOD, "setup_token": token})).status_code == 404
    assert await setup.announce(app_ctx) is None


async def test_wrong_token_and_bad_fields_are_refused_with_every_value_kept(client, app_ctx):
    bad = {
        **GOOD,
        "setup_token": "guess",
        "contact_email": "nope",
        "base_url": "portal",
        "password": "short",
        "password_confirm": "short",
        "family_name": "髙",
    }
    response = await post_form(client, "/setup", bad)
    assert response.status_code == 422
    for message in ("トークンが正しくありません", "メールアドレス", "公開URL", "文字以上", "「髙」"):
        assert message in response.text, message
    assert 'value="portal"' in response.text and "short" not in response.text
    mismatch = {**GOOD, "setup_token": app_ctx.setup_token, "password_confirm": "Kanri2026y"}
    response = await post_form(client, "/setup", mismatch)
    assert "確認用のパスワードが一致しません" in response.text
    assert await member_queries.count(app_ctx.db) == 0


async def test_setup_is_not_served_once_an_admin_exists(client, app_ctx):
    await make_member(app_ctx, "900001", role="admin")
    assert (await client.get("/setup")).status_code == 404
    await login_admin(client, app_ctx)
    assert (await client.get("/setup?token=x")).status_code == 404


async def test_setup_stays_closed_even_if_the_admin_is_later_removed(client, app_ctx):
    token = app_ctx.setup_token
    await post_form(client, "/setup", {**GOOD, "setup_token": token})
    await app_ctx.db.execute("UPDATE members SET role = 'member'")
    assert (await client.get("/setup")).status_code == 404
    assert (await login(client, "900001", GOOD["password"])).status_code == 303
