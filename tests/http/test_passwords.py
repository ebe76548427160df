"""Password lifecycle over HTTP: first-login change, rules and history, expiry, reset links, forgotten ID."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx

from db import audit
from db import members as member_queries
from services import password_flow
from services.auth import LOCKED_MESSAGE
from services.sessions import SESSION_COOKIE
from tests.helpers import (
    DEFAULT_PASSWORD,
    body_text,
    login,
    make_member,
    outbox,
    post_form,
    visible_text,
)

NEW_PASSWORD = "Hikari2027"
HTMX = {"HX-Request": "true"}


async def change(client: Any, new: str, *, current: str | None = DEFAULT_PASSWORD, **extra: Any) -> Any:
    data = {"new_password": new, "new_password_confirm": new, **extra}
    if current is not None:
        data["current_password"] = current
    return await post_form(client, "/password/change", data, follow_redirects=False)


def second_browser(app: Any) -> httpx.AsyncClient:
    """Another device of the same member, on the app the `client` fixture already started."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver.local")


def reset_link_in(message: Any) -> str:
    match = re.search(r"http://testserver\.local(/password/reset/[A-Za-z0-9_\-.]+)", body_text(message))
    assert match, body_text(message)
    return match.group(1)


def without_csrf(html: str) -> str:
    html = re.sub(r'name="_csrf_token" value="[^"]*"', "", html)
    return re.sub(r"&#34;x-csrftoken&#34;: &#34;[^&]*&#34;|\"x-csrftoken\": \"[^\"]*\"", "", html)


# --- first login --------------------------------------------------------------------------------


async def test_initial_password_login_goes_to_the_change_form(client, app_ctx):
    await make_member(app_ctx, "001001", must_change_password=True)
    response = await login(client, "001001")
    assert response.status_code == 303
    assert response.headers["location"] == "/password/change"
    page = await client.get("/password/change")
    text = visible_text(page.text)
    assert page.status_code == 200
    assert "初回ログインのため、パスワードの変更をお願いします。" in text
    assert 'name="current_password"' not in page.text  # just typed it to log in
    assert 'name="new_password"' in page.text and 'name="new_password_confirm"' in page.text
    assert 'aria-label="マイページメニュー"' not in page.text  # no menu until changed


async def test_member_with_initial_password_reaches_nothing_else(client, app_ctx):
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    for path in ("/mypage", "/profile", "/admin"):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/password/change", path


async def test_htmx_fragment_request_with_initial_password_gets_hx_redirect(client, app_ctx):
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    for path in ("/mypage", "/mypage?condition=1", "/profile", "/admin"):
        response = await client.get(path, headers=HTMX, follow_redirects=False)
        assert response.headers.get("hx-redirect") == "/password/change", path
        assert "マイページ" not in response.text


async def test_first_login_change_lands_on_the_profile_check(client, app_ctx, settings):
    member_id = await make_member(app_ctx, "001001", must_change_password=True, email="taro@example.jp")
    await login(client, "001001")
    old_token = client.cookies.get(SESSION_COOKIE)
    response = await change(client, NEW_PASSWORD, current=None)
    assert response.status_code == 303
    assert response.headers["location"] == "/profile?next=/conditions%3Fwelcome%3D1"
    new_token = client.cookies.get(SESSION_COOKIE)
    assert new_token and new_token != old_token
    member = await member_queries.get_by_id(app_ctx.db, member_id)
    assert member["must_change_password"] == 0
    assert await app_ctx.hasher.verify(member["password_hash"], NEW_PASSWORD)
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 200
    mails = [m for m in outbox(settings) if m["To"] == "taro@example.jp"]
    assert len(mails) == 1
    assert "パスワードが変更されました" in mails[0]["Subject"]
    assert NEW_PASSWORD not in body_text(mails[0])
    events = await audit.events(app_ctx.db, "password.changed")
    assert len(events) == 1 and '"first_login"' in events[0]["detail"]


async def test_htmx_submit_redirects_with_hx_redirect(client, app_ctx):
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    data = {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}
    response = await post_form(client, "/password/change", data, headers=HTMX)
    assert response.headers.get("hx-redirect") == "/profile?next=/conditions%3Fwelcome%3D1"


