"""Digest screens: the member's mail settings, the unsubscribe link, the admin's runs, preview and test send,
and the mails as a real SMTP server receives them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from litestar.testing import AsyncTestClient

from app import create_app
from db import digests as digests_db
from services import digests
from services.clock import FrozenClock
from services.context import AppContext
from services.settings import Settings
from tests.digest_helpers import add_article, add_condition, add_term, digest_member, fast_sending
from tests.helpers import (
    STANDARD_NOW,
    SmtpSink,
    body_text,
    login,
    login_admin,
    outbox,
    post_form,
    visible_text,
)

JST = ZoneInfo("Asia/Tokyo")


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=JST)  # type: ignore[misc]


async def frequency_of(app: AppContext, member_id: int) -> str:
    return str(await app.db.fetchval("SELECT digest_frequency FROM members WHERE id = ?", (member_id,)))


# ------------------------------------------------------------------------------------ mail settings


async def test_mail_settings_show_next_digest_and_preview(
    client: AsyncTestClient, app_ctx: AppContext, clock: FrozenClock
) -> None:
    clock.set(STANDARD_NOW)  # the articles below are written for the week of Monday 2026-11-23
    member = await digest_member(app_ctx, "001001")
    await add_condition(app_ctx, member, "すべての記事")
    await add_article(
        app_ctx, "今週の新着レポート", jst(2026, 11, 19, 9)
    )  # current window, before now (11/23)
    await add_article(app_ctx, "先週の記事", jst(2026, 11, 10, 9))
    await login(client)
    page = await client.get("/settings/mail")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "2026年11月25日(水) 07:00" in text
    assert "今週の新着レポート" in text and "先週の記事" not in text
    assert "毎日の配信は「有料会員」プランの特典です。" in text
    assert 'value="daily" disabled' in page.text
    assert 'href="/settings/mail"' in page.text  # in the menu


async def test_changing_frequency_in_place_with_htmx(client: AsyncTestClient, app_ctx: AppContext) -> None:
    member = await digest_member(app_ctx, "001001")
    await login(client)
    response = await post_form(
        client, "/settings/mail", {"frequency": "none"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "「受け取らない」に変更しました" in response.text
    assert "<html" not in response.text  # the panel alone
    assert await frequency_of(app_ctx, member) == "none"
    plain = await post_form(client, "/settings/mail", {"frequency": "weekly"}, follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == "/settings/mail"
    assert await frequency_of(app_ctx, member) == "weekly"


async def test_daily_is_refused_outside_the_members_tier_and_bad_values_are_explained(
    client: AsyncTestClient, app_ctx: AppContext
) -> None:
    member = await digest_member(app_ctx, "001001")
    await login(client)
    refused = await post_form(client, "/settings/mail", {"frequency": "daily"})
    assert refused.status_code == 422
    assert "毎日の配信は「有料会員」プランの特典です。" in visible_text(refused.text)
    assert await frequency_of(app_ctx, member) == "weekly"
    for bad in ("", "monthly", "毎日" * 20, "daily\x00"):
        response = await post_form(client, "/settings/mail", {"frequency": bad})
        assert response.status_code == 422
        assert "配信頻度を選んでください。" in response.text
    missing = await post_form(client, "/settings/mail", {})
    assert missing.status_code == 422


async def test_members_tier_may_choose_daily(
    client: AsyncTestClient, app_ctx: AppContext, clock: FrozenClock
) -> None:
    clock.set(STANDARD_NOW)  # "next" below is the day after Monday 2026-11-23 12:00 JST
    member = await digest_member(app_ctx, "001001", members_tier=True)
    await login(client)
    response = await post_form(
        client, "/settings/mail", {"frequency": "daily"}, headers={"HX-Request": "true"}
    )
    assert "「毎日」に変更しました" in response.text
    assert await frequency_of(app_ctx, member) == "daily"
    page = await client.get("/settings/mail")
    assert "次回は 2026年11月24日(火) 07:00 ごろに" in visible_text(page.text)
    assert 'value="daily" checked' in page.text


async def test_mail_settings_need_login(client: AsyncTestClient, app_ctx: AppContext) -> None:
    response = await client.get("/settings/mail", follow_redirects=False)
    assert response.status_code == 303 and "/login" in response.headers["location"]


# ------------------------------------------------------------------------------------- unsubscribe


async def test_unsubscribe_get_only_confirms_and_form_post_unsubscribes(
    client: AsyncTestClient, app_ctx: AppContext
) -> None:
    member = await digest_member(app_ctx, "001001", email="hanako@example.jp")
    token = digests.unsubscribe_token(app_ctx.settings.secret_key, member)
    page = await client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert "配信を停止する" in page.text and "h*****@example.jp" in page.text
    assert await frequency_of(app_ctx, member) == "weekly"  # a link scanner's GET changes nothing
    response = await client.post(
        f"/unsubscribe/{token}", data={"_csrf_token": "whatever"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert await frequency_of(app_ctx, member) == "none"
    done = await client.get(response.headers["location"])
    assert "配信を停止しました" in done.text


async def test_one_click_post_unsubscribes_without_login_or_cookies(
    client: AsyncTestClient, app_ctx: AppContext
) -> None:
    member = await digest_member(app_ctx, "001001")
    token = digests.unsubscribe_token(app_ctx.settings.secret_key, member)
    response = await client.post(
        f"/unsubscribe/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert await frequency_of(app_ctx, member) == "none"
    again = await client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200
    events = await app_ctx.db.fetchall("SELECT * FROM audit_log WHERE event = 'digest.unsubscribed'")
    assert len(events) == 1


async def test_tampered_or_foreign_tokens_change_nothing(
    client: AsyncTestClient, app_ctx: AppContext
) -> None:
    member = await digest_member(app_ctx, "001001")
    token = digests.unsubscribe_token(app_ctx.settings.secret_key, member)
    forged = digests.unsubscribe_token("another-secret", member)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (tampered, forged, "x", "a" * 600, str(member)):
        page = await client.get(f"/unsubscribe/{bad}")
        assert page.status_code == 404 and "このリンクは無効です" in page.text
        post = await client.post(f"/unsubscribe/{bad}", data={"List-Unsubscribe": "One-Click"})
        assert post.status_code == 404
        form = await client.post(f"/unsubscribe/{bad}", data={})
        assert form.status_code == 404
    assert await frequency_of(app_ctx, member) == "weekly"


# ------------------------------------------------------------------------------------------- admin


async def test_admin_sees_runs_recipients_preview_and_can_test_send(
    client: AsyncTestClient, app_ctx: AppContext, clock: FrozenClock
) -> None:
    await fast_sending(app_ctx)
    region = await add_term(app_ctx, "region", "アジア")
    reader = await digest_member(app_ctx, "001001", email="reader@example.jp")
    await add_condition(app_ctx, reader, "アジア", [region])
    quiet = await digest_member(app_ctx, "001002")
    await add_condition(app_ctx, quiet, "なし", [await add_term(app_ctx, "region", "南極")])
    await add_article(app_ctx, "アジアの市場動向", jst(2026, 11, 12, 9), [region])
    await add_article(app_ctx, "次回分のアジア記事", jst(2026, 11, 20, 9), [region])
    clock.set(jst(2026, 11, 18, 7, 0).astimezone(UTC))
    [report] = await digests.run_due(app_ctx, "weekly")
    clock.set(jst(2026, 11, 23, 12).astimezone(UTC))

    admin_id = await login_admin(client, app_ctx)
    page = await client.get("/admin/digests")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "配信の記録" in text and "2026年11月11日" in text and "完了" in text
    detail = await client.get(f"/admin/digests/runs/{report.run_id}")
    detail_text = visible_text(detail.text)
    assert "送信済み" in detail_text and "reader@example.jp" in detail_text
    assert digests.SKIP_NO_MATCH in detail_text
    failed_only = await client.get(f"/admin/digests/runs/{report.run_id}?status=failed")
    assert "該当する宛先はありません" in failed_only.text
    assert (await client.get("/admin/digests/runs/99999")).status_code == 404

    preview = await client.get(
        "/admin/digests/preview", params={"member_number": "００１００１", "kind": "weekly"}
    )
    assert "次回分のアジア記事" in preview.text and "自分宛てにテスト送信" in preview.text
    unknown = await client.get("/admin/digests/preview", params={"member_number": "777777", "kind": "weekly"})
    assert "その会員番号の会員は見つかりません。" in unknown.text
    weird = await client.get("/admin/digests/preview", params={"member_number": "😀" * 40, "kind": "monthly"})
    assert weird.status_code == 200

    admin_email = await app_ctx.db.fetchval("SELECT email FROM members WHERE id = ?", (admin_id,))
    sent = await post_form(client, "/admin/digests/test-send", {"member_number": "001001", "kind": "weekly"})
    assert sent.status_code == 200 and "テスト送信しました" in sent.text
    [mail] = [m for m in outbox(app_ctx.settings) if str(m["To"]) == admin_email]
    assert str(mail["Subject"]).startswith("[テスト送信] ")
    assert "次回分のアジア記事" in body_text(mail)
    nothing = await post_form(
        client, "/admin/digests/test-send", {"member_number": "001002", "kind": "weekly"}
    )
    assert "該当する新着記事がないため送信しませんでした" in nothing.text


async def test_admin_options_are_validated_and_saved(client: AsyncTestClient, app_ctx: AppContext) -> None:
    await login_admin(client, app_ctx)
    bad = await post_form(
        client, "/admin/digests/options", {"rate": "たくさん", "concurrency": "0", "catch_up_days": "99"}
    )
    assert bad.status_code == 422
    text = visible_text(bad.text)
    assert "1秒あたりの送信数は0〜1000" in text and "同時に送る数は1〜32" in text and "0〜30日" in text
    assert 'value="たくさん"' in bad.text
    good = await post_form(
        client,
        "/admin/digests/options",
        {"rate": "５", "concurrency": "2", "catch_up_days": "1"},
        follow_redirects=False,
    )
    assert good.status_code == 303
    options = await digests.load_options(app_ctx)
    assert (options.rate_per_second, options.concurrency, options.catch_up_days) == (5.0, 2, 1)


async def test_members_cannot_open_the_admin_digest_pages(
    client: AsyncTestClient, app_ctx: AppContext
) -> None:
    await digest_member(app_ctx, "001001")
    await login(client)
    assert (await client.get("/admin/digests")).status_code == 403


# ------------------------------------------------------------------------------------- real SMTP


async def test_a_real_smtp_server_receives_digests_with_headers_japanese_text_and_a_retry(
    settings: Settings, clock: FrozenClock, smtp_sink: SmtpSink
) -> None:
    app = create_app(settings.with_(smtp_url=smtp_sink.url), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx: AppContext = app.state.ctx
        await fast_sending(ctx)
        region = await add_term(ctx, "region", "中国")
        for number in ("001001", "001002", "001003"):
            member = await digest_member(ctx, number, family_name="山田", given_name="花子")
            await add_condition(ctx, member, "中国の動き", [region])
        await add_article(
            ctx, "上海で展示会を開催", jst(2026, 11, 20, 9), [region], summary="日本企業が多数出展。"
        )
        smtp_sink.fail_next = ["451 Try again later"]
        clock.set(jst(2026, 11, 25, 7).astimezone(UTC))
        [report] = await digests.run_due(ctx, "weekly")
        assert report.counts.sent == 2 and report.counts.pending == 1
        clock.advance(timedelta(minutes=1))
        [report] = await digests.run_due(ctx, "weekly")
        assert report.status == "done" and report.counts.sent == 3

        assert sorted(str(m["To"]) for m in smtp_sink.messages) == [
            "member001001@example.jp",
            "member001002@example.jp",
            "member001003@example.jp",
        ]
        message = smtp_sink.messages[0]
        assert str(message["Subject"]) == "【集い会員ポータル】新着お知らせメール 11月18日(水)〜11月24日(火)"
        unsubscribe = str(message["List-Unsubscribe"]).strip()  # long values are folded onto a second line
        assert unsubscribe.startswith("<http://testserver.local/unsubscribe/") and unsubscribe.endswith(">")
        assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        text = body_text(message)
        assert "山田 花子 様" in text and "■ 中国の動き" in text and "上海で展示会を開催" in text
        assert "http://testserver.local/articles/" in text and "http://testserver.local/settings/mail" in text
        html_part = message.get_body(preferencelist=("html",))
        assert html_part is not None
        html = str(html_part.get_content())
        assert "上海で展示会を開催" in html and "日本企業が多数出展。" in html and 'name="viewport"' in html

        # The one-click link in the mail works as the mail client would use it.
        path = urlsplit(unsubscribe[1:-1]).path
        response = await client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200
        to = str(message["To"])
        frequency = await ctx.db.fetchval("SELECT digest_frequency FROM members WHERE email = ?", (to,))
        assert frequency == "none"
        rows = await digests_db.deliveries_for_run(ctx.db, report.run_id, status="sent", limit=10, offset=0)
        assert max(row["attempts"] for row in rows) == 2
