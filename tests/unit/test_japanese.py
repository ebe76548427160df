"""Unit tests for member number, phone, postal code, furigana and e-mail normalization."""

from __future__ import annotations

import threading
import time

import pytest

from services.japanese import (
    EMAIL_ERROR,
    FURIGANA_ERROR,
    PHONE_ERROR,
    POSTAL_CODE_ERROR,
    PREFECTURES,
    Normalized,
    PostalAddress,
    check_furigana,
    format_phone,
    format_postal_code,
    lookup_postal_code,
    normalize_email,
    normalize_member_number,
    normalize_phone,
    normalize_postal_code,
    to_katakana,
)

# --- member number -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12345", "12345"),
        ("00123", "00123"),
        ("０００１２３", "000123"),
        ("  00123  ", "00123"),
        ("\u3000００１２３\u3000", "00123"),
        ("\t123\n", "123"),
        ("0", "0"),
        ("1" * 20, "1" * 20),
    ],
)
def test_member_number_is_normalized_keeping_leading_zeros(raw: str, expected: str) -> None:
    assert normalize_member_number(raw) == expected


def test_member_numbers_with_and_without_leading_zeros_differ() -> None:
    assert normalize_member_number("00123") != normalize_member_number("123")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "\u3000",
        "1" * 21,
        "12a45",
        "１２ー３",
        "12 34",
        "-123",
        "+123",
        "١٢٣",
        "１２３\x00",
        "12.5",
    ],
)
def test_invalid_member_number_gives_none(raw: str) -> None:
    assert normalize_member_number(raw) is None


def test_very_long_member_number_input_is_rejected_cheaply() -> None:
    start = time.perf_counter()
    for _ in range(1000):
        assert normalize_member_number("１" * 10_000) is None
    assert time.perf_counter() - start < 0.5


# --- phone -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("09012345678", "09012345678"),
        ("090-1234-5678", "09012345678"),
        ("０９０－１２３４－５６７８", "09012345678"),
        ("０９０ー１２３４ー５６７８", "09012345678"),
        ("03 1234 5678", "0312345678"),
        ("03\u30001234\u30005678", "0312345678"),
        ("(03) 1234-5678", "0312345678"),
        ("（０３）１２３４－５６７８", "0312345678"),
        ("03‐1234‐5678", "0312345678"),
        ("03−1234−5678", "0312345678"),
        ("03–1234–5678", "0312345678"),
        ("03―1234―5678", "0312345678"),
        ("03﹣1234﹣5678", "0312345678"),
        ("03ｰ1234ｰ5678", "0312345678"),
        ("0120-123-456", "0120123456"),
        ("+81 90-1234-5678", "09012345678"),
        ("＋８１（０）３－１２３４－５６７８", "0312345678"),
        ("  090-1234-5678  ", "09012345678"),
    ],
)
def test_phone_is_normalized_to_digits(raw: str, digits: str) -> None:
    assert normalize_phone(raw) == Normalized(digits, None)


@pytest.mark.parametrize(
    "raw",
    [
        "090123456",  # 9 digits
        "090123456789",  # 12 digits
        "9012345678",  # no leading 0
        "090-1234-567a",
        "090.1234.5678",
        "電話番号",
        "090-1234-5678 内線12",
        "090\x001234\x005678",
        "０" * 10_000,
    ],
)
def test_invalid_phone_gives_japanese_error(raw: str) -> None:
    result = normalize_phone(raw)
    assert result.error == PHONE_ERROR
    assert result.error == "電話番号は0から始まる10桁または11桁の数字で入力してください。"


@pytest.mark.parametrize("raw", ["", "   ", "\u3000", "--"])
def test_empty_phone_is_allowed_when_optional(raw: str) -> None:
    assert normalize_phone(raw) == Normalized("", None)


def test_empty_phone_is_an_error_when_required() -> None:
    assert normalize_phone("", required=True).error == "電話番号を入力してください。"


