"""One vocabulary (issue 26): every member-facing template, every member mail and every FAQ entry uses the
words of GLOSSARY.md. The glossary's "not" column is read at test time, so a word added there is checked
here without touching this file.

What the test allows, and why (the report lists the same):
- A "not" word inside a word the glossary tells us to use (its "use" column, and the fixed names from the
  member guides it lists): 支払い inside お支払い, 新着お知らせ inside 新着お知らせメール, 支払期限 inside
  会費の支払期限, お支払い期限 inside コンビニでのお支払い期限, 問い合わせ inside お問い合わせ.
- A "not" word that is also in its own row's "use" column (会員種別, wrong only "for the plan") is checked
  through EXTRA_FORBIDDEN instead (会員種別の画面; and 地域・国, since the glossary says 国・地域).
- EXTRA_ALLOWED below, each with its reason: 決済サービス, the login field's label ログインID（会員番号）,
  the sandbox's テスト決済 banner, the konbini counter phrase インターネット代金の支払い, 年度 年会費 (a fee's
  name), and the login screen's lock message, which the FAQ quotes exactly as shown (services/auth.py).
- MAIL_ONLY_WORDS: 削除してください is checked in mails only (the glossary row is "throw this mail away";
  a screen may ask to delete a character or a condition).
- ENGLISH_ALLOWED below: abbreviations and key names members meet as they are (QR, URL, PDF, ID, IME,
  Caps Lock, SMS), card brands as printed on cards, "Re" of a reply's subject, and iPhone in the contact
  form's example.
- Admin-only screens (views/admin*, views/setup, views/mfa: the administrator's first start and second
  factor) and the admin's mails (contact_admin, closure_request_admin, test_mail) are not member-facing;
  the code's messages are read from the member-facing modules in MEMBER_MODULES.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from services.auth import LOCKED_MESSAGE
from services.help import demo_faq
from services.org import OrgSettings
from services.templates import VIEWS_DIR

GLOSSARY = Path(__file__).resolve().parents[2].parent / "shared" / "GLOSSARY.md"
ADMIN_DIRS = ("admin", "setup", "mfa")
ADMIN_MAILS = {"contact_admin", "closure_request_admin", "test_mail"}

# Phrases the glossary allows in its notes, with the reason.
EXTRA_ALLOWED = (
    "決済サービス",  # GLOSSARY: 決済 only in 決済サービス
    "ログインID（会員番号）",  # the login field's label: the ID is named with the member number, not alone
    "テスト決済",  # the sandbox's banner (go-live issue): marks a test payment, never shown with a real gateway
    "インターネット代金の支払い",  # the words a member says at the konbini counter, as the stores print them
    LOCKED_MESSAGE,  # the FAQ quotes the login screen's lock message exactly as shown (services/auth.py)
    "年度 年会費",  # GLOSSARY: 年会費 only inside a fee's name (2026年度 年会費)
)
# Words whose glossary row is about mails ("throw this mail away"): a screen may ask to delete a character
# or a saved condition.
MAIL_ONLY_WORDS = {"削除してください"}
# Not words that the glossary's own "not" column cannot give mechanically (its qualifier is English).
EXTRA_FORBIDDEN = (
    "会員種別の画面",  # GLOSSARY: 会員種別 is not the plan; the plan's screen is 「プラン・退会」
    "地域・国",  # GLOSSARY: テーマ (and 国・地域)
)
# English members may read, with the reason.
ENGLISH_ALLOWED = {
    "QR",  # QRコード: the printed code on the poster and the letter
    "URL",  # the mail's "open this URL" line and the help's link examples
    "PDF",  # receipts and letters are PDF files
    "ID",  # 会員番号（ログインID）, the guides' name
    "IME",  # the FAQ's 日本語入力（IME）: the name members see in their OS
    "Caps",  # Caps Lock: the key's name
    "Lock",
    "SMS",  # none today; the phone's own word if a screen ever mentions it
    "JCB",  # card brands as printed on the card
    "VISA",
    "Mastercard",
    "AMEX",
    "Diners",
    "Re",  # "Re:" of a reply's subject is the mail program's own marker
    "iPhone",  # the contact form's example of a good question names the phone as members call it
}

JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
JINJA_TAG = re.compile(r"\{%.*?%\}|\{\{.*?\}\}", re.S)
JINJA_STRING = re.compile(r"'([^'\n]*)'|\"([^\"\n]*)\"")
SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1>", re.S | re.I)
HTML_TAG = re.compile(r"<[^>]*>", re.S)
READABLE_ATTR = re.compile(r"\b(?:aria-label|placeholder|title|alt)=\"([^\"]*)\"")
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff01-\uff5e]")
ENGLISH_WORD = re.compile(r"(?<![\w@./:-])[A-Za-z][A-Za-z]+(?![\w@./-])")
PROSE_COLON = re.compile(r"[\u3040-\u30ff\u3400-\u9fff）]: ")


def glossary_rows() -> list[tuple[list[str], list[str]]]:
    """(use words, not words) per row of the glossary's table."""
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in {"thing", "---"} or set(cells[0]) <= {"-"}:
            continue
        rows.append((_words(cells[1]), _words(cells[2])))
    return rows


