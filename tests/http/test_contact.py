"""The contact form through the real app: public, bad inputs keep what was typed, stored first then mailed."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from litestar.testing import AsyncTestClient

from app import create_app
from db import inquiries as inquiry_queries
from services import contact as contact_service
from services.contact import (
    ATTACHMENT_TOO_BIG,
    ATTACHMENT_WRONG_TYPE,
    HONEYPOT_MESSAGE,
    STORAGE_FULL_MESSAGE,
    TOO_FAST_MESSAGE,
)
from tests.contact_helpers import gif_bytes, oversized_png, png_bytes
from tests.helpers import body_text, csrf_token, free_port, login, make_member, outbox, visible_text
from tests.unit.test_qr import rasterize_svg

TYPED = {
    "category": "login",
    "name": "山田 花子",
    "email": "hanako@example.jp",
    "member_number": "001234",
    "subject": "ログインできません",
    "message": "会員番号 001234 とパスワードを入力して「ログイン」を押すと、\n「ログインIDまたはパスワードが間違っています。」と表示されました。",
}


def form_started(page_html: str) -> str:
    match = re.search(r'name="form_started" value="([^"]+)"', page_html)
    assert match, "the form carries a signed start time"
    return match.group(1)


async def open_form(client: AsyncTestClient[Any], clock: Any, url: str = "/contact") -> str:
    """Load the form as a person would, then let a realistic amount of time pass."""
    page = await client.get(url)
    assert page.status_code == 200
    clock.advance(timedelta(seconds=40))
    return form_started(page.text)


async def send(
    client: AsyncTestClient[Any],
    data: dict[str, str],
    *,
    files: dict[str, Any] | None = None,
    token: str | None = None,
    **kwargs: Any,
) -> Any:
    form = {"_csrf_token": await csrf_token(client), **data}
    if token is not None:
        form["form_started"] = token
    if files:
        return await client.post("/contact", data=form, files=files, follow_redirects=False, **kwargs)
    # Browsers send the form as multipart (there is a file field); an empty file part is "no file".
    return await client.post(
        "/contact",
        data=form,
        files={"attachment": ("", b"", "application/octet-stream")},
        follow_redirects=False,
        **kwargs,
    )


def assert_kept(html: str, values: dict[str, str]) -> None:
    for key in ("name", "email", "subject"):
        assert f'value="{values[key]}"' in html, key
    assert values["message"].split("\n")[0] in html
    assert f'<option value="{values["category"]}" selected>' in html


async def count_inquiries(app_ctx: Any) -> int:
    return int(await app_ctx.db.fetchval("SELECT count(*) FROM inquiries"))


def attachment_files(settings: Any) -> list[Path]:
    folder = settings.data_dir / "attachments"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


async def test_contact_page_is_public_with_the_contract_fields_and_guidance(client: Any) -> None:
    response = await client.get("/contact")
    assert response.status_code == 200
    for name in ("category", "name", "email", "member_number", "subject", "message", "attachment"):
        assert f'name="{name}"' in response.text
    assert 'enctype="multipart/form-data"' in response.text
    text = visible_text(response.text)
    assert "ログインできない" in text  # the guide's bad example
    assert "と表示されました" in text  # the good example says what appeared
    assert "スクリーンショット" in text
    for label in ("マイページのサービス内容", "登録方法", "ログイン", "会費", "退会のご希望", "その他"):
        assert label in text
    assert re.search(r'src="/contact/qr\.svg\?v=[0-9a-f]+"', response.text)
    assert "info@example.jp" in text  # the print block's e-mail address
    assert 'accept="image/png,image/jpeg"' in response.text


async def test_category_can_be_preselected_from_a_help_link(client: Any) -> None:
    response = await client.get("/contact?category=leaving")
    assert '<option value="leaving" selected>' in response.text
    response = await client.get("/contact?category=<script>")
    assert "<script>" not in response.text.split("<main", 1)[1]


async def test_logged_in_member_gets_a_prefilled_fixed_member_number(
    client: Any, app_ctx: Any, clock: Any
) -> None:
    member_id = await make_member(app_ctx, "001001", family_name="鈴木", given_name="太郎")
    await login(client, "001001")
    page = await client.get("/contact")
    assert re.search(r'name="member_number" type="text" value="001001"[^>]*readonly', page.text)
    assert 'value="鈴木 太郎"' in page.text and 'value="member001001@example.jp"' in page.text
    clock.advance(timedelta(seconds=30))
    response = await send(client, {**TYPED, "member_number": "999999"}, token=form_started(page.text))
    assert response.status_code == 303
    row = await app_ctx.db.fetchone("SELECT member_number, member_id FROM inquiries")
    assert (row["member_number"], row["member_id"]) == ("001001", member_id)


async def test_missing_fields_each_get_a_message_and_typed_values_stay(
    client: Any, app_ctx: Any, clock: Any
) -> None:
    token = await open_form(client, clock)
    response = await send(client, {"name": "山田 花子", "message": "途中まで書きました"}, token=token)
    assert response.status_code == 422
    text = visible_text(response.text)
    for message in ("お問い合わせの種類を選んでください", "メールアドレス", "件名を入力してください"):
        assert message in text
    assert 'value="山田 花子"' in response.text
    assert "途中まで書きました" in response.text
    assert 'aria-invalid="true"' in response.text
    assert await count_inquiries(app_ctx) == 0


async def test_honeypot_filled_is_refused_keeping_what_was_typed(
    client: Any, app_ctx: Any, clock: Any
) -> None:
    token = await open_form(client, clock)
    response = await send(client, {**TYPED, "website_url": "http://spam.example"}, token=token)
    assert response.status_code == 422
    assert HONEYPOT_MESSAGE in response.text
    assert_kept(response.text, TYPED)
    assert "http://spam.example" not in response.text
    assert await count_inquiries(app_ctx) == 0


async def test_too_fast_is_refused_keeping_values_and_a_second_try_goes_through(
    client: Any, app_ctx: Any, clock: Any
) -> None:
    page = await client.get("/contact")
    response = await send(client, TYPED, token=form_started(page.text))
    assert response.status_code == 422
    assert TOO_FAST_MESSAGE in response.text
    assert_kept(response.text, TYPED)
    assert await count_inquiries(app_ctx) == 0
    clock.advance(timedelta(seconds=10))  # the person reads the message and presses 送信 again
    again = await send(client, TYPED, token=form_started(response.text))
    assert again.status_code == 303
    assert await count_inquiries(app_ctx) == 1


async def test_missing_form_timestamp_is_refused_softly(client: Any, app_ctx: Any) -> None:
    response = await send(client, TYPED)
    assert response.status_code == 422
    assert "もう一度「送信する」を押してください" in response.text
    assert_kept(response.text, TYPED)


async def test_too_big_attachment_is_refused_keeping_the_form(
    client: Any, app_ctx: Any, clock: Any, settings: Any
) -> None:
    token = await open_form(client, clock)
    response = await send(
        client, TYPED, token=token, files={"attachment": ("screen.png", oversized_png(), "image/png")}
    )
    assert response.status_code == 422
    assert ATTACHMENT_TOO_BIG in response.text
    assert_kept(response.text, TYPED)
    assert await count_inquiries(app_ctx) == 0
    assert attachment_files(settings) == []


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("screen.png", gif_bytes()),
        ("screen.png", b"%PDF-1.7 not an image"),
        ("screen.jpg", b"\xff\xd8\xff garbage"),
    ],
)
async def test_wrong_type_disguised_as_an_image_is_refused(
    client: Any, app_ctx: Any, clock: Any, settings: Any, filename: str, content: bytes
) -> None:
    token = await open_form(client, clock)
    response = await send(client, TYPED, token=token, files={"attachment": (filename, content, "image/png")})
    assert response.status_code == 422
    assert ATTACHMENT_WRONG_TYPE in response.text
    assert_kept(response.text, TYPED)
    assert await count_inquiries(app_ctx) == 0
    assert attachment_files(settings) == []


async def test_screenshot_is_stored_reencoded_without_metadata(
    client: Any, app_ctx: Any, clock: Any, settings: Any
) -> None:
    token = await open_form(client, clock)
    response = await send(
        client, TYPED, token=token, files={"attachment": ("スクリーンショット.png", png_bytes(), "image/png")}
    )
    assert response.status_code == 303
    inquiry_id = int(await app_ctx.db.fetchval("SELECT id FROM inquiries"))
    rows = await inquiry_queries.attachments_for(app_ctx.db, inquiry_id)
    assert len(rows) == 1
    assert rows[0]["original_name"] == "スクリーンショット.png"
    stored = settings.data_dir / "attachments" / rows[0]["stored_name"]
    assert stored.read_bytes().startswith(b"\x89PNG")
    assert b"secret-note" not in stored.read_bytes()
    assert attachment_files(settings) == [stored]  # nothing left in the incoming folder


async def test_a_checked_screenshot_survives_another_fields_error(
    client: Any, app_ctx: Any, clock: Any, settings: Any
) -> None:
    token = await open_form(client, clock)
    first = await send(
        client,
        {**TYPED, "subject": ""},
        token=token,
        files={"attachment": ("screen.png", png_bytes(), "image/png")},
    )
    assert first.status_code == 422
    assert "添付済み" in first.text and "screen.png" in first.text
    assert form_started(first.text) == token  # the same form, shown again
    clock.advance(timedelta(seconds=20))
    second = await send(client, TYPED, token=form_started(first.text))
    assert second.status_code == 303
    assert int(await app_ctx.db.fetchval("SELECT count(*) FROM inquiry_attachments")) == 1


async def test_stored_then_mailed_to_the_office_with_the_screenshot_and_a_copy_to_the_sender(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    app = create_app(settings.with_(smtp_url=smtp_sink.url), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        await ctx.update_org({"contact_email": "office@tsudoi.example.jp", "org_name": "つどい学会"})
        token = await open_form(client, clock)
        response = await send(
            client, TYPED, token=token, files={"attachment": ("screen.png", png_bytes(), "image/png")}
        )
        assert response.status_code == 303
        row = await ctx.db.fetchone("SELECT * FROM inquiries")
        assert (row["admin_mail_status"], row["auto_reply_status"]) == ("sent", "sent")
        sent_page = await client.get(response.headers["location"])
        assert f"受付番号は {row['id']} です" in visible_text(sent_page.text)
        assert "控えをお送りしました" in sent_page.text

    by_recipient = {str(m["To"]): m for m in smtp_sink.messages}
    assert set(by_recipient) == {"office@tsudoi.example.jp", "hanako@example.jp"}
    office = by_recipient["office@tsudoi.example.jp"]
    assert office["Reply-To"] == "hanako@example.jp"
    assert "ログインできません" in office["Subject"]
    assert "ログインIDまたはパスワードが間違っています" in body_text(office)
    files = [part for part in office.iter_attachments()]
    assert [part.get_filename() for part in files] == ["screen.png"]
    assert files[0].get_content().startswith(b"\x89PNG")
    copy = by_recipient["hanako@example.jp"]
    assert f"受付番号 {row['id']}" in copy["Subject"]
    assert copy["Reply-To"] == "office@tsudoi.example.jp"


async def test_auto_reply_carries_only_the_number_and_subject_not_the_message(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    """Anyone can type any address into the form: the auto-reply must not carry their text to it."""
    app = create_app(settings.with_(smtp_url=smtp_sink.url), clock)
    typed = {
        **TYPED,
        "name": "当選者様",
        "message": "おめでとうございます！賞金の受け取りは https://phish.example.com/claim から",
    }
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        token = await open_form(client, clock)
        response = await send(
            client, typed, token=token, files={"attachment": ("prize-claim.png", png_bytes(), "image/png")}
        )
        assert response.status_code == 303
        inquiry_id = await ctx.db.fetchval("SELECT id FROM inquiries")
    copy = next(m for m in smtp_sink.messages if str(m["To"]) == "hanako@example.jp")
    html_part = copy.get_body(preferencelist=("html",))
    assert html_part is not None
    for text in (body_text(copy), visible_text(html_part.get_content())):
        assert f"受付番号：{inquiry_id}" in text.replace("受付番号 ", "受付番号：")
        assert "ログインできません" in text  # the subject line
        for typed_text in ("phish.example.com", "おめでとうございます", "当選者様", "prize-claim"):
            assert typed_text not in text
    office = next(m for m in smtp_sink.messages if str(m["To"]) != "hanako@example.jp")
    assert "phish.example.com" in body_text(office)  # the office still gets the whole inquiry


async def test_inquiry_is_kept_and_the_sender_told_when_smtp_is_down(settings: Any, clock: Any) -> None:
    closed = f"smtp://127.0.0.1:{free_port()}?starttls=off"
    app = create_app(settings.with_(smtp_url=closed), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        token = await open_form(client, clock)
        response = await send(
            client, TYPED, token=token, files={"attachment": ("screen.png", png_bytes(), "image/png")}
        )
        assert response.status_code == 303
        row = await ctx.db.fetchone("SELECT * FROM inquiries")
        assert row["subject"] == TYPED["subject"]
        assert (row["admin_mail_status"], row["auto_reply_status"]) == ("failed", "failed")
        failed = await ctx.db.fetchval("SELECT count(*) FROM mail_log WHERE status = 'failed'")
        assert failed == 2
        page = await client.get(response.headers["location"])
        text = visible_text(page.text)
        assert "お問い合わせを受け付けました" in text
        assert "確かに受け付けています" in text


async def test_default_outbox_gets_both_mails(client: Any, app_ctx: Any, clock: Any, settings: Any) -> None:
    token = await open_form(client, clock)
    assert (await send(client, TYPED, token=token)).status_code == 303
    assert sorted(str(m["To"]) for m in outbox(settings)) == ["hanako@example.jp", "info@example.jp"]


async def test_disk_full_stores_nothing_and_keeps_the_form(
    client: Any, app_ctx: Any, clock: Any, settings: Any, monkeypatch: Any
) -> None:
    async def full(*args: Any, **kwargs: Any) -> int:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(contact_service.inquiry_queries, "create", full)
    token = await open_form(client, clock)
    response = await send(
        client, TYPED, token=token, files={"attachment": ("screen.png", png_bytes(), "image/png")}
    )
    assert response.status_code == 422
    assert STORAGE_FULL_MESSAGE in response.text
    assert_kept(response.text, TYPED)
    assert attachment_files(settings) == []
    assert outbox(settings) == []


async def test_rate_limit_per_address_keeps_the_form_but_never_stops_a_normal_sender(
    client: Any, app_ctx: Any, clock: Any
) -> None:
    for _ in range(contact_service.EMAIL_LIMIT.attempts):
        token = await open_form(client, clock)
        assert (await send(client, TYPED, token=token)).status_code == 303
    token = await open_form(client, clock)
    refused = await send(client, TYPED, token=token)
    assert refused.status_code == 422
    assert "しばらく時間をおいてから" in refused.text
    assert_kept(refused.text, TYPED)
    other = await send(client, {**TYPED, "email": "someone.else@example.jp"}, token=token)
    assert other.status_code == 303
    clock.advance(timedelta(hours=1, minutes=1))
    token = await open_form(client, clock)
    assert (await send(client, TYPED, token=token)).status_code == 303


async def test_rate_limit_per_ip(client: Any, app_ctx: Any, clock: Any) -> None:
    for index in range(contact_service.IP_LIMIT.attempts):
        token = await open_form(client, clock)
        data = {**TYPED, "email": f"person{index}@example.jp"}
        assert (await send(client, data, token=token)).status_code == 303
    token = await open_form(client, clock)
    refused = await send(client, {**TYPED, "email": "new@example.jp"}, token=token)
    assert refused.status_code == 422
    assert "info@example.jp" in visible_text(refused.text)


async def test_body_over_the_request_limit_gets_the_form_with_a_clear_message(client: Any) -> None:
    token = await csrf_token(client)
    big = b"\x89PNG" + b"\0" * (10 * 1024 * 1024 + 10)
    response = await client.post(
        "/contact",
        data={"_csrf_token": token, **TYPED},
        files={"attachment": ("huge.png", big, "image/png")},
        follow_redirects=False,
    )
    assert response.status_code == 413
    assert "5MBまで" in response.text
    assert 'name="subject"' in response.text


async def test_sent_page_without_a_valid_token_goes_back_to_the_form(client: Any) -> None:
    response = await client.get("/contact/sent?t=forged", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/contact"


async def test_qr_svg_decodes_to_the_contact_url_and_is_cached_with_an_etag(
    client: Any, settings: Any
) -> None:
    response = await client.get("/contact/qr.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "max-age=86400" in response.headers["cache-control"]
    etag = response.headers["etag"]
    decoded = [r.text for r in zxingcpp.read_barcodes(rasterize_svg(response.text))]
    assert decoded == [f"{settings.base_url}/contact"]
    again = await client.get("/contact/qr.svg", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    weak = await client.get("/contact/qr.svg", headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    page = await client.get("/contact")
    version = re.search(r'src="/contact/qr\.svg\?v=([0-9a-f]+)"', page.text)
    assert version
    versioned = await client.get(f"/contact/qr.svg?v={version.group(1)}")
    assert "max-age=31536000" in versioned.headers["cache-control"]
    assert "immutable" in versioned.headers["cache-control"]


async def test_qr_follows_a_new_base_url(client: Any, app_ctx: Any) -> None:
    first = await client.get("/contact/qr.svg")
    app_ctx.settings = app_ctx.settings.with_(base_url="https://members.example.org")
    second = await client.get("/contact/qr.svg", headers={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 200
    assert second.headers["etag"] != first.headers["etag"]
    decoded = [r.text for r in zxingcpp.read_barcodes(rasterize_svg(second.text))]
    assert decoded == ["https://members.example.org/contact"]
    # Without TSUDOI_BASE_URL (tests set none), the base URL the admin sets is used.
    await app_ctx.update_org({"base_url": "https://portal.example.jp"})
    third = await client.get("/contact/qr.svg")
    assert [r.text for r in zxingcpp.read_barcodes(rasterize_svg(third.text))] == [
        "https://portal.example.jp/contact"
    ]
    page = await client.get("/contact")
    assert "https://portal.example.jp/contact" in visible_text(page.text)


async def test_poster_page_has_the_qr_url_and_address(client: Any) -> None:
    response = await client.get("/contact/poster")
    assert response.status_code == 200
    text = visible_text(response.text)
    assert "http://testserver.local/contact" in text
    assert "info@example.jp" in text
    assert "data-print-button" in response.text


async def test_an_error_fixed_quickly_is_accepted_because_the_time_counts_from_the_first_display(
    client: Any, app_ctx: Any, clock: Any
) -> None:
    token = await open_form(client, clock)  # 40 seconds of typing
    first = await send(client, {**TYPED, "subject": ""}, token=token)
    assert first.status_code == 422
    assert form_started(first.text) == token
    clock.advance(timedelta(seconds=1))  # the subject typed in a second
    again = await send(client, TYPED, token=form_started(first.text))
    assert again.status_code == 303
    assert await count_inquiries(app_ctx) == 1


async def test_a_screenshot_survives_two_redisplays_and_the_too_fast_refusal_and_arrives(
    client: Any, app_ctx: Any, clock: Any, settings: Any
) -> None:
    page = await client.get("/contact")
    token = form_started(page.text)
    # Sent at once: refused as too fast, but the screenshot stays with the form.
    first = await send(
        client, TYPED, token=token, files={"attachment": ("画面.png", png_bytes(), "image/png")}
    )
    assert first.status_code == 422
    assert TOO_FAST_MESSAGE in first.text
    assert "添付済み" in first.text and "画面.png" in first.text
    pending = settings.data_dir / "attachments" / ".incoming"
    kept = [p for p in pending.iterdir() if p.is_file()]
    assert len(kept) == 1 and oct(kept[0].stat().st_mode & 0o777) == "0o600"
    clock.advance(timedelta(seconds=5))
    second = await send(client, {**TYPED, "email": "not-an-address"}, token=form_started(first.text))
    assert second.status_code == 422
    assert "添付済み" in second.text and "画面.png" in second.text
    clock.advance(timedelta(seconds=5))
    third = await send(client, TYPED, token=form_started(second.text))
    assert third.status_code == 303
    inquiry_id = int(await app_ctx.db.fetchval("SELECT id FROM inquiries"))
    rows = await inquiry_queries.attachments_for(app_ctx.db, inquiry_id)
    assert [row["original_name"] for row in rows] == ["画面.png"]
    assert (settings.data_dir / "attachments" / rows[0]["stored_name"]).is_file()
    assert await app_ctx.db.fetchval("SELECT count(*) FROM contact_pending_uploads") == 0
    assert [p for p in pending.iterdir() if p.is_file()] == []
    office = next(m for m in outbox(settings) if str(m["To"]) == "info@example.jp")
    assert [part.get_filename() for part in office.iter_attachments()] == ["画面.png"]


async def test_a_new_file_replaces_the_kept_one_and_unticking_drops_it(
    client: Any, app_ctx: Any, clock: Any, settings: Any
) -> None:
    token = await open_form(client, clock)
    first = await send(
        client,
        {**TYPED, "subject": ""},
        token=token,
        files={"attachment": ("one.png", png_bytes(), "image/png")},
    )
    second = await send(
        client,
        {**TYPED, "subject": ""},
        token=form_started(first.text),
        files={"attachment": ("two.png", png_bytes((200, 100)), "image/png")},
    )
    assert "two.png" in second.text and "one.png" not in second.text
    incoming = settings.data_dir / "attachments" / ".incoming"
    assert len([p for p in incoming.iterdir() if p.is_file()]) == 1
    third = await send(client, {**TYPED, "attachment_remove": "1"}, token=form_started(second.text))
    assert third.status_code == 303
    assert await app_ctx.db.fetchval("SELECT count(*) FROM inquiry_attachments") == 0
    assert [p for p in incoming.iterdir() if p.is_file()] == []


async def test_cleanup_job_removes_pending_screenshots_a_day_old(
    client: Any, app_ctx: Any, clock: Any, settings: Any
) -> None:
    from services.scheduler import run_cleanup_job

    token = await open_form(client, clock)
    await send(
        client,
        {**TYPED, "subject": ""},
        token=token,
        files={"attachment": ("screen.png", png_bytes(), "image/png")},
    )
    incoming = settings.data_dir / "attachments" / ".incoming"
    assert len([p for p in incoming.iterdir() if p.is_file()]) == 1
    clock.advance(timedelta(hours=23))
    assert (await run_cleanup_job(app_ctx))["contact_pending_uploads"] == 0
    assert len([p for p in incoming.iterdir() if p.is_file()]) == 1
    clock.advance(timedelta(hours=2))
    assert (await run_cleanup_job(app_ctx))["contact_pending_uploads"] == 1
    assert [p for p in incoming.iterdir() if p.is_file()] == []
    assert await app_ctx.db.fetchval("SELECT count(*) FROM contact_pending_uploads") == 0
    # The form sent after that still goes through, without the screenshot.
    late = await send(client, TYPED, token=token)
    assert late.status_code == 303
    assert await app_ctx.db.fetchval("SELECT count(*) FROM inquiry_attachments") == 0


async def test_the_guides_bad_example_gets_a_gentle_nudge_once(client: Any, app_ctx: Any, clock: Any) -> None:
    token = await open_form(client, clock)
    vague = {**TYPED, "message": "ログインできない。"}
    first = await send(client, vague, token=token)
    assert first.status_code == 422
    text = visible_text(first.text)
    assert "何が起きたか" in text and "どの画面で" in text
    assert "入力内容をご確認ください" not in text  # a note, not an error
    assert "ログインできない。" in first.text
    assert await count_inquiries(app_ctx) == 0
    # Sent as it is after the nudge: accepted, never asked twice.
    again = await send(client, {**vague, "nudged": "1"}, token=form_started(first.text))
    assert again.status_code == 303
    assert await count_inquiries(app_ctx) == 1


@pytest.mark.parametrize(
    ("changes", "nudged"),
    [
        ({"message": "ログインできません"}, True),
        ({"message": " ログイン できない！ "}, True),
        ({"message": "エラーが出ます"}, True),
        ({"subject": "質問"}, True),
        ({"subject": "ログインできない", "message": "ログインできない"}, True),
        ({}, False),
        (
            {
                "message": "ログインできないので、会員番号を教えてください。登録したメールアドレスは変わっていません。"
            },
            False,
        ),
    ],
)
async def test_which_texts_get_the_nudge(
    client: Any, app_ctx: Any, clock: Any, changes: dict[str, str], nudged: bool
) -> None:
    token = await open_form(client, clock)
    response = await send(client, {**TYPED, **changes}, token=token)
    assert response.status_code == (422 if nudged else 303)