def test_phone_result_unpacks_as_pair() -> None:
    digits, error = normalize_phone("03-1234-5678")
    assert (digits, error) == ("0312345678", None)


@pytest.mark.parametrize(
    ("digits", "shown"),
    [
        ("0312345678", "03-1234-5678"),
        ("0612345678", "06-1234-5678"),
        ("09012345678", "090-1234-5678"),
        ("08012345678", "080-1234-5678"),
        ("05012345678", "050-1234-5678"),
        ("0120123456", "0120-123-456"),
        ("0570123456", "0570-123-456"),
        ("0112345678", "011-234-5678"),
        ("0276123456", "0276-12-3456"),
        ("", ""),
    ],
)
def test_phone_is_formatted_for_display(digits: str, shown: str) -> None:
    assert format_phone(digits) == shown


@pytest.mark.parametrize(
    ("digits", "shown"),
    [
        ("0800123456", "0800-123-456"),
        ("0000000000", "00-0000-0000"),
        ("01201234567", "012-0123-4567"),
        ("123", "123"),
        ("abc", "abc"),
    ],
)
def test_phone_numbers_unknown_to_the_numbering_plan_still_format_sensibly(digits: str, shown: str) -> None:
    assert format_phone(digits) == shown


def test_formatted_phone_normalizes_back_to_same_digits() -> None:
    for digits in ["0312345678", "09012345678", "0120123456", "0276123456", "0800123456"]:
        assert normalize_phone(format_phone(digits)) == Normalized(digits, None)


# --- postal code -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("1000001", "1000001"),
        ("100-0001", "1000001"),
        ("１００－０００１", "1000001"),
        ("１００ー０００１", "1000001"),
        ("〒100-0001", "1000001"),
        ("〒 １００－０００１ ", "1000001"),
        ("\u3000100 0001\u3000", "1000001"),
        ("0600000", "0600000"),
    ],
)
def test_postal_code_is_normalized_to_seven_digits(raw: str, digits: str) -> None:
    assert normalize_postal_code(raw) == Normalized(digits, None)


@pytest.mark.parametrize(
    "raw", ["100-001", "100-00011", "１２３", "abc-defg", "100_0001", "100-0001\x00", "1" * 10_000]
)
def test_invalid_postal_code_gives_japanese_error(raw: str) -> None:
    result = normalize_postal_code(raw)
    assert result.error == POSTAL_CODE_ERROR
    assert result.error == "郵便番号は7桁の数字で入力してください（例：100-0001）。"


def test_empty_postal_code_is_allowed_unless_required() -> None:
    assert normalize_postal_code("") == Normalized("", None)
    assert normalize_postal_code(" ", required=True).error == "郵便番号を入力してください。"


def test_postal_code_is_formatted_with_hyphen() -> None:
    assert format_postal_code("1000001") == "100-0001"
    assert format_postal_code("") == ""
    assert format_postal_code("123") == "123"


def test_postal_lookup_finds_tokyo_chiyoda() -> None:
    assert lookup_postal_code("1000001") == PostalAddress(
        postal_code="1000001", prefecture="東京都", city="千代田区", town="千代田"
    )


def test_postal_lookup_city_wide_code_has_empty_town() -> None:
    address = lookup_postal_code("0600000")
    assert address is not None
    assert (address.prefecture, address.city, address.town) == ("北海道", "札幌市中央区", "")


def test_postal_lookup_code_with_several_towns_lists_candidates() -> None:
    address = lookup_postal_code("4520961")
    assert address is not None
    assert address.town == ""
    assert "春日一番割" in address.town_candidates
    assert len(address.town_candidates) > 1


@pytest.mark.parametrize("digits", ["9999999", "0000000", "", "100-0001", "123", "abcdefg", "１０００００１"])
def test_postal_lookup_unknown_or_malformed_code_gives_none(digits: str) -> None:
    assert lookup_postal_code(digits) is None