def _words(cell: str) -> list[str]:
    """The Japanese (or product) words of a cell, without the English notes and parentheticals."""
    cell = re.sub(r"\([^)]*\)", "", cell)  # half-width notes: (except …), (the guide's name)
    words = []
    for part in re.split(r",|/| or ", cell):
        part = re.sub(r"\{\{.*?\}\}", "", part).strip()
        # Drop trailing English qualifiers ("alone", "as the general word", "at first mention …").
        part = re.sub(r"\s+[a-z][a-z ,.…'’]*$", "", part).strip()
        if part and (JAPANESE.search(part) or re.fullmatch(r"[A-Z][A-Za-z]+(プラン)?", part)):
            words.append(part)
    return words


def allowed_phrases() -> list[str]:
    text = GLOSSARY.read_text(encoding="utf-8")
    fixed = re.findall(r"\(([^)]*)\), that name is kept", text.replace("\n", " "))
    phrases = [word for use, _ in glossary_rows() for word in use]
    phrases += [name.strip() for group in fixed for name in group.split(",")]
    return phrases + list(EXTRA_ALLOWED)


def forbidden_words() -> list[str]:
    """The "not" column; a word that is also in its own row's "use" column (会員種別 for the plan) is only
    wrong in one sense, which EXTRA_FORBIDDEN spells out."""
    words = {word for use, not_words in glossary_rows() for word in not_words if word not in use}
    return sorted(words | set(EXTRA_FORBIDDEN), key=len, reverse=True)


def readable_text(source: str) -> str:
    """What a member reads in a template: text outside the tags, Japanese string literals inside Jinja
    expressions (button labels, conditional wording) and readable attributes."""
    source = JINJA_COMMENT.sub(" ", source)
    literals = []
    for tag in JINJA_TAG.findall(source):
        for single, double in JINJA_STRING.findall(tag):
            literal = single or double
            if JAPANESE.search(literal):
                literals.append(literal)
    source = JINJA_TAG.sub(" ", source)
    source = SCRIPT_STYLE.sub(" ", source)
    attributes = READABLE_ATTR.findall(source)
    text = re.sub(r"&[a-z]+;", " ", HTML_TAG.sub(" ", source))
    return "\n".join([text, *literals, *attributes])


def member_templates() -> list[Path]:
    found = []
    for path in sorted(VIEWS_DIR.rglob("*")):
        if path.suffix not in {".html", ".txt"}:
            continue
        relative = path.relative_to(VIEWS_DIR)
        if relative.parts[0].startswith(ADMIN_DIRS):
            continue
        if relative.parts[0] == "mail" and path.stem in ADMIN_MAILS:
            continue
        found.append(path)
    return found


def faq_texts() -> list[tuple[str, str]]:
    app = SimpleNamespace(org=OrgSettings())
    texts = []
    for section, entries in demo_faq(app):  # type: ignore[arg-type]
        texts.append((f"FAQ section {section}", section))
        for question, answer, _link, label in entries:
            texts.append((f"FAQ {question}", f"{question}\n{answer}\n{label}"))
    return texts


def all_texts() -> list[tuple[str, str]]:
    texts = [
        (str(path.relative_to(VIEWS_DIR)), readable_text(path.read_text(encoding="utf-8")))
        for path in member_templates()
    ]
    return texts + faq_texts()


def violations(text: str, words: list[str], allowed: list[str]) -> list[str]:
    found = []
    for word in words:
        for match in re.finditer(re.escape(word), text):
            start = match.start()
            covered = False
            for phrase in allowed:
                if phrase == word or word not in phrase:
                    continue
                offset = phrase.find(word)
                while offset != -1:
                    if text[start - offset : start - offset + len(phrase)] == phrase:
                        covered = True
                        break
                    offset = phrase.find(word, offset + 1)
                if covered:
                    break
            if not covered:
                context = text[max(0, start - 12) : start + len(word) + 12].replace("\n", " ")
                found.append(f"{word!r} in …{context}…")
    return found


