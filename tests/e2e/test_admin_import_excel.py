"""The import screen with an Excel file, at phone and desktop width: choose the .xlsx, read the dry run
(unknown column, name variants with their standard forms), import, land on the letters."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import expect

from db import members as member_queries
from tests.e2e.admin import login_admin
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, phone_context, screenshot


def write_workbook(path: Path, first: str, second: str) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["セイ", "メイ", "会員番号", "姓", "名", "メールアドレス", "メモ"])
    sheet.append(["タカハシ", "イチロウ", first, "髙橋", "一郎", f"taka{first}@example.jp", "理事"])
    sheet.append(["ヤマザキ", "ハナコ", second, "山﨑", "花子", None, ""])
    for cell in sheet["C"]:
        cell.number_format = "@"
    buffer = io.BytesIO()
    book.save(buffer)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize(
    ("label", "width", "height", "numbers"),
    [("phone", 360, 780, ("009501", "009502")), ("desktop", 1280, 900, ("009503", "009504"))],
)
def test_import_screen_with_an_xlsx(
    browser: Any,
    live_server: LiveServer,
    tmp_path: Path,
    label: str,
    width: int,
    height: int,
    numbers: tuple[str, str],
) -> None:
    context = phone_context(browser, live_server.url, width=width, height=height)
    page = context.new_page()
    try:
        login_admin(page, live_server)
        page.goto("/admin/import")
        expect(page.get_by_role("heading", name="会員の取り込み（CSV・Excel）")).to_be_visible()
        page.get_by_label("会員のファイル（CSV または Excel）").set_input_files(
            str(write_workbook(tmp_path / "members.xlsx", *numbers))
        )
        page.get_by_role("button", name="内容を確認する").click()
        expect(page.get_by_text("次の列は知らない列のため取り込みません")).to_be_visible()
        expect(page.get_by_text("2行目 姓：「髙橋 → 高橋」")).to_be_visible()
        expect(page.get_by_text("3行目 姓：「山﨑 → 山崎」")).to_be_visible()
        expect(page.get_by_text("メールアドレスなし（郵送）")).to_be_visible()
        assert_no_horizontal_scroll(page)
        button = page.get_by_role("button", name="標準の字形に置き換えて取り込む（2 名）")
        box = button.bounding_box()
        assert box is not None and box["height"] >= 44
        screenshot(page, f"admin-import-xlsx-{label}")
        button.click()
        expect(page).to_have_url("/admin/letters")
        expect(page.get_by_text("2 名を登録しました。")).to_be_visible()
        member = live_server.run(lambda ctx: member_queries.get_by_number(ctx.db, numbers[0]))
        assert member is not None and member["family_name"] == "高橋"
        second = live_server.run(lambda ctx: member_queries.get_by_number(ctx.db, numbers[1]))
        assert second is not None and second["email"] == "" and second["family_name"] == "山崎"
    finally:
        context.close()
