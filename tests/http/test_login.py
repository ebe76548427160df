"""Login, lockout, sessions and logout through the real app over HTTP."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app import create_app
from db import audit
from db import members as member_queries
from services.auth import INVALID_LOGIN_MESSAGE, LOCKED_MESSAGE
from services.hashing import Hasher
from services.settings import Settings
from tests.helpers import (
    DEFAULT_PASSWORD,
    body_text,
    csrf_token,
    free_port,
    login,
    login_admin,
    make_member,
    outbox,
    post_form,
    test_settings,
    visible_text,
)
from tests.live_server import LiveServer


async def test_login_page_has_the_contract_fields(client):
    response = await client.get("/login")
    assert response.status_code == 200
    for name in ('name="member_id"', 'name="password"', 'name="remember"', 'name="_csrf_token"'):
        assert name in response.text
    assert 'autocomplete="username webauthn"' in response.text
    assert 'inputmode="numeric"' in response.text
    assert "次回から自動ログインする" in response.text


async def test_full_width_member_number_with_spaces_logs_in(client, app_ctx):
    await make_member(app_ctx, "001234", family_name="山田", given_name="花子")
    response = await login(client, "　００１２３４ ", DEFAULT_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/mypage"
    page = await client.get("/mypage")
    assert "山田 花子 様" in visible_text(page.text)


async def test_leading_zeros_are_part_of_the_member_number(client, app_ctx):
    await make_member(app_ctx, "00123")
    response = await login(client, "123", DEFAULT_PASSWORD)
    assert response.status_code == 422
    assert INVALID_LOGIN_MESSAGE in response.text


async def test_wrong_password_and_unknown_id_get_the_same_message(client, app_ctx):
    await make_member(app_ctx, "001001")
    wrong_password = await login(client, "001001", "Wrong2026x")
    unknown_id = await login(client, "999999", DEFAULT_PASSWORD)
    for response in (wrong_password, unknown_id):
        assert response.status_code == 422
        assert INVALID_LOGIN_MESSAGE in response.text
    assert 'value="001001"' in wrong_password.text
    assert "Wrong2026x" not in wrong_password.text


async def test_password_is_case_sensitive_and_never_normalized(client, app_ctx):
    await make_member(app_ctx, "001001", password="Sakura2026")
    assert (await login(client, "001001", "sakura2026")).status_code == 422
    assert (await login(client, "001001", "Ｓakura2026")).status_code == 422
    assert (await login(client, "001001", "Sakura2026")).status_code == 303


async def test_empty_fields_get_a_message_next_to_each_field(client):
    response = await login(client, "", "")
    assert response.status_code == 422
    assert "ログインID（会員番号）を入力してください。" in response.text
    assert "パスワードを入力してください。" in response.text
    assert 'aria-invalid="true"' in response.text


async def test_ten_thousand_character_id_is_refused_politely(client):
    response = await login(client, "1" * 10_000, "whatever")
    assert response.status_code == 422
    assert INVALID_LOGIN_MESSAGE in response.text


async def test_fifth_wrong_password_locks_the_account_and_mails_the_member(client, app_ctx, settings):
    await make_member(app_ctx, "001001", email="hanako@example.jp")
    for _ in range(4):
        response = await login(client, "001001", "Wrong2026x")
        assert INVALID_LOGIN_MESSAGE in response.text
    response = await login(client, "001001", "Wrong2026x")
    assert LOCKED_MESSAGE in response.text
    # 2026-11-23 12:00 JST + 2 hours
    assert "2026年11月23日(月) 14:00" in visible_text(response.text)
    mails = outbox(settings)
    assert len(mails) == 1
    assert mails[0]["To"] == "hanako@example.jp"
    assert "マイページに一時的にログインできなくなっています" in mails[0]["Subject"]
    assert "/password/forgot" in body_text(mails[0])
    assert len(await audit.events(app_ctx.db, "account.locked")) == 1


async def test_sixth_try_with_the_right_password_keeps_account_locked(client, app_ctx, clock):
    await make_member(app_ctx, "001001")
    for _ in range(5):
        await login(client, "001001", "Wrong2026x")
    response = await login(client, "001001", DEFAULT_PASSWORD)
    assert response.status_code == 422
    assert LOCKED_MESSAGE in response.text
    clock.advance(timedelta(hours=2, seconds=1))
    assert (await login(client, "001001", DEFAULT_PASSWORD)).status_code == 303


async def test_lock_ends_and_a_new_streak_starts_fresh(client, app_ctx, clock):
    await make_member(app_ctx, "001001")
    for _ in range(5):
        await login(client, "001001", "Wrong2026x")
    clock.advance(timedelta(hours=2, seconds=1))
    response = await login(client, "001001", "Wrong2026x")
    assert INVALID_LOGIN_MESSAGE in response.text
    assert LOCKED_MESSAGE not in response.text


async def test_success_resets_the_failure_count(client, app_ctx):
    await make_member(app_ctx, "001001")
    for _ in range(4):
        await login(client, "001001", "Wrong2026x")
    assert (await login(client, "001001", DEFAULT_PASSWORD)).status_code == 303
    await client.post("/logout", data={"_csrf_token": await csrf_token(client)})
    for _ in range(4):
        response = await login(client, "001001", "Wrong2026x")
    assert LOCKED_MESSAGE not in response.text
    attempts = await app_ctx.db.fetchval("SELECT attempts FROM login_failures WHERE login_id = '001001'")
    assert attempts == 4


async def test_missing_csrf_token_reshows_the_form_with_fields_kept(client, app_ctx):
    await client.get("/login")
    response = await client.post("/login", data={"member_id": "001234", "password": "secret-Value1"})
    assert response.status_code == 403
    assert "もう一度送信してください" in response.text
    assert 'value="001234"' in response.text
    assert "secret-Value1" not in response.text


async def test_wrong_csrf_token_is_refused(client):
    await client.get("/login")
    response = await client.post("/login", data={"_csrf_token": "forged", "member_id": "1", "password": "x"})
    assert response.status_code == 403


async def test_two_tabs_share_one_csrf_token(client, app_ctx):
    await make_member(app_ctx, "001001")
    first_tab = await client.get("/login")
    second_tab = await client.get("/login")
    token_first = first_tab.text.split('name="_csrf_token" value="')[1].split('"')[0]
    token_second = second_tab.text.split('name="_csrf_token" value="')[1].split('"')[0]
    response = await client.post(
        "/login", data={"_csrf_token": token_first, "member_id": "001001", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200
    assert token_first == token_second


async def test_forged_session_cookie_gets_the_login_page(client):
    client.cookies.set("tsudoi_session", "forged-token-value")
    response = await client.get("/mypage", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/mypage")
    assert 'tsudoi_session=""' in response.headers.get(
        "set-cookie", ""
    ) or "Max-Age=0" in response.headers.get("set-cookie", "")


async def test_login_rotates_the_session_token(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    first = client.cookies.get("tsudoi_session")
    await login(client, "001001")
    second = client.cookies.get("tsudoi_session")
    assert first and second and first != second
    stored = await app_ctx.db.fetchall("SELECT token_hash FROM sessions")
    assert len(stored) == 1
    assert first not in stored[0]["token_hash"]


async def test_session_without_remember_ends_after_two_idle_hours(client, app_ctx, clock):
    await make_member(app_ctx, "001001")
    response = await login(client, "001001")
    session_cookie = [c for c in response.headers.get_list("set-cookie") if c.startswith("tsudoi_session=")]
    assert session_cookie and "Max-Age" not in session_cookie[0]
    clock.advance(timedelta(hours=1, minutes=59))
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 200
    clock.advance(timedelta(hours=1, minutes=59))
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 200
    clock.advance(timedelta(hours=2, seconds=1))
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 303


async def test_remember_me_lasts_thirty_days_from_each_use(client, app_ctx, clock):
    await make_member(app_ctx, "001001")
    response = await login(client, "001001", remember=True)
    assert "Max-Age=2592000" in response.headers["set-cookie"]
    clock.advance(timedelta(days=29))
    used = await client.get("/mypage", follow_redirects=False)
    assert used.status_code == 200
    assert "Max-Age=2592000" in used.headers.get("set-cookie", "")
    clock.advance(timedelta(days=29))
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 200
    clock.advance(timedelta(days=30, seconds=1))
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 303


async def test_logout_ends_the_session_on_the_server(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    token = client.cookies.get("tsudoi_session")
    response = await post_form(client, "/logout", {}, follow_redirects=False)
    assert response.status_code == 303
    client.cookies.set("tsudoi_session", token)
    assert (await client.get("/mypage", follow_redirects=False)).status_code == 303
    assert await app_ctx.db.fetchval("SELECT count(*) FROM sessions") == 0
    page = await client.get("/login")
    assert "ログアウトしました。" in page.text


async def test_htmx_request_after_session_end_gets_a_redirect_htmx_follows(client):
    response = await client.get(
        "/mypage", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver.local/mypage"}
    )
    assert response.status_code == 200
    assert response.headers["hx-redirect"] == "/login?next=/mypage"


async def test_login_redirects_to_the_page_asked_for_but_never_offsite(client, app_ctx):
    await make_member(app_ctx, "001001")
    data = {"member_id": "001001", "password": DEFAULT_PASSWORD, "next": "//evil.example/x"}
    response = await post_form(client, "/login", data, follow_redirects=False)
    assert response.headers["location"] == "/mypage"


async def test_admin_pages_refuse_members_and_send_visitors_to_login(client, app_ctx):
    anonymous = await client.get("/admin", follow_redirects=False)
    assert anonymous.status_code == 303
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    member = await client.get("/admin")
    assert member.status_code == 403
    assert "権限がありません" in member.text or "管理者のみ" in member.text


async def test_admin_reaches_the_dashboard(client, app_ctx):
    # Admins pass the second factor after the password (see tests/http/test_admin_mfa.py).
    await login_admin(client, app_ctx, "900001")
    response = await client.get("/admin")
    assert response.status_code == 200
    assert "管理ダッシュボード" in response.text


async def test_security_events_go_to_the_audit_log(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001", "Wrong2026x")
    await login(client, "001001")
    await post_form(client, "/logout", {})
    events = [row["event"] for row in await app_ctx.db.fetchall("SELECT event FROM audit_log ORDER BY id")]
    assert events == ["login.failed", "login.ok", "logout"]


async def test_hash_is_upgraded_when_parameters_change(client, app_ctx):
    weak = Hasher(time_cost=1, memory_cost=512, parallelism=1)
    await make_member(app_ctx, "001001")
    await app_ctx.db.execute(
        "UPDATE members SET password_hash = ? WHERE member_number = '001001'",
        (weak.hash_sync(DEFAULT_PASSWORD),),
    )
    assert (await login(client, "001001")).status_code == 303
    member = await member_queries.get_by_number(app_ctx.db, "001001")
    assert "m=1024" in member["password_hash"]


async def test_a_hash_made_with_four_lanes_verifies_and_is_redone_with_one(client, app_ctx):
    """Hashes made before one lane became the default (argon2id p=4) still log in, and the login redoes
    them with the app's parameters (the RFC 9106 strength with p=1; the tests' costs are lower)."""
    production = Settings(database=app_ctx.settings.database)
    assert (production.argon2_time_cost, production.argon2_memory_cost, production.argon2_parallelism) == (
        3,
        65536,
        1,
    )
    assert app_ctx.settings.argon2_parallelism == 1
    settings = app_ctx.settings
    old = Hasher(settings.argon2_time_cost, settings.argon2_memory_cost, parallelism=4).hash_sync(
        DEFAULT_PASSWORD
    )
    await make_member(app_ctx, "001001")
    await app_ctx.db.execute("UPDATE members SET password_hash = ? WHERE member_number = '001001'", (old,))
    assert (await login(client, "001001")).status_code == 303
    member = await member_queries.get_by_number(app_ctx.db, "001001")
    assert ",p=1$" in member["password_hash"] and ",p=4$" in old
    assert await app_ctx.hasher.verify(member["password_hash"], DEFAULT_PASSWORD)


async def test_health_reports_the_schema_version(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["schema_version"] >= 1


async def test_unknown_page_is_a_friendly_404(client):
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert "ページが見つかりません" in response.text


async def test_pages_carry_security_headers(client):
    response = await client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]


# ---------------------------------------------------------------- lockout under parallel tries (issue 14)


def count_hashes(app_ctx) -> list[int]:
    """Wrap the app's own argon2 verify so the test sees how many passwords were really checked."""
    calls: list[int] = []
    verify = app_ctx.hasher.verify_sync

    def counting(password_hash: str, password: str) -> bool:
        calls.append(1)
        return verify(password_hash, password)

    app_ctx.hasher.verify_sync = counting
    return calls