def test_postal_lookup_prefecture_is_one_of_the_47() -> None:
    for code in ["1000001", "0600000", "9000001", "5300001"]:
        address = lookup_postal_code(code)
        assert address is not None
        assert address.prefecture in PREFECTURES


def test_repeated_postal_lookups_are_cheap() -> None:
    lookup_postal_code("1000001")
    start = time.perf_counter()
    for _ in range(10_000):
        lookup_postal_code("1000001")
    assert time.perf_counter() - start < 0.5


def test_postal_lookup_works_from_worker_threads() -> None:
    # Handlers run lookups off the event loop; sqlite connections are per thread.
    results: list[PostalAddress | None] = []

    def work() -> None:
        lookup_postal_code.cache_clear()
        results.append(lookup_postal_code("1000002"))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    assert all(r is not None and r.city == "千代田区" for r in results)


# --- furigana ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "katakana"),
    [
        ("やまだ", "ヤマダ"),
        ("やまだ　たろう", "ヤマダ　タロウ"),
        ("やまだ たろう", "ヤマダ タロウ"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ"),
        ("ぱーてぃー", "パーティー"),
        ("ゔぃーなす", "ヴィーナス"),
        ("ヤマダ", "ヤマダ"),
        ("さゝき", "サヽキ"),
        ("", ""),
    ],
)
def test_hiragana_and_halfwidth_kana_become_fullwidth_katakana(raw: str, katakana: str) -> None:
    assert to_katakana(raw) == katakana


@pytest.mark.parametrize(
    "raw", ["やまだ　たろう", "ヤマダ タロウ", "ﾔﾏﾀﾞ", "ジョン・スミス", "ヴァイオリン", ""]
)
def test_kana_furigana_is_accepted(raw: str) -> None:
    assert check_furigana(raw) is None


@pytest.mark.parametrize(
    "raw", ["山田", "Yamada", "ヤマダ1", "ヤマダ\n", "ヤマダ😀", "ヤマダ-タロウ", "ア" * 5 + "x"]
)
def test_non_kana_furigana_is_refused(raw: str) -> None:
    assert check_furigana(raw) == FURIGANA_ERROR == "フリガナはカタカナで入力してください。"


# --- e-mail ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "email"),
    [
        ("taro@example.com", "taro@example.com"),
        ("Taro.Yamada@Example.CO.JP", "Taro.Yamada@example.co.jp"),
        ("  taro@example.com\u3000", "taro@example.com"),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp"),
        ("taro+news@example.com", "taro+news@example.com"),
    ],
)
def test_email_is_normalized_lowercasing_domain_only(raw: str, email: str) -> None:
    assert normalize_email(raw) == Normalized(email, None)


@pytest.mark.parametrize(
    "raw",
    [
        "taro",
        "taro@",
        "@example.com",
        "taro@@example.com",
        "taro@example",
        "taro @example.com",
        "太郎@example.com",
        "taro@exa\nmple.com",
        "a" * 400 + "@example.com",
    ],
)
def test_invalid_email_gives_japanese_error(raw: str) -> None:
    assert normalize_email(raw).error == EMAIL_ERROR
    assert EMAIL_ERROR.startswith("メールアドレスの形式が正しくありません。「@」の前後")
    assert "全角文字" in EMAIL_ERROR and "例：taro@example.jp" in EMAIL_ERROR


def test_empty_email_is_required_by_default() -> None:
    assert normalize_email("").error == "メールアドレスを入力してください。"
    assert normalize_email("  ", required=False) == Normalized("", None)


# --- prefectures -------------------------------------------------------------


def test_prefectures_are_the_47_in_jis_order() -> None:
    assert len(PREFECTURES) == 47
    assert len(set(PREFECTURES)) == 47
    assert PREFECTURES[0] == "北海道"
    assert PREFECTURES[12] == "東京都"
    assert PREFECTURES[26] == "大阪府"
    assert PREFECTURES[-1] == "沖縄県"
