"""Member CSV import: encodings, a dry run listing every row's errors, confirm, all or nothing, the CLI."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from db import admin_members, initial_letters
from services.initial_passwords import SEAL_PURPOSE
from services.member_import import check_content, import_members_file
from services.sealing import open_text
from tests.helpers import csrf_token, login, login_admin, make_member, visible_text

HEADER = "member_number,family_name,given_name,family_kana,given_kana,email,phone,postal_code,prefecture,address1,address2,affiliation,membership_type,initial_password"
GOOD = [
    "000101,山田,花子,ヤマダ,ハナコ,hanako@example.jp,03-1234-5678,100-0001,東京都,千代田区千代田1-1,,つどい大学,正会員,",
    # Hiragana furigana, full-width digits, a prefecture without its suffix: normalized, not refused.
    "000102,佐藤,一郎,さとう,いちろう,ichiro@example.jp,０９０−１２３４−５６７８,〒530-0001,大阪,大阪市北区梅田,,,学生会員,Kaede2027Z",
]
BAD = {
    "circled": "000104,田中,三郎,タナカ,サブロウ,saburo@example.jp,,,,港区①,,,正会員,",
    "phone": "000105,伊藤,四郎,イトウ,シロウ,shiro@example.jp,03-1234,,,,,,正会員,",
    "postal": "000106,渡辺,五郎,ワタナベ,ゴロウ,goro@example.jp,,12345,,,,,正会員,",
    "kana": "000107,中村,六郎,nakamura,ロクロウ,rokuro@example.jp,,,,,,,正会員,",
    "dup_number_in_file": "000101,小林,七子,コバヤシ,ナナコ,nanako@example.jp,,,,,,,正会員,",
    "dup_email_in_file": "000108,加藤,八子,カトウ,ハチコ,HANAKO@example.jp,,,,,,,正会員,",
    "dup_number_in_db": "001001,吉田,九子,ヨシダ,キュウコ,kyuko@example.jp,,,,,,,正会員,",
    "dup_email_in_db": "000109,山口,十子,ヤマグチ,トオコ,member001001@example.jp,,,,,,,正会員,",
    "number": "A-111,井上,二子,イノウエ,ニコ,niko@example.jp,,,,,,,正会員,",
    "password": "000112,木村,三子,キムラ,サンコ,sanko@example.jp,,,,,,,正会員,short",
    "columns": "000113,林,四子,ハヤシ",
}
EXPECTED = {
    "circled": ("住所1（市区町村・番地）", "①"),
    "phone": ("電話番号", "10桁または11桁"),
    "postal": ("郵便番号", "7桁"),
    "kana": ("フリガナ（セイ）", "カタカナ"),
    "dup_number_in_file": ("会員番号", "2行目と重複"),
    "dup_email_in_file": ("メールアドレス", "2行目と重複"),
    "dup_number_in_db": ("会員番号", "すでに登録されています"),
    "dup_email_in_db": ("メールアドレス", "すでに登録されています（会員番号 001001）"),
    "number": ("会員番号", "数字"),
    "password": ("初期パスワード", "文字以上"),
    "columns": ("行", "列の数"),
}


def csv_bytes(lines, encoding="cp932", bom=False):
    text = "\r\n".join([HEADER, *lines]) + "\r\n"
    data = text.encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


async def member_count(app_ctx):
    return int(await app_ctx.db.fetchval("SELECT count(*) FROM members"))


async def upload(client, content, name="members.csv"):
    return await client.post(
        "/admin/import",
        data={"_csrf_token": await csrf_token(client)},
        files={"file": (name, content, "text/csv")},
    )


async def test_shift_jis_dry_run_reports_each_bad_row_and_writes_nothing(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login_admin(client, app_ctx)
    before = await member_count(app_ctx)
    response = await upload(client, csv_bytes([*GOOD, *BAD.values()]))
    assert response.status_code == 422
    text = visible_text(response.text)
    assert "Shift_JIS" in text
    assert (
        f"{len(GOOD) + len(BAD)} 行のうち {len(BAD)} 行にエラーがあります。まだ何も登録していません。" in text
    )
    report = await check_content(app_ctx, csv_bytes([*GOOD, *BAD.values()]))
    by_line = {row.line: row for row in report.rows}
    assert by_line[2].ok and by_line[3].ok
    assert by_line[3].clean["family_kana"] == "サトウ"
    assert by_line[3].clean["phone"] == "09012345678"
    assert by_line[3].clean["prefecture"] == "大阪府"
    for line, key in enumerate(BAD, start=2 + len(GOOD)):
        row = by_line[line]
        label, fragment = EXPECTED[key]
        messages = " ".join(row.messages())
        assert messages.startswith(label) and fragment in messages, (key, messages)
        # Every message reaches the page, next to its line number.
        assert f"{line}行目" in text
        assert fragment in text
    assert await member_count(app_ctx) == before
    assert 'name="token"' not in response.text  # no confirm button while any row is wrong
    assert "Kaede2027Z" not in response.text  # a given initial password is never echoed


async def test_good_file_is_confirmed_then_imported_with_letters_waiting(client, app_ctx):
    admin_id = await login_admin(client, app_ctx)
    response = await upload(client, csv_bytes(GOOD, "utf-8", bom=True))
    assert response.status_code == 200
    assert "UTF-8（BOM付き）" in response.text
    assert "2 名を登録する" in response.text
    assert await member_count(app_ctx) == 1
    token = re.search(r'name="token" value="([^"]+)"', response.text).group(1)
    stored = await app_ctx.db.fetchval("SELECT content_sealed FROM member_import_uploads")
    assert "山田" not in stored and "Kaede2027Z" not in stored  # sealed while waiting
    done = await client.post(
        "/admin/import/confirm",
        data={"_csrf_token": await csrf_token(client), "token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/admin/letters"
    page = await client.get("/admin/letters")
    assert "2 名を登録しました" in visible_text(page.text)
    hanako = await admin_members_row(app_ctx, "000101")
    ichiro = await admin_members_row(app_ctx, "000102")
    assert hanako["must_change_password"] == 1 and ichiro["must_change_password"] == 1
    assert ichiro["family_kana"] == "サトウ" and ichiro["postal_code"] == "5300001"
    # The given initial password works (and must be changed); the other one was generated.
    assert await app_ctx.hasher.verify(ichiro["password_hash"], "Kaede2027Z")
    pending = {row["member_number"]: row for row in await initial_letters.pending(app_ctx.db)}
    assert set(pending) == {"000101", "000102"}
    generated = open_text(app_ctx.settings.secret_key, SEAL_PURPOSE, pending["000101"]["password_sealed"])
    assert await app_ctx.hasher.verify(hanako["password_hash"], generated)
    assert await app_ctx.db.fetchval("SELECT count(*) FROM member_import_uploads") == 0
    events = await app_ctx.db.fetchall(
        "SELECT event, actor_member_id FROM audit_log WHERE event LIKE 'member%'"
    )
    assert sorted(row["event"] for row in events) == ["member.created", "member.created", "members.imported"]
    assert all(row["actor_member_id"] == admin_id for row in events)
    # The confirmation cannot run twice.
    again = await client.post(
        "/admin/import/confirm", data={"_csrf_token": await csrf_token(client), "token": token}
    )
    assert again.status_code == 422 and "有効期限" in again.text


async def test_member_registered_between_dry_run_and_confirm_stops_the_whole_import(client, app_ctx):
    await login_admin(client, app_ctx)
    response = await upload(client, csv_bytes(GOOD, "utf-8"))
    token = re.search(r'name="token" value="([^"]+)"', response.text).group(1)
    await make_member(app_ctx, "000102", email="someone@example.jp")
    before = await member_count(app_ctx)
    done = await client.post(
        "/admin/import/confirm", data={"_csrf_token": await csrf_token(client), "token": token}
    )
    assert done.status_code == 422
    assert "すでに登録されています" in done.text
    assert await member_count(app_ctx) == before
    assert await admin_members_row(app_ctx, "000101") is None


async def test_a_failure_inside_the_write_rolls_back_every_row(app_ctx, client):
    await make_member(app_ctx, "000102", email="other@example.jp")
    rows = [
        admin_members.NewMemberRow(
            "000101", "hash", "sealed", {"family_name": "山田", "email": "a@example.jp"}
        ),
        admin_members.NewMemberRow(
            "000102", "hash", "sealed", {"family_name": "佐藤", "email": "b@example.jp"}
        ),
    ]
    with pytest.raises(admin_members.DuplicateMember):
        await admin_members.create_many(
            app_ctx.db, rows, now=app_ctx.clock.now(), actor_id=None, source="import"
        )
    assert await admin_members_row(app_ctx, "000101") is None
    assert await app_ctx.db.fetchval("SELECT count(*) FROM initial_password_letters") == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "ファイルが空です"),
        ("会員番号,氏名\r\n1,山田\r\n".encode("cp932"), "見出し行に次の列がありません"),
        ((HEADER + "\r\n").encode(), "会員の行がありません"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x81", "文字コードを判別できませんでした"),
    ],
)
async def test_unreadable_files_get_one_clear_message(client, app_ctx, content, message):
    await login_admin(client, app_ctx)
    response = await upload(client, content)
    assert response.status_code == 422
    assert message in response.text


async def test_upload_without_a_file_is_refused_politely(client, app_ctx):
    await login_admin(client, app_ctx)
    response = await client.post("/admin/import", data={"_csrf_token": await csrf_token(client)})
    assert response.status_code == 422
    assert "CSVファイルまたは Excel ファイル（.xlsx）を選んでください" in response.text


async def test_plain_utf8_without_bom_is_detected(app_ctx, client):
    report = await check_content(app_ctx, csv_bytes(GOOD[:1], "utf-8"))
    assert report.ok and report.encoding == "UTF-8"


async def test_imported_member_must_change_the_password_at_first_login(client, app_ctx):
    report = await import_members_file(app_ctx, csv_bytes(GOOD, "utf-8"))
    assert report.ok and report.created == 2 and report.generated_passwords == 1
    response = await login(client, "000102", "Kaede2027Z")
    assert response.headers["location"] == "/password/change"


async def test_template_csv_imports_as_it_is(client, app_ctx):
    await login_admin(client, app_ctx)
    template = await client.get("/admin/import/template.csv")
    assert template.content.startswith(b"\xef\xbb\xbf")
    report = await check_content(app_ctx, template.content)
    assert report.ok, [row.messages() for row in report.rows]


def test_cli_import_members_dry_run_then_import(tmp_path, monkeypatch):
    from cli import tsudoi_cli

    monkeypatch.setenv("TSUDOI_DATABASE", str(tmp_path / "cli.sqlite3"))
    monkeypatch.setenv("TSUDOI_SECRET_KEY", "cli-test-secret-" + "y" * 32)
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes(GOOD))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([GOOD[0], BAD["phone"]]))
    runner = CliRunner()
    result = runner.invoke(tsudoi_cli, ["import-members", str(bad)])
    assert result.exit_code == 1
    assert "3行目（会員番号 000105）: 電話番号" in result.output
    assert "取り込みは行いませんでした" in result.output
    result = runner.invoke(tsudoi_cli, ["import-members", str(good), "--dry-run"])
    assert result.exit_code == 0 and "エラーはありません（確認のみ）" in result.output
    result = runner.invoke(tsudoi_cli, ["import-members", str(good)])
    assert result.exit_code == 0, result.output
    assert "2 名を登録しました（初期パスワードを生成: 1 名）" in result.output
    result = runner.invoke(tsudoi_cli, ["import-members", str(good)])
    assert result.exit_code == 1 and "すでに登録されています" in result.output


async def admin_members_row(app_ctx, number):
    from db import members

    return await members.get_by_number(app_ctx.db, number)
