"""ログインとセキュリティ: where the member is signed in, ending other sessions, recent sign-ins, and the
mail about a sign-in from a new browser."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.helpers import body_text, login, make_member, outbox, post_form, visible_text

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1"
)
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


@asynccontextmanager
async def browser(client, user_agent: str) -> AsyncIterator[None]:
    """The same client as another browser: its own cookies and user agent, put back afterwards."""
    saved = list(client.cookies.jar)
    saved_agent = client.headers.get("user-agent")
    client.cookies.clear()
    client.headers["user-agent"] = user_agent
    try:
        yield
    finally:
        client.cookies.clear()
        for cookie in saved:
            client.cookies.jar.set_cookie(cookie)
        if saved_agent is not None:
            client.headers["user-agent"] = saved_agent


def session_ids(html: str) -> list[int]:
    return [int(value) for value in re.findall(r"/settings/security/sessions/(\d+)/end", html)]


async def test_sessions_are_listed_in_plain_words_and_this_one_is_marked(client, app_ctx):
    await make_member(app_ctx, "001001")
    client.headers["user-agent"] = IPHONE
    await login(client, "001001")
    async with browser(client, WINDOWS):
        await login(client, "001001")
    page = await client.get("/settings/security")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "iPhone の Safari この端末" in text
    assert "Windows の Chrome" in text
    assert "IPアドレス" in text
    assert len(session_ids(page.text)) == 1  # only the other one can be ended from here


async def test_ending_another_session_signs_that_browser_out(client, app_ctx):
    await make_member(app_ctx, "001001")
    client.headers["user-agent"] = IPHONE
    await login(client, "001001")
    async with browser(client, WINDOWS):
        await login(client, "001001")
        other_cookies = list(client.cookies.jar)
    [other] = session_ids((await client.get("/settings/security")).text)
    response = await post_form(client, f"/settings/security/sessions/{other}/end", {}, follow_redirects=False)
    assert response.status_code == 303
    assert session_ids((await client.get("/settings/security")).text) == []
    async with browser(client, WINDOWS):
        for cookie in other_cookies:
            client.cookies.jar.set_cookie(cookie)
        assert (await client.get("/mypage", follow_redirects=False)).status_code == 303
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 200


async def test_ending_all_other_sessions_keeps_this_one(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    for agent in (WINDOWS, IPHONE):
        async with browser(client, agent):
            await login(client, "001001")
    assert len(session_ids((await client.get("/settings/security")).text)) == 2
    await post_form(client, "/settings/security/sessions/end-others", {})
    assert session_ids((await client.get("/settings/security")).text) == []
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 200


async def test_another_members_session_cannot_be_ended(client, app_ctx):
    await make_member(app_ctx, "001001")
    await make_member(app_ctx, "001002")
    async with browser(client, WINDOWS):
        await login(client, "001002")
    await login(client, "001001")
    their_id = int(await app_ctx.db.fetchval("SELECT rowid FROM sessions WHERE member_id = 2"))
    response = await post_form(
        client, f"/settings/security/sessions/{their_id}/end", {}, follow_redirects=False
    )
    assert response.status_code == 404
    assert await app_ctx.db.fetchval("SELECT count(*) FROM sessions WHERE member_id = 2") == 1
    huge = await post_form(client, "/settings/security/sessions/99999999999999999999/end", {})
    assert huge.status_code == 404


async def test_recent_sign_ins_show_failures_and_the_method(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001", "Wrong12345")
    await login(client, "001001")
    text = visible_text((await client.get("/settings/security")).text)
    assert "最近のログイン" in text
    assert text.count("パスワード") >= 2
    assert "成功" in text and "失敗" in text
    assert text.index("成功") < text.index("失敗")  # newest first


async def test_sign_in_history_keeps_the_last_twenty(client, app_ctx):
    await make_member(app_ctx, "001001")
    for _ in range(3):
        await login(client, "001001", "Wrong12345")
        await login(client, "001001")
    for _ in range(16):  # 22 sign-ins in all
        await login(client, "001001")
    page = await client.get("/settings/security")
    assert (
        page.text.count('class="badge badge-ok">成功') + page.text.count('class="badge badge-alert">失敗')
        == 20
    )


async def test_admins_get_a_mail_about_a_new_browser_by_default(client, app_ctx, settings):
    await make_member(app_ctx, "900001", role="admin")
    client.headers["user-agent"] = IPHONE
    await login(client, "900001")  # the first browser ever: nothing to compare with
    await post_form(client, "/logout", {})
    await login(client, "900001")  # the same browser again
    assert [m for m in outbox(settings) if "新しいブラウザ" in m["subject"]] == []
    async with browser(client, WINDOWS):
        await login(client, "900001")
    [mail] = [m for m in outbox(settings) if "新しいブラウザ" in m["subject"]]
    assert mail["to"] == "member900001@example.jp"
    text = body_text(mail)
    assert "Windows の Chrome" in text and "パスワード" in text
    assert "http://testserver.local/settings/security" in text


async def test_members_choose_the_new_browser_mail(client, app_ctx, settings):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    async with browser(client, WINDOWS):
        await login(client, "001001")
    assert [m for m in outbox(settings) if "新しいブラウザ" in m["subject"]] == []
    page = await client.get("/settings/security")
    assert 'name="new_browser_mail" value="1">' in page.text  # unchecked by default for members
    await post_form(client, "/settings/security/notifications", {"new_browser_mail": "1"})
    assert 'name="new_browser_mail" value="1" checked' in (await client.get("/settings/security")).text
    async with browser(client, IPHONE):
        await login(client, "001001")
    assert len([m for m in outbox(settings) if "新しいブラウザ" in m["subject"]]) == 1


async def test_the_security_page_needs_a_sign_in(client):
    response = await client.get("/settings/security", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
