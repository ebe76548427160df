"""Excel in and out: .xlsx import and export, Japanese headers, padded member numbers, members without
e-mail, the name character setting (髙/﨑) and bad files that get a Japanese message, never a 500."""

from __future__ import annotations

import io
import re
import zipfile

import openpyxl
import pytest

from db import audit
from db import members as member_queries
from services.digests.options import SKIP_NO_ADDRESS
from services.digests.recipients import unsendable_reason
from services.member_import import check_content, import_members_file
from tests.helpers import csrf_token, login_admin, make_member, outbox, visible_text

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook_bytes(header, rows, *, text_columns=()):
    """An .xlsx as Excel writes it: numbers typed into cells are numbers (Excel drops their zeros)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "会員"
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    for column in text_columns:
        for cell in sheet[column]:
            cell.number_format = "@"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def upload(client, content, name="members.xlsx"):
    return await client.post(
        "/admin/import",
        data={"_csrf_token": await csrf_token(client)},
        files={"file": (name, content, XLSX if name.endswith(".xlsx") else "text/csv")},
    )


async def confirm(client, page_html, **extra):
    token = re.search(r'name="token" value="([^"]+)"', page_html).group(1)
    data = {"_csrf_token": await csrf_token(client), "token": token, **extra}
    return await client.post("/admin/import/confirm", data=data, follow_redirects=False)


async def test_xlsx_round_trip_keeps_leading_zeros_and_the_members_state(client, app_ctx):
    await login_admin(client, app_ctx)
    await make_member(app_ctx, "001001", phone="09011112222", postal_code="0600001", prefecture="北海道")
    await make_member(app_ctx, "001002", email="")
    response = await client.get("/admin/members/export.xlsx?q=0010")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(XLSX)
    assert 'filename="members-' in response.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows())
    header = [cell.value for cell in rows[0]]
    assert header[:6] == ["会員番号", "姓", "名", "セイ", "メイ", "メールアドレス"]
    assert header[13:] == ["会員プラン", "プランの期限", "状態", "入会日", "最終ログイン", "今年度の会費"]
    first = {name: cell for name, cell in zip(header, rows[1], strict=True)}
    # Text cells: Excel shows 001001 and 09011112222, never 1001 and 9011112222.
    for name, value in (("会員番号", "001001"), ("電話番号", "09011112222"), ("郵便番号", "0600001")):
        assert first[name].value == value and first[name].data_type == "s"
        assert first[name].number_format == "@"
    assert first["状態"].value == "有効" and first["会員プラン"].value == "無料プラン"
    assert first["入会日"].value == "2026-11-23" and first["最終ログイン"].value == "なし"
    assert first["今年度の会費"].value == "なし"
    assert len(await audit.events(app_ctx.db, "members.exported")) == 1

    # Back in: the same file is a valid import (its state columns are listed and ignored).
    await app_ctx.db.execute("DELETE FROM members WHERE member_number IN ('001001', '001002')")
    page = await upload(client, response.content)
    assert page.status_code == 200, visible_text(page.text)
    text = visible_text(page.text)
    assert "Excel ブック（.xlsx）" in text
    assert "会員プラン" in text and "今年度の会費" in text  # unknown columns, listed
    assert "メールアドレスのない会員が 1 名います" in text
    done = await confirm(client, page.text)
    assert done.status_code == 303
    again = await member_queries.get_by_number(app_ctx.db, "001001")
    assert again["phone"] == "09011112222" and again["postal_code"] == "0600001"
    assert (await member_queries.get_by_number(app_ctx.db, "001002"))["email"] == ""


async def test_xlsx_with_japanese_headers_in_any_order_and_an_unknown_column(client, app_ctx):
    await login_admin(client, app_ctx)
    content = workbook_bytes(
        ["メイ", "メールアドレス", "備考", "姓", "会員番号", "セイ", "名", "電話番号", "郵便番号"],
        [
            [
                "ハナコ",
                "hanako@example.jp",
                "会費免除",
                "山田",
                "000201",
                "ヤマダ",
                "花子",
                "090-1234-5678",
                "100-0001",
            ],
            ["イチロウ", None, "", "佐藤", "000202", "サトウ", "一郎", None, None],
        ],
        text_columns=("E",),
    )
    page = await upload(client, content)
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "次の列は知らない列のため取り込みません: 備考" in text
    assert "ファイルにない列（空欄として扱います）" in text and "都道府県（prefecture）" in text
    assert "2 名を登録する" in text
    await confirm(client, page.text)
    hanako = await member_queries.get_by_number(app_ctx.db, "000201")
    assert (hanako["family_name"], hanako["given_kana"], hanako["phone"]) == ("山田", "ハナコ", "09012345678")
    ichiro = await member_queries.get_by_number(app_ctx.db, "000202")
    assert ichiro["email"] == "" and ichiro["family_kana"] == "サトウ"


async def test_numbers_excel_shortened_are_padded_and_listed(client, app_ctx):
    await login_admin(client, app_ctx)
    await make_member(app_ctx, "000101")
    content = workbook_bytes(
        ["会員番号", "姓", "名", "セイ", "メイ"],
        [[103, "山田", "花子", "ヤマダ", "ハナコ"], ["000104", "佐藤", "一郎", "サトウ", "イチロウ"]],
    )
    page = await upload(client, content)
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "会員番号を6桁に0で埋めます（1 件）" in text
    assert "2行目：「103 → 000103」" in text
    await confirm(client, page.text)
    assert await member_queries.get_by_number(app_ctx.db, "000103") is not None
    assert await member_queries.get_by_number(app_ctx.db, "103") is None
    detail = (await audit.events(app_ctx.db, "members.imported"))[0]["detail"]
    assert '"padded_numbers": 1' in detail


async def test_numbers_without_a_common_length_are_taken_as_typed_and_the_setting_wins(client, app_ctx):
    rows = "\r\n".join(
        ["会員番号,姓,名,セイ,メイ", "7,山田,花子,ヤマダ,ハナコ", "12345,佐藤,一郎,サトウ,イチロウ"]
    )
    report = await check_content(app_ctx, rows.encode())
    assert report.ok and not report.padded
    assert [row.number for row in report.rows] == ["7", "12345"]
    await app_ctx.update_org({"member_number_length": "8"})
    report = await check_content(app_ctx, rows.encode())
    assert [row.number for row in report.rows] == ["00000007", "00012345"]
    assert "3行目: 会員番号を8桁に0で埋めます（12345 → 00012345）" in report.lines()


CP932_ROWS = "\r\n".join(
    [
        "会員番号,姓,名,セイ,メイ,住所1",
        "000301,髙橋,一郎,タカハシ,イチロウ,宮﨑市橘通1-1",
        "000302,山﨑,花子,ヤマザキ,ハナコ,",
    ]
)


async def test_cp932_file_with_name_variants_under_the_guides_rule_offers_standard_forms(client, app_ctx):
    content = CP932_ROWS.encode("cp932")  # 髙 and 﨑 are IBM extensions of Microsoft's cp932
    assert "髙" not in content.decode("shift_jis", errors="replace")
    await login_admin(client, app_ctx)
    plain = await check_content(app_ctx, content)
    assert not plain.ok and len(plain.error_rows) == 2  # refused as typed
    assert "髙" in " ".join(plain.rows[0].messages())
    page = await upload(client, content, "members.csv")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "Shift_JIS（cp932）" in text
    assert "2行目 姓：「髙橋 → 高橋」" in text
    assert "2行目 住所1（市区町村・番地）：「宮﨑市橘通1-1 → 宮崎市橘通1-1」" in text
    assert "3行目 姓：「山﨑 → 山崎」" in text
    assert "標準の字形に置き換えて取り込む（2 名）" in text
    done = await confirm(client, page.text, standard_forms="1")
    assert done.status_code == 303
    takahashi = await member_queries.get_by_number(app_ctx.db, "000301")
    assert takahashi["family_name"] == "高橋" and takahashi["address1"] == "宮崎市橘通1-1"
    assert (await member_queries.get_by_number(app_ctx.db, "000302"))["family_name"] == "山崎"


async def test_cp932_file_with_name_variants_under_jis_x_0213_keeps_them(client, app_ctx):
    await app_ctx.update_org({"name_charset": "jis0213"})
    await login_admin(client, app_ctx)
    page = await upload(client, CP932_ROWS.encode("cp932"), "members.csv")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "標準の字形への置き換え" not in text and "2 名を登録する" in text
    await confirm(client, page.text)
    takahashi = await member_queries.get_by_number(app_ctx.db, "000301")
    assert takahashi["family_name"] == "髙橋" and takahashi["address1"] == "宮﨑市橘通1-1"
    assert (await member_queries.get_by_number(app_ctx.db, "000302"))["family_name"] == "山﨑"
    # Still refused under JIS X 0213: circled numbers, emoji, private-use characters.
    bad = "会員番号,姓,名,セイ,メイ\r\n000303,田中①,太郎,タナカ,タロウ\r\n000304,鈴木😀,次郎,スズキ,ジロウ\r\n000305,佐藤\ue000,三郎,サトウ,サブロウ\r\n"
    report = await check_content(app_ctx, bad.encode())
    assert len(report.error_rows) == 3


async def test_member_without_email_is_imported_and_screens_and_jobs_say_so(client, app_ctx, settings):
    admin_id = await login_admin(client, app_ctx)
    report = await import_members_file(
        app_ctx,
        "会員番号,姓,名,セイ,メイ,メールアドレス\r\n000401,松本,一子,マツモト,イチコ,\r\n".encode(),
        actor_id=admin_id,
    )
    assert report.ok and report.created == 1
    member = await member_queries.get_by_number(app_ctx.db, "000401")
    assert member["email"] == ""
    # The admin's member page says so (no address: letters by post, no mails).
    page = await client.get(f"/admin/members/{member['id']}")
    assert page.status_code == 200
    assert "未登録" in visible_text(page.text) and "郵送" in visible_text(page.text)
    listing = await client.get("/admin/members?q=000401")
    assert "メールアドレスなし（郵送）" in visible_text(listing.text)
    # The admin can edit the member and keep the address empty.
    edit = await client.get(f"/admin/members/{member['id']}/edit")
    assert edit.status_code == 200
    # The digest job skips the member with a reason instead of failing.
    assert unsendable_reason(member) == SKIP_NO_ADDRESS
    # Password reset: the same answer page, which says what to do without an address; nothing is mailed.
    await client.get("/logout")
    forgot = await client.get("/password/forgot")
    assert forgot.status_code == 200
    sent = await client.post(
        "/password/forgot", data={"_csrf_token": await csrf_token(client), "identifier": "000401"}
    )
    assert sent.status_code == 200
    assert "メールアドレスを登録していない方にはメールをお送りできません" in visible_text(sent.text)
    assert outbox(settings) == []
    events = await audit.events(app_ctx.db, "password.reset_requested")
    assert events and '"no_address": true' in events[0]["detail"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("members.xlsx", b"PK\x03\x04" + b"\x00garbage" * 50, "Excel ファイルを読み取れませんでした"),
        ("members.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "古い Excel 形式（.xls）"),
        ("members.xlsx", "会員番号,姓\r\n1,山田\r\n".encode(), "Excel ブックではありません"),
        ("members.csv", b"a" * (5 * 1024 * 1024 + 10), "ファイルが大きすぎます（5MBまで）"),
    ],
)
async def test_bad_files_get_a_japanese_message_never_a_500(client, app_ctx, name, content, message):
    await login_admin(client, app_ctx)
    response = await upload(client, content, name)
    assert response.status_code in (413, 422), response.status_code
    if response.status_code == 422:
        assert message in visible_text(response.text)


def zip_bomb() -> bytes:
    """A valid-looking workbook whose sheet unpacks to far more than the cap."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (70 * 1024 * 1024))
    return buffer.getvalue()


