"""The admin's inquiry inbox: filters, the message with its screenshot, replies by mail kept in the thread."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from app import create_app
from db import inquiries as inquiry_queries
from services.contact import PreparedAttachment, prepare_attachment, store_inquiry
from tests.contact_helpers import png_bytes
from tests.helpers import body_text, free_port, login, login_admin, make_member, post_form, visible_text

VALUES = {
    "category": "login",
    "name": "山田 花子",
    "email": "hanako@example.jp",
    "member_number": "",
    "subject": "ログインできません",
    "message": "「ログインIDまたはパスワードが間違っています。」と表示されます。",
}


class FakeUpload:
    def __init__(self, data: bytes, filename: str = "screen.png") -> None:
        self.data = data
        self.filename = filename
        self.offset = 0

    async def read(self, size: int = -1) -> bytes:
        chunk = self.data[self.offset : self.offset + size] if size > 0 else self.data[self.offset :]
        self.offset += len(chunk)
        return chunk


async def make_inquiry(
    app_ctx: Any, *, member_id: int | None = None, with_image: bool = False, **changes: str
) -> int:
    prepared: PreparedAttachment | None = None
    if with_image:
        prepared = await prepare_attachment(app_ctx, FakeUpload(png_bytes()))
    return await store_inquiry(
        app_ctx,
        {**VALUES, **changes},
        member_id=member_id,
        ip="192.0.2.1",
        user_agent="pytest",
        prepared=prepared,
    )


async def test_inbox_is_for_admins_only(client: Any, app_ctx: Any) -> None:
    inquiry_id = await make_inquiry(app_ctx, with_image=True)
    for path in ("/admin/inbox", f"/admin/inbox/{inquiry_id}", f"/admin/inbox/{inquiry_id}/attachments/1"):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert "/login" in response.headers["location"]
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    for path in ("/admin/inbox", f"/admin/inbox/{inquiry_id}", f"/admin/inbox/{inquiry_id}/attachments/1"):
        assert (await client.get(path)).status_code == 403
    reply = await post_form(client, f"/admin/inbox/{inquiry_id}/reply", {"body": "x", "status": "done"})
    assert reply.status_code == 403
    assert await inquiry_queries.replies_for(app_ctx.db, inquiry_id) == []


async def test_list_filters_by_status_and_category_in_a_fixed_number_of_queries(
    client: Any, app_ctx: Any
) -> None:
    await login_admin(client, app_ctx)
    first = await make_inquiry(app_ctx, subject="会費の領収書について", category="fee", with_image=True)
    await make_inquiry(app_ctx, subject="退会したい", category="leaving")
    await inquiry_queries.set_status(app_ctx.db, first, "done", now=app_ctx.clock.now())

    page = await client.get("/admin/inbox")
    text = visible_text(page.text)
    assert "会費の領収書について" in text and "退会したい" in text
    assert "画像あり" in text
    assert 'href="/admin/inbox"' in page.text and "問い合わせ" in text  # admin menu entry

    done = visible_text((await client.get("/admin/inbox?status=done")).text)
    assert "会費の領収書について" in done and "退会したい" not in done
    leaving = visible_text((await client.get("/admin/inbox?category=leaving")).text)
    assert "退会したい" in leaving and "会費の領収書について" not in leaving
    assert (await client.get("/admin/inbox?status=bogus&category=<x>&page=-5")).status_code == 200

    before = app_ctx.db.query_count
    await client.get("/admin/inbox")
    few = app_ctx.db.query_count - before
    for index in range(15):
        await make_inquiry(app_ctx, subject=f"追加 {index}", with_image=index % 2 == 0)
    before = app_ctx.db.query_count
    await client.get("/admin/inbox")
    assert app_ctx.db.query_count - before == few


async def test_message_shows_its_screenshot_which_only_admins_download(client: Any, app_ctx: Any) -> None:
    await login_admin(client, app_ctx)
    inquiry_id = await make_inquiry(app_ctx, with_image=True)
    row = (await inquiry_queries.attachments_for(app_ctx.db, inquiry_id))[0]
    page = await client.get(f"/admin/inbox/{inquiry_id}")
    assert page.status_code == 200
    assert "ログインIDまたはパスワードが間違っています" in visible_text(page.text)
    assert f'src="/admin/inbox/{inquiry_id}/attachments/{row["id"]}?inline=1"' in page.text
    download = await client.get(f"/admin/inbox/{inquiry_id}/attachments/{row['id']}")
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.content.startswith(b"\x89PNG")
    assert "no-store" in download.headers["cache-control"]
    inline = await client.get(f"/admin/inbox/{inquiry_id}/attachments/{row['id']}?inline=1")
    assert inline.headers["content-disposition"].startswith("inline")
    other = await make_inquiry(app_ctx)
    assert (await client.get(f"/admin/inbox/{other}/attachments/{row['id']}")).status_code == 404
    assert (await client.get("/admin/inbox/99999")).status_code == 404


async def test_sender_who_is_a_member_is_linked(client: Any, app_ctx: Any) -> None:
    await login_admin(client, app_ctx)
    member_id = await make_member(app_ctx, "001234", family_name="山田", given_name="花子")
    logged = await make_inquiry(app_ctx, member_id=member_id, member_number="001234")
    typed = await make_inquiry(app_ctx, member_number="001234")
    unknown = await make_inquiry(app_ctx, member_number="777777")
    page = await client.get(f"/admin/inbox/{logged}")
    assert f'href="/admin/members/{member_id}"' in page.text
    assert "ご本人です" in page.text
    page = await client.get(f"/admin/inbox/{typed}")
    assert f'href="/admin/members/{member_id}"' in page.text
    assert "ログインせずに記入された番号" in page.text
    page = await client.get(f"/admin/inbox/{unknown}")
    assert "/admin/members/" not in page.text
    assert "この番号の会員は見つかりません" in page.text


async def test_leaving_request_opens_the_account_closure_action(client: Any, app_ctx: Any) -> None:
    await login_admin(client, app_ctx)
    member_id = await make_member(app_ctx, "001234")
    inquiry_id = await make_inquiry(app_ctx, member_id=member_id, member_number="001234", category="leaving")
    page = await client.get(f"/admin/inbox/{inquiry_id}")
    assert f'href="/admin/closures/members/{member_id}"' in page.text
    assert "退会手続きを開く" in visible_text(page.text)
    anonymous = await make_inquiry(app_ctx, category="leaving")
    page = await client.get(f"/admin/inbox/{anonymous}")
    assert 'href="/admin/closures"' in page.text
    closure = await client.get(f"/admin/closures/members/{member_id}")
    assert closure.status_code == 200


async def test_status_changes_and_bad_status_is_refused(client: Any, app_ctx: Any) -> None:
    await login_admin(client, app_ctx)
    inquiry_id = await make_inquiry(app_ctx)
    response = await post_form(client, f"/admin/inbox/{inquiry_id}/status", {"status": "in_progress"})
    assert "対応状況を「対応中」にしました" in response.text
    assert (await inquiry_queries.get(app_ctx.db, inquiry_id))["status"] == "in_progress"
    bad = await post_form(client, f"/admin/inbox/{inquiry_id}/status", {"status": "deleted"})
    assert bad.status_code == 422
    audit = await app_ctx.db.fetchval("SELECT count(*) FROM audit_log WHERE event = 'inquiry_status'")
    assert audit == 1


async def test_admin_reply_reaches_the_sender_and_stays_in_the_thread(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    app = create_app(settings.with_(smtp_url=smtp_sink.url), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        app_ctx = app.state.ctx
        await app_ctx.update_org({"contact_email": "office@tsudoi.example.jp", "org_name": "つどい学会"})
        await login_admin(client, app_ctx)
        inquiry_id = await make_inquiry(app_ctx)
        empty = await post_form(client, f"/admin/inbox/{inquiry_id}/reply", {"body": "  ", "status": "done"})
        assert empty.status_code == 422
        assert "返信の本文を入力してください" in empty.text
        body = "山田様\n\nパスワードを再設定してください。\nhttps://example.jp/password/forgot"
        response = await post_form(
            client,
            f"/admin/inbox/{inquiry_id}/reply",
            {"body": body, "status": "done"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        page = await client.get(f"/admin/inbox/{inquiry_id}")
        text = visible_text(page.text)
        assert "パスワードを再設定してください" in text and "送信済み" in text
        assert (await inquiry_queries.get(app_ctx.db, inquiry_id))["status"] == "done"

    replies = [m for m in smtp_sink.messages if str(m["To"]) == "hanako@example.jp"]
    assert len(replies) == 1
    assert replies[0]["Reply-To"] == "office@tsudoi.example.jp"
    assert f"受付番号 {inquiry_id}" in replies[0]["Subject"]
    content = body_text(replies[0])
    assert "パスワードを再設定してください。" in content
    assert "ログインIDまたはパスワードが間違っています" in content  # the original, quoted


async def test_failed_reply_is_kept_and_can_be_resent(settings: Any, clock: Any, smtp_sink: Any) -> None:
    closed = f"smtp://127.0.0.1:{free_port()}?starttls=off"
    app = create_app(settings.with_(smtp_url=closed), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        app_ctx = app.state.ctx
        await login_admin(client, app_ctx)
        inquiry_id = await make_inquiry(app_ctx)
        response = await post_form(
            client,
            f"/admin/inbox/{inquiry_id}/reply",
            {"body": "ご連絡ありがとうございます。", "status": "in_progress"},
        )
        assert "メールを送信できませんでした" in response.text
        assert "メール未送信" in response.text
        reply = (await inquiry_queries.replies_for(app_ctx.db, inquiry_id))[0]
        assert reply["mail_status"] == "failed"
        # The admin fixes the mail server; the resend goes out.
        from services.mailer import SmtpTransport

        app_ctx.mailer.transport = SmtpTransport(smtp_sink.url)
        resent = await post_form(client, f"/admin/inbox/{inquiry_id}/replies/{reply['id']}/resend", {})
        assert "返信を再送しました" in resent.text
        assert (await inquiry_queries.replies_for(app_ctx.db, inquiry_id))[0]["mail_status"] == "sent"
    assert [str(m["To"]) for m in smtp_sink.messages] == ["hanako@example.jp"]