@pytest.fixture
def live(tmp_path, clock) -> Iterator[LiveServer]:
    """The app on a real port: Litestar's test client runs one request at a time, uvicorn runs them in
    parallel. The per-address throttle is out of the way, to see the per-ID lock alone."""
    port = free_port()
    settings = test_settings(tmp_path, base_url=f"http://127.0.0.1:{port}", login_ip_failures=10_000)
    server = LiveServer(settings, port, clock)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def login_form(client: httpx.AsyncClient, password: str, number: str = "001001") -> dict[str, str]:
    if "tsudoi_csrf" not in client.cookies:
        await client.get("/login")
    return {"_csrf_token": client.cookies["tsudoi_csrf"], "member_id": number, "password": password}


async def test_sixty_parallel_logins_check_five_passwords_and_never_log_in(live, clock):
    live.run(lambda ctx: make_member(ctx, "001001", email="hanako@example.jp"))
    hashes = count_hashes(live.ctx)
    async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
        forms = [await login_form(client, f"Wrong2026{i:02d}") for i in range(59)]
        forms.append(await login_form(client, DEFAULT_PASSWORD))

        started = time.perf_counter()
        responses = await asyncio.gather(*(client.post("/login", data=form) for form in forms))
        elapsed = time.perf_counter() - started

        assert [r.status_code for r in responses] == [422] * 60, [r.status_code for r in responses]
        assert len(hashes) == 5
        # The 55 tries past the limit are refused unchecked; checked ones say locked once the lock is set.
        assert sum(LOCKED_MESSAGE in r.text for r in responses) >= 55
        assert all(LOCKED_MESSAGE in r.text or INVALID_LOGIN_MESSAGE in r.text for r in responses)
        assert "tsudoi_session" not in client.cookies
        print(f"\n60 parallel logins: {len(hashes)} passwords hashed, burst took {elapsed * 1000:.0f} ms")

        assert live.run(lambda ctx: audit.events(ctx.db, "login.ok")) == []
        assert len(live.run(lambda ctx: audit.events(ctx.db, "account.locked"))) == 1
        assert [str(m["To"]) for m in outbox(live.settings)] == ["hanako@example.jp"]
        member = live.run(lambda ctx: member_queries.get_by_number(ctx.db, "001001"))
        assert member["locked_until"] is not None  # the admin's list shows the lock

        # Still locked for the right password afterwards, with no further hash; open after the lock period.
        again = await client.post("/login", data=await login_form(client, DEFAULT_PASSWORD))
        assert LOCKED_MESSAGE in again.text and len(hashes) == 5
        clock.advance(timedelta(hours=2, seconds=1))
        opened = await client.post("/login", data=await login_form(client, DEFAULT_PASSWORD))
        assert opened.status_code == 303


