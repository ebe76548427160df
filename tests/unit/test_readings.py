"""Tests for the password readings table (パスワードの読み)."""

from __future__ import annotations

import json
import string

import pytest

from services.readings import READINGS, READINGS_JSON, reading_of, readings, readings_json


@pytest.mark.parametrize(
    ("ch", "expected"),
    [
        ("l", "エル(小文字)"),
        ("I", "アイ(大文字)"),
        ("1", "イチ(数字)"),
        ("0", "ゼロ(数字)"),
        ("O", "オー(大文字)"),
    ],
)
def test_design_examples_read_exactly_as_documented(ch: str, expected: str) -> None:
    assert READINGS[ch] == expected


def test_every_printable_ascii_character_including_space_has_a_reading() -> None:
    printable = {chr(code) for code in range(0x20, 0x7F)}
    assert set(READINGS) == printable
    assert all(READINGS.values())


def test_every_letter_reads_with_its_case() -> None:
    for ch in string.ascii_lowercase:
        assert READINGS[ch].endswith("(小文字)")
        assert READINGS[ch.upper()] == READINGS[ch].replace("(小文字)", "(大文字)")


def test_letter_names_are_the_standard_katakana_names() -> None:
    assert READINGS["W"] == "ダブリュー(大文字)"
    assert READINGS["v"] == "ブイ(小文字)"
    assert READINGS["z"] == "ゼット(小文字)"
    assert READINGS["j"] == "ジェー(小文字)"


def test_every_digit_reads_as_a_number() -> None:
    expected = ["ゼロ", "イチ", "ニ", "サン", "ヨン", "ゴ", "ロク", "ナナ", "ハチ", "キュウ"]
    assert [READINGS[d] for d in string.digits] == [f"{name}(数字)" for name in expected]


def test_guide_specials_have_japanese_names() -> None:
    assert READINGS["!"] == "エクスクラメーション"
    assert READINGS['"'] == "ダブルクォート"
    assert READINGS["#"] == "シャープ"
    assert READINGS["$"] == "ドル"
    assert READINGS["%"] == "パーセント"
    assert READINGS[" "] == "スペース"


def test_readings_are_distinct_so_look_alikes_can_be_told_apart() -> None:
    assert len(set(READINGS.values())) == len(READINGS)


def test_readings_of_text_pairs_each_character_in_order() -> None:
    assert readings("Il1") == [("I", "アイ(大文字)"), ("l", "エル(小文字)"), ("1", "イチ(数字)")]


def test_readings_of_empty_text_is_empty() -> None:
    assert readings("") == []


def test_full_width_letter_and_digit_are_marked_as_full_width() -> None:
    assert reading_of("Ａ") == "エー(大文字・全角)"
    assert reading_of("１") == "イチ(数字・全角)"
    assert reading_of("＃") == "シャープ(全角)"
    assert reading_of("\u3000") == "スペース(全角)"


def test_japanese_characters_fall_back_to_their_script() -> None:
    assert reading_of("あ") == "あ(ひらがな)"
    assert reading_of("ア") == "ア(カタカナ)"
    assert reading_of("漢") == "漢(漢字)"


def test_control_and_invisible_characters_show_their_code_point() -> None:
    assert reading_of("\t") == "見えない文字(U+0009)"
    assert reading_of("\x00") == "見えない文字(U+0000)"
    assert reading_of("\u200b") == "見えない文字(U+200B)"


def test_other_symbols_fall_back_to_a_generic_label() -> None:
    assert reading_of("€") == "€(記号)"


@pytest.mark.parametrize("bad", ["", "ab"])
def test_reading_of_refuses_anything_but_one_character(bad: str) -> None:
    with pytest.raises(ValueError):
        reading_of(bad)


def test_very_long_text_gets_one_reading_per_character() -> None:
    assert len(readings("aB3#" * 2500)) == 10_000


def test_json_table_round_trips_to_the_same_readings() -> None:
    assert json.loads(READINGS_JSON) == READINGS
    assert readings_json() == READINGS_JSON


def test_json_table_is_safe_inside_a_script_element() -> None:
    for unsafe in ("<", ">", "&", "'"):
        assert unsafe not in READINGS_JSON
