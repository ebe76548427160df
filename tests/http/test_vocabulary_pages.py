"""Issue 26 on the running app: error pages say what to do next, the login help, the plan's one name,
the short name in subjects, the sender's fallback name, the sign-up consent's 会員規約 link, one route to
leave, the payment deadlines' two names."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from db.database import MIGRATIONS_DIR
from services.admin_settings import FIELDS, validate_field
from services.org import OrgSettings, effective_sender
from tests.helpers import login, make_member, outbox, post_form, visible_text


async def test_the_500_page_gives_an_error_code_to_quote_and_the_contact_link(
    client: Any, app_ctx: Any, caplog
):
    await app_ctx.db.execute("DROP TABLE help_entries")  # a real server fault, not something a client sent
    response = await client.get("/help")
    assert response.status_code == 500
    text = visible_text(response.text)
    assert "しばらく時間をおいてから、もう一度お試しください。" in text
    assert "下のエラーコードを添えてお問い合わせください。" in text
    code = re.search(r"エラーコード：\s*(500-[0-9a-f]{8})", text)
    assert code, text
    assert 'href="/contact"' in response.text
    assert code.group(1)[4:] in caplog.text  # the office finds the same code in the log


async def test_403_and_405_say_what_to_do_next(client: Any, app_ctx: Any):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    forbidden = await client.get("/admin/members")
    assert forbidden.status_code == 403
    assert "マイページのメニューから、目的の画面を開き直してください。" in visible_text(forbidden.text)
    not_allowed = await client.get("/settings/membership/code")
    assert not_allowed.status_code == 405
    text = visible_text(not_allowed.text)
    assert "画面のボタンやリンクから操作してください。" in text and re.search(r"エラーコード：\s*405", text)
    assert "マイページへ戻る" in text or "ログイン画面へ" in text  # the way back is a link, never a dead end


async def test_the_login_help_stands_under_the_required_message(client: Any):
    response = await post_form(client, "/login", {"member_id": "", "password": ""})
    assert response.status_code == 422
    text = visible_text(response.text)
    help_line = "会員番号は先頭の0も含めて入力してください。パスワードは大文字・小文字を区別します。"
    assert help_line in text
    assert text.index("パスワードを入力してください。") < text.index(help_line)
    assert help_line not in visible_text((await client.get("/login")).text)


async def test_the_short_name_goes_into_subjects_and_falls_back_to_the_name(
    client: Any, app_ctx: Any, settings
):
    await make_member(app_ctx, "001001", email="hanako@example.jp")
    await app_ctx.update_org({"org_name": "一般社団法人 日本テスト振興協会", "org_short_name": "テスト協会"})
    await post_form(client, "/password/forgot", {"identifier": "001001"})
    subjects = [str(mail["Subject"]) for mail in outbox(settings)]
    assert subjects and subjects[-1].startswith("【テスト協会】"), subjects
    await app_ctx.update_org({"org_short_name": ""})
    assert app_ctx.org.short_name == "一般社団法人 日本テスト振興協会"
    spec = next(field for field in FIELDS if field.name == "org_short_name")
    assert spec.label == "略称" and spec.group == "団体"


def test_the_sender_is_the_organization_even_before_it_is_set():
    org = OrgSettings(org_name="日本テスト協会")
    sender = effective_sender("", org)
    assert sender.source == "default"
    assert sender.value.startswith("日本テスト協会 <") and "Tsudoi" not in sender.value
    named = effective_sender(
        "", OrgSettings(org_name="日本テスト協会", mail_from_name="", mail_from_address="a@example.jp")
    )
    assert named.value.startswith("日本テスト協会 <")


async def test_the_consent_links_the_terms(client: Any, app_ctx: Any):
    page = await client.get("/signup")
    assert '<a href="#terms-text">会員規約</a>と個人情報の取り扱いに同意します' in page.text
    assert 'id="terms-text"' in page.text
    await app_ctx.update_org({"terms_url": "https://example.jp/kiyaku.pdf"})
    page = await client.get("/signup")
    assert '<a href="https://example.jp/kiyaku.pdf" target="_blank" rel="noopener">会員規約</a>' in page.text
    spec = next(field for field in FIELDS if field.name == "terms_url")
    assert validate_field(spec, "javascript:alert(1)")[1]
    assert validate_field(spec, "https://example.jp/kiyaku.pdf") == ("https://example.jp/kiyaku.pdf", None)
    assert validate_field(spec, "") == ("", None)


async def test_one_name_for_the_plan_and_one_way_to_leave(client: Any, app_ctx: Any):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    menu = await client.get("/mypage")
    assert "プラン・退会" in visible_text(menu.text) and "会員種別・プラン" not in menu.text
    mail_settings = visible_text((await client.get("/settings/mail")).text)
    assert "毎日の配信は「有料会員」プランの特典です。" in mail_settings
    contact = visible_text((await client.get("/contact")).text)
    assert "退会を申し出る" in contact
    assert 'href="/settings/membership/leave"' in (await client.get("/contact")).text


async def test_the_migration_renames_only_the_untouched_default(app_ctx: Any):
    assert await app_ctx.db.fetchval("SELECT name FROM tiers WHERE code = 'members'") == "有料会員"
    sql = (MIGRATIONS_DIR / "0016_paid_tier_name.sql").read_text(encoding="utf-8")
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE tiers (code TEXT, name TEXT)")
    db.executemany("INSERT INTO tiers VALUES (?, ?)", [("members", "サポーター"), ("free", "無料プラン")])
    db.executescript(sql)
    assert dict(db.execute("SELECT code, name FROM tiers")) == {"members": "サポーター", "free": "無料プラン"}
