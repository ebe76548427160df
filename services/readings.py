"""Japanese readings of password characters (パスワードの読み), so look-alikes can be told apart."""

from __future__ import annotations

import json
import unicodedata
from typing import Final

_LETTER_NAMES: Final[dict[str, str]] = {
    "A": "エー",
    "B": "ビー",
    "C": "シー",
    "D": "ディー",
    "E": "イー",
    "F": "エフ",
    "G": "ジー",
    "H": "エイチ",
    "I": "アイ",
    "J": "ジェー",
    "K": "ケー",
    "L": "エル",
    "M": "エム",
    "N": "エヌ",
    "O": "オー",
    "P": "ピー",
    "Q": "キュー",
    "R": "アール",
    "S": "エス",
    "T": "ティー",
    "U": "ユー",
    "V": "ブイ",
    "W": "ダブリュー",
    "X": "エックス",
    "Y": "ワイ",
    "Z": "ゼット",
}

_DIGIT_NAMES: Final[dict[str, str]] = {
    "0": "ゼロ",
    "1": "イチ",
    "2": "ニ",
    "3": "サン",
    "4": "ヨン",
    "5": "ゴ",
    "6": "ロク",
    "7": "ナナ",
    "8": "ハチ",
    "9": "キュウ",
}

# The names most Japanese members know from school and phone keyboards; where two names are
# common, the one printed on JIS keyboards and in IME symbol lists wins.
_SYMBOL_NAMES: Final[dict[str, str]] = {
    " ": "スペース",
    "!": "エクスクラメーション",
    '"': "ダブルクォート",
    "#": "シャープ",
    "$": "ドル",
    "%": "パーセント",
    "&": "アンド",
    "'": "シングルクォート",
    "(": "左かっこ",
    ")": "右かっこ",
    "*": "アスタリスク",
    "+": "プラス",
    ",": "カンマ",
    "-": "ハイフン",
    ".": "ピリオド",
    "/": "スラッシュ",
    ":": "コロン",
    ";": "セミコロン",
    "<": "小なり",
    "=": "イコール",
    ">": "大なり",
    "?": "クエスチョン",
    "@": "アットマーク",
    "[": "左角かっこ",
    # Japanese fonts draw U+005C as a yen sign, so both names are given.
    "\\": "バックスラッシュ(円記号)",
    "]": "右角かっこ",
    "^": "キャレット",
    "_": "アンダーバー",
    "`": "バッククォート",
    "{": "左波かっこ",
    "|": "縦線",
    "}": "右波かっこ",
    "~": "チルダ",
}


def _build_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for upper, name in _LETTER_NAMES.items():
        table[upper.lower()] = f"{name}(小文字)"
    for upper, name in _LETTER_NAMES.items():
        table[upper] = f"{name}(大文字)"
    for digit, name in _DIGIT_NAMES.items():
        table[digit] = f"{name}(数字)"
    table.update(_SYMBOL_NAMES)
    return table


READINGS: Final[dict[str, str]] = _build_table()
"""Reading of every printable ASCII character, space included."""


def _script_label(ch: str) -> str:
    name = unicodedata.name(ch, "")
    if "HIRAGANA" in name:
        return "ひらがな"
    if "KATAKANA" in name:
        return "カタカナ"
    if "CJK" in name and "IDEOGRAPH" in name:
        return "漢字"
    if unicodedata.category(ch).startswith("L"):
        return "文字"
    if unicodedata.category(ch).startswith("N"):
        return "数字"
    return "記号"


def reading_of(ch: str) -> str:
    """Return the reading of one character; characters outside the table get a descriptive label."""
    if len(ch) != 1:
        raise ValueError("reading_of() takes exactly one character")
    known = READINGS.get(ch)
    if known is not None:
        return known
    category = unicodedata.category(ch)
    if category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
        # Invisible characters have nothing to read aloud; the code point lets support find them.
        return f"見えない文字(U+{ord(ch):04X})"
    # Full-width forms typed with the IME on look like ASCII but are different characters.
    folded = unicodedata.normalize("NFKC", ch)
    if folded != ch and folded in READINGS:
        base = READINGS[folded]
        if base.endswith(")"):
            return f"{base[:-1]}・全角)"
        return f"{base}(全角)"
    return f"{ch}({_script_label(ch)})"


def readings(text: str) -> list[tuple[str, str]]:
    """Return (character, reading) for every code point of the text, in order."""
    return [(ch, reading_of(ch)) for ch in text]


def _html_safe_json(value: object) -> str:
    # Escaped like Jinja's |tojson so the table can sit inside <script> without closing it.
    return (
        json.dumps(value, ensure_ascii=False, sort_keys=True)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
    )


READINGS_JSON: Final[str] = _html_safe_json(READINGS)
"""The table as JSON, safe to embed in a <script> element for the client-side readings toggle."""


def readings_json() -> str:
    """Return the readings table as HTML-safe JSON (same as READINGS_JSON)."""
    return READINGS_JSON
