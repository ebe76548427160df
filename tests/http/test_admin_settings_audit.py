"""Settings (every field validated and audited), the audit log viewer, and the dashboard."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import timedelta

from db import audit, mail_log
from services import admin_settings
from services.org import OrgSettings
from tests.helpers import login, login_admin, make_member, post_form, visible_text


def form_from(values):
    return {name: value for name, value in values.items() if value != "0" or name not in _bools()}


def _bools():
    return {spec.name for spec in admin_settings.all_fields() if spec.kind == "bool"}


async def test_every_org_setting_is_on_the_page(client, app_ctx):
    await login_admin(client, app_ctx)
    page = await client.get("/admin/settings")
    for item in fields(OrgSettings):
        assert f'name="{item.name}"' in page.text, item.name
    assert 'value="http://testserver.local"' in page.text


async def test_saving_settings_applies_them_and_audits_old_and_new(client, app_ctx):
    admin_id = await login_admin(client, app_ctx)
    values = admin_settings.current_values(app_ctx)
    values.update(
        org_name="一般社団法人 日本つどい学会",
        invoice_number="ｔ１２３４５６７８９０１２３",
        lockout_threshold="７",
        base_url="https://portal.example.jp/",
        signup_enabled="0",
    )
    response = await post_form(client, "/admin/settings", form_from(values), follow_redirects=False)
    assert response.status_code == 303
    assert app_ctx.org.org_name == "一般社団法人 日本つどい学会"
    assert app_ctx.org.invoice_number == "T1234567890123"
    assert app_ctx.org.lockout_threshold == 7
    assert app_ctx.org.signup_enabled is False
    assert app_ctx.settings.base_url == "https://portal.example.jp"
    (event,) = await audit.events(app_ctx.db, "settings.updated")
    changed = json.loads(event["detail"])["changed"]
    assert changed["lockout_threshold"] == ["5", "7"] and changed["signup_enabled"] == ["1", "0"]
    assert event["actor_member_id"] == admin_id
    again = await post_form(
        client, "/admin/settings", form_from(admin_settings.current_values(app_ctx)), follow_redirects=False
    )
    assert again.status_code == 303
    assert len(await audit.events(app_ctx.db, "settings.updated")) == 1  # nothing changed, nothing audited


async def test_bad_settings_get_a_message_each_and_nothing_is_saved(client, app_ctx):
    await login_admin(client, app_ctx)
    values = admin_settings.current_values(app_ctx)
    bad = {
        "org_name": "",
        "org_address": "東京都港区①",
        "contact_email": "not-an-address",
        "base_url": "ftp://example.jp/path",
        "invoice_number": "1234",
        "lockout_threshold": "0",
        "lockout_minutes": "abc",
        "remember_days": "9999999999",
        "password_min_length": "30",
        "password_max_length": "20",
        "password_preset": "weak",
        "weekly_digest_hour": "24",
        "payment_card_enabled": "0",
        "payment_konbini_enabled": "0",
    }
    values.update(bad)
    response = await post_form(client, "/admin/settings", form_from(values))
    assert response.status_code == 422
    for name in bad:
        if name not in ("payment_card_enabled", "password_min_length"):
            assert (
                f'id="error-{name}" class="field-error" aria-live="polite"></small>' not in response.text
            ), name
    assert 'value="abc"' in response.text and 'value="東京都港区①"' in response.text
    assert app_ctx.org == OrgSettings()
    assert await audit.events(app_ctx.db, "settings.updated") == []


async def test_base_url_with_a_path_or_spaces_is_refused(client, app_ctx):
    for value, ok in (
        ("https://portal.example.jp", True),
        ("https://portal.example.jp/tsudoi", False),
        ("https://portal example.jp", False),
        ("http://127.0.0.1:8000", True),
        ("", False),
    ):
        _, problem = admin_settings.validate_field(
            next(s for s in admin_settings.FIELDS if s.name == "base_url"), value
        )
        assert (problem is None) == ok, value


async def test_audit_log_filters_by_event_member_and_date(client, app_ctx, clock):
    member_id = await make_member(app_ctx, "001001", family_name="山田", given_name="花子")
    await login(client, "001001", "Wrong2026x")
    clock.advance(timedelta(days=2))
    await login(client, "001001")
    await login_admin(client, app_ctx)
    page = await client.get("/admin/audit")
    text = visible_text(page.text)
    assert "ログイン失敗" in text and "二段階認証" in text

    async def results(query):
        response = await client.get("/admin/audit" + query, headers={"HX-Request": "true"})
        assert response.text.lstrip().startswith('<section id="audit-results"')
        return visible_text(response.text)

    only_member = await results("?member=００１００１")
    assert "山田 花子（001001）" in only_member and "二段階認証の登録" not in only_member
    failures = await results("?event=login.failed")
    assert "ログイン失敗" in failures and "二段階認証" not in failures
    day = (clock.now() - timedelta(days=2)).astimezone(app_ctx.settings.tz).date().isoformat()
    first_day = await results(f"?since={day}&until={day}")
    assert "ログイン失敗" in first_day and "二段階認証" not in first_day
    grouped = await results("?event=admin.")
    assert "二段階認証" in grouped and "ログイン失敗" not in grouped
    for query in ("?since=yesterday", "?member=abc", "?page=-3", "?event=%25", "?ip=" + "x" * 500):
        assert (await client.get("/admin/audit" + query)).status_code == 200
    assert "日付は" in (await client.get("/admin/audit?since=2026-13-40")).text
    assert member_id


async def test_dashboard_shows_locked_accounts_failed_mails_and_backup_state(client, app_ctx, clock):
    await make_member(app_ctx, "001001", family_name="山田", given_name="花子")
    for _ in range(5):
        await login(client, "001001", "Wrong2026x")
    await mail_log.record(
        app_ctx.db,
        now=clock.now(),
        kind="digest",
        recipient="bounce@example.jp",
        subject="新着のお知らせ",
        message_id="x",
        error="550 mailbox unavailable",
    )
    await login_admin(client, app_ctx)
    page = await client.get("/admin")
    text = visible_text(page.text)
    assert "ロック中のアカウント" in text and "山田 花子（001001）" in text
    assert "bounce@example.jp" in text and "550 mailbox unavailable" in text
    assert "まだバックアップがありません" in text
    assert "未納の会費" in text and "未対応のお問い合わせ" in text


async def test_dashboard_is_a_fixed_number_of_queries(client, app_ctx, clock):
    await login_admin(client, app_ctx)
    before = app_ctx.db.query_count
    await client.get("/admin")
    empty = app_ctx.db.query_count - before
    for n in range(20):
        await make_member(app_ctx, f"00{n:04d}", email=f"m{n}@example.jp")
        await app_ctx.db.execute(
            "UPDATE members SET locked_until = '2099-01-01T00:00:00.000000Z' WHERE member_number = ?",
            (f"00{n:04d}",),
        )
        await mail_log.record(
            app_ctx.db,
            now=clock.now(),
            kind="x",
            recipient="a@example.jp",
            subject="s",
            message_id="m",
            error="e",
        )
    before = app_ctx.db.query_count
    await client.get("/admin")
    assert app_ctx.db.query_count - before <= empty + 2  # the two lists appear, whatever their length
