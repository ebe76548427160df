"""Checks text fields for characters outside the organization's character range and suggests standard forms.

Two ranges (the organization setting name_charset): "jis0208", the guide's rule (printable ASCII and
JIS X 0208), and "jis0213", which also takes the letters people write their names with: JIS X 0213's
kanji and kana and Windows' extension kanji (髙, 﨑, 𠮷…). Both refuse circled numbers, ㈱-style
compatibility characters, emoji, private-use characters and half-width kana.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Literal

__all__ = [
    "CHARSET_CHOICES",
    "DEFAULT_CHARSET",
    "CharIssue",
    "CharsetMode",
    "IssueKind",
    "charset_mode",
    "check_text",
    "find_disallowed",
    "is_allowed_char",
    "is_name_variant_char",
    "message_for",
    "standard_forms",
]

CharsetMode = Literal["jis0208", "jis0213"]
DEFAULT_CHARSET: CharsetMode = "jis0208"
CHARSET_CHOICES: tuple[tuple[str, str], ...] = (
    ("jis0208", "会員の手引き（JIS X 0208、標準）"),
    ("jis0213", "JIS X 0213（髙・﨑 などの異体字も使える）"),
)


def charset_mode(value: str) -> CharsetMode:
    """The stored setting as a mode; anything unknown is the guide's rule."""
    return "jis0213" if value == "jis0213" else "jis0208"


# NFKC leaves these alone (or maps them outside JIS X 0208), so they need a hand-made
# replacement. Each pair was checked with Python: the key does not encode to Shift_JIS,
# the value does. Mostly old/variant forms common in names and the 2010 Joyo forms that
# JIS X 0208 only has in the simplified shape.
_REPLACEMENTS: dict[str, str] = {
    "髙": "高",
    "﨑": "崎",
    "德": "徳",
    "濵": "濱",
    "淸": "清",
    "𠮷": "吉",
    "𡈽": "土",
    "栁": "柳",
    "瀨": "瀬",
    "鄕": "郷",
    "黑": "黒",
    "靑": "青",
    "郞": "郎",
    "增": "増",
    "寬": "寛",
    "悅": "悦",
    "敎": "教",
    "橫": "横",
    "綠": "緑",
    "緖": "緒",
    "薰": "薫",
    "賴": "頼",
    "羡": "羨",
    "﨔": "欅",
    "桒": "桑",
    "杦": "杉",
    "昻": "昂",
    "凞": "熙",
    "曻": "昇",
    "晳": "晰",
    "硏": "研",
    "﨟": "臈",
    "𣘺": "橋",
    "槗": "橋",
    "剝": "剥",
    "𠮟": "叱",
    "頰": "頬",
    "塡": "填",
    "繫": "繋",
    "噓": "嘘",
    "鷗": "鴎",
    "蔣": "蒋",
    "ゔ": "ヴ",
    "ゕ": "ヵ",
    "ゖ": "ヶ",
    "〝": "“",
    "〟": "”",
    "∑": "Σ",
    "￤": "｜",
    # JIS X 0201 Roman yen sign and overline: single-byte Shift_JIS, not JIS X 0208,
    # and Excel's cp932 cannot store them.
    "¥": "￥",
    # NFKC turns these into combining marks, which are not JIS X 0208 either.
    "\uff9e": "゛",
    "\uff9f": "゜",
    "‾": "￣",
}

_HALFWIDTH_KANA_FIRST = 0xFF61
_HALFWIDTH_KANA_LAST = 0xFF9F
# Half-width voiced/semi-voiced marks combine with the kana before them under NFKC
# (ｶﾞ -> ガ), so they are kept in the same cluster as that kana.
_HALFWIDTH_VOICED_MARKS = frozenset("\uff9e\uff9f")
_NEWLINES = frozenset("\r\n")
_MAX_LISTED_ISSUES = 5


class IssueKind(Enum):
    """Why a character was refused; decides the wording of the message."""

    PLATFORM_DEPENDENT = "platform_dependent"
    UNSUPPORTED = "unsupported"
    HALFWIDTH_KANA = "halfwidth_kana"
    NEWLINE = "newline"
    CONTROL = "control"
    INVISIBLE = "invisible"
    SPECIAL_SPACE = "special_space"
    PRIVATE_USE = "private_use"
    UNREADABLE = "unreadable"
    DECOMPOSED = "decomposed"


