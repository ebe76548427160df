"""Self sign-up end to end: the form, the confirmation link, the password, the member number."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from db import members as member_queries
from db import membership as membership_db
from services import account_closure, signup
from services.perks import tier_of
from tests.helpers import body_text, login, make_member, outbox, post_form, visible_text

GOOD_PASSWORD = "Hikari2026"

FORM = {
    "family_name": "田中",
    "given_name": "美咲",
    "family_kana": "たなか",
    "given_kana": "ミサキ",
    "email": "misaki.tanaka@example.jp",
    "postal_code": "１００－０００１",
    "prefecture": "東京都",
    "address1": "千代田区千代田1-1",
    "address2": "",
    "phone": "090-1234-5678",
    "affiliation": "つどい大学",
    "terms": "1",
}


def confirm_path(settings, to: str) -> str:
    for message in reversed(outbox(settings)):
        if message["To"] == to and "会員登録のご確認" in str(message["Subject"]):
            match = re.search(r"https?://[^/\s]+(/signup/confirm/\S+)", body_text(message))
            assert match
            return match.group(1)
    raise AssertionError(f"no confirmation mail to {to}")


async def sign_up(client, settings, **changes) -> str:
    response = await post_form(client, "/signup", {**FORM, **changes}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/signup/sent"
    return confirm_path(settings, changes.get("email", FORM["email"]))


async def test_signup_form_has_the_profile_fields_consent_and_a_honeypot(client):
    page = await client.get("/signup")
    assert page.status_code == 200
    for name in (*signup.PROFILE_FIELDS, "terms", "code", "website", "_csrf_token"):
        assert f'name="{name}"' in page.text
    assert 'autocomplete="postal-code"' in page.text and 'inputmode="tel"' in page.text
    assert "新規会員登録" in visible_text(page.text)


async def test_login_page_links_to_signup_only_while_it_is_open(client, app_ctx):
    assert 'href="/signup"' in (await client.get("/login")).text
    await app_ctx.update_org({"signup_enabled": "0"})
    assert 'href="/signup"' not in (await client.get("/login")).text


async def test_closed_signup_shows_a_polite_page_and_takes_nothing(client, app_ctx, settings):
    await app_ctx.update_org({"signup_enabled": "0"})
    page = await client.get("/signup")
    assert "現在、新規会員登録を受け付けていません" in visible_text(page.text)
    assert 'name="family_name"' not in page.text
    response = await post_form(client, "/signup", FORM)
    assert "現在、新規会員登録を受け付けていません" in visible_text(response.text)
    assert outbox(settings) == []


async def test_signup_end_to_end_assigns_a_zero_padded_number_and_logs_in(client, app_ctx, settings):
    path = await sign_up(client, settings)
    sent = await client.get("/signup/sent")
    assert "確認メールを送信しました" in sent.text

    form = await client.get(path)
    assert form.status_code == 200
    assert "田中 美咲 様" in visible_text(form.text)
    assert 'name="new_password"' in form.text and 'autocomplete="new-password"' in form.text

    weak = await post_form(client, path, {"new_password": "abc", "new_password_confirm": "abc"})
    assert weak.status_code == 422
    assert "8文字以上20文字以下" in weak.text
    mismatch = await post_form(
        client, path, {"new_password": GOOD_PASSWORD, "new_password_confirm": "Hikari2027"}
    )
    assert "確認用のパスワードが一致しません" in mismatch.text

    done = await post_form(
        client,
        path,
        {"new_password": GOOD_PASSWORD, "new_password_confirm": GOOD_PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/signup/welcome"
    welcome = await client.get("/signup/welcome")
    assert welcome.status_code == 200
    assert "000001" in visible_text(welcome.text)

    member = await member_queries.get_by_number(app_ctx.db, "000001")
    assert member is not None
    assert member["family_kana"] == "タナカ"  # hiragana converted
    assert member["postal_code"] == "1000001" and member["phone"] == "09012345678"
    assert member["must_change_password"] == 0 and member["status"] == "active"
    welcome_mail = [m for m in outbox(settings) if "登録が完了しました" in str(m["Subject"])]
    assert welcome_mail and "000001" in body_text(welcome_mail[0])

    # The link works once: a second visit says the registration is done.
    again = await client.get(path)
    assert "登録はすでに完了しています" in visible_text(again.text)
    # The new member logs in with the number and the chosen password.
    client.cookies.clear()
    assert (await login(client, "000001", GOOD_PASSWORD)).status_code == 303


async def test_width_setting_pads_the_number(client, app_ctx, settings):
    await app_ctx.update_org({"member_number_width": "8"})
    path = await sign_up(client, settings)
    await post_form(client, path, {"new_password": GOOD_PASSWORD, "new_password_confirm": GOOD_PASSWORD})
    assert await member_queries.get_by_number(app_ctx.db, "00000001") is not None


async def test_bad_input_keeps_every_value_and_says_what_to_fix(client, settings):
    data = {
        **FORM,
        "family_name": "髙橋",
        "given_kana": "Misaki",
        "email": "not-an-address",
        "phone": "12345",
        "postal_code": "12",
        "affiliation": "😀" * 3,
        "terms": "",
    }
    response = await post_form(client, "/signup", data)
    assert response.status_code == 422
    text = visible_text(response.text)
    assert "「高」をお使いください" in text
    assert "カタカナ" in text
    assert "メールアドレスの形式が正しくありません" in text
    assert "電話番号は0から始まる10桁または11桁" in text
    assert "郵便番号は7桁" in text
    assert "同意にチェック" in text
    assert 'value="髙橋"' in response.text and 'value="not-an-address"' in response.text
    assert outbox(settings) == []


async def test_missing_fields_long_values_and_odd_input_never_fail(client):
    empty = await post_form(client, "/signup", {})
    assert empty.status_code == 422
    assert "姓を入力してください" in empty.text
    huge = await post_form(
        client, "/signup", {**FORM, "family_name": "あ" * 20_000, "interests": ["x", "99999999999"]}
    )
    assert huge.status_code == 422
    assert "文字以内" in huge.text
    htmx = await post_form(client, "/signup", {}, headers={"HX-Request": "true"})
    assert htmx.status_code == 200


async def test_duplicate_email_is_refused_without_telling_the_form(client, app_ctx, settings):
    await make_member(app_ctx, "004321", email="taken@example.jp", family_name="秘密")
    response = await post_form(
        client, "/signup", {**FORM, "email": "taken@example.jp"}, follow_redirects=False
    )
    # The same answer as for a new address: the form does not reveal who is registered.
    assert response.status_code == 303 and response.headers["location"] == "/signup/sent"
    mails = outbox(settings)
    assert len(mails) == 1
    assert "すでに会員として登録されています" in body_text(mails[0])
    assert "秘密" not in body_text(mails[0]) and "004321" not in body_text(mails[0])
    assert await app_ctx.db.fetchval("SELECT count(*) FROM signup_requests") == 0


async def test_email_taken_while_the_link_waited_is_refused(client, app_ctx, settings):
    path = await sign_up(client, settings)
    await make_member(app_ctx, "004321", email=FORM["email"])
    response = await client.get(path)
    assert "このメールアドレスは登録済みです" in visible_text(response.text)


async def test_honeypot_looks_sent_but_does_nothing(client, app_ctx, settings):
    response = await post_form(
        client, "/signup", {**FORM, "website": "http://spam.example"}, follow_redirects=False
    )
    assert response.headers["location"] == "/signup/sent"
    assert outbox(settings) == []
    assert await app_ctx.db.fetchval("SELECT count(*) FROM signup_requests") == 0


async def test_signups_are_rate_limited_per_ip(client, settings):
    for index in range(signup.SIGNUPS_PER_IP.attempts):
        await sign_up(client, settings, email=f"person{index}@example.jp")
    blocked = await post_form(client, "/signup", {**FORM, "email": "one.more@example.jp"})
    assert blocked.status_code == 422
    assert "しばらく時間をおいてから" in blocked.text
    assert 'value="one.more@example.jp"' in blocked.text


async def test_link_expires_after_24_hours_and_tampering_is_caught(client, app_ctx, clock, settings):
    path = await sign_up(client, settings)
    tampered = await client.get(path[:-3] + "xyz")
    assert "このリンクは使用できません" in visible_text(tampered.text)
    clock.advance(timedelta(hours=24, minutes=1))
    expired = await client.get(path)
    assert "有効期限が切れています" in visible_text(expired.text)
    late = await post_form(
        client, path, {"new_password": GOOD_PASSWORD, "new_password_confirm": GOOD_PASSWORD}
    )
    assert "有効期限が切れています" in visible_text(late.text)
    assert await member_queries.count(app_ctx.db) == 0


async def test_two_concurrent_signups_never_get_the_same_number(client, app_ctx, settings):
    # An imported member already holds 000002: sign-up skips it.
    await make_member(app_ctx, "000002")
    paths = [await sign_up(client, settings, email=f"twin{index}@example.jp") for index in range(4)]
    tokens = [path.rsplit("/", 1)[1] for path in paths]
    results = await asyncio.gather(
        *(signup.complete(app_ctx, token, GOOD_PASSWORD, GOOD_PASSWORD, ip="127.0.0.1") for token in tokens)
    )
    numbers = sorted(result.member_number for result in results)  # type: ignore[union-attr]
    assert numbers == ["000001", "000003", "000004", "000005"]


async def test_a_closed_members_number_is_never_given_again(client, app_ctx, settings):
    path = await sign_up(client, settings)
    await post_form(client, path, {"new_password": GOOD_PASSWORD, "new_password_confirm": GOOD_PASSWORD})
    first = await member_queries.get_by_number(app_ctx.db, "000001")
    admin_id = await make_member(app_ctx, "900009", role="admin")
    assert await account_closure.close_account(app_ctx, int(first["id"]), admin_id=admin_id)
    client.cookies.clear()
    path = await sign_up(client, settings, email="next.person@example.jp")
    await post_form(client, path, {"new_password": GOOD_PASSWORD, "new_password_confirm": GOOD_PASSWORD})
    assert (await member_queries.get_by_number(app_ctx.db, "000001"))["status"] == "closed"
    newcomer = await member_queries.get_by_number(app_ctx.db, "000002")
    assert newcomer is not None and newcomer["email"] == "next.person@example.jp"


async def test_code_at_signup_joins_the_tier_on_confirmation(client, app_ctx, settings):
    tier = await membership_db.get_tier_by_code(app_ctx.db, "members")
    await membership_db.create_code(
        app_ctx.db,
        code="GAKKAI2026",
        tier_id=int(tier["id"]),
        use_limit=5,
        expires_on=None,
        tier_ends_on=None,
        note="",
        now=app_ctx.clock.now(),
    )
    wrong = await post_form(client, "/signup", {**FORM, "code": "NOPE1234"})
    assert wrong.status_code == 422
    assert "入力されたコードは見つかりませんでした" in wrong.text
    path = await sign_up(client, settings, code="gakkai-2026")
    done = await post_form(
        client,
        path,
        {"new_password": GOOD_PASSWORD, "new_password_confirm": GOOD_PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303
    member = await member_queries.get_by_number(app_ctx.db, "000001")
    current = await tier_of(app_ctx.db, int(member["id"]), now=app_ctx.clock.now(), tz=app_ctx.settings.tz)
    assert current.code == "members"
    welcome = await client.get("/signup/welcome")
    assert "に参加しました" in visible_text(welcome.text)


async def test_live_password_rules_tick_as_the_member_types(client):
    response = await post_form(
        client,
        "/signup/password-rules",
        {"new_password": "Hikari2026", "new_password_confirm": "Hikari2026"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert 'data-state="ng"' not in response.text and 'data-state="todo"' not in response.text
    assert "確認用のパスワードと一致している" in response.text
    weak = await post_form(
        client, "/signup/password-rules", {"new_password": "ｐａｓｓ"}, headers={"HX-Request": "true"}
    )
    assert 'data-state="ng"' in weak.text
    assert "日本語入力（IME）" in weak.text


async def test_postal_code_fills_the_address(client):
    response = await client.get(
        "/signup/address", params={"postal_code": "100-0001"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "<option selected>東京都</option>" in response.text
    assert "千代田区千代田" in response.text


async def test_stale_unconfirmed_signups_lose_their_personal_data(client, app_ctx, clock, settings):
    from services.membership import apply_tier_endings

    await sign_up(client, settings)
    clock.advance(timedelta(hours=25))
    await apply_tier_endings(app_ctx)
    row = await app_ctx.db.fetchone("SELECT * FROM signup_requests")
    assert row["status"] == "expired" and row["email"] == "" and row["profile"] == "{}"
