"""会員情報 (/profile) through the real app: showing, saving, every validation error, e-mail change, stale forms."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app import create_app
from db import audit
from db import members as member_queries
from services.profile import EMAIL_CHANGE_PURPOSE
from services.profile_check import profile_checked_today
from services.tokens import make_token
from tests.helpers import body_text, login, make_member, outbox, post_form, visible_text

HTMX = {"hx-request": "true"}

FORM = {
    "family_name": "鈴木",
    "given_name": "太郎",
    "family_kana": "スズキ",
    "given_kana": "タロウ",
    "email": "member001001@example.jp",
    "phone": "03-1234-5678",
    "postal_code": "100-0001",
    "prefecture": "東京都",
    "address1": "千代田区千代田1-1",
    "address2": "",
    "affiliation": "つどい大学",
}


async def member_row(app_ctx: Any, number: str = "001001") -> Any:
    row = await member_queries.get_by_number(app_ctx.db, number)
    assert row is not None
    return row


async def logged_in_member(client: Any, app_ctx: Any, number: str = "001001", **profile: str) -> Any:
    await make_member(app_ctx, number, **profile)
    response = await login(client, number)
    assert response.status_code == 303
    return await member_row(app_ctx, number)


async def save(client: Any, version: int, headers: dict[str, str] | None = None, **changes: str) -> Any:
    data = {**FORM, "profile_version": str(version), **changes}
    return await post_form(client, "/profile", data, headers=headers or {}, follow_redirects=False)


def field_value(page: str, name: str) -> str:
    match = re.search(rf'<input id="field-{name}" name="{name}"[^>]*value="([^"]*)"', page)
    assert match, name
    return html.unescape(match.group(1))


def confirm_links(settings: Any, to: str | None = None) -> list[str]:
    links = []
    for message in outbox(settings):
        if to is None or str(message["To"]) == to:
            links += re.findall(r"http://testserver\.local(/profile/email/confirm/\S+)", body_text(message))
    return links


# ---- showing ---------------------------------------------------------------------------------


async def test_profile_needs_login(client: Any) -> None:
    response = await client.get("/profile", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/profile"


async def test_member_with_initial_password_changes_it_first(client: Any, app_ctx: Any) -> None:
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    response = await client.get("/profile", follow_redirects=False)
    assert response.headers["location"] == "/password/change"


async def test_profile_shows_the_data_formatted_with_the_contract_fields(client: Any, app_ctx: Any) -> None:
    await logged_in_member(
        client,
        app_ctx,
        phone="09012345678",
        postal_code="1000001",
        prefecture="東京都",
        address1="千代田区千代田1-1",
    )
    response = await client.get("/profile")
    assert response.status_code == 200
    page = response.text
    assert field_value(page, "phone") == "090-1234-5678"
    assert field_value(page, "postal_code") == "100-0001"
    assert field_value(page, "family_name") == "鈴木"
    assert "<option selected>東京都</option>" in page
    expected = {
        "family_name": 'autocomplete="family-name"',
        "given_name": 'autocomplete="given-name"',
        "email": 'autocomplete="email" inputmode="email"',
        "phone": 'autocomplete="tel" inputmode="tel"',
        "postal_code": 'autocomplete="postal-code" inputmode="numeric"',
        "address1": 'autocomplete="address-line1"',
        "address2": 'autocomplete="address-line2"',
        "affiliation": 'autocomplete="organization"',
    }
    for name, attributes in expected.items():
        tag = re.search(rf'<input id="field-{name}"[^>]*>', page)
        assert tag and attributes in tag.group(0), name
    assert 'autocomplete="address-level1"' in page
    assert 'name="_csrf_token"' in page
    assert "data-unsaved-guard" in page
    # membership type is shown, never editable by the member
    assert "正会員" in visible_text(page)
    assert 'name="membership_type"' not in page
    assert '<a href="/password/change">パスワードの変更</a>' in page
    assert '<a href="/profile" aria-current="page">会員情報</a>' in page
    assert re.search(r'<button type="submit" class="wide-button">\s*保存\s*</button>', page)


async def test_first_visit_asks_the_member_to_check_and_save(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    assert row["profile_checked_at"] is None
    first = visible_text((await client.get("/profile")).text)
    assert "ご登録内容をご確認ください" in first
    await save(client, row["profile_version"])
    again = visible_text((await client.get("/profile")).text)
    assert "ご登録内容をご確認ください" not in again
    assert "最終確認日 2026年11月23日" in again


async def test_profile_page_runs_a_fixed_number_of_queries(client: Any, app_ctx: Any) -> None:
    await logged_in_member(client, app_ctx)
    await client.get("/profile")
    before = app_ctx.db.query_count
    await client.get("/profile")
    assert app_ctx.db.query_count - before <= 3


# ---- saving ----------------------------------------------------------------------------------


async def test_saving_normalizes_and_records_the_check(client: Any, app_ctx: Any, clock: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    response = await save(
        client,
        row["profile_version"],
        family_kana="すずき",
        given_kana="ﾀﾛｳ",
        phone="０９０ー１２３４ー５６７８",
        postal_code="１００ー０００１",
        affiliation="  株式会社サンプル  ",
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/profile"
    saved = await member_row(app_ctx)
    assert (saved["family_kana"], saved["given_kana"]) == ("スズキ", "タロウ")
    assert saved["phone"] == "09012345678"
    assert saved["postal_code"] == "1000001"
    assert saved["affiliation"] == "株式会社サンプル"
    assert saved["profile_version"] == row["profile_version"] + 1
    assert saved["profile_checked_at"] is not None
    assert profile_checked_today(saved, now=clock.now(), tz=app_ctx.settings.tz)
    page = await client.get("/profile")
    assert "会員情報を保存しました。" in page.text
    assert field_value(page.text, "phone") == "090-1234-5678"
    events = await audit.events(app_ctx.db, "profile_saved")
    assert len(events) == 1 and "affiliation" in events[0]["detail"]


async def test_saving_without_changes_still_records_the_check(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(
        client, app_ctx, phone="0312345678", postal_code="1000001", prefecture="東京都"
    )
    await save(client, row["profile_version"], address1="", affiliation="")
    saved = await member_row(app_ctx)
    assert saved["profile_checked_at"] is not None


async def test_checked_today_ends_at_midnight_in_japan(client: Any, app_ctx: Any, clock: Any) -> None:
    clock.set(datetime(2026, 11, 23, 14, 59, tzinfo=UTC))  # 23:59 JST
    row = await logged_in_member(client, app_ctx)
    await save(client, row["profile_version"])
    saved = await member_row(app_ctx)
    assert profile_checked_today(saved, now=clock.now(), tz=app_ctx.settings.tz)
    clock.advance(timedelta(minutes=1))  # 00:00 JST the next day
    assert not profile_checked_today(saved, now=clock.now(), tz=app_ctx.settings.tz)


async def test_membership_type_cannot_be_changed_by_the_member(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    await save(
        client, row["profile_version"], membership_type="名誉会員", member_number="999999", role="admin"
    )
    saved = await member_row(app_ctx)
    assert (saved["membership_type"], saved["member_number"], saved["role"]) == ("正会員", "001001", "member")


async def test_save_without_csrf_token_changes_nothing(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    response = await client.post(
        "/profile", data={**FORM, "family_name": "改ざん", "profile_version": str(row["profile_version"])}
    )
    assert response.status_code == 403
    assert (await member_row(app_ctx))["family_name"] == "鈴木"


# ---- validation errors keep every typed value ------------------------------------------------

BAD_INPUTS = [
    ("family_name", "髙橋", "姓の1文字目の「髙」は"),
    ("family_name", "", "姓を入力してください。"),
    ("given_name", "﨑子", "「崎」をお使いください"),
    ("given_name", "😀", "名の1文字目の「😀」は使用できない文字です"),
    ("family_kana", "鈴木", "フリガナ（セイ）はカタカナ（またはひらがな）で入力してください。"),
    ("given_kana", "", "フリガナ（メイ）を入力してください。"),
    ("email", "taro@", "メールアドレスの形式が正しくありません。"),
    ("email", "", "メールアドレスを入力してください。"),
    ("phone", "03-1234", "電話番号は0から始まる10桁または11桁の数字で入力してください。"),
    ("phone", "123-4567-8901", "電話番号は0から始まる10桁または11桁の数字で入力してください。"),
    ("postal_code", "100-001", "郵便番号は7桁の数字で入力してください"),
    ("prefecture", "ムー大陸", "都道府県は一覧から選んでください。"),
    (
        "address1",
        "千代田①丁目",
        "住所1（市区町村・番地）の4文字目の「①」は機種依存文字のため使用できません。「1」をお使いください。",
    ),
    ("address2", "ﾋﾞﾙ3F", "半角カタカナ"),
    ("affiliation", "㈱サンプル", "「(株)」をお使いください"),
    ("affiliation", "あ" * 5000, "勤務先・所属は100文字以内で入力してください"),
    ("address2", "1行目\n2行目", "改行"),
]


@pytest.mark.parametrize(("name", "bad", "message"), BAD_INPUTS)
async def test_validation_error_is_shown_beside_the_field_and_keeps_every_value(
    client: Any, app_ctx: Any, name: str, bad: str, message: str
) -> None:
    row = await logged_in_member(client, app_ctx)
    typed = {**FORM, "given_name": "次郎", "phone": "090 1111 2222", "address2": "つどいビル", name: bad}
    response = await save(client, row["profile_version"], **typed)
    assert response.status_code == 422
    page = response.text
    error = re.search(rf'<small id="error-{name}" class="field-error"[^>]*>(.*?)</small>', page, re.S)
    assert error and message in html.unescape(error.group(1))
    assert f'href="#field-{name}"' in page  # listed in the error summary
    for other, value in typed.items():
        if other == "prefecture":
            continue
        assert field_value(page, other) == value[:1000], other
    assert 'aria-invalid="true"' in page
    assert "data-unsaved" in page
    saved = await member_row(app_ctx)
    assert saved["given_name"] == "太郎" and saved["profile_checked_at"] is None


async def test_several_errors_are_all_reported_at_once(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    response = await save(
        client, row["profile_version"], family_name="", phone="12", postal_code="1", email="x"
    )
    assert response.status_code == 422
    summary = re.search(r'<div class="error-summary".*?</div>', response.text, re.S)
    assert summary is not None
    for name in ("family_name", "phone", "postal_code", "email"):
        assert f'href="#field-{name}"' in summary.group(0)


async def test_htmx_error_answers_200_with_the_form_fragment(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    response = await save(client, row["profile_version"], headers=HTMX, phone="03")
    assert response.status_code == 200
    assert "<html" not in response.text
    assert 'id="profile-area"' in response.text
    assert "電話番号は0から始まる10桁または11桁" in response.text


async def test_htmx_success_redirects_with_hx_redirect(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    response = await save(client, row["profile_version"], headers=HTMX)
    assert response.headers.get("hx-redirect") == "/profile"


async def test_missing_duplicated_and_huge_fields_never_cause_a_500(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    empty = await post_form(client, "/profile", {}, follow_redirects=False)
    assert empty.status_code == 409  # no version: treated as a stale form, nothing saved
    duplicated = await post_form(
        client,
        "/profile",
        {**FORM, "profile_version": [str(row["profile_version"]), "x"], "family_name": ["山田", "田中"]},
        follow_redirects=False,
    )
    assert duplicated.status_code == 303  # a repeated field counts once: the first value is saved
    row = await member_row(app_ctx)
    assert row["family_name"] == "山田"
    huge = await save(client, row["profile_version"], family_name="山" * 100_000, address1="🙂" * 50_000)
    assert huge.status_code == 422
    assert "姓は50文字以内で入力してください" in huge.text
    bad_version = await save(client, "abc")  # type: ignore[arg-type]
    assert bad_version.status_code == 409


# ---- next= (the payment flow) ----------------------------------------------------------------


async def test_payment_flow_button_and_redirect_to_next(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    page = await client.get("/profile", params={"next": "/payments/3/method", "purpose": "payment"})
    assert "変更してお支払い手続きへ" in page.text
    assert "お支払いの前に" in page.text
    assert 'name="next" value="/payments/3/method"' in page.text
    response = await save(client, row["profile_version"], next="/payments/3/method", purpose="payment")
    assert response.status_code == 303
    assert response.headers["location"] == "/payments/3/method"


async def test_payment_flow_error_keeps_next(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    response = await save(client, row["profile_version"], next="/payments/3/method", phone="1")
    assert response.status_code == 422
    assert 'name="next" value="/payments/3/method"' in response.text
    assert "変更してお支払い手続きへ" in response.text


@pytest.mark.parametrize(
    "unsafe", ["https://evil.example/", "//evil.example", "/\\evil", "javascript:alert(1)"]
)
async def test_unsafe_next_is_ignored(client: Any, app_ctx: Any, unsafe: str) -> None:
    row = await logged_in_member(client, app_ctx)
    page = await client.get("/profile", params={"next": unsafe})
    assert "変更してお支払い手続きへ" not in page.text
    response = await save(client, row["profile_version"], next=unsafe)
    assert response.headers["location"] == "/profile"


# ---- stale forms (two tabs) ------------------------------------------------------------------


async def test_stale_form_is_refused_and_the_newer_data_shown(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    version = row["profile_version"]
    # Tab 1 saves first.
    first = await save(client, version, affiliation="第一タブの所属", phone="03-1111-2222")
    assert first.status_code == 303
    # Tab 2 was loaded with the old version.
    second = await save(client, version, affiliation="第二タブの所属", address2="第二タブのビル")
    assert second.status_code == 409
    page = second.text
    text = visible_text(page)
    assert "別の画面（タブ）で会員情報が更新されていたため、この内容は保存されませんでした。" in text
    assert field_value(page, "affiliation") == "第一タブの所属"
    assert field_value(page, "phone") == "03-1111-2222"
    assert "最新の登録内容：第一タブの所属" in text
    assert "ご入力の内容：第二タブの所属" in text
    assert "ご入力の内容：第二タブのビル" in text
    assert f'name="profile_version" value="{version + 1}"' in page
    saved = await member_row(app_ctx)
    assert saved["affiliation"] == "第一タブの所属" and saved["address2"] == ""
    assert saved["profile_version"] == version + 1


async def test_member_can_resave_the_stale_input_on_purpose(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    version = row["profile_version"]
    await save(client, version, affiliation="第一タブの所属")
    stale = await save(client, version, affiliation="第二タブの所属")
    resubmit = re.search(
        r'<form method="post" action="/profile"[^>]*class="conflict-resubmit">(.*?)</form>', stale.text, re.S
    )
    assert resubmit is not None
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', resubmit.group(1)))
    fields = {key: html.unescape(value) for key, value in fields.items()}
    assert fields["affiliation"] == "第二タブの所属"
    response = await post_form(client, "/profile", fields, follow_redirects=False)
    assert response.status_code == 303
    assert (await member_row(app_ctx))["affiliation"] == "第二タブの所属"


async def test_stale_htmx_save_answers_200_with_the_fragment(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    await save(client, row["profile_version"], affiliation="新")
    response = await save(client, row["profile_version"], headers=HTMX, affiliation="旧")
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "この内容は保存されませんでした" in response.text


# ---- another member's data -------------------------------------------------------------------


async def test_member_never_sees_or_changes_another_members_profile(client: Any, app_ctx: Any) -> None:
    other_id = await make_member(
        app_ctx,
        "002002",
        family_name="他人",
        email="other@example.jp",
        phone="0399998888",
        affiliation="秘密の所属",
    )
    row = await logged_in_member(client, app_ctx)
    page = await client.get("/profile", params={"id": str(other_id), "member_id": str(other_id)})
    assert "秘密の所属" not in page.text and "other@example.jp" not in page.text
    for path in (f"/profile/{other_id}", f"/profile/{other_id}/edit", "/profile/002002"):
        assert (await client.get(path)).status_code == 404
    response = await save(
        client,
        row["profile_version"],
        id=str(other_id),
        member_id=str(other_id),
        member_number="002002",
        affiliation="書き換え",
    )
    assert response.status_code == 303
    other = await member_row(app_ctx, "002002")
    assert other["affiliation"] == "秘密の所属" and other["profile_checked_at"] is None
    assert (await member_row(app_ctx))["affiliation"] == "書き換え"


async def test_confirm_link_cannot_be_retargeted_to_another_member(
    client: Any, app_ctx: Any, clock: Any
) -> None:
    other_id = await make_member(app_ctx, "002002", email="other@example.jp")
    row = await logged_in_member(client, app_ctx)
    await save(client, row["profile_version"], email="new@example.jp")
    token = confirm_links(app_ctx.settings)[0].rsplit("/", 1)[1]
    # Swap the member id inside the payload while keeping the signature: refused.
    forged = make_token(
        "not-the-secret",
        EMAIL_CHANGE_PURPOSE,
        {"member_id": other_id, "email": "new@example.jp"},
        now=clock.now(),
    )
    assert (await client.get(f"/profile/email/confirm/{forged}")).status_code == 400
    # Another purpose's token signed with the right key: refused too.
    reset = make_token(
        app_ctx.settings.secret_key,
        "password-reset",
        {"member_id": other_id, "email": "x@example.jp"},
        now=clock.now(),
    )
    assert (await client.get(f"/profile/email/confirm/{reset}")).status_code == 400
    assert (await member_row(app_ctx, "002002"))["email"] == "other@example.jp"
    assert token


# ---- e-mail change ---------------------------------------------------------------------------


async def test_email_change_waits_for_the_link_sent_to_the_new_address(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    response = await save(client, row["profile_version"], email="ｎｅｗ＠Example.JP")
    assert response.status_code == 303
    saved = await member_row(app_ctx)
    assert saved["email"] == "member001001@example.jp"  # old one stays in use
    assert saved["pending_email"] == "new@example.jp"

    mails = outbox(app_ctx.settings)
    by_recipient = {str(m["To"]): m for m in mails}
    assert set(by_recipient) == {"new@example.jp", "member001001@example.jp"}
    confirm = body_text(by_recipient["new@example.jp"])
    assert "メールアドレス変更の確認" in str(by_recipient["new@example.jp"]["Subject"])
    assert "24時間" in confirm and "2026年11月24日(火) 12:00" in confirm
    notice = body_text(by_recipient["member001001@example.jp"])
    assert "new@example.jp" in notice and "/profile/email/confirm/" not in notice

    page = visible_text((await client.get("/profile")).text)
    assert "新しいメールアドレス（new@example.jp）に確認メールを送信しました。" in page
    assert "新しいメールアドレス new@example.jp の確認待ちです。" in page

    link = confirm_links(app_ctx.settings)[0]
    opened = await client.get(link)
    assert opened.status_code == 200
    assert "メールアドレスを new@example.jp に変更しました。" in visible_text(opened.text)
    saved = await member_row(app_ctx)
    assert (saved["email"], saved["pending_email"]) == ("new@example.jp", "")
    assert saved["profile_version"] == row["profile_version"] + 2
    again = await client.get(link)
    assert again.status_code == 200
    assert "すでに完了しています" in again.text
    assert len(await audit.events(app_ctx.db, "email_changed")) == 1


async def test_confirm_link_works_without_being_logged_in(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    await save(client, row["profile_version"], email="phone@example.jp")
    client.cookies.clear()
    opened = await client.get(confirm_links(app_ctx.settings)[0])
    assert opened.status_code == 200
    assert "ログインして会員情報を確認する" in opened.text
    assert (await member_row(app_ctx))["email"] == "phone@example.jp"


async def test_confirm_link_expires_after_24_hours(client: Any, app_ctx: Any, clock: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    await save(client, row["profile_version"], email="late@example.jp")
    clock.advance(timedelta(hours=24, seconds=1))
    await login(client, "001001")  # the 2-hour idle login ended meanwhile
    page = visible_text((await client.get("/profile")).text)
    assert "確認の有効期限が切れました" in page
    opened = await client.get(confirm_links(app_ctx.settings)[0])
    assert opened.status_code == 400
    assert "有効期限（24時間）が切れています" in opened.text
    assert (await member_row(app_ctx))["email"] == "member001001@example.jp"


async def test_link_just_inside_24_hours_still_works(client: Any, app_ctx: Any, clock: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    await save(client, row["profile_version"], email="intime@example.jp")
    clock.advance(timedelta(hours=23, minutes=59))
    assert (await client.get(confirm_links(app_ctx.settings)[0])).status_code == 200
    assert (await member_row(app_ctx))["email"] == "intime@example.jp"


async def test_tampered_or_garbage_link_is_refused(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    await save(client, row["profile_version"], email="new@example.jp")
    link = confirm_links(app_ctx.settings)[0]
    for bad in (link[:-3] + "AAA", "/profile/email/confirm/x", "/profile/email/confirm/" + "a" * 5000):
        response = await client.get(bad)
        assert response.status_code == 400
        assert "このリンクは無効です" in response.text
    assert (await member_row(app_ctx))["email"] == "member001001@example.jp"


async def test_newer_request_makes_the_older_link_useless(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    await save(client, row["profile_version"], email="first@example.jp")
    await save(client, row["profile_version"] + 1, email="second@example.jp")
    [first_link] = confirm_links(app_ctx.settings, "first@example.jp")
    [second_link] = confirm_links(app_ctx.settings, "second@example.jp")
    assert (await client.get(first_link)).status_code == 400
    assert (await member_row(app_ctx))["email"] == "member001001@example.jp"
    assert (await client.get(second_link)).status_code == 200
    assert (await member_row(app_ctx))["email"] == "second@example.jp"


async def test_member_can_cancel_a_pending_change(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    await save(client, row["profile_version"], email="oops@example.jp")
    response = await post_form(client, "/profile/email/cancel", {}, follow_redirects=False)
    assert response.status_code == 303
    assert (await member_row(app_ctx))["pending_email"] == ""
    page = visible_text((await client.get("/profile")).text)
    assert "メールアドレスの変更を取り消しました。" in page
    assert (await client.get(confirm_links(app_ctx.settings)[0])).status_code == 400
    assert (await member_row(app_ctx))["email"] == "member001001@example.jp"


async def test_saving_again_with_the_current_email_keeps_the_pending_change(
    client: Any, app_ctx: Any
) -> None:
    row = await logged_in_member(client, app_ctx)
    await save(client, row["profile_version"], email="new@example.jp")
    await save(client, row["profile_version"] + 1, affiliation="別の所属")
    assert (await member_row(app_ctx))["pending_email"] == "new@example.jp"
    assert len(outbox(app_ctx.settings)) == 2


async def test_too_many_email_changes_are_paused(client: Any, app_ctx: Any) -> None:
    row = await logged_in_member(client, app_ctx)
    version = row["profile_version"]
    for index in range(5):
        assert (await save(client, version, email=f"try{index}@example.jp")).status_code == 303
        version += 1
    refused = await save(client, version, email="try5@example.jp")
    assert refused.status_code == 422
    assert "メールアドレスの変更が短時間に続いたため" in refused.text
    assert field_value(refused.text, "email") == "try5@example.jp"


async def test_email_change_mail_failure_is_told_to_the_member(
    app_ctx: Any, client: Any, smtp_sink: Any
) -> None:
    app = create_app(app_ctx.settings.with_(smtp_url=smtp_sink.url), app_ctx.clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as smtp_client:
        context = app.state.ctx
        await make_member(context, "003003")
        await login(smtp_client, "003003")
        row = await member_row(context, "003003")
        smtp_sink.fail_next.append("550 mailbox unavailable")
        response = await post_form(
            smtp_client,
            "/profile",
            {**FORM, "email": "bounce@example.jp", "profile_version": str(row["profile_version"])},
        )
        assert "確認メールを送信できませんでした" in response.text
        # The notice to the old address still went out over SMTP.
        assert [str(m["To"]) for m in smtp_sink.messages] == ["member003003@example.jp"]


# ---- postal-code lookup ----------------------------------------------------------------------


async def test_postal_lookup_fills_prefecture_and_address(client: Any, app_ctx: Any) -> None:
    await logged_in_member(client, app_ctx)
    response = await client.get(
        "/profile/postal",
        params={"postal_code": "１００−０００１", "prefecture": "", "address1": ""},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "<option selected>東京都</option>" in response.text
    assert field_value(response.text, "address1") == "千代田区千代田"
    assert 'data-hx-swap-oob="innerHTML"' in response.text and "続けて番地を入力してください" in response.text


async def test_postal_lookup_waits_for_seven_digits(client: Any, app_ctx: Any) -> None:
    await logged_in_member(client, app_ctx)
    response = await client.get("/profile/postal", params={"postal_code": "100-00"}, headers=HTMX)
    assert response.status_code == 204


async def test_postal_lookup_keeps_typed_address_for_unknown_code(client: Any, app_ctx: Any) -> None:
    await logged_in_member(client, app_ctx)
    response = await client.get(
        "/profile/postal",
        params={"postal_code": "0000000", "prefecture": "京都府", "address1": "<b>手入力</b>"},
        headers=HTMX,
    )
    assert "<option selected>京都府</option>" in response.text
    assert field_value(response.text, "address1") == "<b>手入力</b>"
    assert "<b>手入力</b>" not in response.text  # escaped
    assert "見つかりませんでした" in response.text


async def test_postal_lookup_offers_town_candidates(client: Any, app_ctx: Any) -> None:
    await logged_in_member(client, app_ctx)
    response = await client.get("/profile/postal", params={"postal_code": "4520961"}, headers=HTMX)
    assert '<datalist id="address1-options">' in response.text
    assert 'list="address1-options"' in response.text


async def test_postal_lookup_needs_login_and_htmx(client: Any, app_ctx: Any) -> None:
    anonymous = await client.get(
        "/profile/postal", params={"postal_code": "1000001"}, headers=HTMX, follow_redirects=False
    )
    assert anonymous.status_code == 200 and "東京都" not in anonymous.text
    await logged_in_member(client, app_ctx)
    plain = await client.get("/profile/postal", params={"postal_code": "1000001"}, follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == "/profile"