@dataclass(frozen=True, slots=True)
class CharIssue:
    """One refused character (or a character with its combining marks)."""

    position: int
    """1-based position of the first character, counted in characters as a person sees them."""
    char: str
    suggestion: str | None
    """Standard replacement; "" means "delete it"; None when there is no good replacement."""
    kind: IssueKind
    message: str


@lru_cache(maxsize=8192)
def is_allowed_char(ch: str) -> bool:
    """Whether one character is printable ASCII or a JIS X 0208 character."""
    code = ord(ch)
    if 0x20 <= code <= 0x7E:
        return True
    if code < 0x80:
        return False
    if _is_halfwidth_kana(ch):
        return False
    try:
        # Python's "shift_jis" codec is strict JIS X 0201 + JIS X 0208; a two-byte code
        # is a JIS X 0208 character (single bytes left here are ¥ and ‾, JIS X 0201 Roman).
        return len(ch.encode("shift_jis")) == 2
    except UnicodeEncodeError:
        pass
    try:
        encoded = ch.encode("cp932")
    except UnicodeEncodeError:
        return False
    # Windows IMEs map a few JIS X 0208 codes to other code points than the JIS mapping
    # (～ U+FF5E vs 〜 U+301C, － U+FF0D vs − U+2212, ∥, ￠, ￡, ￢). They are the same
    # JIS X 0208 character, so they are allowed; NEC/IBM extensions do not decode as
    # strict Shift_JIS and stay refused.
    if len(encoded) != 2:
        return False
    try:
        encoded.decode("shift_jis")
    except UnicodeDecodeError:
        return False
    return True


@lru_cache(maxsize=8192)
def is_name_variant_char(ch: str) -> bool:
    """Whether the JIS X 0213 setting adds ch: a letter (kanji, kana, accented Latin) of JIS X 0213 or of
    Windows' extension kanji (髙 is only there), or a name variant in the table (𠮷). Symbols, circled
    and compatibility characters (①, ㈱: NFKC changes them), emoji and private-use ones stay refused."""
    if is_allowed_char(ch) or _is_halfwidth_kana(ch):
        return False
    if not unicodedata.category(ch).startswith("L"):
        return False
    if unicodedata.normalize("NFKC", ch) != ch or unicodedata.normalize("NFC", ch) != ch:
        return False
    if ch in _REPLACEMENTS:
        return True
    for codec in ("euc_jis_2004", "cp932"):
        try:
            ch.encode(codec)
        except UnicodeEncodeError:
            continue
        return True
    return False


def _allowed_in(ch: str, mode: CharsetMode) -> bool:
    return is_allowed_char(ch) or (mode == "jis0213" and is_name_variant_char(ch))


def standard_forms(text: str) -> str:
    """text with every name variant from the vetted table (髙→高, 﨑→崎) and every compatibility
    ideograph (U+FA19→神) replaced by its JIS X 0208 standard form; anything else is left as it is."""
    out = []
    for ch in text:
        if ch in _REPLACEMENTS and unicodedata.category(ch).startswith("L"):
            out.append(_REPLACEMENTS[ch])
            continue
        composed = unicodedata.normalize("NFC", ch)
        if composed != ch and "CJK COMPATIBILITY" in unicodedata.name(ch, "") and _all_allowed(composed):
            out.append(composed)
            continue
        out.append(ch)
    return "".join(out)


def _all_allowed(text: str) -> bool:
    return bool(text) and all(is_allowed_char(c) for c in text)


def _is_halfwidth_kana(ch: str) -> bool:
    return _HALFWIDTH_KANA_FIRST <= ord(ch) <= _HALFWIDTH_KANA_LAST


def _is_cluster_mark(base: str, ch: str) -> bool:
    if ch in _HALFWIDTH_VOICED_MARKS:
        return _is_halfwidth_kana(base) and base not in _HALFWIDTH_VOICED_MARKS
    return unicodedata.category(ch).startswith("M")


def _clusters(text: str) -> Iterator[tuple[int, str]]:
    """Yield (0-based index, cluster): a character and the combining marks after it."""
    start = 0
    length = len(text)
    while start < length:
        end = start + 1
        while end < length and _is_cluster_mark(text[start], text[end]):
            end += 1
        yield start, text[start:end]
        start = end


