"""Password rules (DESIGN §2 "Passwords"): presets, per-rule checks, IME hint, expiry, history, generator."""

from __future__ import annotations

import dataclasses
import secrets
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal

from zxcvbn.frequency_lists import FREQUENCY_LISTS

from services.readings import reading_of

CharsetMode = Literal["ascii", "printable"]
"""``ascii``: ASCII letters, digits and the policy's specials only; ``printable``: any printable character."""

GUIDE_SPECIALS = '!"#$%'

IME_HINT_MESSAGE = "全角文字が含まれています。日本語入力（IME）がオンになっていないかご確認ください。"

# Characters the generator never uses, because the member copies the password from a printed
# letter and types it on a phone:
#   l I 1 | !   a vertical stroke in most fonts, easily mixed up with each other
#   0 O o Q D   a round shape, easily mixed up with each other
#   " ' `       quotes look like each other (and '' like ") on paper
_GENERATOR_AVOID = frozenset("lI1|!0OoQD\"'`")
_GENERATOR_LOWER = "".join(c for c in string.ascii_lowercase if c not in _GENERATOR_AVOID)
_GENERATOR_UPPER = "".join(c for c in string.ascii_uppercase if c not in _GENERATOR_AVOID)
_GENERATOR_DIGITS = "".join(c for c in string.digits if c not in _GENERATOR_AVOID)

# Listing hundreds of offending characters would bury the message; a few show the problem.
_MAX_LISTED_CHARS = 5

# Invisible or structural characters are refused even by the modern preset: NIST SP 800-63B-4
# asks for printable characters, and a tab, newline, zero-width space or unassigned code point
# cannot be typed back reliably. The zero-width joiner stays allowed because emoji sequences
# (e.g. family emoji) need it.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_ZERO_WIDTH_JOINER = "\u200d"


class RuleCode(StrEnum):
    """Stable identifiers of password rules, used by forms to render a tick list."""

    LENGTH = "length"
    CHARSET = "charset"
    UPPERCASE = "uppercase"
    DIGIT = "digit"
    NOT_MEMBER_NUMBER = "not_member_number"
    NOT_COMMON = "not_common"
    NOT_RECENT = "not_recent"


@dataclass(frozen=True)
class RuleResult:
    """One rule of a policy applied to a candidate password."""

    code: RuleCode
    message: str
    ok: bool


@dataclass(frozen=True)
class PasswordPolicy:
    """The password rules in force; each number is an admin setting."""

    name: str
    min_length: int
    max_length: int
    charset: CharsetMode
    specials: str
    require_upper: bool
    require_digit: bool
    history_count: int
    expiry_days: int | None

    def __post_init__(self) -> None:
        if self.min_length < 1:
            raise ValueError("min_length must be at least 1")
        if self.max_length < self.min_length:
            raise ValueError("max_length must not be below min_length")
        if self.charset not in ("ascii", "printable"):
            raise ValueError(f"unknown charset mode: {self.charset!r}")
        if self.history_count < 0:
            raise ValueError("history_count must not be negative")
        if self.expiry_days is not None and self.expiry_days < 1:
            raise ValueError("expiry_days must be positive or None")

    @classmethod
    def guide(cls, **overrides: Any) -> PasswordPolicy:
        """The organizations' member-guide preset (the default)."""
        base = cls(
            name="guide",
            min_length=8,
            max_length=20,
            charset="ascii",
            specials=GUIDE_SPECIALS,
            require_upper=True,
            require_digit=True,
            history_count=3,
            expiry_days=120,
        )
        return dataclasses.replace(base, **overrides)

    @classmethod
    def modern(cls, **overrides: Any) -> PasswordPolicy:
        """NIST SP 800-63B-4 preset: length and blocklist only, no composition rules, no expiry."""
        base = cls(
            name="modern",
            min_length=8,
            max_length=64,
            charset="printable",
            specials="",
            require_upper=False,
            require_digit=False,
            history_count=0,
            expiry_days=None,
        )
        return dataclasses.replace(base, **overrides)

    def length_of(self, password: str) -> int:
        """Length as this policy counts it."""
        if self.charset == "printable":
            # NIST counts Unicode code points after normalization, so "é" is one character
            # whether the keyboard sent it precomposed or not.
            return len(unicodedata.normalize("NFC", password))
        return len(password)

    def is_allowed_char(self, ch: str) -> bool:
        """Whether one character may appear in a password under this policy."""
        if self.charset == "ascii":
            return ch in string.ascii_letters or ch in string.digits or ch in self.specials
        return ch == _ZERO_WIDTH_JOINER or unicodedata.category(ch) not in _UNPRINTABLE_CATEGORIES


