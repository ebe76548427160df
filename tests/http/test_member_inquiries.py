"""The member's own inquiries at /inquiries: the list, the thread, answering in it, and unread replies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from db import inquiries as inquiry_queries
from services import contact as contact_service
from services.contact import store_inquiry
from tests.helpers import body_text, login, login_admin, make_member, outbox, post_form, visible_text

VALUES = {
    "category": "login",
    "name": "鈴木 太郎",
    "email": "member001001@example.jp",
    "member_number": "001001",
    "subject": "パスワードの再設定メールが届きません",
    "message": "今朝、ログイン画面の「パスワードを忘れた方」から再設定を申し込みましたが、メールが届きません。",
}


async def make_inquiry(app_ctx: Any, member_id: int | None, **changes: str) -> int:
    return await store_inquiry(
        app_ctx,
        {**VALUES, **changes},
        member_id=member_id,
        ip="192.0.2.1",
        user_agent="pytest",
        prepared=None,
    )


async def office_reply(app_ctx: Any, admin_id: int, inquiry_id: int, body: str, status: str = "done") -> None:
    inquiry = await inquiry_queries.get(app_ctx.db, inquiry_id)
    await contact_service.reply_to_inquiry(
        app_ctx, inquiry, admin_id=admin_id, body=body, status=status, ip=""
    )


async def test_list_shows_only_own_inquiries_newest_first_with_member_states(
    client: Any, app_ctx: Any, clock: Any
) -> None:
    me = await make_member(app_ctx, "001001")
    other = await make_member(app_ctx, "001002")
    admin = await make_member(app_ctx, "900009", role="admin")
    first = await make_inquiry(app_ctx, me, subject="一つ目のお問い合わせ")
    clock.advance(timedelta(minutes=5))
    second = await make_inquiry(app_ctx, me, subject="二つ目のお問い合わせ")
    third = await make_inquiry(app_ctx, me, subject="三つ目のお問い合わせ")
    await make_inquiry(app_ctx, other, subject="別の会員のお問い合わせ")
    await make_inquiry(app_ctx, None, subject="ログアウト中のお問い合わせ", member_number="001001")
    await inquiry_queries.set_status(app_ctx.db, second, "in_progress", now=clock.now())
    await office_reply(app_ctx, admin, first, "再設定のメールをお送りしました。")

    await login(client, "001001")
    page = await client.get("/inquiries")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert text.index("三つ目") < text.index("二つ目") < text.index("一つ目")
    assert "別の会員" not in text and "ログアウト中" not in text
    for inquiry_id, label in ((third, "受付済"), (second, "対応中"), (first, "回答済")):
        card = page.text.split(f'href="/inquiries/{inquiry_id}"', 1)[1][:600]
        assert label in card
    assert "未読の返信" in text
    assert 'href="/inquiries"' in page.text  # the member menu's entry


async def test_thread_shows_replies_marks_them_read_and_another_members_is_404(
    client: Any, app_ctx: Any
) -> None:
    me = await make_member(app_ctx, "001001")
    other = await make_member(app_ctx, "001002")
    admin = await make_member(app_ctx, "900009", role="admin")
    mine = await make_inquiry(app_ctx, me)
    theirs = await make_inquiry(app_ctx, other, subject="別の会員の件名")
    await office_reply(app_ctx, admin, mine, "迷惑メールフォルダをご確認ください。")
    assert [row["id"] for row in await inquiry_queries.unread_replies(app_ctx.db, me)] == [mine]

    await login(client, "001001")
    thread = await client.get(f"/inquiries/{mine}")
    assert thread.status_code == 200
    text = visible_text(thread.text)
    assert VALUES["message"][:20] in text
    assert "事務局からの返信" in text and "迷惑メールフォルダをご確認ください。" in text
    assert await inquiry_queries.unread_replies(app_ctx.db, me) == []

    for path in (f"/inquiries/{theirs}", "/inquiries/999999"):
        assert (await client.get(path)).status_code == 404
    answer = await post_form(client, f"/inquiries/{theirs}", {"body": "のぞき見"}, follow_redirects=False)
    assert answer.status_code == 404
    assert await inquiry_queries.replies_for(app_ctx.db, theirs) == []


async def test_unread_replies_lists_each_inquiry_once_with_its_latest_reply_in_one_query(
    app_ctx: Any, clock: Any
) -> None:
    me = await make_member(app_ctx, "001001")
    admin = await make_member(app_ctx, "900009", role="admin")
    older = await make_inquiry(app_ctx, me, subject="古い件")
    newer = await make_inquiry(app_ctx, me, subject="新しい件")
    quiet = await make_inquiry(app_ctx, me, subject="返信のない件")
    await office_reply(app_ctx, admin, older, "一通目")
    clock.advance(timedelta(hours=1))
    await office_reply(app_ctx, admin, newer, "新しい件への返信")
    clock.advance(timedelta(hours=1))
    await office_reply(app_ctx, admin, older, "二通目")

    before = app_ctx.db.query_count
    rows = await inquiry_queries.unread_replies(app_ctx.db, me)
    assert app_ctx.db.query_count - before == 1
    assert [(row["id"], row["subject"]) for row in rows] == [(older, "古い件"), (newer, "新しい件")]
    latest = await app_ctx.db.fetchval(
        "SELECT max(created_at) FROM inquiry_replies WHERE inquiry_id = ?", (older,)
    )
    assert rows[0]["replied_at"] == latest
    assert quiet not in [row["id"] for row in rows]

    await inquiry_queries.mark_seen(app_ctx.db, me, older)
    assert [row["id"] for row in await inquiry_queries.unread_replies(app_ctx.db, me)] == [newer]
    # A later reply makes the inquiry unread again; the member's own answer never does.
    await inquiry_queries.add_member_answer(
        app_ctx.db, me, older, body="ありがとうございます", now=clock.now()
    )
    assert [row["id"] for row in await inquiry_queries.unread_replies(app_ctx.db, me)] == [newer]
    await office_reply(app_ctx, admin, older, "三通目")
    assert [row["id"] for row in await inquiry_queries.unread_replies(app_ctx.db, me)] == [older, newer]


async def test_member_answers_in_the_portal_and_the_office_sees_it_in_the_inbox(
    client: Any, app_ctx: Any, settings: Any
) -> None:
    me = await make_member(app_ctx, "001001")
    admin = await make_member(app_ctx, "900009", role="admin")
    inquiry_id = await make_inquiry(app_ctx, me)
    await office_reply(app_ctx, admin, inquiry_id, "もう一度お試しいただけますか。")
    reply_mail = next(m for m in outbox(settings) if str(m["Subject"]).startswith("Re:"))
    assert f"/inquiries/{inquiry_id}" in body_text(reply_mail)  # mailed as before, with the thread's link

    await login(client, "001001")
    without_token = await client.post(f"/inquiries/{inquiry_id}", data={"body": "届きました"})
    assert without_token.status_code == 403
    answer = await post_form(
        client,
        f"/inquiries/{inquiry_id}",
        {"body": "届きました。ありがとうございます。"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"/inquiries/{inquiry_id}")
    thread = await client.get(answer.headers["location"])
    assert "お返事を送りました" in thread.text
    assert "届きました。ありがとうございます。" in visible_text(thread.text)
    row = await inquiry_queries.get(app_ctx.db, inquiry_id)
    assert row is not None and row["status"] == "new"  # back on the office's pile
    replies = await inquiry_queries.replies_for(app_ctx.db, inquiry_id)
    assert [(r["from_member"], r["author_member_id"]) for r in replies] == [(0, admin), (1, me)]

    client.cookies.clear()
    await login_admin(client, app_ctx)
    inbox = await client.get(f"/admin/inbox/{inquiry_id}")
    text = visible_text(inbox.text)
    assert "会員からのお返事" in text and "届きました。ありがとうございます。" in text
    member_reply = replies[1]["id"]
    resend = await post_form(
        client, f"/admin/inbox/{inquiry_id}/replies/{member_reply}/resend", {}, follow_redirects=False
    )
    assert resend.status_code == 404


async def test_bad_answers_keep_the_text_and_say_what_to_fix(client: Any, app_ctx: Any) -> None:
    me = await make_member(app_ctx, "001001")
    inquiry_id = await make_inquiry(app_ctx, me)
    await login(client, "001001")
    empty = await post_form(client, f"/inquiries/{inquiry_id}", {"body": "  \n "})
    assert empty.status_code == 422
    assert "お返事の内容を入力してください。" in empty.text
    long_text = "長" * 4001
    too_long = await post_form(client, f"/inquiries/{inquiry_id}", {"body": long_text})
    assert too_long.status_code == 422
    assert "4000文字以内" in too_long.text and long_text in too_long.text
    odd = await post_form(
        client,
        f"/inquiries/{inquiry_id}",
        {"body": "NUL\x00を含む<script>alert(1)</script>"},
        follow_redirects=False,
    )
    assert odd.status_code == 303
    thread = await client.get(f"/inquiries/{inquiry_id}")
    assert "<script>alert(1)</script>" not in thread.text
    assert "&lt;script&gt;" in thread.text
    assert (await client.get("/inquiries/99999999999999999999999")).status_code == 404
    assert await inquiry_queries.replies_for(app_ctx.db, inquiry_id) != []


async def test_inquiries_need_a_login(client: Any, app_ctx: Any) -> None:
    response = await client.get("/inquiries", follow_redirects=False)
    assert response.status_code == 303
    assert "/login" in response.headers["location"]


async def test_my_page_says_an_answer_is_waiting_until_the_member_opens_it(client: Any, app_ctx: Any) -> None:
    me = await make_member(app_ctx, "001001")
    admin = await make_member(app_ctx, "900009", role="admin")
    mine = await make_inquiry(app_ctx, me, subject="ログインできません")
    await login(client, "001001")
    assert "お問い合わせへの回答が届いています" not in (await client.get("/mypage")).text
    await office_reply(app_ctx, admin, mine, "迷惑メールフォルダをご確認ください。")
    page = (await client.get("/mypage")).text
    assert "お問い合わせへの回答が届いています" in page and "件名：ログインできません" in page
    assert f'href="/inquiries/{mine}"' in page
    await client.get(f"/inquiries/{mine}")
    assert "お問い合わせへの回答が届いています" not in (await client.get("/mypage")).text
