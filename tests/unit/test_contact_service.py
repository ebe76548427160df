"""The contact service's rules: field checks, the spam guard, and screenshots checked by content."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from services.contact import (
    ATTACHMENT_DIMENSIONS,
    ATTACHMENT_WRONG_TYPE,
    HONEYPOT_MESSAGE,
    STALE_FORM_MESSAGE,
    TOO_FAST_MESSAGE,
    AttachmentRefused,
    clean_inquiry,
    form_token,
    reencode_image,
    safe_filename,
    spam_check,
)
from services.help import matches, normalize_search
from tests.contact_helpers import gif_bytes, jpeg_with_gps, png_bytes

SECRET = "unit-secret-" + "x" * 32
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
GOOD = {
    "category": "login",
    "name": "山田 花子",
    "email": "ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ",
    "member_number": "００１２３４",
    "subject": "ログインできません",
    "message": "会員番号 001234 で入力すると\r\n「ログインIDまたはパスワードが間違っています。」と表示されます。",
}


def test_good_inquiry_is_normalized() -> None:
    values, errors = clean_inquiry(GOOD)
    assert errors == {}
    assert values["email"] == "hanako@example.jp"
    assert values["member_number"] == "001234"
    assert "\r" not in values["message"]


def test_each_missing_field_gets_its_own_message_and_category_must_be_known() -> None:
    values, errors = clean_inquiry({"category": "free-text", "member_number": "abc"})
    assert set(errors) == {"category", "name", "email", "subject", "message", "member_number"}
    assert values["member_number"] == "abc"  # kept as typed so the member can correct it


def test_over_long_message_is_reported_with_its_length_not_cut() -> None:
    values, errors = clean_inquiry({**GOOD, "message": "あ" * 4001})
    assert "4001文字" in errors["message"]
    assert len(values["message"]) == 4001


def test_logged_in_member_number_cannot_be_changed() -> None:
    values, errors = clean_inquiry({**GOOD, "member_number": "999999"}, member={"member_number": "001234"})
    assert errors == {}
    assert values["member_number"] == "001234"


def test_control_characters_are_dropped_emoji_kept() -> None:
    values, errors = clean_inquiry({**GOOD, "subject": "件名\x00\x07です😀"})
    assert errors == {}
    assert values["subject"] == "件名です😀"


def test_spam_guard_honeypot_fast_and_missing_timestamp() -> None:
    token = form_token(SECRET, now=NOW)
    assert (
        spam_check({"form_started": token}, secret_key=SECRET, now=NOW + timedelta(seconds=1))
        == TOO_FAST_MESSAGE
    )
    assert spam_check({"form_started": token}, secret_key=SECRET, now=NOW + timedelta(seconds=5)) is None
    assert (
        spam_check({"form_started": token, "website_url": "http://spam"}, secret_key=SECRET, now=NOW)
        == HONEYPOT_MESSAGE
    )
    assert spam_check({}, secret_key=SECRET, now=NOW) == STALE_FORM_MESSAGE
    assert spam_check({"form_started": token + "x"}, secret_key=SECRET, now=NOW) == STALE_FORM_MESSAGE
    # A page left open for a week is still accepted: slow is human.
    assert spam_check({"form_started": token}, secret_key=SECRET, now=NOW + timedelta(days=7)) is None


def _write(tmp_path: Path, data: bytes, name: str = "upload.part") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_png_is_reencoded_without_text_chunks(tmp_path: Path) -> None:
    prepared = reencode_image(_write(tmp_path, png_bytes()), "スクショ.png")
    stored = tmp_path / prepared.temp_name
    assert prepared.content_type == "image/png"
    assert prepared.original_name == "スクショ.png"
    assert b"secret-note" not in stored.read_bytes()
    assert b"Hanako" not in stored.read_bytes()
    with Image.open(stored) as image:
        assert image.format == "PNG"
        assert image.size == (390, 300)
        assert "Comment" not in image.info
    assert not (tmp_path / "upload.part").exists()


def test_jpeg_loses_exif_gps_and_comment_but_keeps_its_orientation(tmp_path: Path) -> None:
    prepared = reencode_image(_write(tmp_path, jpeg_with_gps()), "photo.JPG")
    stored = tmp_path / prepared.temp_name
    data = stored.read_bytes()
    assert b"ExamplePhone" not in data and b"private comment" not in data
    with Image.open(stored) as image:
        assert image.format == "JPEG"
        assert len(image.getexif()) == 0
        assert image.size == (200, 320)  # rotated as the phone meant it
    assert prepared.original_name == "photo.jpg"


def test_a_gif_named_png_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AttachmentRefused) as refused:
        reencode_image(_write(tmp_path, gif_bytes()), "screen.png")
    assert refused.value.message == ATTACHMENT_WRONG_TYPE
    assert list(tmp_path.iterdir()) == []


def test_text_and_truncated_png_are_refused(tmp_path: Path) -> None:
    for data in (b"<script>alert(1)</script>", png_bytes()[:200]):
        with pytest.raises(AttachmentRefused):
            reencode_image(_write(tmp_path, data), "x.png")


def test_a_small_file_that_decodes_to_a_huge_image_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 5 * 1024 * 1024
    with pytest.raises(AttachmentRefused) as refused:
        reencode_image(_write(tmp_path, buffer.getvalue()), "bomb.png")
    assert refused.value.message == ATTACHMENT_DIMENSIONS


def test_safe_filename_drops_folders_and_fixes_the_extension() -> None:
    assert safe_filename("../../etc/passwd.png", "image/png") == "passwd.png"
    assert safe_filename("C:\\Users\\me\\画面.PNG", "image/jpeg") == "画面.jpg"
    assert safe_filename("", "image/png") == "screenshot.png"
    assert safe_filename("a\x00b<>.png", "image/png") == "ab.png"


def test_help_search_normalizes_width_case_and_kana() -> None:
    text = normalize_search("ログインできません。Caps Lock をご確認ください")
    assert matches(text, "ろぐいん")
    assert matches(text, "ＣＡＰＳ")
    assert matches(text, "ﾛｸﾞｲﾝ caps")
    assert not matches(text, "退会")
    assert matches(text, "   ")