_PRESETS: dict[str, Callable[..., PasswordPolicy]] = {
    "guide": PasswordPolicy.guide,
    "modern": PasswordPolicy.modern,
}

PRESET_NAMES: tuple[str, ...] = tuple(_PRESETS)


def policy_for(name: str, **overrides: Any) -> PasswordPolicy:
    """Build the named preset ("guide" or "modern") with setting overrides."""
    try:
        factory = _PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown password policy preset: {name!r}") from None
    return factory(**overrides)


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def is_common_password(password: str) -> bool:
    """Whether the password is on zxcvbn's list of well-known passwords (case-insensitive)."""
    return password.lower() in _common_passwords()


def _display_char(ch: str) -> str:
    if ch.isprintable() and not ch.isspace():
        return ch
    # A space or control character would be invisible in the message; name it instead.
    return reading_of(ch)


def _disallowed_chars(password: str, policy: PasswordPolicy) -> list[str]:
    seen: dict[str, None] = {}
    for ch in password:
        if not policy.is_allowed_char(ch):
            seen.setdefault(ch, None)
    return list(seen)


def _charset_rule(password: str, policy: PasswordPolicy) -> RuleResult:
    bad = _disallowed_chars(password, policy)
    if bad:
        listed = "、".join(_display_char(ch) for ch in bad[:_MAX_LISTED_CHARS])
        if len(bad) > _MAX_LISTED_CHARS:
            listed += " など"
        return RuleResult(RuleCode.CHARSET, f"使用できない文字が含まれています: {listed}", False)
    if policy.charset == "ascii":
        if policy.specials:
            description = f"半角の英字・数字と記号 {policy.specials} が使用できます。"
        else:
            description = "半角の英字と数字が使用できます。"
    else:
        description = "スペースや日本語を含め、改行などの制御文字以外はすべて使用できます。"
    return RuleResult(RuleCode.CHARSET, description, True)


def _same_as_member_number(password: str, member_number: str) -> bool:
    # Member numbers are typed with full-width digits and stray spaces, so compare both the way
    # login normalizes the ID; the password itself is never stored normalized.
    number = unicodedata.normalize("NFKC", member_number).strip()
    if not number:
        return False
    return unicodedata.normalize("NFKC", password).strip() == number


def check_password(password: str, *, member_number: str, policy: PasswordPolicy) -> list[RuleResult]:
    """Apply every rule of the policy and return each result, passed or not, in display order.

    History is not checked here because it needs the stored hashes; see ``matches_recent``
    and ``history_result``. Rules that cannot fail on an empty password report ok, so a live
    tick list starts with only the rules still to meet unticked.
    """
    length = policy.length_of(password)
    results = [
        RuleResult(
            RuleCode.LENGTH,
            f"{policy.min_length}文字以上{policy.max_length}文字以下で入力してください。",
            policy.min_length <= length <= policy.max_length,
        ),
        _charset_rule(password, policy),
    ]
    if policy.require_upper:
        results.append(
            RuleResult(
                RuleCode.UPPERCASE,
                "英大文字を1文字以上含めてください。",
                any(ch in string.ascii_uppercase for ch in password),
            )
        )
    if policy.require_digit:
        results.append(
            RuleResult(
                RuleCode.DIGIT,
                "数字を1文字以上含めてください。",
                any(ch in string.digits for ch in password),
            )
        )
    results.append(
        RuleResult(
            RuleCode.NOT_MEMBER_NUMBER,
            "会員番号と同じパスワードは使用できません。",
            not _same_as_member_number(password, member_number),
        )
    )
    results.append(
        RuleResult(
            RuleCode.NOT_COMMON,
            "よく使われていて推測されやすいパスワードです。別のものにしてください。",
            not is_common_password(password),
        )
    )
    return results


