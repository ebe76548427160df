"""Unit tests for the platform-dependent character check (DESIGN §2 Profile)."""

from __future__ import annotations

import time

import pytest

from services.charset import CharIssue, IssueKind, check_text, find_disallowed, is_allowed_char, message_for

SUGGESTIONS = [
    # NFKC gives the standard form.
    ("①", "1"),
    ("⑳", "20"),
    ("㈱", "(株)"),
    ("㈲", "(有)"),
    ("Ⅲ", "III"),
    ("ⅳ", "iv"),
    ("㌔", "キロ"),
    ("㍍", "メートル"),
    ("㎝", "cm"),
    ("㍻", "平成"),
    ("№", "No"),
    ("℡", "TEL"),
    ("＇", "'"),
    ("＂", '"'),
    ("ｱ", "ア"),
    ("ｰ", "ー"),
    ("｡", "。"),
    ("ｶﾞ", "ガ"),
    ("ﾊﾟ", "パ"),
    ("\ufa19", "神"),  # compatibility ideograph, canonically 神
    ("\uf9dc", "隆"),  # compatibility ideograph, canonically 隆
    ("\ufa10", "塚"),  # compatibility ideograph, canonically 塚
    ("\ufa12", "晴"),  # compatibility ideograph, canonically 晴
    ("\ufa18", "礼"),  # compatibility ideograph, canonically 礼
    ("\ufa26", "都"),  # compatibility ideograph, canonically 都
    # NFKC leaves these alone; the hand table covers them.
    ("﨑", "崎"),
    ("髙", "高"),
    ("𠮷", "吉"),
    ("德", "徳"),
    ("濵", "濱"),
    ("淸", "清"),
    ("栁", "柳"),
    ("瀨", "瀬"),
    ("黑", "黒"),
    ("靑", "青"),
    ("增", "増"),
    ("橫", "横"),
    ("剝", "剥"),
    ("𠮟", "叱"),
    ("頰", "頬"),
    ("鷗", "鴎"),
    ("ゔ", "ヴ"),
    ("¥", "￥"),
    ("ﾞ", "゛"),
    # Ideographic variation selector after 葛: the base kanji is the standard form.
    ("葛\U000e0100", "葛"),
]


@pytest.mark.parametrize(("char", "suggestion"), SUGGESTIONS)
def test_disallowed_character_gets_standard_suggestion(char: str, suggestion: str) -> None:
    issues = find_disallowed(f"山田{char}様")
    assert len(issues) == 1
    assert issues[0].position == 3
    assert issues[0].char == char
    assert issues[0].suggestion == suggestion
    assert f"「{suggestion}」" in issues[0].message


def test_suggestion_table_is_large_enough() -> None:
    assert len(SUGGESTIONS) >= 30


@pytest.mark.parametrize(("_char", "suggestion"), SUGGESTIONS)
def test_every_suggestion_is_itself_allowed(_char: str, suggestion: str) -> None:
    assert find_disallowed(suggestion) == []


@pytest.mark.parametrize(
    "text",
    [
        "崎",
        "高",
        "吉",
        "山田太郎",
        "やまだ　たろう",
        "ヤマダ タロウ",
        "〒100-0001",
        "東京都千代田区千代田1－1",
        "ラーメン",
        "佐々木",
        "ＡＢＣ１２３",
        "abc XYZ 0123 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        "○×△□◎※→",
        "（株）",
        "",
    ],
)
def test_standard_text_is_allowed(text: str) -> None:
    assert find_disallowed(text) == []
    assert check_text(text) is None


@pytest.mark.parametrize("char", ["～", "〜", "－", "−", "∥", "‖", "￠", "￡", "￢"])
def test_windows_and_jis_forms_of_the_same_jis_character_are_both_allowed(char: str) -> None:
    # The Windows IME types ～ (U+FF5E), a Mac 〜 (U+301C): the same JIS X 0208 character.
    assert is_allowed_char(char)


