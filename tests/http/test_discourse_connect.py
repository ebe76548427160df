"""DiscourseConnect end to end over HTTP: the admin connects the forum, a member arrives from it, signs
in if needed, and goes back signed in with their tier as a group; bad requests are refused."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from db import audit as audit_queries
from services import membership
from services.discourse_connect import encode_response, read_request, sign
from tests.helpers import DEFAULT_PASSWORD, login, login_admin, make_member, post_form, visible_text

FORUM = "https://forum.example.jp"
SECRET = "forum-shared-secret-1234"


async def connect_forum(client: Any, app_ctx: Any) -> None:
    await login_admin(client, app_ctx)
    response = await post_form(
        client,
        "/admin/connect/discourse",
        {"discourse_url": FORUM + "/", "discourse_secret": SECRET},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    client.cookies.clear()


def forum_request(nonce: str = "n0nce123", return_url: str = f"{FORUM}/session/sso_login") -> str:
    payload, signature = encode_response(SECRET, {"nonce": nonce, "return_sso_url": return_url})
    return "/discourse/sso?" + urlencode({"sso": payload, "sig": signature})


def answer_of(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{FORUM}/session/sso_login"
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    return read_request(SECRET, query["sso"], query["sig"])


async def test_member_goes_back_to_the_forum_signed_in_with_the_tier_as_a_group(
    client: Any, app_ctx: Any
) -> None:
    await connect_forum(client, app_ctx)
    member_id = await make_member(app_ctx, "001001")
    await membership.grant_tier(app_ctx, member_id, "members", ends_on=None, source="test")
    await login(client, "001001")
    response = await client.get(forum_request(), follow_redirects=False)
    assert response.status_code == 303, response.text
    answer = answer_of(response.headers["location"])
    member = await app_ctx.db.fetchone("SELECT public_id FROM members WHERE id = ?", (member_id,))
    assert answer["nonce"] == "n0nce123"
    assert answer["external_id"] == member["public_id"] and answer["external_id"] != "001001"
    assert answer["email"] == "member001001@example.jp" and answer["name"] == "鈴木 太郎"
    assert answer["add_groups"] == "members" and "members" not in answer["remove_groups"].split(",")
    assert "001001" not in base64.b64decode(urlsplit(response.headers["location"]).query).decode(
        "latin-1", "ignore"
    )
    assert await audit_queries.events(app_ctx.db, "sso.discourse_login")


async def test_a_member_not_signed_in_logs_in_first_and_lands_on_the_forum(client: Any, app_ctx: Any) -> None:
    await connect_forum(client, app_ctx)
    await make_member(app_ctx, "001002")
    path = forum_request()
    response = await client.get(path, follow_redirects=False)
    assert response.status_code in (302, 303)
    login_location = response.headers["location"]
    assert login_location.startswith("/login?next=")
    next_path = parse_qs(urlsplit(login_location).query)["next"][0]
    assert next_path == path  # the forum's request survives the login
    response = await post_form(
        client,
        "/login",
        {"member_id": "001002", "password": DEFAULT_PASSWORD, "next": next_path},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == path
    response = await client.get(path, follow_redirects=False)
    assert answer_of(response.headers["location"])["nonce"] == "n0nce123"


async def test_forged_or_foreign_requests_are_refused(client: Any, app_ctx: Any) -> None:
    await connect_forum(client, app_ctx)
    await make_member(app_ctx, "001003")
    await login(client, "001003")
    payload, _ = encode_response(SECRET, {"nonce": "x1", "return_sso_url": f"{FORUM}/session/sso_login"})
    bad_sig = await client.get(
        "/discourse/sso?" + urlencode({"sso": payload, "sig": "0" * 64}), follow_redirects=False
    )
    assert bad_sig.status_code == 400 and "確認できませんでした" in visible_text(bad_sig.text)
    elsewhere = await client.get(
        forum_request(return_url="https://evil.example.com/session/sso_login"), follow_redirects=False
    )
    assert elsewhere.status_code == 400 and "location" not in elsewhere.headers
    other_secret = base64.b64encode(b"nonce=1&return_sso_url=https://forum.example.jp/x").decode()
    wrong_key = await client.get(
        "/discourse/sso?" + urlencode({"sso": other_secret, "sig": sign("another-secret", other_secret)}),
        follow_redirects=False,
    )
    assert wrong_key.status_code == 400
    for query in ("", "?sso=%00&sig=%00", "?sso=" + "ａ" * 50 + "&sig=zz", "?sig=" + "9" * 5000):
        odd = await client.get("/discourse/sso" + query, follow_redirects=False)
        assert odd.status_code == 400, query


async def test_member_without_email_is_told_why(client: Any, app_ctx: Any) -> None:
    await connect_forum(client, app_ctx)
    member_id = await make_member(app_ctx, "001004")
    await app_ctx.db.execute("UPDATE members SET email = '' WHERE id = ?", (member_id,))
    await login(client, "001004")
    response = await client.get(forum_request(), follow_redirects=False)
    assert response.status_code == 400
    assert "メールアドレスが登録されていない" in visible_text(response.text)


async def test_not_connected_is_a_404_and_the_console_checks_input(client: Any, app_ctx: Any) -> None:
    await make_member(app_ctx, "001005")
    await login(client, "001005")
    assert (await client.get(forum_request(), follow_redirects=False)).status_code == 404
    client.cookies.clear()
    await login_admin(client, app_ctx)
    page = await post_form(
        client, "/admin/connect/discourse", {"discourse_url": "forum", "discourse_secret": "short"}
    )
    assert page.status_code == 422
    text = visible_text(page.text)
    assert "https://forum.example.jp のように" in text and "10文字以上" in text
    assert 'value="forum"' in page.text
    assert not app_ctx.org.discourse_url
    # Connected, the secret is kept sealed, never in the page or the audit log.
    await post_form(client, "/admin/connect/discourse", {"discourse_url": FORUM, "discourse_secret": SECRET})
    assert app_ctx.org.discourse_secret_sealed and SECRET not in app_ctx.org.discourse_secret_sealed
    assert SECRET not in (await client.get("/admin/connect")).text
    for row in await audit_queries.events(app_ctx.db, "sso.discourse_configured"):
        assert SECRET not in str(row["detail"])
    response = await post_form(client, "/admin/connect/discourse/delete", {}, follow_redirects=False)
    assert response.status_code == 303 and not app_ctx.org.discourse_url