def test_the_glossary_is_read():
    words = forbidden_words()
    assert GLOSSARY.exists(), GLOSSARY
    for expected in ("ログインID", "お支払日", "日刊", "最近見た記事", "トピック", "Members", "あなた"):
        assert expected in words, (expected, words)
    assert "お支払い" in allowed_phrases() and "新着お知らせメール" in allowed_phrases()


def test_templates_and_faq_cover_what_members_read():
    names = {name for name, _ in all_texts()}
    assert "login/page.html" in names and "mail/password_reset.txt" in names
    assert "admin_members/page.html" not in names and "mail/contact_admin.txt" not in names
    assert any(name.startswith("FAQ ") for name in names)


@pytest.mark.parametrize(("name", "text"), all_texts(), ids=[name for name, _ in all_texts()])
def test_member_text_uses_the_glossary_words(name, text):
    assert violations(text, words_for(name), allowed_phrases()) == []


def words_for(name: str) -> list[str]:
    is_mail = name.startswith("mail/")
    return [word for word in forbidden_words() if is_mail or word not in MAIL_ONLY_WORDS]


# Modules whose Japanese strings members read (messages, labels, subjects, PDF text). Admin-only modules
# (fees, admin_*, doctor, setup, member_import, demo data) are left out.
MEMBER_MODULES = (
    "account_closure",
    "articles",
    "charset",
    "contact",
    "digests",
    "help",
    "japanese",
    "letters",
    "membership",
    "password_flow",
    "password_policy",
    "payment_config",
    "payment_flow",
    "payments/states",
    "perks",
    "profile",
    "profile_check",
    "receipts",
    "signup",
)


def module_strings() -> list[tuple[str, str]]:
    found = []
    services = VIEWS_DIR.parent / "services"
    for module in MEMBER_MODULES:
        package = services / module
        paths = sorted(package.glob("*.py")) if package.is_dir() else [services / f"{module}.py"]
        assert paths and all(path.exists() for path in paths), module
        for path in paths:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and JAPANESE.search(node.value)
                ):
                    found.append((f"{path.relative_to(services.parent)}:{node.lineno}", node.value))
    return found


def test_member_facing_messages_in_the_code_use_the_glossary_words():
    problems = [
        f"{where}: {found}"
        for where, text in module_strings()
        for found in violations(text, words_for(where), allowed_phrases())
    ]
    assert problems == []


@pytest.mark.parametrize(("name", "text"), all_texts(), ids=[name for name, _ in all_texts()])
def test_member_text_has_no_stray_english(name, text):
    words = {word for word in ENGLISH_WORD.findall(text) if word not in ENGLISH_ALLOWED}
    assert words == set()


@pytest.mark.parametrize(("name", "text"), all_texts(), ids=[name for name, _ in all_texts()])
def test_colons_after_japanese_are_full_width(name, text):
    assert PROSE_COLON.findall(text) == []


def test_the_check_catches_the_old_words():
    # The check itself: yesterday's wording fails it, today's passes.
    old = "お支払日：6月1日。お知らせメール（週刊）は Members プランの特典です。あなたの入力。"
    found = violations(old, forbidden_words(), allowed_phrases())
    assert any("お支払日" in item for item in found)
    assert any("'お知らせメール'" in item for item in found)
    assert any("週刊" in item for item in found) and any("Members" in item for item in found)
    assert any("あなた" in item for item in found)
    new = "お支払い日：6月1日。新着お知らせメール（毎週）は「有料会員」プランの特典です。会費の支払期限。決済サービス。"
    assert violations(new, forbidden_words(), allowed_phrases()) == []


@pytest.mark.parametrize(
    "path",
    [p for p in member_templates() if p.parent.name == "mail" and p.suffix == ".txt"],
    ids=lambda p: p.name,
)
def test_text_mails_break_lines_only_at_the_end_of_a_sentence(path):
    """A prose line of a text mail ends with 。 (or is a heading, a list item, a label：value line, a URL or a
    closing bracket); a line never breaks after 、 or in the middle of a sentence."""
    problems = []
    for line in JINJA_COMMENT.sub("", path.read_text(encoding="utf-8")).splitlines():
        text = re.sub(r"\{\{.*?\}\}", "X", re.sub(r"\{%.*?%\}", "", line)).strip()
        if not text or not JAPANESE.search(text) or text.startswith(("■", "・", "-", "（")):
            continue
        if (
            re.match(r"^\d+\.", text)
            or "：" in text
            or text.endswith(("。", "」", "）", "X", "様", "事務局", "----"))
        ):
            continue
        problems.append(line)
    assert problems == []