async def test_an_xlsx_that_unpacks_to_a_huge_sheet_is_refused(client, app_ctx):
    await login_admin(client, app_ctx)
    content = zip_bomb()
    assert len(content) < 1024 * 1024
    response = await upload(client, content)
    assert response.status_code == 422
    assert "Excel ファイルの中身が大きすぎます" in visible_text(response.text)


async def test_an_xlsx_renamed_csv_is_read_as_excel_and_says_so(client, app_ctx):
    await login_admin(client, app_ctx)
    content = workbook_bytes(
        ["会員番号", "姓", "名", "セイ", "メイ"], [["000501", "山田", "花子", "ヤマダ", "ハナコ"]]
    )
    response = await upload(client, content, "members.csv")
    assert response.status_code == 200
    assert "中身が Excel ブック（.xlsx）だったため Excel として読み取りました" in visible_text(response.text)


async def test_a_workbook_with_a_broken_sheet_gets_a_message(client, app_ctx):
    await login_admin(client, app_ctx)
    good = workbook_bytes(
        ["会員番号", "姓", "名", "セイ", "メイ"], [["000601", "山田", "花子", "ヤマダ", "ハナコ"]]
    )
    source = zipfile.ZipFile(io.BytesIO(good))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data = data[: len(data) // 2]  # cut in the middle of the XML
            archive.writestr(item, data)
    response = await upload(client, buffer.getvalue())
    assert response.status_code == 422
    assert "Excel ファイルを読み取れませんでした" in visible_text(response.text)


async def test_payments_export_as_xlsx(client, app_ctx):
    await login_admin(client, app_ctx)
    response = await client.get("/admin/payments/export.xlsx")
    assert response.status_code == 200 and response.headers["content-type"].startswith(XLSX)
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert [cell.value for cell in next(sheet.iter_rows())][:3] == ["会員番号", "氏名", "会員種別"]


async def test_name_charset_setting_applies_to_the_profile_rules(client, app_ctx):
    from services.profile import validate_profile

    values = {"family_name": "髙橋", "given_name": "﨑子", "family_kana": "タカハシ", "given_kana": "サキコ"}
    _, errors = validate_profile(values, required=(), charset=app_ctx.org.name_charset)
    assert set(errors) == {"family_name", "given_name"}
    await login_admin(client, app_ctx)
    page = await client.get("/admin/settings")
    assert "氏名・住所に使える文字" in visible_text(page.text)
    await app_ctx.update_org({"name_charset": "jis0213"})
    clean, errors = validate_profile(values, required=(), charset=app_ctx.org.name_charset)
    assert errors == {} and clean["family_name"] == "髙橋"


async def test_a_file_over_the_request_limit_gets_the_japanese_413_page(client, app_ctx):
    await login_admin(client, app_ctx)
    response = await upload(client, b"a" * (7 * 1024 * 1024), "members.csv")
    assert response.status_code == 413
    assert "送信されたデータが大きすぎます" in visible_text(response.text)


async def test_profile_and_admin_edit_follow_the_setting_and_allow_no_email(client, app_ctx):
    from services import admin_members
    from services.profile import save_profile

    member_id = await make_member(app_ctx, "000701", email="")
    member = await member_queries.get_by_id(app_ctx.db, member_id)
    form = {
        "family_name": "髙橋",
        "given_name": "一郎",
        "family_kana": "タカハシ",
        "given_kana": "イチロウ",
        "email": "",
    }
    outcome = await save_profile(app_ctx, member, form, expected_version=int(member["profile_version"]))
    assert outcome.status == "invalid" and set(outcome.errors) == {"family_name"}  # the guide's rule
    await app_ctx.update_org({"name_charset": "jis0213"})
    outcome = await save_profile(app_ctx, member, form, expected_version=int(member["profile_version"]))
    assert outcome.status == "saved"  # 髙 accepted, and the member without an address may keep none
    member = await member_queries.get_by_id(app_ctx.db, member_id)
    assert member["family_name"] == "髙橋" and member["email"] == ""
    admin_id = await login_admin(client, app_ctx)
    clean, errors = await admin_members.update_member(
        app_ctx, member, {**form, "family_name": "山﨑", "membership_type": "正会員"}, actor_id=admin_id
    )
    assert errors == {} and clean["email"] == ""


def test_cli_imports_an_xlsx_with_standard_forms(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cli import tsudoi_cli

    monkeypatch.setenv("TSUDOI_DATABASE", str(tmp_path / "cli.sqlite3"))
    monkeypatch.setenv("TSUDOI_SECRET_KEY", "cli-test-secret-" + "z" * 32)
    path = tmp_path / "members.xlsx"
    path.write_bytes(
        workbook_bytes(
            ["会員番号", "姓", "名", "セイ", "メイ"], [["000801", "髙木", "一郎", "タカギ", "イチロウ"]]
        )
    )
    runner = CliRunner()
    result = runner.invoke(tsudoi_cli, ["import-members", str(path), "--dry-run"])
    assert result.exit_code == 1, result.output
    assert "置き換えられます（--standard-forms）（髙木 → 高木）" in result.output
    result = runner.invoke(tsudoi_cli, ["import-members", str(path), "--standard-forms"])
    assert result.exit_code == 0, result.output
    assert "姓を標準の字形に置き換えます（髙木 → 高木）" in result.output
    assert "1 名を登録しました" in result.output