def _suggest(cluster: str) -> str | None:
    if cluster in _REPLACEMENTS:
        return _REPLACEMENTS[cluster]
    replaced = "".join(_REPLACEMENTS.get(c, c) for c in cluster)
    if replaced != cluster and _all_allowed(replaced):
        return replaced
    nfkc = unicodedata.normalize("NFKC", cluster)
    if nfkc != cluster and _all_allowed(nfkc):
        return nfkc
    if nfkc in _REPLACEMENTS:
        return _REPLACEMENTS[nfkc]
    # Accents and variation selectors (e.g. an IVS after a kanji) have no JIS X 0208
    # form; the base letter is the best standard spelling.
    stripped = "".join(c for c in unicodedata.normalize("NFKD", cluster) if not unicodedata.combining(c))
    stripped = unicodedata.normalize("NFKC", "".join(c for c in stripped if not _is_variation_selector(c)))
    if stripped != cluster and _all_allowed(stripped):
        return stripped
    return None


def _is_variation_selector(ch: str) -> bool:
    code = ord(ch)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def _is_glyph_variant_of(cluster: str, suggestion: str) -> bool:
    without_selectors = "".join(c for c in cluster if not _is_variation_selector(c))
    return unicodedata.normalize("NFC", without_selectors) == suggestion


def _display(cluster: str) -> str:
    if any(unicodedata.category(c) == "Cs" for c in cluster):
        return " ".join(f"U+{ord(c):04X}" for c in cluster)
    return cluster


def _message(where: str, cluster: str, kind: IssueKind, suggestion: str | None) -> str:
    shown = _display(cluster)
    if kind is IssueKind.HALFWIDTH_KANA:
        if suggestion:
            return f"{where}の「{shown}」は半角カタカナのため使用できません。全角の「{suggestion}」をお使いください。"
        return f"{where}の「{shown}」は半角カタカナのため使用できません。全角カタカナで入力してください。"
    if kind is IssueKind.NEWLINE:
        return f"{where}に改行が含まれています。この欄は改行せずに1行で入力してください。"
    if kind is IssueKind.CONTROL:
        if cluster.startswith("\t"):
            return f"{where}にタブが含まれています。タブを削除するか、空白に置き換えてください。"
        return f"{where}に制御文字（目に見えない特殊な文字）が含まれています。削除してください。"
    if kind is IssueKind.INVISIBLE:
        return f"{where}に目に見えない特殊な文字が含まれています。削除してください。"
    if kind is IssueKind.SPECIAL_SPACE:
        return f"{where}に特殊な空白が含まれています。通常の空白をお使いください。"
    if kind is IssueKind.PRIVATE_USE:
        return f"{where}に外字（利用者定義文字）が含まれています。別の文字に置き換えてください。"
    if kind is IssueKind.UNREADABLE:
        return f"{where}に読み取れない文字（{shown}）が含まれています。削除してください。"
    if kind is IssueKind.DECOMPOSED:
        return (
            f"{where}の「{shown}」は文字と濁点などの記号が分かれた特殊な形になっています。"
            f"「{suggestion}」と入力し直してください。"
        )
    if kind is IssueKind.PLATFORM_DEPENDENT:
        if suggestion and _is_glyph_variant_of(cluster, suggestion):
            # 神 (U+FA19) and 神 look alike in many fonts; say why they differ.
            return (
                f"{where}の「{shown}」は旧字体などの異体字で、機種依存文字のため使用できません。"
                f"通常の字体の「{suggestion}」をお使いください。"
            )
        if suggestion:
            return (
                f"{where}の「{shown}」は機種依存文字のため使用できません。「{suggestion}」をお使いください。"
            )
        return f"{where}の「{shown}」は機種依存文字のため使用できません。別の文字に置き換えてください。"
    if suggestion:
        return f"{where}の「{shown}」は使用できない文字です。「{suggestion}」をお使いください。"
    return f"{where}の「{shown}」は使用できない文字です。別の文字に置き換えるか、削除してください。"


