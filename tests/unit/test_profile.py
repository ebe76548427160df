"""Profile rules: field validation and normalization, the postal-code fill, "checked today"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from db.timestamps import to_db
from services.profile import (
    EDITABLE_FIELDS,
    REQUIRED_FIELDS,
    differences,
    display_values,
    postal_fill,
    validate_profile,
)
from services.profile_check import profile_checked_today

TOKYO = ZoneInfo("Asia/Tokyo")

GOOD = {
    "family_name": "山田",
    "given_name": "花子",
    "family_kana": "ヤマダ",
    "given_kana": "ハナコ",
    "email": "hanako@example.jp",
    "phone": "03-1234-5678",
    "postal_code": "100-0001",
    "prefecture": "東京都",
    "address1": "千代田区千代田1-1",
    "address2": "つどいビル3階",
    "affiliation": "つどい大学",
}


def with_(**changes: str) -> dict[str, str]:
    return {**GOOD, **changes}


def test_good_profile_is_clean_and_normalized_for_storage() -> None:
    clean, errors = validate_profile(GOOD)
    assert errors == {}
    assert clean["phone"] == "0312345678"
    assert clean["postal_code"] == "1000001"
    assert set(clean) == set(EDITABLE_FIELDS)
    assert "membership_type" not in clean


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("やまだ", "ヤマダ"),
        ("ﾔﾏﾀﾞ", "ヤマダ"),
        ("  ヤマダ　", "ヤマダ"),
        ("やまだ はなこ", "ヤマダ ハナコ"),
        ("ジョン・スミス", "ジョン・スミス"),
        ("ゔぃ", "ヴィ"),
    ],
)
def test_furigana_in_hiragana_or_halfwidth_is_stored_as_katakana(raw: str, stored: str) -> None:
    clean, errors = validate_profile(with_(family_kana=raw))
    assert errors == {}
    assert clean["family_kana"] == stored


@pytest.mark.parametrize("raw", ["山田", "yamada", "ヤマダ1", "ヤマダ😀"])
def test_furigana_with_anything_but_kana_is_refused(raw: str) -> None:
    _, errors = validate_profile(with_(given_kana=raw))
    assert errors["given_kana"].startswith("フリガナ（メイ）")


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("03-1234-5678", "0312345678"),
        ("０９０−１２３４−５６７８", "09012345678"),
        ("(03) 1234 5678", "0312345678"),
        ("090 1234 5678", "09012345678"),
        ("+81 90-1234-5678", "09012345678"),
        ("0120-123-456", "0120123456"),
    ],
)
def test_phone_is_stored_as_digits(raw: str, digits: str) -> None:
    clean, errors = validate_profile(with_(phone=raw))
    assert errors == {}
    assert clean["phone"] == digits


@pytest.mark.parametrize(
    "raw", ["03-1234-567", "1234567890", "090-1234-56789", "電話なし", "03-1234-5678 内線2"]
)
def test_bad_phone_gets_a_clear_message(raw: str) -> None:
    _, errors = validate_profile(with_(phone=raw))
    assert errors["phone"] == "電話番号は0から始まる10桁または11桁の数字で入力してください。"


@pytest.mark.parametrize(
    ("raw", "digits"), [("100-0001", "1000001"), ("１００ー０００１", "1000001"), ("〒1000001", "1000001")]
)
def test_postal_code_is_stored_as_seven_digits(raw: str, digits: str) -> None:
    clean, errors = validate_profile(with_(postal_code=raw))
    assert errors == {}
    assert clean["postal_code"] == digits


@pytest.mark.parametrize("raw", ["100-001", "10000011", "abc-defg"])
def test_bad_postal_code_gets_a_clear_message(raw: str) -> None:
    _, errors = validate_profile(with_(postal_code=raw))
    assert "7桁" in errors["postal_code"]


def test_email_typed_with_the_ime_on_is_stored_in_ascii() -> None:
    clean, errors = validate_profile(with_(email="ｈａｎａｋｏ＠Ｅｘａｍｐｌｅ．ｊｐ"))
    assert errors == {}
    assert clean["email"] == "hanako@example.jp"


@pytest.mark.parametrize(
    "raw", ["hanako", "hanako@", "hanako@@example.jp", "はなこ@example.jp", "a b@example.jp"]
)
def test_bad_email_is_refused(raw: str) -> None:
    _, errors = validate_profile(with_(email=raw))
    assert errors["email"].startswith("メールアドレスの形式が正しくありません。")


@pytest.mark.parametrize(
    ("raw", "stored"), [("東京都", "東京都"), ("東京", "東京都"), ("大阪", "大阪府"), ("北海道", "北海道")]
)
def test_prefecture_is_one_of_the_47(raw: str, stored: str) -> None:
    clean, errors = validate_profile(with_(prefecture=raw))
    assert errors == {}
    assert clean["prefecture"] == stored


@pytest.mark.parametrize("raw", ["ムー大陸", "北海", "Tokyo"])
def test_unknown_prefecture_is_refused(raw: str) -> None:
    _, errors = validate_profile(with_(prefecture=raw))
    assert errors["prefecture"] == "都道府県は一覧から選んでください。"


def test_every_required_field_says_it_is_required() -> None:
    _, errors = validate_profile({})
    assert set(errors) == set(REQUIRED_FIELDS)
    assert errors["family_name"] == "姓を入力してください。"
    assert errors["email"] == "メールアドレスを入力してください。"


def test_whitespace_only_counts_as_empty() -> None:
    _, errors = validate_profile(with_(family_name="　 ", given_kana="  "))
    assert errors == {
        "family_name": "姓を入力してください。",
        "given_kana": "フリガナ（メイ）を入力してください。",
    }


def test_optional_fields_may_be_empty() -> None:
    clean, errors = validate_profile(
        with_(phone="", postal_code="", prefecture="", address1="", address2="", affiliation="")
    )
    assert errors == {}
    assert clean["phone"] == "" and clean["prefecture"] == ""


def test_callers_may_choose_which_fields_are_required() -> None:
    _, errors = validate_profile({"family_name": "山田"}, required={"family_name", "phone"})
    assert set(errors) == {"phone"}


def test_non_text_values_never_raise() -> None:
    clean, errors = validate_profile({"family_name": None, "given_name": 3, "email": ["a@b.jp"]})  # type: ignore[dict-item]
    assert errors["family_name"] == "姓を入力してください。"
    assert clean["given_name"] == ""


# Characters members paste from Word, old PCs or their phones, with the standard spelling.
PLATFORM_DEPENDENT = [
    ("髙", "高"),
    ("﨑", "崎"),
    ("德", "徳"),
    ("濵", "濱"),
    ("𠮷", "吉"),
    ("栁", "柳"),
    ("瀨", "瀬"),
    ("黑", "黒"),
    ("郞", "郎"),
    ("增", "増"),
    ("寬", "寛"),
    ("橫", "横"),
    ("綠", "緑"),
    ("緖", "緒"),
    ("賴", "頼"),
    ("桒", "桑"),
    ("昻", "昂"),
    ("硏", "研"),
    ("①", "1"),
    ("⑩", "10"),
    ("Ⅲ", "III"),
    ("ⅳ", "iv"),
    ("㈱", "(株)"),
    ("㈲", "(有)"),
    ("㍻", "平成"),
    ("㌔", "キロ"),
    ("㎡", "m2"),
    ("№", "No"),
    ("℡", "TEL"),
    ("\ufa19", "神"),  # CJK compatibility ideograph, looks like 神
    ("ﾋ", "ヒ"),
    ("¥", "￥"),
]


def test_platform_dependent_table_is_large_enough() -> None:
    assert len(PLATFORM_DEPENDENT) >= 30


@pytest.mark.parametrize(("char", "suggestion"), PLATFORM_DEPENDENT)
def test_platform_dependent_character_is_named_with_position_and_suggestion(
    char: str, suggestion: str
) -> None:
    _, errors = validate_profile(with_(address1=f"千代田{char}"))
    message = errors["address1"]
    assert message.startswith("住所1（市区町村・番地）の4文字目の")
    assert f"「{char}」" in message
    assert f"「{suggestion}」" in message


@pytest.mark.parametrize(
    "name", ["family_name", "given_name", "address1", "address2", "affiliation", "membership_type"]
)
def test_every_text_field_refuses_platform_dependent_characters(name: str) -> None:
    _, errors = validate_profile(with_(**{name: "髙木㈱"}))
    assert "1文字目の「髙」" in errors[name]
    assert "「高」" in errors[name]
    assert "2文字目" not in errors[name]
    assert "3文字目の「㈱」" in errors[name]


@pytest.mark.parametrize("name", ["family_name", "address2", "affiliation"])
def test_emoji_tab_and_newline_are_refused(name: str) -> None:
    for bad in ("山😀田", "山\t田", "山\n田", "山\u200b田"):
        _, errors = validate_profile(with_(**{name: bad}))
        assert name in errors, bad


def test_too_long_value_says_the_limit_and_the_length() -> None:
    _, errors = validate_profile(with_(affiliation="あ" * 101))
    assert errors["affiliation"] == "勤務先・所属は100文字以内で入力してください（現在101文字）。"


def test_membership_type_is_checked_only_when_given() -> None:
    clean, errors = validate_profile(with_(membership_type="正会員"))
    assert errors == {} and clean["membership_type"] == "正会員"


def test_display_values_format_phone_and_postal_code() -> None:
    row = {**GOOD, "phone": "0312345678", "postal_code": "1000001"}
    shown = display_values(row)
    assert shown["phone"] == "03-1234-5678"
    assert shown["postal_code"] == "100-0001"


def test_differences_list_only_fields_typed_differently() -> None:
    latest = {**GOOD, "phone": "0312345678", "postal_code": "1000001", "affiliation": "新しい所属"}
    typed = with_(affiliation="古い所属", phone="03 1234 5678")
    found = differences(latest, typed)
    assert [(d.name, d.latest, d.typed) for d in found] == [("affiliation", "新しい所属", "古い所属")]


def test_postal_fill_waits_for_a_complete_code() -> None:
    assert postal_fill("100-00") is None
    assert postal_fill("") is None
    assert postal_fill("abcdefg") is None


def test_postal_fill_finds_prefecture_and_town() -> None:
    fill = postal_fill("１００−０００１")
    assert fill is not None and fill.found
    assert (fill.prefecture, fill.address1) == ("東京都", "千代田区千代田")


def test_postal_fill_keeps_the_street_number_when_the_code_is_retyped() -> None:
    fill = postal_fill("1000001", prefecture="東京都", address1="千代田区千代田1-1")
    assert fill is not None and fill.address1 == "千代田区千代田1-1"
    moved = postal_fill("5300001", prefecture="東京都", address1="千代田区千代田1-1")
    assert moved is not None and (moved.prefecture, moved.address1) == ("大阪府", "大阪市北区梅田")


def test_postal_fill_keeps_what_was_typed_for_an_unknown_code() -> None:
    fill = postal_fill("0000000", prefecture="京都府", address1="自分で入力")
    assert fill is not None and not fill.found
    assert (fill.prefecture, fill.address1) == ("京都府", "自分で入力")
    assert "見つかりませんでした" in fill.message


def test_postal_fill_offers_towns_when_one_code_has_several() -> None:
    fill = postal_fill("4520961")
    assert fill is not None and fill.found
    assert fill.candidates and all(c.startswith(fill.address1) for c in fill.candidates)


def _jst(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=TOKYO)


def test_profile_saved_at_2359_jst_is_not_checked_at_midnight() -> None:
    member = {"profile_checked_at": to_db(_jst(2026, 11, 23, 23, 59))}
    assert profile_checked_today(member, now=_jst(2026, 11, 23, 23, 59, 59), tz=TOKYO)  # type: ignore[arg-type]
    assert not profile_checked_today(member, now=_jst(2026, 11, 24, 0, 0), tz=TOKYO)  # type: ignore[arg-type]


def test_profile_saved_at_midnight_jst_counts_for_the_whole_japanese_day() -> None:
    # 00:00 JST is 15:00 UTC the day before: the UTC date must not decide.
    saved = _jst(2026, 11, 24, 0, 0)
    member = {"profile_checked_at": to_db(saved)}
    assert saved.astimezone(UTC).day == 23
    assert profile_checked_today(member, now=_jst(2026, 11, 24, 0, 0, 30), tz=TOKYO)  # type: ignore[arg-type]
    assert profile_checked_today(member, now=_jst(2026, 11, 24, 23, 59, 59), tz=TOKYO)  # type: ignore[arg-type]
    assert not profile_checked_today(member, now=_jst(2026, 11, 23, 23, 59), tz=TOKYO)  # type: ignore[arg-type]
    assert not profile_checked_today(member, now=saved + timedelta(days=1), tz=TOKYO)  # type: ignore[arg-type]


def test_profile_never_checked_is_not_checked_today() -> None:
    assert not profile_checked_today({"profile_checked_at": None}, now=_jst(2026, 11, 24, 12, 0), tz=TOKYO)  # type: ignore[arg-type]