async def test_right_password_checked_while_a_lock_is_set_is_refused(live):
    live.run(lambda ctx: make_member(ctx, "001001"))
    async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
        for _ in range(4):
            await client.post("/login", data=await login_form(client, "Wrong2026x"))
        # Hold the fifth try (the right password) inside its hash until a sixth try has come and gone.
        gate = threading.Event()
        verify = live.ctx.hasher.verify_sync

        def held(password_hash: str, password: str) -> bool:
            gate.wait(10)
            return verify(password_hash, password)

        live.ctx.hasher.verify_sync = held  # type: ignore[method-assign]
        right_try = asyncio.create_task(
            client.post("/login", data=await login_form(client, DEFAULT_PASSWORD))
        )
        query = "SELECT attempts FROM login_failures WHERE login_id = '001001'"
        while await live.arun(lambda ctx: ctx.db.fetchval(query)) != 5:
            await asyncio.sleep(0.01)  # until the fifth try is counted and hashing
        wrong = await client.post("/login", data=await login_form(client, "Wrong2026y"))
        gate.set()
        right = await right_try
        assert wrong.status_code == 422 and LOCKED_MESSAGE in wrong.text
        assert right.status_code == 422 and LOCKED_MESSAGE in right.text
        assert live.run(lambda ctx: audit.events(ctx.db, "login.ok")) == []


