"""Every member mail (issue 26): 〇〇 様 on the first line, one signature block with the contact address,
the URL printed under every button, no space between the organization's name and a particle."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.org import OrgSettings
from services.templates import VIEWS_DIR, make_environment, plan_label

ADMIN_MAILS = {"contact_admin", "closure_request_admin", "test_mail"}
MEMBER_MAILS = sorted(
    path.stem
    for path in (VIEWS_DIR / "mail").glob("*.txt")
    if not path.name.startswith("_") and path.stem not in ADMIN_MAILS
)
ORG = OrgSettings(
    org_name="日本テスト協会", contact_email="office@example.jp", org_address="東京都千代田区1-1"
)
MEMBER = {
    "family_name": "山田",
    "given_name": "花子",
    "member_number": "001234",
    "email": "hanako@example.jp",
}
WHEN = datetime(2026, 6, 30, 1, 0, tzinfo=UTC)


def context() -> dict[str, object]:
    url = "https://portal.example.jp"
    return {
        "org": ORG,
        "member": MEMBER,
        "members": [MEMBER],
        "name": "山田 花子",
        "member_number": "001234",
        "inquiry": {
            "id": 12,
            "name": "山田 花子",
            "email": "hanako@example.jp",
            "subject": "ログインについて",
            "message": "本文",
            "created_at": WHEN,
        },
        "reply": {"body": "ご回答です。"},
        "at": WHEN,
        "browser": "iPhone の Safari",
        "ip": "203.0.113.5",
        "method": "パスワード",
        "fee": {"item_name": "2026年度 年会費", "due_on": "2026-06-30", "id": 3, "amount": 10000},
        "announcement": {"id": 5, "title": "総会のご案内", "category": "optional"},
        "body_text": "6月1日に開きます。",
        "body_html": "<p>6月1日に開きます。</p>",
        "attempt": {
            "amount": 10000,
            "order_id": "T-1",
            "paid_at": WHEN,
            "konbini_store": "ローソン",
            "konbini_number": "123456",
            "konbini_confirmation": "",
            "konbini_deadline": WHEN,
            "konbini_voucher_url": f"{url}/voucher",
        },
        "ended_tier_name": "有料会員",
        "current_tier_name": "無料プラン",
        "ended_on": date(2026, 3, 31),
        "fell_back": True,
        "via": "reset",
        "sections": [],
        "period": "6月24日(水)〜6月30日(火)",
        "article_count": 0,
        "kind_label": "毎週（水曜日）",
        "hours": 24,
        "code_message": "",
        "base_url": url,
        "new_email": "new@example.jp",
        "old_email": "hanako@example.jp",
        **{
            key: f"{url}/{key}"
            for key in (
                "reset_url",
                "forgot_url",
                "login_url",
                "confirm_url",
                "profile_url",
                "payments_url",
                "membership_url",
                "mail_settings_url",
                "settings_url",
                "unsubscribe_url",
                "mypage_url",
                "help_url",
                "read_url",
                "pay_url",
            )
        },
        "event": {
            "id": 7,
            "title": "秋の勉強会",
            "event_date": WHEN,
            "event_place": "東京会場",
            "fee_amount": 1000,
        },
        "registration": {"status": "registered", "fee_status": "unpaid"},
        "code": "ABCD-2345",
        "registration_url": f"{url}/events/registrations/1",
        "event_url": f"{url}/events/7",
        "pay_url": f"{url}/payments/3/start",
        "locked_until": WHEN,
        "expires_at": WHEN,
        "changed_at": WHEN,
        "subject": "件名",
    }


@pytest.fixture(scope="module")
def env():
    return make_environment(ZoneInfo("Asia/Tokyo"))


@pytest.mark.parametrize("name", MEMBER_MAILS)
def test_every_member_mail_greets_and_signs_the_same_way(env, name):
    text = env.get_template(f"mail/{name}.txt").render(context())
    lines = text.splitlines()
    assert lines[0].endswith(" 様") and len(lines[0]) > 2, lines[0]
    assert text.rstrip().endswith("日本テスト協会 事務局\nお問い合わせ：office@example.jp"), text[-200:]
    assert "東京都千代田区" not in text  # the signature is the contact address, not the street address
    assert not re.search(r"日本テスト協会 [のにへがはをでと]", text)
    html_path = VIEWS_DIR / "mail" / f"{name}.html"
    if html_path.exists():
        html = env.get_template(f"mail/{name}.html").render(context())
        assert re.search(r"<p[^>]*>[^<]+ 様</p>", html)
        assert "日本テスト協会 事務局<br>お問い合わせ：" in html and "office@example.jp" in html
        assert not re.search(r"日本テスト協会 [のにへがはをでと]", html)


@pytest.mark.parametrize("name", [n for n in MEMBER_MAILS if (VIEWS_DIR / "mail" / f"{n}.html").exists()])
def test_every_button_has_its_url_beneath(env, name):
    html = env.get_template(f"mail/{name}.html").render(context())
    buttons = re.findall(r'<a href="([^"]+)" style="display: inline-block;', html)
    if name in {"password_reset", "account_locked", "signup_confirm"}:
        assert buttons, name
    for url in buttons:
        after = html.split(f'<a href="{url}" style="display: inline-block;', 1)[1]
        assert "ボタンが押せない場合は、次のURLを開いてください。" in after.split("</p>", 2)[1]
        assert f">{url}</a>" in after, url
    assert "ボタンが開けない場合は" not in html


def test_the_lock_notice_says_what_happened_in_one_sentence(env):
    text = env.get_template("mail/account_locked.txt").render(context())
    assert (
        "マイページ（会員番号 001234）に 2026年6月30日(火) 10:00 までログインできなくなっています。" in text
    )


def test_the_konbini_mail_names_its_details_and_the_expired_one_gives_the_fee_due_date(env):
    issued = env.get_template("mail/payment_konbini_issued.txt").render(context())
    assert "■ コンビニでのお支払い情報" in issued and "お支払い先" not in issued
    assert "会員番号　　：001234" in issued and "注文番号　　：T-1" in issued
    assert "コンビニでのお支払い期限：2026年6月30日(火) 10:00" in issued
    expired = env.get_template("mail/payment_expired.txt").render(context())
    assert "会費の支払期限：2026年6月30日(火)" in expired


def test_the_auto_reply_does_not_call_a_repliable_address_send_only(env):
    text = env.get_template("mail/contact_auto_reply.txt").render(context())
    assert "送信専用" not in text and "このメールにそのまま返信するか" in text


def test_plan_label_and_ja_date(env):
    assert plan_label("有料会員") == "「有料会員」プラン"
    assert plan_label("無料プラン") == "無料プラン"
    ja_date = env.filters["ja_date"]
    assert ja_date(date(2026, 6, 30)) == ja_date("2026-06-30") == "2026年6月30日(火)"
    assert ja_date(datetime(2026, 6, 30, 16, 0, tzinfo=UTC)) == "2026年7月1日(水)"  # Tokyo time


HTML_MAILS = sorted(path for path in (VIEWS_DIR / "mail").glob("*.html") if not path.name.startswith("_"))


@pytest.mark.parametrize("path", HTML_MAILS, ids=lambda path: path.stem)
def test_every_html_mail_extends_the_layout_and_draws_buttons_with_the_macro(path):
    # A mail extends the layout itself or through a shared base of a family (mail/_event.html).
    chain = [path]
    while (
        parent := re.match(
            r'(?:\{#.*?#\}\n)?\{% extends "mail/(_\w+)\.html" %\}', chain[-1].read_text("utf-8")
        )
    ) and (parent.group(1) != "_layout"):
        chain.append(VIEWS_DIR / "mail" / f"{parent.group(1)}.html")
    assert parent is not None and parent.group(1) == "_layout", path.name
    for template in chain:
        source = template.read_text(encoding="utf-8")
        assert "<html" not in source and "<body" not in source
        assert "display: inline-block" not in source  # a button comes from mail/_button.html


def test_the_admin_mails_use_the_layout_without_the_member_greeting(env):
    for name in ("contact_admin", "closure_request_admin"):
        html = env.get_template(f"mail/{name}.html").render(
            {
                **context(),
                "admin_url": "https://portal.example.jp/admin",
                "reason": "",
                "category_label": "その他",
            }
        )
        assert html.startswith("<!doctype html>") and " 様</p>" not in html
        assert '<a href="https://portal.example.jp/admin" style="display: inline-block;' in html
        assert "ボタンが押せない場合は、次のURLを開いてください。" in html