async def test_a_change_ends_the_other_sessions_and_rotates_this_one(app, client, app_ctx):
    member_id = await make_member(app_ctx, "001001")
    async with second_browser(app) as phone:
        await login(phone, "001001")
        await login(client, "001001")
        old_token = client.cookies.get(SESSION_COOKIE)
        assert (await change(client, NEW_PASSWORD)).status_code == 303
        assert client.cookies.get(SESSION_COOKIE) != old_token
        assert (await client.get("/mypage", follow_redirects=False)).status_code == 200
        response = await phone.get("/mypage", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert await app_ctx.db.fetchval("SELECT count(*) FROM sessions WHERE member_id = ?", (member_id,)) == 1


async def test_voluntary_change_needs_the_current_password(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    page = await client.get("/password/change")
    assert 'name="current_password"' in page.text
    missing = await change(client, NEW_PASSWORD, current="")
    assert missing.status_code == 422
    assert "現在のパスワードを入力してください。" in missing.text
    wrong = await change(client, NEW_PASSWORD, current="Wrong2026x")
    assert wrong.status_code == 422
    assert "現在のパスワードが正しくありません。" in wrong.text
    assert NEW_PASSWORD not in wrong.text and "Wrong2026x" not in wrong.text
    ok = await change(client, NEW_PASSWORD)
    assert ok.status_code == 303 and ok.headers["location"] == "/mypage"
    landing = await client.get("/mypage")
    assert "パスワードを変更しました。" in landing.text


async def test_guessing_the_current_password_is_rate_limited(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    for _ in range(password_flow.CURRENT_PASSWORD_LIMIT.attempts):
        await change(client, NEW_PASSWORD, current="Wrong2026x")
    response = await change(client, NEW_PASSWORD)
    assert response.status_code == 422
    assert "短時間に何度も送信されたため" in response.text


async def test_each_failed_rule_gets_its_own_message_and_no_password_is_echoed(client, app_ctx):
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    response = await change(client, "ab", current=None)
    assert response.status_code == 422
    text = visible_text(response.text)
    assert "8文字以上20文字以下で入力してください。" in text
    assert "英大文字を1文字以上含めてください。" in text
    assert "数字を1文字以上含めてください。" in text
    assert 'value="ab"' not in response.text
    assert 'aria-invalid="true"' in response.text


async def test_member_number_and_common_passwords_are_refused(client, app_ctx):
    await make_member(app_ctx, "12345678", must_change_password=True)
    await login(client, "12345678")
    same = await change(client, "12345678", current=None)
    assert "会員番号と同じパスワードは使用できません。" in same.text
    common = await change(client, "Password1", current=None)
    assert "よく使われていて推測されやすいパスワードです。" in common.text


async def test_confirmation_must_match(client, app_ctx):
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    response = await post_form(
        client,
        "/password/change",
        {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD + "x"},
    )
    assert response.status_code == 422
    assert "確認用のパスワードが一致しません。" in response.text


async def test_full_width_password_gets_the_ime_hint_on_submit(client, app_ctx):
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    response = await change(client, "Ｈｉｋａｒｉ２０２７", current=None)
    text = visible_text(response.text)
    assert "使用できない文字が含まれています" in text
    assert "日本語入力（IME）がオンになっていないか" in text


async def test_htmx_submit_with_errors_gets_the_form_fragment_with_200(client, app_ctx):
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    response = await post_form(
        client, "/password/change", {"new_password": "ab", "new_password_confirm": "ab"}, headers=HTMX
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith("<form")
    assert "<html" not in response.text


async def test_odd_inputs_never_break_the_form(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    for value in ("a" * 10_000, "😀" * 30, "\x00\r\n", "<script>alert(1)</script>"):
        response = await change(client, value, current=value)
        assert response.status_code == 422, value
        assert "<script>alert(1)</script>" not in response.text
    response = await post_form(client, "/password/change", {})
    assert response.status_code == 422
    assert "新しいパスワードを入力してください。" in response.text


async def test_change_form_needs_login_and_csrf(client, app_ctx):
    response = await client.get("/password/change", follow_redirects=False)
    assert response.headers["location"].startswith("/login?next=/password/change")
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    response = await client.post(
        "/password/change",
        data={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 403


# --- history -----------------------------------------------------------------------------------


async def test_last_three_passwords_are_refused_and_the_fourth_last_accepted(client, app_ctx):
    passwords = [DEFAULT_PASSWORD, "Momiji2027", "Kaede2028x", "Sumire2029"]
    await make_member(app_ctx, "001001", password=passwords[0])
    await login(client, "001001")
    for previous, new in zip(passwords, passwords[1:], strict=False):
        assert (await change(client, new, current=previous)).status_code == 303
    current = passwords[-1]
    for recent in passwords[-3:]:
        response = await change(client, recent, current=current)
        assert response.status_code == 422, recent
        assert "最近使用した3つのパスワード（現在のパスワードを含みます）は使用できません。" in response.text
    fourth_last = passwords[0]
    assert (await change(client, fourth_last, current=current)).status_code == 303


async def test_history_length_follows_the_setting(client, app_ctx):
    await app_ctx.update_org({"password_history": "1"})
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    assert (await change(client, NEW_PASSWORD)).status_code == 303
    # Only the current one counts now, so the previous password may come back.
    assert (await change(client, DEFAULT_PASSWORD, current=NEW_PASSWORD)).status_code == 303


# --- live ticks --------------------------------------------------------------------------------


def states(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-rule="([a-z_]+)" data-state="([a-z]+)"', html))


async def test_live_check_ticks_each_rule_without_echoing_the_password(client, app_ctx):
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    response = await post_form(
        client, "/password/change/check", {"new_password": "hikari", "new_password_confirm": ""}, headers=HTMX
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "hikari" not in response.text
    ticks = states(response.text)
    assert ticks["length"] == "ng" and ticks["uppercase"] == "ng" and ticks["digit"] == "ng"
    assert ticks["charset"] == "ok" and ticks["confirm"] == "todo"
    assert ticks["not_recent"] == "todo"  # only checked once the cheap rules pass

    response = await post_form(
        client,
        "/password/change/check",
        {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
        headers=HTMX,
    )
    assert set(states(response.text).values()) == {"ok"}


async def test_live_check_flags_a_recent_password(client, app_ctx):
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    response = await post_form(
        client,
        "/password/change/check",
        {"new_password": DEFAULT_PASSWORD, "new_password_confirm": ""},
        headers=HTMX,
    )
    assert states(response.text)["not_recent"] == "ng"


async def test_live_check_names_disallowed_characters(client, app_ctx):
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    response = await post_form(
        client, "/password/change/check", {"new_password": "Hikari 2027&"}, headers=HTMX
    )
    assert states(response.text)["charset"] == "ng"
    assert "使用できない文字が含まれています" in response.text


async def test_change_page_has_the_readings_toggle_and_data(client, app_ctx):
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    page = await client.get("/password/change")
    assert "読みを表示" in page.text
    assert "data-readings=" in page.text and "エル(小文字)" in page.text
    assert "/static/js/password.js" in page.text
    assert "<script>" not in page.text  # CSP: no inline script


# --- expiry ------------------------------------------------------------------------------------


async def test_expired_password_is_nagged_skippable_and_nagged_again(client, app_ctx, clock):
    await make_member(app_ctx, "001001")
    clock.advance(timedelta(days=119))
    assert (await login(client, "001001")).headers["location"] == "/mypage"
    clock.advance(timedelta(days=1))
    response = await login(client, "001001")
    assert response.headers["location"] == "/password/expired"
    page = await client.get("/password/expired")
    text = visible_text(page.text)
    assert "変更する" in text and "後で変更する" in text
    assert "120日" in text

    skip = await post_form(client, "/password/expired", {"next": "/mypage"}, follow_redirects=False)
    assert skip.status_code == 303 and skip.headers["location"] == "/mypage"
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 200
    assert len(await audit.events(app_ctx.db, "password.expiry_postponed")) == 1

    await post_form(client, "/logout", {})
    clock.advance(timedelta(days=1))
    assert (await login(client, "001001")).headers["location"] == "/password/expired"

    changed = await change(client, NEW_PASSWORD)
    assert changed.status_code == 303
    await post_form(client, "/logout", {})
    assert (await login(client, "001001", NEW_PASSWORD)).headers["location"] == "/mypage"


async def test_expiry_reminder_keeps_where_the_member_was_going(client, app_ctx, clock):
    await make_member(app_ctx, "001001")
    clock.advance(timedelta(days=200))
    response = await post_form(
        client,
        "/login",
        {"member_id": "001001", "password": DEFAULT_PASSWORD, "next": "/settings/mail"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/password/expired?next=/settings/mail"
    page = await client.get("/password/expired?next=/settings/mail")
    assert 'href="/password/change?next=/settings/mail"' in page.text
    skip = await post_form(client, "/password/expired", {"next": "/settings/mail"}, follow_redirects=False)
    assert skip.headers["location"] == "/settings/mail"
    # A crafted next cannot leave the site.
    skip = await post_form(client, "/password/expired", {"next": "//evil.example"}, follow_redirects=False)
    assert skip.headers["location"] == "/mypage"


async def test_expiry_days_follow_the_setting_and_zero_turns_it_off(client, app_ctx, clock):
    await make_member(app_ctx, "001001")
    await app_ctx.update_org({"password_expiry_days": "30"})
    clock.advance(timedelta(days=31))
    assert (await login(client, "001001")).headers["location"] == "/password/expired"
    await app_ctx.update_org({"password_expiry_days": "0"})
    assert (await login(client, "001001")).headers["location"] == "/mypage"


async def test_expired_page_without_expiry_just_continues(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    response = await client.get("/password/expired", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/mypage"


# --- forgotten password ------------------------------------------------------------------------


async def forgot(client: Any, identifier: str) -> Any:
    return await post_form(client, "/password/forgot", {"identifier": identifier})


async def test_reset_by_member_number_mails_a_link_that_sets_the_password(client, app_ctx, settings):
    member_id = await make_member(app_ctx, "001001", email="taro@example.jp")
    response = await forgot(client, "００１００１")
    assert response.status_code == 200
    assert "メールをご確認ください" in response.text
    mails = outbox(settings)
    assert len(mails) == 1 and mails[0]["To"] == "taro@example.jp"
    assert "パスワード再設定" in mails[0]["Subject"]
    link = reset_link_in(mails[0])

    page = await client.get(link)
    assert page.status_code == 200
    assert "001001" in visible_text(page.text)
    result = await post_form(
        client,
        link,
        {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert result.status_code == 303 and result.headers["location"] == "/login"
    assert (await login(client, "001001", NEW_PASSWORD)).status_code == 303
    assert any("パスワードが変更されました" in m["Subject"] for m in outbox(settings))
    assert any('"reset"' in e["detail"] for e in await audit.for_member(app_ctx.db, member_id))


async def test_reset_by_email_reaches_every_account_on_that_address(client, app_ctx, settings):
    await make_member(app_ctx, "001001", email="family@example.jp")
    await make_member(app_ctx, "001002", email="family@example.jp")
    await forgot(client, "ＦＡＭＩＬＹ@example.JP".lower())
    mails = outbox(settings)
    assert len(mails) == 2
    assert {"001001", "001002"} == {re.search(r"会員番号 (\d+)", body_text(m)).group(1) for m in mails}


async def test_unknown_account_gets_the_identical_answer(client, app_ctx, settings):
    await make_member(app_ctx, "001001", email="taro@example.jp")
    known = await forgot(client, "001001")
    unknown = await forgot(client, "009999")
    unknown_email = await forgot(client, "nobody@example.jp")
    assert known.status_code == unknown.status_code == unknown_email.status_code == 200
    assert without_csrf(known.text) == without_csrf(unknown.text) == without_csrf(unknown_email.text)
    assert known.headers.get("set-cookie") == unknown.headers.get("set-cookie")
    assert len(outbox(settings)) == 1


async def test_closed_account_gets_no_link(client, app_ctx, settings):
    member_id = await make_member(app_ctx, "001001")
    await app_ctx.db.execute("UPDATE members SET status = 'closed' WHERE id = ?", (member_id,))
    assert (await forgot(client, "001001")).status_code == 200
    assert outbox(settings) == []


async def test_forgot_form_explains_bad_input_and_keeps_it(client):
    empty = await forgot(client, "  ")
    assert empty.status_code == 422
    assert "会員番号またはメールアドレスを入力してください。" in empty.text
    bad = await forgot(client, "山田<b>")
    assert bad.status_code == 422
    assert "会員番号（数字）またはメールアドレスの形式で入力してください。" in bad.text
    assert 'value="山田&lt;b&gt;"' in bad.text
    huge = await forgot(client, "1" * 100_000)
    assert huge.status_code == 422


async def test_forgot_is_rate_limited_per_address(client, app_ctx, settings):
    await make_member(app_ctx, "001001")
    for _ in range(password_flow.FORGOT_ADDRESS_LIMIT.attempts):
        assert (await forgot(client, "001001")).status_code == 200
    limited = await forgot(client, "001001")
    assert limited.status_code == 429
    assert "短時間に何度も送信されたため" in limited.text
    assert len(outbox(settings)) == password_flow.FORGOT_ADDRESS_LIMIT.attempts
    # Another address from the same IP still works.
    assert (await forgot(client, "009999")).status_code == 200


async def test_forgot_is_rate_limited_per_ip(client, clock):
    for number in range(password_flow.FORGOT_IP_LIMIT.attempts):
        assert (await forgot(client, f"{number:06d}")).status_code == 200
    assert (await forgot(client, "123456")).status_code == 429
    clock.advance(timedelta(hours=1, seconds=1))
    assert (await forgot(client, "123456")).status_code == 200


async def test_alternating_number_and_address_cannot_flood_the_inbox(client, app_ctx, settings):
    await make_member(app_ctx, "001001", email="taro@example.jp")
    for identifier in ["001001", "taro@example.jp", "1001", "００１００１"] * 2:
        await forgot(client, identifier)
    assert len(outbox(settings)) <= password_flow.RESET_MAIL_MEMBER_LIMIT.attempts


# --- reset links -------------------------------------------------------------------------------


async def issue_link(app_ctx: Any, member_number: str) -> str:
    member = await member_queries.get_by_number(app_ctx.db, member_number)
    return password_flow.reset_url(app_ctx, member).removeprefix("http://testserver.local")


async def reset(client: Any, link: str, new: str = NEW_PASSWORD, confirm: str | None = None) -> Any:
    data = {"new_password": new, "new_password_confirm": new if confirm is None else confirm}
    return await post_form(client, link, data, follow_redirects=False)


async def test_reset_link_works_once(client, app_ctx):
    await make_member(app_ctx, "001001")
    link = await issue_link(app_ctx, "001001")
    assert (await reset(client, link)).status_code == 303
    again = await client.get(link)
    assert again.status_code == 410
    assert "このリンクはすでに使用されています" in again.text
    again_post = await reset(client, link, "Another2027")
    assert again_post.status_code == 410
    assert (await login(client, "001001", "Another2027")).status_code == 422


async def test_reset_link_expires_after_an_hour(client, app_ctx, clock):
    await make_member(app_ctx, "001001")
    link = await issue_link(app_ctx, "001001")
    clock.advance(timedelta(minutes=59))
    assert (await client.get(link)).status_code == 200
    clock.advance(timedelta(minutes=2))
    page = await client.get(link)
    assert page.status_code == 410
    assert "リンクの有効期限が切れています" in page.text
    assert 'href="/password/forgot"' in page.text
    assert (await reset(client, link)).status_code == 410


async def test_tampered_or_foreign_links_are_refused(client, app_ctx, settings):
    from services.tokens import make_token

    await make_member(app_ctx, "001001")
    link = await issue_link(app_ctx, "001001")
    tampered = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    page = await client.get(tampered)
    assert page.status_code == 400
    assert "リンクが正しくありません" in page.text
    other_purpose = make_token(settings.secret_key, "email-change", {"m": 1}, now=app_ctx.clock.now())
    assert (await client.get(f"/password/reset/{other_purpose}")).status_code == 400
    assert (await client.get("/password/reset/x")).status_code == 400


async def test_a_typo_does_not_spend_the_link(client, app_ctx):
    await make_member(app_ctx, "001001")
    link = await issue_link(app_ctx, "001001")
    typo = await reset(client, link, NEW_PASSWORD, NEW_PASSWORD + "1")
    assert typo.status_code == 422
    assert "確認用のパスワードが一致しません。" in typo.text
    weak = await reset(client, link, "short")
    assert "8文字以上20文字以下で入力してください。" in weak.text
    recent = await reset(client, link, DEFAULT_PASSWORD)
    assert "最近使用した3つのパスワード" in recent.text
    assert (await reset(client, link)).status_code == 303


async def test_a_password_change_voids_older_reset_links(client, app_ctx):
    await make_member(app_ctx, "001001")
    link = await issue_link(app_ctx, "001001")
    await login(client, "001001")
    assert (await change(client, NEW_PASSWORD)).status_code == 303
    assert (await client.get(link)).status_code == 410


async def test_reset_unlocks_the_account_and_ends_every_session(app, client, app_ctx, settings):
    member_id = await make_member(app_ctx, "001001", email="taro@example.jp")
    async with second_browser(app) as other:
        await login(other, "001001")
        for _ in range(app_ctx.org.lockout_threshold):
            response = await login(client, "001001", "Wrong2026x")
        assert LOCKED_MESSAGE in response.text
        lock_mail = next(m for m in outbox(settings) if "ログインできなくなっています" in m["Subject"])
        link = reset_link_in(lock_mail)  # the lock notice carries a direct reset link
        assert "/password/forgot" in body_text(lock_mail)  # and the way to ask again after an hour
        assert (await reset(client, link)).status_code == 303
        member = await member_queries.get_by_id(app_ctx.db, member_id)
        assert member["locked_until"] is None and member["failed_logins"] == 0
        assert (await other.get("/mypage", follow_redirects=False)).status_code == 303
    assert await app_ctx.db.fetchval("SELECT count(*) FROM sessions WHERE member_id = ?", (member_id,)) == 0
    assert (await login(client, "001001", NEW_PASSWORD)).headers["location"] == "/mypage"


async def test_reset_clears_an_initial_password_requirement(client, app_ctx):
    await make_member(app_ctx, "001001", must_change_password=True)
    link = await issue_link(app_ctx, "001001")
    assert (await reset(client, link)).status_code == 303
    assert (await login(client, "001001", NEW_PASSWORD)).headers["location"] == "/mypage"


async def test_reset_page_live_check(client, app_ctx):
    await make_member(app_ctx, "001001")
    link = await issue_link(app_ctx, "001001")
    response = await post_form(client, f"{link}/check", {"new_password": "abc"}, headers=HTMX)
    assert response.status_code == 200
    assert states(response.text)["length"] == "ng"
    assert "abc" not in response.text
    assert (await post_form(client, "/password/reset/bogus/check", {}, headers=HTMX)).status_code == 400


# --- forgotten member number -------------------------------------------------------------------


async def test_forgot_id_mails_the_member_number(client, app_ctx, settings):
    await make_member(app_ctx, "000777", email="hanako@example.jp", family_name="山田", given_name="花子")
    response = await post_form(client, "/login/forgot-id", {"email": "ｈａｎａｋｏ@example.jp"})
    assert response.status_code == 200
    mails = outbox(settings)
    assert len(mails) == 1 and mails[0]["To"] == "hanako@example.jp"
    assert "会員番号のお知らせ" in mails[0]["Subject"]
    assert "000777" in body_text(mails[0])
    assert "000777" not in response.text


async def test_forgot_id_answer_is_identical_for_unknown_addresses(client, app_ctx, settings):
    await make_member(app_ctx, "000777", email="hanako@example.jp")
    known = await post_form(client, "/login/forgot-id", {"email": "hanako@example.jp"})
    unknown = await post_form(client, "/login/forgot-id", {"email": "nobody@example.jp"})
    assert known.status_code == unknown.status_code == 200
    assert without_csrf(known.text) == without_csrf(unknown.text)
    assert len(outbox(settings)) == 1


async def test_forgot_id_checks_the_address_and_rate_limits(client):
    bad = await post_form(client, "/login/forgot-id", {"email": "not-an-address"})
    assert bad.status_code == 422
    assert 'value="not-an-address"' in bad.text
    for _ in range(password_flow.FORGOT_ID_ADDRESS_LIMIT.attempts):
        assert (await post_form(client, "/login/forgot-id", {"email": "x@example.jp"})).status_code == 200
    limited = await post_form(client, "/login/forgot-id", {"email": "x@example.jp"})
    assert limited.status_code == 429
    assert "短時間に何度も送信されたため" in limited.text


# --- admin: a new initial password -------------------------------------------------------------


async def test_admin_new_initial_password_forces_a_change_at_next_login(client, app_ctx, settings):
    member_id = await make_member(app_ctx, "001001", email="taro@example.jp")
    admin_id = await make_member(app_ctx, "900001", role="admin")
    await login(client, "001001")
    password = await password_flow.set_initial_password(app_ctx, member_id, actor_id=admin_id)
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 303  # session ended
    assert (await login(client, "001001", DEFAULT_PASSWORD)).status_code == 422
    response = await login(client, "001001", password)
    assert response.headers["location"] == "/password/change"
    assert (await client.get("/mypage", follow_redirects=False)).headers["location"] == "/password/change"
    events = await audit.events(app_ctx.db, "password.initial_set")
    assert events[0]["actor_member_id"] == admin_id and events[0]["subject_member_id"] == member_id
    notice = [m for m in outbox(settings) if m["To"] == "taro@example.jp"]
    assert notice and password not in body_text(notice[-1])
