"""Registering OpenID Connect clients: the console (secret shown once, bad input kept with a message,
removal ends the client's tokens, key rotation) and `litestar tsudoi add-oidc-client`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cli import tsudoi_cli
from db import audit
from db import oidc as queries
from services.oidc.provider import token_hash
from tests.helpers import login, login_admin, make_member, post_form, visible_text


async def test_admin_registers_a_client_and_sees_the_secret_once(client: Any, app_ctx: Any) -> None:
    await login_admin(client, app_ctx)
    page = await client.get("/admin/connect")
    assert "/.well-known/openid-configuration" in page.text
    response = await post_form(
        client,
        "/admin/connect/oidc",
        {
            "name": "会員フォーラム",
            "redirect_uris": "https://forum.example.jp/auth/callback\nhttps://forum.example.jp/cb2",
            "scopes": ["profile", "email"],
            "refresh_tokens": "1",
        },
    )
    assert response.status_code == 200
    client_id = re.search(r'id="new-client-id">([^<]+)<', response.text).group(1)
    secret = re.search(r'id="new-client-secret">([^<]+)<', response.text).group(1)
    row = await queries.client(app_ctx.db, client_id)
    assert row["name"] == "会員フォーラム" and row["scopes"] == "openid profile email"
    assert row["secret_hash"] == token_hash(secret) and secret not in str(dict(row))
    assert secret not in (await client.get("/admin/connect")).text  # once only
    assert await audit.events(app_ctx.db, "oidc.client_added")

    response = await post_form(client, f"/admin/connect/oidc/{client_id}/delete", {}, follow_redirects=False)
    assert response.status_code == 303
    assert await queries.client(app_ctx.db, client_id) is None


async def test_bad_client_input_comes_back_with_messages(client: Any, app_ctx: Any) -> None:
    await login_admin(client, app_ctx)
    response = await post_form(
        client, "/admin/connect/oidc", {"name": "", "redirect_uris": "http://forum.example.jp/cb#x"}
    )
    assert response.status_code == 422
    text = visible_text(response.text)
    assert "サービスの名前を入力してください" in text and "URLとして正しくありません" in text
    assert "http://forum.example.jp/cb#x" in response.text  # what was typed is kept
    response = await post_form(
        client, "/admin/connect/oidc", {"name": "x", "redirect_uris": "http://forum.example.jp/cb"}
    )
    assert "https:// で始まるURL" in visible_text(response.text)
    assert await queries.clients(app_ctx.db) == []


async def test_members_cannot_reach_the_console(client: Any, app_ctx: Any) -> None:
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    assert (await client.get("/admin/connect")).status_code in (403, 404)
    response = await post_form(
        client, "/admin/connect/oidc", {"name": "x", "redirect_uris": "https://a.example/cb"}
    )
    assert response.status_code in (403, 404)


async def test_key_rotation_from_the_console(client: Any, app_ctx: Any) -> None:
    await login_admin(client, app_ctx)
    first = (await client.get("/oauth/jwks")).json()["keys"]
    response = await post_form(client, "/admin/connect/oidc/rotate-key", {}, follow_redirects=False)
    assert response.status_code == 303
    after = (await client.get("/oauth/jwks")).json()["keys"]
    assert len(after) == 2 and first[0]["kid"] in {key["kid"] for key in after}
    assert all("d" not in key for key in after)  # public halves only


def test_cli_registers_public_and_confidential_clients(tmp_path: Path) -> None:
    env = {"TSUDOI_DATABASE": str(tmp_path / "data" / "tsudoi.sqlite3"), "TSUDOI_SCHEDULER": "off"}
    runner = CliRunner()
    result = runner.invoke(
        tsudoi_cli,
        ["add-oidc-client", "--name", "Moodle", "--redirect-uri", "https://learn.example.jp/auth/oidc/"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"^client_id: tsudoi-\S+$", result.output, re.M)
    assert re.search(r"^client_secret: \S{20,}$", result.output, re.M)
    public = runner.invoke(
        tsudoi_cli,
        ["add-oidc-client", "--name", "App", "--redirect-uri", "http://localhost:8080/cb", "--public"],
        env=env,
    )
    assert public.exit_code == 0 and "client_secret" not in public.output
    bad = runner.invoke(
        tsudoi_cli, ["add-oidc-client", "--name", "X", "--redirect-uri", "ftp://x.example/cb"], env=env
    )
    assert bad.exit_code == 2 and "https://" in bad.output


async def test_consent_is_withdrawn_from_the_security_page(client: Any, app_ctx: Any) -> None:
    from services.oidc import clients

    member_id = await make_member(app_ctx, "001007")
    clean, _ = clients.validate({"name": "会員フォーラム", "redirect_uris": "https://forum.example.jp/cb"})
    new_client = await clients.register(app_ctx, clean, actor_id=None)
    await queries.put_consent(app_ctx.db, member_id, new_client.client_id, "openid", now=app_ctx.clock.now())
    await login(client, "001007")
    page = await client.get("/settings/security")
    assert "連携中のサービス" in page.text and "会員フォーラム" in page.text
    response = await post_form(
        client,
        f"/settings/connections/{new_client.client_id}/withdraw",
        {"next": "/settings/security#connections"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/settings/security#connections"
    assert await queries.consent(app_ctx.db, member_id, new_client.client_id) is None
    assert "ほかのサービスへのログインを許可していません" in (await client.get("/settings/security")).text
