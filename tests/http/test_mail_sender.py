"""Mail that real servers accept: the sender is an organization setting (TSUDOI_MAIL_FROM overrides), members
can answer, the admin is told when mail is not sent at all and can send a test mail from the console."""

from __future__ import annotations

import logging
import stat
from html import unescape
from typing import Any

from litestar.testing import AsyncTestClient

from app import create_app
from db import audit
from services import admin_settings
from services.startup import warn_if_mail_is_not_sent
from tests.helpers import login_admin, make_member, outbox, post_form, visible_text

SENDER = {"mail_from_name": "日本つどい学会 事務局", "mail_from_address": "no-reply@tsudoi.example.jp"}


def seen(response: Any) -> str:
    return unescape(visible_text(response.text))


def settings_form(app_ctx: Any, **changes: str) -> dict[str, str]:
    values = {**admin_settings.current_values(app_ctx), **changes}
    bools = {spec.name for spec in admin_settings.all_fields() if spec.kind == "bool"}
    return {name: value for name, value in values.items() if value != "0" or name not in bools}


async def test_sender_set_in_the_console_is_used_for_every_mail_with_reply_to_the_contact(
    settings: Any, clock: Any
) -> None:
    app = create_app(settings.with_(mail_from=""), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        await login_admin(client, ctx)
        page = await client.get("/admin/settings")
        assert 'name="mail_from_address"' in page.text and 'name="mail_from_name"' in page.text
        assert "未設定（仮の送信元）" in visible_text(page.text)
        form = settings_form(ctx, contact_email="office@tsudoi.example.jp", **SENDER)
        saved = await post_form(client, "/admin/settings", form, follow_redirects=False)
        assert saved.status_code == 303
        page = await client.get("/admin/settings")
        text = seen(page)
        assert "日本つどい学会 事務局 <no-reply@tsudoi.example.jp>（この設定画面）" in text
        await make_member(ctx, "001001")
        forgot = await post_form(client, "/password/forgot", {"identifier": "001001"}, follow_redirects=False)
        assert forgot.status_code == 200
    (mail,) = [m for m in outbox(settings) if str(m["To"]) == "member001001@example.jp"]
    assert mail["From"].addresses[0].addr_spec == "no-reply@tsudoi.example.jp"
    assert mail["From"].addresses[0].display_name == "日本つどい学会 事務局"
    assert str(mail["Message-ID"]).strip().endswith("@tsudoi.example.jp>")
    assert str(mail["Reply-To"]) == "office@tsudoi.example.jp"
    assert str(mail["Date"]).endswith("+0900")


async def test_mail_from_environment_wins_and_the_console_says_so(client: Any, app_ctx: Any) -> None:
    # tests.helpers.test_settings sets TSUDOI_MAIL_FROM = つどい学会 <office@tsudoi.example.jp>
    await app_ctx.update_org(SENDER)
    assert app_ctx.mailer.sender == "つどい学会 <office@tsudoi.example.jp>"
    await login_admin(client, app_ctx)
    text = seen(await client.get("/admin/settings"))
    assert "つどい学会 <office@tsudoi.example.jp>（環境変数 TSUDOI_MAIL_FROM）" in text
    assert "環境変数 TSUDOI_MAIL_FROM で指定されているため" in text


async def test_setup_asks_for_the_sender_when_no_environment_value_is_set(settings: Any, clock: Any) -> None:
    app = create_app(settings.with_(mail_from=""), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        token = ctx.setup_token
        page = await client.get(f"/setup?token={token}")
        assert 'name="mail_from_address"' in page.text
        good = {
            "setup_token": token,
            "org_name": "一般社団法人 日本つどい学会",
            "contact_email": "office@tsudoi.example.jp",
            "base_url": "https://portal.example.jp",
            "member_number": "900001",
            "family_name": "事務局",
            "email": "admin@tsudoi.example.jp",
            "password": "Kanri2026x",
            "password_confirm": "Kanri2026x",
        }
        missing = await post_form(client, "/setup", good)
        assert missing.status_code == 422
        assert "送信元メールアドレスを入力してください" in missing.text
        localhost = await post_form(client, "/setup", {**good, "mail_from_address": "no-reply@localhost"})
        assert localhost.status_code == 422
        done = await post_form(client, "/setup", {**good, **SENDER}, follow_redirects=False)
        assert done.status_code == 303
        assert ctx.sender.value == "日本つどい学会 事務局 <no-reply@tsudoi.example.jp>"
        assert ctx.sender.source == "settings"


async def test_help_and_forgot_password_pages_name_the_real_sender_address(settings: Any, clock: Any) -> None:
    from services.demo import load_demo

    app = create_app(settings.with_(mail_from=""), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        await load_demo(ctx)
        help_page = visible_text((await client.get("/help")).text)
        assert "送信元 no-reply@tsudoi.example.jp からのメールを受信できるよう" in help_page
        assert "{送信元アドレス}" not in help_page
        await ctx.update_org({"mail_from_address": "info@tsudoi-gakkai.example.jp"})
        help_page = visible_text((await client.get("/help")).text)
        assert "info@tsudoi-gakkai.example.jp" in help_page  # rendered from the setting, not frozen
        sent = await post_form(client, "/password/forgot", {"identifier": "001234"})
        assert "「info@tsudoi-gakkai.example.jp」からのメールを受信できるように" in visible_text(sent.text)


async def test_without_smtp_a_warning_at_start_and_a_red_card_on_the_dashboard(
    client: Any, app_ctx: Any, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="tsudoi.startup")
    assert warn_if_mail_is_not_sent(app_ctx)
    assert "メールは送信されていません" in caplog.text and str(app_ctx.settings.outbox_dir) in caplog.text
    await login_admin(client, app_ctx)
    text = visible_text((await client.get("/admin")).text)
    assert "メールは送信されていません" in text
    assert "TSUDOI_SMTP_URL=smtp://" in text and str(app_ctx.settings.outbox_dir) in text


async def test_with_smtp_no_red_card_and_no_warning(
    settings: Any, clock: Any, smtp_sink: Any, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="tsudoi.startup")
    app = create_app(settings.with_(smtp_url=smtp_sink.url), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        assert not warn_if_mail_is_not_sent(ctx)
        await login_admin(client, ctx)
        assert "メールは送信されていません" not in (await client.get("/admin")).text
    assert "メールは送信されていません" not in caplog.text


async def test_test_mail_goes_to_the_admin_and_shows_the_smtp_answer(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    app = create_app(settings.with_(smtp_url=smtp_sink.url), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        admin_id = await login_admin(client, ctx)
        page = await client.get("/admin/settings")
        assert "テストメールを送る" in page.text and 'action="/admin/settings/test-mail"' in page.text
        assert f"127.0.0.1:{smtp_sink.port}（環境変数 TSUDOI_SMTP_URL）" in visible_text(page.text)
        refused = await client.post("/admin/settings/test-mail", data={})  # no CSRF token
        assert refused.status_code == 403
        assert smtp_sink.messages == []
        response = await post_form(client, "/admin/settings/test-mail", {})
        assert response.status_code == 200
        text = visible_text(response.text)
        assert "テストメールを member900001@example.jp に送りました" in text
        assert f"送信サーバー 127.0.0.1:{smtp_sink.port} の応答: Message accepted for delivery" in text
        (event,) = await audit.events(ctx.db, "mail.test_sent")
        assert event["actor_member_id"] == admin_id and '"ok": true' in event["detail"]
    (mail,) = smtp_sink.messages
    assert str(mail["To"]) == "member900001@example.jp"
    assert "テストメール" in str(mail["Subject"])


async def test_test_mail_reports_a_refusal_and_without_smtp_the_outbox_file(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    app = create_app(settings.with_(smtp_url=smtp_sink.url), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        await login_admin(client, ctx)
        smtp_sink.fail_next.append("554 5.7.1 Sender address rejected: not owned by user")
        response = await post_form(client, "/admin/settings/test-mail", {})
        text = visible_text(response.text)
        assert "テストメールを送れませんでした" in text and "Sender address rejected" in text
        (event,) = await audit.events(ctx.db, "mail.test_sent")
        assert '"ok": false' in event["detail"]

    app = create_app(settings, clock)  # no TSUDOI_SMTP_URL
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        await login_admin(client, ctx)
        response = await post_form(client, "/admin/settings/test-mail", {})
        text = visible_text(response.text)
        assert "テストメールは送信されていません" in text
        # The test mail's file (a new-browser sign-in notice may be there too).
        [written] = [path for path in settings.outbox_dir.glob("*.eml") if str(path) in text]
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