def test_message_names_position_character_and_suggestion() -> None:
    assert (
        check_text("山田﨑") == "3文字目の「﨑」は機種依存文字のため使用できません。「崎」をお使いください。"
    )


def test_nec_and_ibm_extensions_are_refused_as_platform_dependent() -> None:
    for char in ["①", "㈱", "﨑", "髙", "ⅰ", "∮"]:
        (issue,) = find_disallowed(char)
        assert issue.kind is IssueKind.PLATFORM_DEPENDENT
        assert "機種依存文字" in issue.message


@pytest.mark.parametrize("variant", ["\ufa19", "\uf9dc", "葛\U000e0100"])
def test_lookalike_variant_message_says_it_is_an_old_form(variant: str) -> None:
    (issue,) = find_disallowed(variant)
    assert "異体字" in issue.message
    assert f"通常の字体の「{issue.suggestion}」" in issue.message


def test_halfwidth_katakana_asks_for_fullwidth() -> None:
    (issue,) = find_disallowed("ﾔﾏﾀﾞ"[0])
    assert issue.kind is IssueKind.HALFWIDTH_KANA
    assert issue.message == "1文字目の「ﾔ」は半角カタカナのため使用できません。全角の「ヤ」をお使いください。"


def test_halfwidth_kana_with_voiced_mark_is_one_issue() -> None:
    issues = find_disallowed("ﾔﾏﾀﾞ")
    assert [(i.position, i.char, i.suggestion) for i in issues] == [
        (1, "ﾔ", "ヤ"),
        (2, "ﾏ", "マ"),
        (3, "ﾀﾞ", "ダ"),
    ]


def test_halfwidth_voiced_mark_after_kanji_is_its_own_issue() -> None:
    (issue,) = find_disallowed("田ﾞ")
    assert (issue.position, issue.char, issue.suggestion) == (2, "ﾞ", "゛")


def test_emoji_is_refused_without_suggestion() -> None:
    (issue,) = find_disallowed("よろしく😀")
    assert issue.position == 5
    assert issue.suggestion is None
    assert (
        issue.message == "5文字目の「😀」は使用できない文字です。別の文字に置き換えるか、削除してください。"
    )


def test_character_outside_every_japanese_charset_is_not_called_platform_dependent() -> None:
    (issue,) = find_disallowed("𩸽")
    assert issue.kind is IssueKind.UNSUPPORTED
    assert "機種依存" not in issue.message


def test_accented_letter_suggests_plain_letter() -> None:
    (issue,) = find_disallowed("José")
    assert issue.suggestion == "e"
    assert issue.kind is IssueKind.UNSUPPORTED


def test_decomposed_dakuten_suggests_composed_kana() -> None:
    (issue,) = find_disallowed("か\u3099き")
    assert issue.kind is IssueKind.DECOMPOSED
    assert issue.position == 1
    assert issue.suggestion == "が"
    assert "入力し直してください" in issue.message


def test_newline_refused_in_single_line_field() -> None:
    (issue,) = find_disallowed("東京都\n千代田区")
    assert issue.kind is IssueKind.NEWLINE
    assert issue.position == 4
    assert "1行で入力してください" in issue.message


def test_newlines_allowed_in_multiline_field() -> None:
    assert find_disallowed("一行目\r\n二行目\n三行目", allow_newlines=True) == []
    assert check_text("line1\nline2", allow_newlines=True) is None


@pytest.mark.parametrize("control", ["\t", "\x00", "\x07", "\x1b", "\x7f", "\x85"])
def test_control_characters_refused_even_in_multiline_field(control: str) -> None:
    for allow_newlines in (False, True):
        (issue,) = find_disallowed(f"ab{control}c", allow_newlines=allow_newlines)
        assert issue.position == 3
        assert issue.kind is IssueKind.CONTROL
        assert control not in issue.message