def failed(results: Sequence[RuleResult]) -> list[RuleResult]:
    """The results whose rule is not met."""
    return [result for result in results if not result.ok]


def history_result(reused: bool, policy: PasswordPolicy) -> RuleResult:
    """A rule result for the history check, to show alongside ``check_password``'s results."""
    return RuleResult(
        RuleCode.NOT_RECENT,
        f"最近使用した{policy.history_count}つのパスワード（現在のパスワードを含みます）は使用できません。",
        not reused,
    )


def matches_recent(
    password: str,
    recent_hashes: Sequence[str],
    verify: Callable[[str, str], bool],
    count: int,
) -> bool:
    """Whether the password matches one of the ``count`` newest hashes.

    ``recent_hashes`` is newest first and includes the current password's hash, which counts
    as one of the last ``count``. ``verify(hash, password)`` follows argon2's argument order
    and must return False (not raise) on a mismatch.
    """
    if count <= 0:
        return False
    return any(verify(stored, password) for stored in recent_hashes[:count])


def ime_hint(password: str, policy: PasswordPolicy | None = None) -> str | None:
    """A hint that the Japanese IME may be on, or None when the password looks typed without it."""
    if policy is None or policy.charset == "ascii":
        suspicious = any(ord(ch) > 0x7F for ch in password)
    else:
        # Japanese is a legitimate choice under the modern preset; only full-width forms of
        # ASCII (and the ideographic space) strongly suggest the IME was left on.
        suspicious = any(unicodedata.east_asian_width(ch) == "F" for ch in password)
    return IME_HINT_MESSAGE if suspicious else None


def expires_at(changed_at: datetime, policy: PasswordPolicy) -> datetime | None:
    """When a password changed at ``changed_at`` expires, or None if the policy has no expiry."""
    if policy.expiry_days is None:
        return None
    return changed_at + timedelta(days=policy.expiry_days)


def is_expired(changed_at: datetime, now: datetime, policy: PasswordPolicy) -> bool:
    """Whether the password must be changed (the member may still postpone it, per the guide)."""
    deadline = expires_at(changed_at, policy)
    return deadline is not None and now >= deadline


def _generator_specials(policy: PasswordPolicy) -> str:
    if policy.charset == "printable":
        candidates = string.punctuation
    else:
        candidates = policy.specials
    return "".join(c for c in candidates if c not in _GENERATOR_AVOID)


def generate_initial_password(policy: PasswordPolicy, length: int = 10, *, with_special: bool = False) -> str:
    """A random initial password that passes the policy and contains no look-alike characters.

    Specials are off by default: members on phones have to switch keyboards for them, and
    length gives the same strength without that friction.
    """
    if not policy.min_length <= length <= policy.max_length:
        raise ValueError(f"length {length} is outside the policy's {policy.min_length}-{policy.max_length}")
    specials = _generator_specials(policy) if with_special else ""
    if with_special and not specials:
        raise ValueError("the policy allows no special character the generator may use")
    required = [_GENERATOR_LOWER, _GENERATOR_UPPER, _GENERATOR_DIGITS]
    if specials:
        required.append(specials)
    if length < len(required):
        raise ValueError(f"length must be at least {len(required)}")
    alphabet = _GENERATOR_LOWER + _GENERATOR_UPPER + _GENERATOR_DIGITS
    rng = secrets.SystemRandom()
    while True:
        chars = [secrets.choice(group) for group in required]
        chars += [secrets.choice(alphabet) for _ in range(length - len(required))]
        rng.shuffle(chars)
        candidate = "".join(chars)
        # A random draw landing on a listed password is astronomically unlikely, but the
        # letter must never carry a password the change form would refuse.
        if not failed(check_password(candidate, member_number="", policy=policy)):
            return candidate