def same_shape(html: str, typed_id: str) -> str:
    """The page with what legitimately differs taken out: the ID typed back into the field, CSRF tokens."""
    return re.sub(r"[0-9a-f]{64,}", "TOKEN", html.replace(f'value="{typed_id}"', 'value="ID"'))


async def test_unknown_and_known_ids_get_byte_identical_pages_through_the_lock(settings, clock, app_ctx):
    await make_member(app_ctx, "001001")
    pages: dict[str, list[tuple[int, str]]] = {}
    for number in ("001001", "009999"):
        app = create_app(settings, clock)  # the same database; a fresh client, so cookies match too
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as other:
            token = await csrf_token(other)
            pages[number] = []
            for _ in range(7):
                response = await other.post(
                    "/login",
                    data={"_csrf_token": token, "member_id": number, "password": "Wrong2026x"},
                    follow_redirects=False,
                )
                pages[number].append((response.status_code, same_shape(response.text, number)))
    known, unknown = pages["001001"], pages["009999"]
    assert [status for status, _ in known] == [422] * 7
    assert (
        INVALID_LOGIN_MESSAGE in known[3][1]
        and LOCKED_MESSAGE in known[4][1]
        and LOCKED_MESSAGE in known[6][1]
    )
    for step, (mine, theirs) in enumerate(zip(known, unknown, strict=True)):
        assert mine == theirs, f"try {step + 1} differs between a known and an unknown member number"