@pytest.mark.parametrize("invisible", ["\u200b", "\u200d", "\ufeff", "\u2028", "\u202e"])
def test_invisible_characters_refused_with_deletion_suggested(invisible: str) -> None:
    (issue,) = find_disallowed(f"山{invisible}田")
    assert issue.kind is IssueKind.INVISIBLE
    assert issue.suggestion == ""
    assert "削除してください" in issue.message


def test_special_space_suggests_normal_space() -> None:
    (issue,) = find_disallowed("山田\u00a0太郎")
    assert issue.kind is IssueKind.SPECIAL_SPACE
    assert issue.suggestion == " "


def test_fullwidth_space_is_allowed() -> None:
    assert find_disallowed("山田\u3000太郎") == []


def test_private_use_character_is_refused_as_gaiji() -> None:
    (issue,) = find_disallowed("\ue000")
    assert issue.kind is IssueKind.PRIVATE_USE
    assert "外字" in issue.message


def test_lone_surrogate_is_refused_and_shown_as_code_point() -> None:
    (issue,) = find_disallowed("a\ud800")
    assert issue.kind is IssueKind.UNREADABLE
    assert "U+D800" in issue.message
    issue.message.encode("utf-8")


def test_positions_count_characters_not_utf16_units() -> None:
    issues = find_disallowed("𠮷野家の﨑")
    assert [i.position for i in issues] == [1, 5]


def test_combined_message_lists_each_problem_in_order() -> None:
    message = check_text("﨑①")
    assert message == (
        "1文字目の「﨑」は機種依存文字のため使用できません。「崎」をお使いください。"
        "2文字目の「①」は機種依存文字のため使用できません。「1」をお使いください。"
    )


def test_combined_message_names_repeated_character_once() -> None:
    message = check_text("髙橋髙")
    assert message == "1、3文字目の「髙」は機種依存文字のため使用できません。「高」をお使いください。"


def test_combined_message_stays_short_for_many_problems() -> None:
    message = check_text("①②③④⑤⑥⑦⑧" + "﨑" * 20)
    assert message is not None
    assert message.count("機種依存文字") == 5
    assert message.endswith("ほかにも使用できない文字が4種類あります。")


def test_message_for_no_issues_is_empty() -> None:
    assert message_for([]) == ""


def test_message_for_accepts_issue_list() -> None:
    issues = find_disallowed("①")
    assert all(isinstance(i, CharIssue) for i in issues)
    assert message_for(issues) == issues[0].message


def test_long_input_is_checked_quickly() -> None:
    text = ("山田太郎﨑ｱ😀" * 2000) + "a" * 100_000
    start = time.perf_counter()
    issues = find_disallowed(text)
    assert time.perf_counter() - start < 2.0
    assert len(issues) == 6000
    assert check_text("a" * 100_000) is None


@pytest.mark.parametrize("char", ["髙", "﨑", "𠮷", "𡈽", "德", "濵", "ㇰ", "é"])
def test_jis_x_0213_setting_accepts_name_variants(char: str) -> None:
    assert check_text(f"山{char}", charset="jis0213") is None
    assert check_text(f"山{char}") is not None  # the guide's rule (the default) refuses them


@pytest.mark.parametrize("char", ["①", "㈱", "😀", "\ue000", "ｱ", "☀", "\u200b"])
def test_jis_x_0213_setting_still_refuses_symbols_emoji_and_private_use(char: str) -> None:
    assert check_text(f"山{char}", charset="jis0213") is not None


def test_standard_forms_replace_only_vetted_variants() -> None:
    from services.charset import standard_forms

    assert standard_forms("髙橋") == "高橋"
    assert standard_forms("山﨑") == "山崎"
    assert standard_forms("𠮷野") == "吉野"
    assert standard_forms("\ufa19社") == "神社"
    assert standard_forms("①㈱") == "①㈱"  # not a name variant: left for the row check to refuse
    assert standard_forms("普通の名前") == "普通の名前"
