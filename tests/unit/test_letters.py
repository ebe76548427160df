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
    assert len(images) == 1  # no contact URL given: only the login QR code
    decoded = [result.text for result in zxingcpp.read_barcodes(images[0].image)]
    assert decoded == [LOGIN_URL]


POSTAL = {
    "postal_code": "1000001",
    "address_lines": ["東京都千代田区千代田1-1-1", "つどいマンション101号室"],
    "organization_address": "〒100-0005 東京都千代田区丸の内1-2-3",
    "organization_phone": "03-1234-5678",
    "contact_email": "info@example.jp",
    "contact_url": "https://tsudoi.example.jp/contact",
}


def text_positions(pdf: bytes) -> list[tuple[str, float, float]]:
    """Each text run with its position in mm from the page's top left."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    height = float(page.mediabox.height)
    found: list[tuple[str, float, float]] = []

    def visit(text, cm, tm, font_dict, font_size):  # noqa: ANN001
        if text.strip():
            x, y = tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5]
            found.append((re.sub(r"[\s\x00]+", "", text), x * 25.4 / 72, (height - y) * 25.4 / 72))

    page.extract_text(visitor_text=visit)
    return found


def test_the_recipient_block_sits_in_the_window_of_a_long_3_envelope() -> None:
    from services.letters import FOLDS, WINDOW

    pdf = render_initial_password_letters([letter(**POSTAL)])
    (text,) = page_texts(pdf)
    for expected in (
        "〒100-0001",
        "東京都千代田区千代田1-1-1",
        "つどいマンション101号室",
        "山田太郎様",
        "会員番号00123",
    ):
        assert expected in text, expected
    left, top, width, height = WINDOW
    # The window of a 長3 envelope (90 × 45 mm, about 23 mm from the left and 13-14 mm from the top).
    assert 18 <= left <= 25 and 12 <= top <= 16 and width <= 90 and height <= 45
    assert FOLDS == (99.0, 198.0)  # A4 in three
    runs = text_positions(pdf)
    for needle in ("〒100-0001", "東京都千代田区", "山田太郎様", "会員番号"):
        x, y = next((x, y) for run, x, y in runs if run.startswith(needle))
        assert left < x < left + width and top < y < top + height, (needle, x, y)
    # The sender (name, address, phone) is outside the window, the title below it but above the first fold.
    x, y = next((x, y) for run, x, y in runs if run.startswith("電話03-1234-5678") and y < FOLDS[0])
    assert x > left + width
    x, y = next((x, y) for run, x, y in runs if run.startswith("初期パスワードのお知らせ"))
    assert top + height < y < FOLDS[0]


def test_help_block_names_the_office_and_its_contact_qr() -> None:
    pdf = render_initial_password_letters([letter(**POSTAL)])
    (text,) = page_texts(pdf)
    assert "ログインできないときのお問い合わせ先" in text
    assert "電話03-1234-5678" in text and "メールinfo@example.jp" in text
    assert "お問い合わせの際は会員番号（00123）をお伝えください。" in text
    images = PdfReader(io.BytesIO(pdf)).pages[0].images
    decoded = [r.text for image in images for r in zxingcpp.read_barcodes(image.image)]
    assert decoded == [LOGIN_URL, "https://tsudoi.example.jp/contact"]


def test_twenty_characters_with_the_postal_blocks_still_fit_one_page() -> None:
    pdf = render_initial_password_letters([letter("Kp7#lI10O!" * 2, **POSTAL)])
    runs = text_positions(pdf)
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    assert max(y for _, _, y in runs) < 292
    help_y = next(y for run, _, y in runs if run.startswith("お問い合わせの際は"))
    footer_y = next(y for run, _, y in runs if run.startswith("この書面には"))
    assert help_y + 3 < footer_y


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
