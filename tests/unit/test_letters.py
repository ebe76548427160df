"""Initial-password letters: one page per member, readings, the login URL and its QR code."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import date

import pytest
import zxingcpp
from pypdf import PdfReader

from services.letters import (
    LetterData,
    render_initial_password_letters,
    render_initial_password_letters_async,
)

READINGS = {
    "l": "エル(小文字)",
    "I": "アイ(大文字)",
    "1": "イチ(数字)",
    "0": "ゼロ(数字)",
    "O": "オー(大文字)",
    "K": "ケー(大文字)",
    "p": "ピー(小文字)",
    "7": "ナナ(数字)",
    "#": "シャープ",
    "!": "エクスクラメーション",
}
LOGIN_URL = "https://tsudoi.example.jp/login"


def letter(password: str = "Kp7#lI10O!", **changes: object) -> LetterData:
    base = LetterData(
        organization_name="一般社団法人 日本サンプル協会",
        member_name="山田 太郎",
        member_number="00123",
        initial_password=password,
        readings=[(c, READINGS[c]) for c in password],
        login_url=LOGIN_URL,
        issued_on=date(2026, 11, 23),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def page_texts(pdf: bytes) -> list[str]:
    # pypdf reads fpdf2's CFF font encoding one byte at a time (see test_receipts.pdf_text).
    reader = PdfReader(io.BytesIO(pdf))
    return [re.sub(r"[\s\x00]+", "", page.extract_text()) for page in reader.pages]


def test_one_page_per_member_in_order() -> None:
    letters = [letter(), letter(member_name="佐藤 花子", member_number="00456", password="1lO0")]
    texts = page_texts(render_initial_password_letters(letters))
    assert len(texts) == 2
    assert "山田太郎様" in texts[0] and "00123" in texts[0]
    assert "佐藤花子様" in texts[1] and "00456" in texts[1]
    assert "山田太郎" not in texts[1]


def test_letter_shows_organization_password_with_readings_and_login_steps() -> None:
    (text,) = page_texts(render_initial_password_letters([letter()]))
    for expected in (
        "一般社団法人日本サンプル協会",
        "初期パスワードのお知らせ",
        "ログインID（会員番号）00123",
        "2026年11月23日",
        "エル(小文字)",
        "アイ(大文字)",
        "イチ(数字)",
        "ゼロ(数字)",
        "オー(大文字)",
        "シャープ",
        LOGIN_URL,
        "1.ログイン画面を開く",
        "2.会員番号と初期パスワードを入力",
        "3.新しいパスワードに変更",
        "4.会員情報を確認",
    ):
        assert expected in text, expected
    # Each box: its position, the character, then the character's reading.
    boxes = "".join(f"{n}{c}{READINGS[c]}" for n, c in enumerate("Kp7#lI10O!", start=1))
    assert f"初期パスワード{boxes}" in text


def test_long_reading_is_split_over_two_lines_not_dropped() -> None:
    (text,) = page_texts(render_initial_password_letters([letter()]))
    assert "エクスクラ" in text and "メーション" in text


def test_twenty_character_password_fits_on_the_page() -> None:
    password = "Kp7#lI10O!" * 2
    (text,) = page_texts(render_initial_password_letters([letter(password)]))
    assert "4.会員情報を確認" in text


def test_qr_code_on_the_letter_decodes_to_the_login_url() -> None:
    reader = PdfReader(io.BytesIO(render_initial_password_letters([letter()])))
    images = reader.pages[0].images
    assert len(images) == 1
    decoded = [result.text for result in zxingcpp.read_barcodes(images[0].image)]
    assert decoded == [LOGIN_URL]


def test_readings_that_do_not_match_the_password_are_rejected() -> None:
    broken = letter(readings=[("K", "ケー(大文字)")])
    with pytest.raises(ValueError, match="00123"):
        render_initial_password_letters([broken])


def test_reading_pairs_must_be_single_characters() -> None:
    broken = letter(password="Kp", readings=[("Kp", "ケーピー")])
    with pytest.raises(ValueError, match="読み"):
        render_initial_password_letters([broken])


@pytest.mark.parametrize("field", ["member_number", "member_name", "login_url", "organization_name"])
def test_blank_field_is_rejected(field: str) -> None:
    with pytest.raises(ValueError, match="指定してください"):
        render_initial_password_letters([letter(**{field: ""})])


def test_no_members_selected_is_rejected_in_japanese() -> None:
    with pytest.raises(ValueError, match="会員を1人以上選んでください"):
        render_initial_password_letters([])


async def test_async_render_produces_the_letters() -> None:
    texts = page_texts(await render_initial_password_letters_async([letter()]))
    assert "初期パスワードのお知らせ" in texts[0]
