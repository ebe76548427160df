"""Admin member screens: search and filters, a member's page, create, edit, unlock, new initial password, export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from db import audit, initial_letters
from db import members as member_queries
from services.auth import LOCKED_MESSAGE
from services.initial_passwords import SEAL_PURPOSE
from services.member_import import check_content
from services.sealing import open_text
from tests.helpers import DEFAULT_PASSWORD, login, login_admin, make_member, post_form, visible_text


async def seed(app_ctx):
    ids = {}
    ids["hanako"] = await make_member(
        app_ctx,
        "001234",
        family_name="山田",
        given_name="花子",
        family_kana="ヤマダ",
        given_kana="ハナコ",
        email="hanako@example.jp",
        phone="0312345678",
        membership_type="正会員",
    )
    ids["jiro"] = await make_member(
        app_ctx,
        "001235",
        family_name="佐藤",
        given_name="次郎",
        family_kana="サトウ",
        given_kana="ジロウ",
        email="jiro@example.jp",
        membership_type="学生会員",
    )
    ids["taro"] = await make_member(
        app_ctx,
        "002000",
        family_name="鈴木",
        given_name="太郎",
        family_kana="スズキ",
        given_kana="タロウ",
        email="taro@sample.jp",
        membership_type="正会員",
    )
    return ids


async def names_found(client, query):
    response = await client.get("/admin/members" + query)
    assert response.status_code == 200
    return visible_text(response.text)


async def test_search_by_number_name_kana_email_and_phone(client, app_ctx):
    await seed(app_ctx)
    await login_admin(client, app_ctx)
    cases = {
        "?q=001234": ["山田 花子"],
        "?q=００１２": ["山田 花子", "佐藤 次郎"],  # full-width number prefix
        "?q=山田花子": ["山田 花子"],
        "?q=山田 花子": ["山田 花子"],
        "?q=さとう": ["佐藤 次郎"],  # hiragana finds katakana furigana
        "?q=サトウ": ["佐藤 次郎"],
        "?q=sample.jp": ["鈴木 太郎"],
        "?q=03-1234-5678": ["山田 花子"],
        "?q=31234": ["山田 花子"],
    }
    for query, expected in cases.items():
        text = await names_found(client, query)
        for name in ("山田 花子", "佐藤 次郎", "鈴木 太郎"):
            assert (name in text) == (name in expected), (query, name)


async def test_filters_by_type_tier_and_lock(client, app_ctx, clock):
    ids = await seed(app_ctx)
    await login_admin(client, app_ctx)
    text = await names_found(client, "?membership_type=学生会員")
    assert "佐藤 次郎" in text and "山田 花子" not in text
    today = clock.now().date().isoformat()
    await app_ctx.db.execute(
        "INSERT INTO member_tiers (member_id, tier_id, starts_on, source, created_at) "
        "SELECT ?, id, ?, 'test', ? FROM tiers WHERE code = 'members'",
        (ids["taro"], today, today),
    )
    text = await names_found(client, "?tier=members")
    assert "鈴木 太郎" in text and "山田 花子" not in text
    text = await names_found(client, "?tier=free")
    assert "鈴木 太郎" not in text and "山田 花子" in text
    await app_ctx.db.execute(
        "UPDATE members SET locked_until = ? WHERE id = ?",
        ((clock.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"), ids["jiro"]),
    )
    text = await names_found(client, "?locked=1")
    assert "佐藤 次郎" in text and "鈴木 太郎" not in text and "ロック中" in text


async def test_search_is_a_fixed_number_of_queries(client, app_ctx):
    await login_admin(client, app_ctx)
    for n in range(3):
        await make_member(app_ctx, f"10{n:04d}", email=f"a{n}@example.jp")
    before = app_ctx.db.query_count
    await client.get("/admin/members")
    few = app_ctx.db.query_count - before
    for n in range(3, 40):
        await make_member(app_ctx, f"10{n:04d}", email=f"a{n}@example.jp")
    before = app_ctx.db.query_count
    await client.get("/admin/members")
    assert app_ctx.db.query_count - before == few


async def test_htmx_search_returns_only_the_results(client, app_ctx):
    await seed(app_ctx)
    await login_admin(client, app_ctx)
    response = await client.get("/admin/members?q=山田", headers={"HX-Request": "true"})
    assert response.text.lstrip().startswith('<section id="member-results"')
    assert "山田 花子" in response.text


async def test_odd_search_input_never_fails(client, app_ctx):
    await login_admin(client, app_ctx)
    for query in (
        "%",
        "_",
        "\\",
        "'; DROP TABLE members; --",
        "😀" * 300,
        "a" * 5000,
        "&page=-1",
        "&page=99999999999",
    ):
        response = await client.get(
            "/admin/members", params={"q": query, "status": "weird", "tier": "x" * 300}
        )
        assert response.status_code == 200


async def test_member_page_shows_profile_tier_logins_and_audit(client, app_ctx):
    ids = await seed(app_ctx)
    await login(client, "001234", "Wrong2026x")
    await login_admin(client, app_ctx)
    response = await client.get(f"/admin/members/{ids['hanako']}")
    text = visible_text(response.text)
    for expected in (
        "山田 花子",
        "ヤマダ ハナコ",
        "hanako@example.jp",
        "03-1234-5678",
        "無料プラン",
        "ログイン失敗",
        "正会員",
    ):
        assert expected in text, expected
    assert (await client.get("/admin/members/999999")).status_code == 404


async def test_unlock_lets_the_member_in_and_is_audited(client, app_ctx):
    ids = await seed(app_ctx)
    member_client = client
    for _ in range(5):
        await login(member_client, "001234", "Wrong2026x")
    assert LOCKED_MESSAGE in (await login(member_client, "001234", DEFAULT_PASSWORD)).text
    admin_id = await login_admin(client, app_ctx)
    page = await client.get(f"/admin/members/{ids['hanako']}")
    assert "ロックを解除する" in page.text
    response = await post_form(client, f"/admin/members/{ids['hanako']}/unlock", {}, follow_redirects=False)
    assert response.status_code == 303
    events = await audit.events(app_ctx.db, "account.unlocked")
    assert len(events) == 1 and events[0]["actor_member_id"] == admin_id
    assert events[0]["subject_member_id"] == ids["hanako"]
    assert (await login(member_client, "001234", DEFAULT_PASSWORD)).status_code == 303


async def test_create_member_validates_like_the_profile_and_keeps_every_value(client, app_ctx):
    await seed(app_ctx)
    await login_admin(client, app_ctx)
    form = await client.get("/admin/members/new")
    assert 'value="002001"' in form.text  # the next number is suggested
    data = {
        "member_number": "001234",
        "family_name": "髙橋",
        "given_name": "一",
        "family_kana": "takahashi",
        "given_kana": "ハジメ",
        "email": "hanako@example.jp",
        "phone": "03-12",
        "postal_code": "123",
        "membership_type": "正会員",
        "affiliation": "😀" * 2000,
    }
    response = await post_form(client, "/admin/members/new", data)
    assert response.status_code == 422
    for message in (
        "はすでに使われています",
        "「髙」",
        "カタカナ",
        "会員番号 001234 で登録されています",
        "電話番号",
        "郵便番号",
    ):
        assert message in response.text, message
    assert 'value="takahashi"' in response.text and 'value="03-12"' in response.text


async def test_create_member_makes_an_initial_password_waiting_for_its_letter(client, app_ctx):
    await login_admin(client, app_ctx)
    data = {
        "member_number": "００３００１",
        "family_name": "高橋",
        "given_name": "一",
        "family_kana": "たかはし",
        "given_kana": "はじめ",
        "email": "hajime@example.jp",
        "membership_type": "正会員",
    }
    response = await post_form(client, "/admin/members/new", data, follow_redirects=False)
    assert response.status_code == 303
    member = await member_queries.get_by_number(app_ctx.db, "003001")
    assert member["family_kana"] == "タカハシ" and member["must_change_password"] == 1
    (pending,) = await initial_letters.pending(app_ctx.db)
    password = open_text(app_ctx.settings.secret_key, SEAL_PURPOSE, pending["password_sealed"])
    assert await app_ctx.hasher.verify(member["password_hash"], password)
    page = await client.get(response.headers["location"])
    assert "会員番号 003001 を登録しました" in visible_text(page.text)


async def test_edit_member_saves_and_audits_the_changed_fields(client, app_ctx):
    ids = await seed(app_ctx)
    await login_admin(client, app_ctx)
    form = await client.get(f"/admin/members/{ids['hanako']}/edit")
    assert 'value="03-1234-5678"' in form.text
    data = {
        "family_name": "山田",
        "given_name": "花子",
        "family_kana": "ヤマダ",
        "given_kana": "ハナコ",
        "email": "jiro@example.jp",
        "phone": "03-1234-5678",
        "membership_type": "正会員",
    }
    taken = await post_form(client, f"/admin/members/{ids['hanako']}/edit", data)
    assert taken.status_code == 422 and "会員番号 001235 で登録されています" in taken.text
    data["email"] = "hanako.new@example.jp"
    data["membership_type"] = "名誉会員"
    saved = await post_form(client, f"/admin/members/{ids['hanako']}/edit", data, follow_redirects=False)
    assert saved.status_code == 303
    member = await member_queries.get_by_id(app_ctx.db, ids["hanako"])
    assert member["email"] == "hanako.new@example.jp" and member["membership_type"] == "名誉会員"
    (event,) = await audit.events(app_ctx.db, "member.updated")
    assert "email" in event["detail"] and "membership_type" in event["detail"]
    assert "hanako.new" not in event["detail"]  # names of fields, not personal data


async def test_new_initial_password_forces_a_change_and_waits_for_one_letter(client, app_ctx):
    ids = await seed(app_ctx)
    await login_admin(client, app_ctx)
    response = await post_form(
        client, f"/admin/members/{ids['jiro']}/initial-password", {}, follow_redirects=False
    )
    assert response.status_code == 303
    member = await member_queries.get_by_id(app_ctx.db, ids["jiro"])
    assert member["must_change_password"] == 1
    assert not await app_ctx.hasher.verify(member["password_hash"], DEFAULT_PASSWORD)
    (pending,) = await initial_letters.pending(app_ctx.db)
    assert pending["member_id"] == ids["jiro"]
    page = await client.get(f"/admin/members/{ids['jiro']}")
    assert "通知書がまだ作成されていません" in page.text


async def test_export_is_utf8_with_bom_in_the_import_columns_and_imports_back(client, app_ctx):
    await seed(app_ctx)
    await login_admin(client, app_ctx)
    await make_member(app_ctx, "004000", family_name="=HYPERLINK(1)", email="formula@example.jp")
    response = await client.get("/admin/members/export.csv?membership_type=正会員")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][13:] == ["会員プラン", "プランの期限", "状態", "入会日", "最終ログイン", "今年度の会費"]
    assert rows[0][:13] == [
        "member_number",
        "family_name",
        "given_name",
        "family_kana",
        "given_kana",
        "email",
        "phone",
        "postal_code",
        "prefecture",
        "address1",
        "address2",
        "affiliation",
        "membership_type",
    ]
    numbers = [row[0] for row in rows[1:]]
    assert "001234" in numbers and "001235" not in numbers  # the filter applies
    hanako = next(row for row in rows if row[0] == "001234")
    assert hanako[1:3] == ["山田", "花子"] and hanako[6] == "0312345678"
    formula = next(row for row in rows if row[0] == "004000")
    assert formula[1] == "'=HYPERLINK(1)"  # never run as a formula by Excel
    assert len(await audit.events(app_ctx.db, "members.exported")) == 1
    # The export is a valid import file (here every number already exists, so only those errors).
    report = await check_content(app_ctx, response.content)
    assert report.encoding == "UTF-8（BOM付き）"
    assert all(set(row.errors) <= {"member_number", "email", "family_name"} for row in report.rows)


async def test_another_members_id_in_a_post_is_not_found(client, app_ctx):
    await login_admin(client, app_ctx)
    for url in (
        "/admin/members/424242/unlock",
        "/admin/members/424242/initial-password",
        "/admin/members/424242/edit",
    ):
        response = await post_form(client, url, {})
        assert response.status_code == 404


async def test_member_page_links_to_the_closure_screen_that_exists(client, app_ctx):
    ids = await seed(app_ctx)
    await login_admin(client, app_ctx)
    page = await client.get(f"/admin/members/{ids['hanako']}")
    assert f'href="/admin/closures/members/{ids["hanako"]}"' in page.text
    assert (await client.get(f"/admin/closures/members/{ids['hanako']}")).status_code == 200