def _classify(
    cluster: str, allow_newlines: bool, mode: CharsetMode = DEFAULT_CHARSET
) -> tuple[IssueKind, str | None] | None:
    """Return (kind, suggestion) for a refused cluster, or None when it is allowed."""
    first = cluster[0]
    if len(cluster) == 1 and (_allowed_in(first, mode) or (allow_newlines and first in _NEWLINES)):
        return None
    if len(cluster) > 1 and _all_allowed(cluster):
        return None
    category = unicodedata.category(first)
    if first in _NEWLINES:
        return IssueKind.NEWLINE, None
    if category == "Cc":
        return IssueKind.CONTROL, ""
    if category == "Cs":
        return IssueKind.UNREADABLE, ""
    if category in ("Cf", "Zl", "Zp"):
        return IssueKind.INVISIBLE, ""
    if category == "Zs":
        return IssueKind.SPECIAL_SPACE, " "
    if category == "Co":
        return IssueKind.PRIVATE_USE, None
    composed = unicodedata.normalize("NFC", cluster)
    if len(cluster) > 1 and composed != cluster and _all_allowed(composed):
        # macOS and some copy-paste sources send が as か + U+3099; it looks right but
        # breaks sorting, search and Shift_JIS export.
        return IssueKind.DECOMPOSED, composed
    suggestion = _suggest(cluster)
    if _is_halfwidth_kana(first):
        return IssueKind.HALFWIDTH_KANA, suggestion
    if _is_platform_dependent(cluster):
        return IssueKind.PLATFORM_DEPENDENT, suggestion
    if suggestion is not None:
        return IssueKind.UNSUPPORTED, suggestion
    return IssueKind.UNSUPPORTED, None


def _is_platform_dependent(cluster: str) -> bool:
    # What members call 機種依存文字: vendor extensions (NEC/IBM in cp932), compatibility
    # characters (①, ㈱, ㌔) and the variant kanji in the table; an accented letter is
    # merely "not usable".
    if cluster in _REPLACEMENTS or any(_is_variation_selector(c) for c in cluster):
        return True
    if unicodedata.normalize("NFKC", cluster) != unicodedata.normalize("NFC", cluster):
        return True
    try:
        cluster.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


def _fast_path_ok(text: str, allow_newlines: bool) -> bool:
    # Most input is plain: one codec call instead of a per-character walk.
    if text.isascii():
        return all(0x20 <= ord(c) <= 0x7E or (allow_newlines and c in _NEWLINES) for c in text)
    return False


def find_disallowed(
    text: str, *, allow_newlines: bool = False, charset: CharsetMode = DEFAULT_CHARSET
) -> list[CharIssue]:
    """List every refused character in text, in order, with a suggestion and a Japanese message.

    allow_newlines lets CR/LF through for multi-line fields (messages); no other control
    character is ever allowed.
    """
    if _fast_path_ok(text, allow_newlines):
        return []
    issues: list[CharIssue] = []
    for index, cluster in _clusters(text):
        verdict = _classify(cluster, allow_newlines, charset)
        if verdict is None:
            continue
        # A cluster whose base is fine but whose marks are not (か + U+3099) is reported as a whole.
        kind, suggestion = verdict
        position = index + 1
        issues.append(
            CharIssue(
                position=position,
                char=cluster,
                suggestion=suggestion,
                kind=kind,
                message=_message(f"{position}文字目", cluster, kind, suggestion),
            )
        )
    return issues


def message_for(issues: Iterable[CharIssue]) -> str:
    """One message for all issues; the same character at several places is named once."""
    grouped: dict[tuple[str, IssueKind], list[CharIssue]] = {}
    for issue in issues:
        grouped.setdefault((issue.char, issue.kind), []).append(issue)
    if not grouped:
        return ""
    parts: list[str] = []
    for (char, kind), same in list(grouped.items())[:_MAX_LISTED_ISSUES]:
        where = "、".join(str(i.position) for i in same[:_MAX_LISTED_ISSUES]) + "文字目"
        if len(same) > _MAX_LISTED_ISSUES:
            where += "など"
        parts.append(_message(where, char, kind, same[0].suggestion))
    rest = len(grouped) - _MAX_LISTED_ISSUES
    if rest > 0:
        parts.append(f"ほかにも使用できない文字が{rest}種類あります。")
    return "".join(parts)


def check_text(
    text: str, *, allow_newlines: bool = False, charset: CharsetMode = DEFAULT_CHARSET
) -> str | None:
    """The combined Japanese error message for text, or None when every character is allowed."""
    issues = find_disallowed(text, allow_newlines=allow_newlines, charset=charset)
    return message_for(issues) if issues else None
