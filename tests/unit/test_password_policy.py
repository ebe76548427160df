"""Tests for the password policy presets, rules, IME hint, expiry, history and generator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.password_policy import (
    IME_HINT_MESSAGE,
    PasswordPolicy,
    RuleCode,
    RuleResult,
    check_password,
    expires_at,
    failed,
    generate_initial_password,
    history_result,
    ime_hint,
    is_common_password,
    is_expired,
    matches_recent,
    policy_for,
)

GUIDE = PasswordPolicy.guide()
MODERN = PasswordPolicy.modern()
MEMBER = "00123"


def results_by_code(
    password: str, policy: PasswordPolicy = GUIDE, member_number: str = MEMBER
) -> dict[str, RuleResult]:
    return {r.code: r for r in check_password(password, member_number=member_number, policy=policy)}


def failed_codes(password: str, policy: PasswordPolicy = GUIDE, member_number: str = MEMBER) -> set[str]:
    return {r.code for r in failed(check_password(password, member_number=member_number, policy=policy))}


# --- presets ---------------------------------------------------------------------------------


def test_guide_preset_has_the_member_guide_numbers() -> None:
    assert (GUIDE.name, GUIDE.min_length, GUIDE.max_length) == ("guide", 8, 20)
    assert GUIDE.specials == '!"#$%'
    assert GUIDE.require_upper and GUIDE.require_digit
    assert (GUIDE.history_count, GUIDE.expiry_days) == (3, 120)


def test_modern_preset_follows_nist() -> None:
    assert (MODERN.name, MODERN.min_length, MODERN.max_length) == ("modern", 8, 64)
    assert not MODERN.require_upper and not MODERN.require_digit
    assert (MODERN.history_count, MODERN.expiry_days) == (0, None)


def test_preset_numbers_can_be_overridden_by_settings() -> None:
    policy = PasswordPolicy.guide(min_length=10, expiry_days=None)
    assert (policy.min_length, policy.max_length, policy.expiry_days) == (10, 20, None)


def test_policy_for_builds_presets_by_name() -> None:
    assert policy_for("guide") == GUIDE
    assert policy_for("modern", max_length=128).max_length == 128


def test_policy_for_refuses_unknown_preset() -> None:
    with pytest.raises(ValueError):
        policy_for("lax")


@pytest.mark.parametrize(
    "overrides",
    [{"min_length": 0}, {"min_length": 9, "max_length": 8}, {"history_count": -1}, {"expiry_days": 0}],
)
def test_inconsistent_settings_are_refused(overrides: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        PasswordPolicy.guide(**overrides)


# --- guide rules -----------------------------------------------------------------------------


def test_valid_guide_password_passes_every_rule() -> None:
    results = check_password("Tsudoi2024x", member_number=MEMBER, policy=GUIDE)
    assert failed(results) == []
    assert [r.code for r in results] == [
        RuleCode.LENGTH,
        RuleCode.CHARSET,
        RuleCode.UPPERCASE,
        RuleCode.DIGIT,
        RuleCode.NOT_MEMBER_NUMBER,
        RuleCode.NOT_COMMON,
    ]


@pytest.mark.parametrize(("length", "ok"), [(7, False), (8, True), (20, True), (21, False)])
def test_guide_length_boundaries(length: int, ok: bool) -> None:
    password = ("Ab3" + "x" * 30)[:length]
    result = results_by_code(password)[RuleCode.LENGTH]
    assert result.ok is ok
    assert result.message == "8文字以上20文字以下で入力してください。"


def test_empty_password_fails_length_upper_and_digit() -> None:
    assert failed_codes("") == {RuleCode.LENGTH, RuleCode.UPPERCASE, RuleCode.DIGIT}


def test_very_long_password_fails_only_length() -> None:
    assert failed_codes("Ab3" + "x" * 10_000) == {RuleCode.LENGTH}


def test_missing_uppercase_is_reported() -> None:
    result = results_by_code("tsudoi2024x")[RuleCode.UPPERCASE]
    assert not result.ok
    assert result.message == "英大文字を1文字以上含めてください。"


def test_missing_digit_is_reported() -> None:
    result = results_by_code("TsudoiPortal")[RuleCode.DIGIT]
    assert not result.ok
    assert result.message == "数字を1文字以上含めてください。"


@pytest.mark.parametrize("special", list('!"#$%'))
def test_each_guide_special_is_allowed(special: str) -> None:
    assert failed_codes(f"Tsudoi{special}2024") == set()


@pytest.mark.parametrize("special", list("&'()*+,-./:;<=>?@[\\]^_`{|}~"))
def test_other_specials_are_refused_under_guide(special: str) -> None:
    result = results_by_code(f"Tsudoi{special}2024")[RuleCode.CHARSET]
    assert not result.ok
    assert result.message == f"使用できない文字が含まれています: {special}"


def test_disallowed_character_is_named_in_the_message() -> None:
    result = results_by_code("Tsudoiあ2024")[RuleCode.CHARSET]
    assert result.message == "使用できない文字が含まれています: あ"


def test_each_disallowed_character_is_listed_once() -> None:
    result = results_by_code("Tsudoiああい2024")[RuleCode.CHARSET]
    assert result.message == "使用できない文字が含まれています: あ、い"


def test_many_disallowed_characters_are_cut_short() -> None:
    result = results_by_code("Ab3あいうえおかきく")[RuleCode.CHARSET]
    assert result.message == "使用できない文字が含まれています: あ、い、う、え、お など"


def test_space_and_control_characters_are_named_not_printed_invisibly() -> None:
    result = results_by_code("Tsudoi 20\t24")[RuleCode.CHARSET]
    assert result.message == "使用できない文字が含まれています: スペース、見えない文字(U+0009)"


def test_full_width_password_is_refused_and_gets_the_ime_hint() -> None:
    password = "Ｔｓｕｄｏｉ２０２４"
    assert RuleCode.CHARSET in failed_codes(password)
    assert ime_hint(password) == IME_HINT_MESSAGE
    assert ime_hint(password, GUIDE) == IME_HINT_MESSAGE


def test_ascii_password_gets_no_ime_hint() -> None:
    assert ime_hint("Tsudoi2024") is None
    assert ime_hint("") is None


def test_charset_rule_describes_the_allowed_set_when_met() -> None:
    result = results_by_code("Tsudoi2024")[RuleCode.CHARSET]
    assert result.ok
    assert '!"#$%' in result.message


def test_passwords_are_case_sensitive_and_not_normalized() -> None:
    # "Ｔ" must not silently become "T": the member would not be able to log in with it later.
    assert RuleCode.CHARSET in failed_codes("Ｔsudoi2024")


# --- member number and blocklist -------------------------------------------------------------


def test_password_equal_to_member_number_is_refused() -> None:
    result = results_by_code("Ab345678", member_number="Ab345678")[RuleCode.NOT_MEMBER_NUMBER]
    assert not result.ok
    assert result.message == "会員番号と同じパスワードは使用できません。"


def test_member_number_typed_in_full_width_is_still_refused() -> None:
    assert RuleCode.NOT_MEMBER_NUMBER in failed_codes(
        "００１２３４５６７８", policy=MODERN, member_number="0012345678"
    )


def test_member_number_keeps_leading_zeros() -> None:
    assert RuleCode.NOT_MEMBER_NUMBER not in failed_codes(
        "12345678x", policy=MODERN, member_number="012345678x"
    )


def test_empty_member_number_refuses_nothing() -> None:
    assert RuleCode.NOT_MEMBER_NUMBER not in failed_codes("", member_number="")


def test_well_known_password_is_refused_case_insensitively() -> None:
    assert is_common_password("password1")
    result = results_by_code("Password1")[RuleCode.NOT_COMMON]
    assert not result.ok
    assert result.message == "よく使われていて推測されやすいパスワードです。別のものにしてください。"
    assert RuleCode.NOT_COMMON in failed_codes("PASSWORD1")


def test_well_known_password_is_refused_by_modern_preset_too() -> None:
    assert failed_codes("qwerty123", policy=MODERN) == {RuleCode.NOT_COMMON}


def test_uncommon_password_is_not_on_the_blocklist() -> None:
    assert not is_common_password("Tsudoi2024x")


# --- modern preset ---------------------------------------------------------------------------


def test_modern_accepts_a_passphrase_with_spaces() -> None:
    assert failed_codes("correct horse battery staple", policy=MODERN) == set()


def test_modern_accepts_japanese_and_emoji() -> None:
    assert failed_codes("すずめのお宿は竹やぶ🐦", policy=MODERN) == set()


def test_modern_accepts_emoji_joined_with_zero_width_joiner() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert failed_codes(f"our {family} pass", policy=MODERN) == set()


def test_modern_counts_code_points_after_nfc() -> None:
    decomposed = "cafe\u0301" + "abc"  # 8 code points, 7 after NFC
    assert RuleCode.LENGTH in failed_codes(decomposed, policy=MODERN)
    assert RuleCode.LENGTH not in failed_codes(decomposed + "d", policy=MODERN)


@pytest.mark.parametrize(("length", "ok"), [(7, False), (8, True), (64, True), (65, False)])
def test_modern_length_boundaries(length: int, ok: bool) -> None:
    result = results_by_code("あ" * length, policy=MODERN)[RuleCode.LENGTH]
    assert result.ok is ok
    assert result.message == "8文字以上64文字以下で入力してください。"


def test_modern_has_no_composition_rules() -> None:
    codes = {r.code for r in check_password("x", member_number=MEMBER, policy=MODERN)}
    assert RuleCode.UPPERCASE not in codes and RuleCode.DIGIT not in codes


@pytest.mark.parametrize("control", ["\x00", "\t", "\n", "\x7f", "\u2028", "\u200b", "\ud800"])
def test_modern_refuses_control_characters(control: str) -> None:
    assert RuleCode.CHARSET in failed_codes(f"long enough{control}pass", policy=MODERN)


def test_modern_hints_ime_only_for_full_width_ascii() -> None:
    assert ime_hint("すずめのお宿", MODERN) is None
    assert ime_hint("ｐａｓｓｗｏｒｄ", MODERN) == IME_HINT_MESSAGE
    assert ime_hint("pass\u3000word", MODERN) == IME_HINT_MESSAGE


# --- expiry ----------------------------------------------------------------------------------


def test_guide_password_expires_after_120_days() -> None:
    changed = datetime(2024, 1, 1, tzinfo=UTC)
    assert not is_expired(changed, changed + timedelta(days=120) - timedelta(seconds=1), GUIDE)
    assert is_expired(changed, changed + timedelta(days=120), GUIDE)
    assert expires_at(changed, GUIDE) == changed + timedelta(days=120)


def test_modern_password_never_expires() -> None:
    changed = datetime(2000, 1, 1, tzinfo=UTC)
    assert not is_expired(changed, datetime(2100, 1, 1, tzinfo=UTC), MODERN)
    assert expires_at(changed, MODERN) is None


# --- history ---------------------------------------------------------------------------------


def fake_verify(stored: str, password: str) -> bool:
    return stored == f"hash:{password}"


def test_current_password_counts_as_recent() -> None:
    hashes = ["hash:Current1A", "hash:Older2B", "hash:Oldest3C"]
    assert matches_recent("Current1A", hashes, fake_verify, 3)


def test_password_within_last_three_is_reused() -> None:
    hashes = ["hash:Current1A", "hash:Older2B", "hash:Oldest3C", "hash:Ancient4D"]
    assert matches_recent("Oldest3C", hashes, fake_verify, 3)


def test_password_older_than_last_three_may_be_used_again() -> None:
    hashes = ["hash:Current1A", "hash:Older2B", "hash:Oldest3C", "hash:Ancient4D"]
    assert not matches_recent("Ancient4D", hashes, fake_verify, 3)


def test_history_count_zero_never_matches() -> None:
    assert not matches_recent("Current1A", ["hash:Current1A"], fake_verify, 0)


def test_empty_history_never_matches() -> None:
    assert not matches_recent("Current1A", [], fake_verify, 3)


def test_history_result_reads_as_a_rule() -> None:
    result = history_result(True, GUIDE)
    assert (result.code, result.ok) == (RuleCode.NOT_RECENT, False)
    assert "3つ" in result.message
    assert history_result(False, GUIDE).ok


# --- generator -------------------------------------------------------------------------------

LOOK_ALIKES = set("lI10Oo\"'`|!QD")


def test_generated_passwords_always_pass_the_guide_and_avoid_look_alikes() -> None:
    for _ in range(500):
        password = generate_initial_password(GUIDE)
        assert len(password) == 10
        assert failed(check_password(password, member_number=MEMBER, policy=GUIDE)) == []
        assert not LOOK_ALIKES & set(password)


def test_generated_password_with_special_uses_an_unambiguous_special() -> None:
    for _ in range(100):
        password = generate_initial_password(GUIDE, with_special=True)
        assert set(password) & set("#$%")
        assert failed(check_password(password, member_number=MEMBER, policy=GUIDE)) == []
        assert not LOOK_ALIKES & set(password)


def test_generated_passwords_differ() -> None:
    assert len({generate_initial_password(GUIDE) for _ in range(50)}) == 50


def test_generated_password_passes_modern_too() -> None:
    password = generate_initial_password(MODERN, length=16)
    assert failed(check_password(password, member_number=MEMBER, policy=MODERN)) == []


@pytest.mark.parametrize("length", [7, 21])
def test_generator_refuses_length_outside_the_policy(length: int) -> None:
    with pytest.raises(ValueError):
        generate_initial_password(GUIDE, length=length)


def test_generator_refuses_special_when_policy_has_no_usable_special() -> None:
    with pytest.raises(ValueError):
        generate_initial_password(PasswordPolicy.guide(specials='!"'), with_special=True)