async def test_from_the_third_failure_the_page_says_how_many_tries_are_left(settings, clock, app_ctx):
    await make_member(app_ctx, "001001")
    texts: dict[str, list[str]] = {}
    for number in ("001001", "009999"):
        app = create_app(settings, clock)
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as other:
            token = await csrf_token(other)
            texts[number] = []
            for _ in range(5):
                response = await other.post(
                    "/login",
                    data={"_csrf_token": token, "member_id": number, "password": "Wrong2026x"},
                    follow_redirects=False,
                )
                texts[number].append(same_shape(response.text, number))
    for number, pages in texts.items():
        shown = [visible_text(page) for page in pages]
        assert "回間違えると" not in shown[0] and "回間違えると" not in shown[1], number
        assert "あと2回間違えると、このログインIDは120分間ロックされます。" in shown[2], number
        assert "あと1回間違えると、このログインIDは120分間ロックされます。" in shown[3], number
        assert LOCKED_MESSAGE in shown[4] and "回間違えると" not in shown[4], number
    assert texts["001001"] == texts["009999"]


async def test_a_right_password_after_warnings_logs_in_and_starts_the_count_again(client, app_ctx):
    await make_member(app_ctx, "001001")
    for _ in range(3):
        await login(client, "001001", "Wrong2026x")
    assert (await login(client, "001001")).status_code == 303
    await post_form(client, "/logout", {})
    for _ in range(2):
        page = await login(client, "001001", "Wrong2026x")
    assert "回間違えると" not in visible_text(page.text)


async def test_many_failures_from_one_address_get_a_429_with_a_clear_message(settings, clock):
    app = create_app(settings.with_(login_ip_failures=3, login_ip_window_minutes=10), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        app_ctx = app.state.ctx
        await make_member(app_ctx, "001001")
        assert (await login(client, "001001")).status_code == 303  # a success does not count
        await post_form(client, "/logout", {})
        for number in ("001002", "001003", "001004"):
            assert (await login(client, number, "Wrong2026x")).status_code == 422
        refused = await login(client, "001001")
        assert refused.status_code == 429
        text = visible_text(refused.text)
        assert "このネットワークからのログインの失敗が続いたため" in text and "10分ほど" in text
        assert 'name="member_id"' in refused.text  # the form is still there to try again later
        clock.advance(timedelta(minutes=10, seconds=1))
        assert (await login(client, "001001")).status_code == 303
