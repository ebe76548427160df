"""事務局からのお知らせ: the admin's screens (rules and bad input), delivery exactly once, members reading
them, the mail setting and its one-click unsubscribe, and the mails as a real SMTP server receives them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from litestar.testing import AsyncTestClient

from app import create_app
from db import announcements as announcement_db
from services import announcements
from services.clock import FrozenClock
from services.context import AppContext
from services.settings import Settings
from tests.digest_helpers import add_condition, add_term, fast_sending
from tests.helpers import (
    SmtpSink,
    body_text,
    login,
    login_admin,
    make_member,
    outbox,
    post_form,
    visible_text,
)

DRAFT = {
    "title": "総会のご案内",
    "body_md": "# 第10回 総会\n\n**6月1日**に本部で開きます。\n\n- 受付：13:00\n- 会場：[本部](https://example.jp/map)\n\n<script>alert(1)</script>",
    "category": "optional",
    "audience": "all",
}


async def create_draft(client: AsyncTestClient[Any], **changes: str) -> int:
    response = await post_form(client, "/admin/announcements", {**DRAFT, **changes}, follow_redirects=False)
    assert response.status_code == 303, response.text
    match = re.search(r"/admin/announcements/(\d+)$", response.headers["location"])
    assert match
    return int(match.group(1))


async def mails_to(app: AppContext, settings: Settings) -> list[str]:
    return sorted(str(m["To"]) for m in outbox(settings) if "総会" in str(m["Subject"]))


async def test_admin_writes_previews_tests_and_sends_to_everyone_once(
    client: AsyncTestClient[Any], app_ctx: AppContext, settings: Settings
) -> None:
    await fast_sending(app_ctx)
    for number in ("001001", "001002", "001003"):
        await make_member(app_ctx, number)
    opted_out = await make_member(app_ctx, "001004")
    await announcement_db.set_mail_choice(app_ctx.db, opted_out, False, now=app_ctx.clock.now())
    admin_id = await login_admin(client, app_ctx)

    announcement_id = await create_draft(client)
    page = await client.get(f"/admin/announcements/{announcement_id}")
    text = visible_text(page.text)
    # Three members and no admin address counted: the one who stopped optional announcements is left out.
    admin_has_mail = bool(await app_ctx.db.fetchval("SELECT email FROM members WHERE id = ?", (admin_id,)))
    assert f"{3 + int(admin_has_mail)} 名" in text
    assert "【集い会員ポータル】総会のご案内" in text and "受付：13:00" in text
    assert "<script>alert(1)</script>" not in page.text

    test = await post_form(client, f"/admin/announcements/{announcement_id}/test", {}, follow_redirects=True)
    assert "テストメールを" in visible_text(test.text)
    [test_mail] = [m for m in outbox(settings) if "テスト送信" in str(m["Subject"])]
    assert "第10回 総会" in body_text(test_mail)

    first = await post_form(client, f"/admin/announcements/{announcement_id}/send", {"mode": "now"})
    second = await post_form(client, f"/admin/announcements/{announcement_id}/send", {"mode": "now"})
    assert first.status_code == 200 and second.status_code == 200
    assert "すでに送信" in visible_text(second.text)
    await announcements.run_due(app_ctx)  # whatever the request's background task left

    real = [m for m in outbox(settings) if str(m["Subject"]) == "【集い会員ポータル】総会のご案内"]
    recipients = sorted(str(m["To"]) for m in real)
    assert "member001004@example.jp" not in recipients
    assert len(recipients) == len(set(recipients)) == 3 + int(admin_has_mail)
    row = await announcement_db.get(app_ctx.db, announcement_id)
    assert row is not None and row["status"] == "done"
    text = visible_text((await client.get(f"/admin/announcements/{announcement_id}")).text)
    assert "送信済み" in text
    counts = (await announcements.counts(app_ctx, [announcement_id]))[announcement_id]
    assert counts.sent == 3 + int(admin_has_mail) and counts.failed == 0 and counts.open == 0
    events = [
        str(r["event"])
        for r in await app_ctx.db.fetchall("SELECT event FROM audit_log WHERE event LIKE 'announcement.%'")
    ]
    assert events.count("announcement.sent") == 1 and "announcement.created" in events
    assert "announcement.test_sent" in events
    # The list shows the counts.
    listing = visible_text((await client.get("/admin/announcements")).text)
    assert "総会のご案内" in listing and "送信済み" in listing


async def test_bad_input_is_explained_and_kept(client: AsyncTestClient[Any], app_ctx: AppContext) -> None:
    await login_admin(client, app_ctx)
    response = await post_form(
        client,
        "/admin/announcements",
        {
            "title": " ",
            "body_md": "本文\x00だけ",
            "category": "x",
            "audience": "prefecture",
            "audience_prefecture": "火星",
        },
    )
    assert response.status_code == 422
    text = visible_text(response.text)
    assert "件名を入力してください。" in text and "都道府県を選んでください。" in text
    assert "本文だけ" in response.text  # what was typed stays (NUL dropped)
    huge = await post_form(
        client,
        "/admin/announcements",
        {**DRAFT, "title": "あ" * 101, "audience": "topic", "audience_topic": "9" * 40},
    )
    assert huge.status_code == 422
    assert "件名は100文字以内" in visible_text(huge.text)
    assert await announcement_db.count_all(app_ctx.db) == 0


async def test_a_send_time_in_the_past_is_refused_and_a_future_one_is_sent_by_the_scheduler(
    client: AsyncTestClient[Any], app_ctx: AppContext, clock: FrozenClock, settings: Settings
) -> None:
    await fast_sending(app_ctx)
    await make_member(app_ctx, "001001")
    await login_admin(client, app_ctx)
    announcement_id = await create_draft(client)
    now_local = clock.now().astimezone(settings.tz)
    past = (now_local - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = await post_form(
        client, f"/admin/announcements/{announcement_id}/send", {"mode": "later", "send_at": past}
    )
    assert response.status_code == 422
    assert "これから先の日時" in visible_text(response.text)
    garbage = await post_form(
        client, f"/admin/announcements/{announcement_id}/send", {"mode": "later", "send_at": "明日の朝\x00"}
    )
    assert garbage.status_code == 422 and "読み取れません" in visible_text(garbage.text)

    later = (now_local + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = await post_form(
        client, f"/admin/announcements/{announcement_id}/send", {"mode": "later", "send_at": later}
    )
    assert "予約しました" in visible_text(response.text)
    await announcements.run_due(app_ctx)
    assert await mails_to(app_ctx, settings) == []
    clock.advance(timedelta(hours=2, minutes=1))
    await announcements.run_due(app_ctx)
    # The admin is a member too.
    everyone = ["member001001@example.jp", "member900001@example.jp"]
    assert await mails_to(app_ctx, settings) == everyone
    await announcements.run_due(app_ctx)
    assert await mails_to(app_ctx, settings) == everyone


async def test_a_member_removed_after_the_build_gets_nothing(
    client: AsyncTestClient[Any], app_ctx: AppContext, settings: Settings
) -> None:
    await fast_sending(app_ctx)
    await make_member(app_ctx, "001001", prefecture="東京都")
    leaving = await make_member(app_ctx, "001002", prefecture="東京都")
    await login_admin(client, app_ctx, "900001")
    announcement_id = await create_draft(client, audience="prefecture", audience_prefecture="東京都")
    assert await announcement_db.start_sending(app_ctx.db, announcement_id, now=app_ctx.clock.now())
    await announcements.build(app_ctx, announcement_id)
    await app_ctx.db.execute("UPDATE members SET status = 'closed' WHERE id = ?", (leaving,))
    await announcements.deliver(app_ctx, announcement_id)
    assert await mails_to(app_ctx, settings) == ["member001001@example.jp"]
    counts = (await announcements.counts(app_ctx, [announcement_id]))[announcement_id]
    assert counts.sent == 1 and counts.skipped == 1


async def test_audiences_pick_the_right_members(client: AsyncTestClient[Any], app_ctx: AppContext) -> None:
    asia = await add_term(app_ctx, "topic", "アジア")
    china = await add_term(app_ctx, "topic", "中国", parent=asia)
    student = await make_member(app_ctx, "001001", membership_type="学生会員", prefecture="大阪府")
    regular = await make_member(app_ctx, "001002", prefecture="東京都")
    await add_condition(app_ctx, regular, "アジア全般", [asia])
    today = app_ctx.clock.now().astimezone(app_ctx.settings.tz).date()

    async def who(kind: str, value: str = "", required: bool = False) -> int:
        return await announcement_db.count_audience(
            app_ctx.db, announcement_db.Audience(kind, value, required), today
        )

    assert await who("membership_type", "学生会員") == 1
    assert await who("prefecture", "東京都") == 1
    assert await who("topic", str(china)) == 1  # a condition on アジア covers 中国
    assert await who("tier", "free") == 2 and await who("tier", "members") == 0
    assert await who("unpaid") == 0
    await announcement_db.set_mail_choice(app_ctx.db, student, False, now=app_ctx.clock.now())
    assert await who("all") == 1 and await who("all", required=True) == 2


async def test_members_read_announcements_and_my_page_shows_the_latest_unread(
    client: AsyncTestClient[Any], app_ctx: AppContext
) -> None:
    await fast_sending(app_ctx)
    await make_member(app_ctx, "001001")
    await make_member(app_ctx, "001002", membership_type="学生会員")
    await login_admin(client, app_ctx)
    public_id = await create_draft(client, title="総会のご案内")
    members_only_id = await create_draft(client, title="会員限定の総会資料", members_only="1")
    targeted_id = await create_draft(
        client, title="学生会員の皆さまへ", audience="membership_type", audience_membership_type="学生会員"
    )
    for announcement_id in (public_id, members_only_id, targeted_id):
        await post_form(client, f"/admin/announcements/{announcement_id}/send", {"mode": "now"})
    await announcements.run_due(app_ctx)
    await client.get("/logout")
    client.cookies.clear()

    anonymous = visible_text((await client.get("/announcements")).text)
    assert "総会のご案内" in anonymous and "会員限定の総会資料" not in anonymous
    assert "学生会員の皆さまへ" not in anonymous
    assert (await client.get(f"/announcements/{public_id}")).status_code == 200
    locked = await client.get(f"/announcements/{members_only_id}", follow_redirects=False)
    assert locked.status_code == 303 and locked.headers["location"].startswith("/login")
    assert (await client.get(f"/announcements/{targeted_id}")).status_code == 404
    assert (await client.get("/announcements/99999999999999999999")).status_code == 404

    await login(client, "001001")
    mypage = visible_text((await client.get("/mypage")).text)
    assert "未読 会員限定の総会資料" in mypage
    listing = visible_text((await client.get("/announcements")).text)
    assert "会員限定の総会資料" in listing and "学生会員の皆さまへ" not in listing
    page = await client.get(f"/announcements/{members_only_id}")
    assert page.status_code == 200 and "第10回 総会" in page.text and "<script>alert" not in page.text
    assert "未読 総会のご案内" in visible_text((await client.get("/mypage")).text)
    await client.get(f"/announcements/{public_id}")
    assert "事務局からのお知らせ 未読" not in visible_text((await client.get("/mypage")).text)
    assert (await client.get(f"/announcements/{targeted_id}")).status_code == 404


async def test_mail_setting_and_one_click_stop_only_announcements(
    settings: Settings, clock: FrozenClock, smtp_sink: SmtpSink
) -> None:
    app = create_app(settings.with_(smtp_url=smtp_sink.url), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx: AppContext = app.state.ctx
        await fast_sending(ctx)
        member = await make_member(ctx, "001001", family_name="山田", given_name="花子", prefecture="東京都")
        await make_member(ctx, "001002", prefecture="東京都")
        await login_admin(client, ctx)
        announcement_id = await create_draft(client, audience="prefecture", audience_prefecture="東京都")
        smtp_sink.fail_next = ["451 Try again later"]
        await post_form(client, f"/admin/announcements/{announcement_id}/send", {"mode": "now"})
        await announcements.run_due(ctx)
        clock.advance(timedelta(minutes=2))
        await announcements.run_due(ctx)
        counts = (await announcements.counts(ctx, [announcement_id]))[announcement_id]
        assert counts.sent == 2 and counts.open == 0
        message = next(m for m in smtp_sink.messages if str(m["To"]) == "member001001@example.jp")
        assert str(message["Subject"]) == "【集い会員ポータル】総会のご案内"
        assert "山田 花子 様" in body_text(message) and "・受付：13:00" in body_text(message)
        assert "事務局からのお知らせの配信を停止する" in body_text(message)
        assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        unsubscribe = str(message["List-Unsubscribe"]).strip()
        path = urlsplit(unsubscribe[1:-1]).path
        response = await client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200 and "事務局からのお知らせ" in response.text
        row = await ctx.db.fetchone(
            "SELECT announcement_mail, digest_frequency FROM members WHERE id = ?", (member,)
        )
        assert row is not None and row["announcement_mail"] == 0 and row["digest_frequency"] == "weekly"

        # A required notice still goes, without an unsubscribe link.
        required_id = await create_draft(client, title="会費のお支払いについて", category="required")
        await post_form(client, f"/admin/announcements/{required_id}/send", {"mode": "now"})
        await announcements.run_due(ctx)
        notice = [m for m in smtp_sink.messages if "会費のお支払い" in str(m["Subject"])]
        assert "member001001@example.jp" in {str(m["To"]) for m in notice}
        assert all(m["List-Unsubscribe"] is None for m in notice)

        # The member turns them back on in メール設定.
        await client.get("/logout")
        client.cookies.clear()
        await login(client, "001001")
        page = visible_text((await client.get("/settings/mail")).text)
        assert "事務局からのお知らせ" in page
        bad = await post_form(client, "/settings/mail/announcements", {"announcement_mail": "yes"})
        assert bad.status_code == 422 and "受け取るかどうかを選んでください。" in visible_text(bad.text)
        ok = await post_form(client, "/settings/mail/announcements", {"announcement_mail": "1"})
        assert "受け取ります" in visible_text(ok.text)
        assert await announcement_db.mail_choice(ctx.db, member)


async def test_members_cannot_reach_the_console(client: AsyncTestClient[Any], app_ctx: AppContext) -> None:
    await make_member(app_ctx, "001001")
    await login(client)
    assert (await client.get("/admin/announcements")).status_code == 403
    assert (await post_form(client, "/admin/announcements", DRAFT)).status_code == 403


async def test_the_demo_has_one_announcement_on_the_site(
    client: AsyncTestClient[Any], app_ctx: AppContext
) -> None:
    from services.demo import load_demo

    await load_demo(app_ctx)
    await load_demo(app_ctx)  # twice: still one
    assert await announcement_db.count_all(app_ctx.db) == 1
    text = visible_text((await client.get("/announcements")).text)
    assert announcements.DEMO_TITLE in text
    assert outbox(app_ctx.settings) == []


async def test_the_sending_status_refreshes_itself_until_the_send_is_done(
    client: AsyncTestClient[Any], app_ctx: AppContext
) -> None:
    await fast_sending(app_ctx)
    await make_member(app_ctx, "001001")
    admin_id = await login_admin(client, app_ctx)
    announcement_id = await create_draft(client)
    assert await announcements.send_now(app_ctx, announcement_id, actor_id=admin_id, recipients=1)
    here = f"/admin/announcements/{announcement_id}"

    page = await client.get(here)
    assert 'data-hx-trigger="every 3s"' in page.text and "<html" in page.text
    full_queries = app_ctx.db.query_count
    await client.get(here)
    full_queries = app_ctx.db.query_count - full_queries
    poll_queries = app_ctx.db.query_count
    polled = await client.get(here, headers={"HX-Request": "true"})
    poll_queries = app_ctx.db.query_count - poll_queries
    print(f"queries: page {full_queries}, poll {poll_queries}")
    assert poll_queries < full_queries  # a poll reads only what the status section shows
    # The status section alone, asking for itself again: nothing sent yet.
    assert "<html" not in polled.text and polled.text.lstrip().startswith("<section")
    assert 'data-hx-trigger="every 3s"' in polled.text and 'id="count-sent">0<' in polled.text
    assert "送信準備中" in visible_text(polled.text)

    await announcements.run_due(app_ctx)
    done = await client.get(here, headers={"HX-Request": "true"})
    assert "data-hx-trigger" not in done.text  # it stops asking
    assert 'id="count-pending">0<' in done.text and 'id="count-sent">0<' not in done.text
    assert "送信済み" in visible_text(done.text) and "に完了" in visible_text(done.text)
