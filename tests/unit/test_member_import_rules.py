"""The import's pure rules: header aliases and the common length of member numbers."""

from __future__ import annotations

import pytest

from services.member_import import ImportFileError, common_number_length, parse_file


@pytest.mark.parametrize(
    ("setting", "database", "numbers", "expected"),
    [
        (6, set(), ["103"], 6),  # the setting wins
        (0, {6}, ["103", "1024"], 6),  # the database's one length
        (0, set(), ["000101", "103"], 6),  # a number that kept its zero shows the length
        (0, {6}, ["103", "1234567"], 0),  # a longer number: no common length
        (0, {4, 6}, ["103"], 0),  # the database has two lengths
        (0, set(), ["1", "22", "333"], 0),  # nothing to go by: taken as typed
    ],
)
def test_common_number_length(setting: int, database: set[int], numbers: list[str], expected: int) -> None:
    assert common_number_length(setting, database, numbers) == expected


def test_japanese_and_english_headers_in_any_order() -> None:
    content = "メイ,Member_Number,姓,ｾｲ,名,メモ\r\nハナコ,000101,山田,ヤマダ,花子,x\r\n".encode()
    parsed = parse_file(content, "members.csv")
    assert parsed.unknown_columns == ["メモ"]
    assert parsed.rows[0][1]["member_number"] == "000101"
    assert parsed.rows[0][1]["family_kana"] == "ヤマダ"


def test_a_header_without_the_required_columns_is_refused() -> None:
    with pytest.raises(ImportFileError, match="見出し行に次の列がありません"):
        parse_file("会員番号,氏名\r\n1,山田\r\n".encode(), "members.csv")
