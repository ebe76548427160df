"""The help pages (よくあるご質問): search normalization, the admin's edit rules and the demo FAQ."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from markupsafe import escape

from db import help as help_queries
from services.auth import LOCKED_MESSAGE
from services.context import AppContext
from services.markdown import render_markdown

QUESTION_MAX = 200
ANSWER_MAX = 20_000
TITLE_MAX = 100
LINK_PATH_MAX = 300
LINK_LABEL_MAX = 60
DEFAULT_LINK_LABEL = "この画面を開く"
_SPACES = re.compile(r"\s+")
# Written in an answer, replaced on display by the address mail really comes from (the setting can change).
SENDER_MARKER = "{送信元アドレス}"
# Written in an answer, replaced on display by the paid tier as members read it (「有料会員」プラン).
PLAN_MARKER = "{プラン名}"


def normalize_search(text: str) -> str:
    """What both the page's search box (static/js/help.js does the same) and the no-JS search compare:
    NFKC (full-width letters, half-width kana), lower case, hiragana as katakana, single spaces."""
    normalized = unicodedata.normalize("NFKC", text).lower()
    katakana = "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in normalized)
    return _SPACES.sub(" ", katakana).strip()


def matches(search_text: str, query: str) -> bool:
    """Every word of the query appears somewhere in the entry."""
    words = normalize_search(query).split(" ")
    return all(word in search_text for word in words if word)


def fill_markers(text: str, sender: str = "", plan: str = "", *, html: bool = False) -> str:
    """An answer or question with {送信元アドレス} and {プラン名} filled in (escaped for HTML)."""
    for marker, value in ((SENDER_MARKER, sender), (PLAN_MARKER, plan)):
        if value:
            text = text.replace(marker, str(escape(value)) if html else value)
    return text


@dataclass(frozen=True)
class HelpItem:
    entry: sqlite3.Row
    visible: bool
    sender: str = ""
    plan: str = ""
    search_text: str = ""  # the stored search text with the plan's name in place of its marker

    @property
    def answer_html(self) -> str:
        """The stored (sanitized) answer with the markers filled in, escaped."""
        return fill_markers(str(self.entry["answer_html"]), self.sender, self.plan, html=True)

    @property
    def question(self) -> str:
        return fill_markers(str(self.entry["question"]), self.sender, self.plan)


@dataclass
class HelpSection:
    id: int
    title: str
    items: list[HelpItem] = field(default_factory=list)

    @property
    def visible(self) -> bool:
        return any(item.visible for item in self.items)


def group(
    sections: list[sqlite3.Row],
    entries: list[sqlite3.Row],
    *,
    query: str = "",
    sender: str = "",
    plan: str = "",
) -> list[HelpSection]:
    """Sections with all their entries, each marked visible when it matches the query. The page keeps the
    hidden ones (with the hidden attribute) so the search box can bring them back without a reload."""
    grouped = {int(row["id"]): HelpSection(int(row["id"]), str(row["title"])) for row in sections}
    searching = bool(normalize_search(query))
    for entry in entries:
        section = grouped.get(int(entry["section_id"]))
        if section is not None:
            search_text = str(entry["search_text"])
            if plan:  # the stored text has the marker; a member searches with the plan's name
                search_text = search_text.replace(normalize_search(PLAN_MARKER), normalize_search(plan))
            visible = not searching or matches(search_text, query)
            section.items.append(HelpItem(entry, visible, sender, plan, search_text))
    return [section for section in grouped.values() if section.items]


# ---------------------------------------------------------------- the admin's edits


def _clean(value: str) -> str:
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) not in {"Cc", "Cs"}).strip()


def _sort_order(raw: str, errors: dict[str, str]) -> int:
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        errors["sort_order"] = "表示順は半角の整数で入力してください（例：10）。"
        return 0
    if not -100_000 <= value <= 100_000:
        errors["sort_order"] = "表示順は -100000 から 100000 までの整数で入力してください。"
        return 0
    return value


def check_section(raw: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    title = _clean(raw.get("title", ""))
    if not title:
        errors["title"] = "見出しを入力してください。"
    elif len(title) > TITLE_MAX:
        errors["title"] = f"見出しは{TITLE_MAX}文字以内で入力してください。"
    return {"title": title, "sort_order": _sort_order(raw.get("sort_order", ""), errors)}, errors


def is_safe_link(path: str) -> bool:
    """Only same-site paths: the answer points at a screen of this portal."""
    return (
        path.startswith("/")
        and not path.startswith("//")
        and "\\" not in path
        and len(path) <= LINK_PATH_MAX
        and not any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in path)
    )


def check_entry(raw: dict[str, str], section_ids: set[int]) -> tuple[dict[str, Any], dict[str, str]]:
    """Values ready to store (answer rendered and sanitized, search text built) and errors per field."""
    errors: dict[str, str] = {}
    try:
        section_id = int(raw.get("section_id", ""))
    except ValueError:
        section_id = 0
    if section_id not in section_ids:
        errors["section_id"] = "見出し（セクション）を選んでください。"
    question = _clean(raw.get("question", ""))
    if not question:
        errors["question"] = "質問を入力してください。"
    elif len(question) > QUESTION_MAX:
        errors["question"] = f"質問は{QUESTION_MAX}文字以内で入力してください。"
    answer = _clean(raw.get("answer_md", ""))
    if not answer:
        errors["answer_md"] = "回答を入力してください。"
    elif len(answer) > ANSWER_MAX:
        errors["answer_md"] = f"回答は{ANSWER_MAX}文字以内で入力してください（現在{len(answer)}文字）。"
    link_path = _clean(raw.get("link_path", ""))
    link_label = _clean(raw.get("link_label", ""))
    if link_path and not is_safe_link(link_path):
        errors["link_path"] = (
            "リンク先は「/settings/mail」のように、/ で始まるこのサイト内のパスで入力してください。"
        )
    if link_label and not link_path:
        errors["link_path"] = "ボタンの文言を入れる場合は、リンク先も入力してください。"
    if len(link_label) > LINK_LABEL_MAX:
        errors["link_label"] = f"ボタンの文言は{LINK_LABEL_MAX}文字以内で入力してください。"
    values: dict[str, Any] = {
        "section_id": section_id,
        "question": question,
        "answer_md": answer,
        "answer_html": render_markdown(answer),
        "link_path": link_path,
        "link_label": (link_label or DEFAULT_LINK_LABEL) if link_path else "",
        "search_text": normalize_search(f"{question} {answer}"),
        "published": raw.get("published", "") in {"1", "on", "true"},
        "sort_order": _sort_order(raw.get("sort_order", ""), errors),
    }
    return values, errors


# ---------------------------------------------------------------- demo content


def demo_faq(app: AppContext) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """The common questions from the member guides: (section, [(question, answer, link, label)]).
    The paid plan is written as {PLAN_MARKER} and filled in on display, so renaming the tier in the
    console cannot leave the FAQ with the old name."""
    org = app.org
    lock_time = (
        f"{org.lockout_minutes // 60}時間" if org.lockout_minutes % 60 == 0 else f"{org.lockout_minutes}分"
    )
    idle_time = f"{org.idle_minutes // 60}時間" if org.idle_minutes % 60 == 0 else f"{org.idle_minutes}分"
    days = org.remember_days
    plan = PLAN_MARKER
    return [
        (
            "ご利用について",
            [
                (
                    "マイページの利用に料金はかかりますか？",
                    "マイページは **無料** でご利用いただけます。会員情報の確認・変更、新着記事の閲覧、"
                    "新着お知らせメール（毎週）の受け取りに追加の料金はかかりません。\n\n"
                    f"毎日の新着お知らせメールやイベント情報などは、**{plan}** の特典です。"
                    "ご自分のプランは「プラン・退会」の画面で確認できます。",
                    "/settings/membership",
                    "プラン・退会の画面を開く",
                ),
            ],
        ),
        (
            "ログイン",
            [
                (
                    "ログインできません。",
                    "次の点をご確認ください。\n\n"
                    "1. **会員番号（ログインID）** は、先頭の「0」も含めて入力してください（例：`001234`）。\n"
                    "2. パスワードは **大文字と小文字を区別** します。Caps Lock がオンになっていないかご確認ください。\n"
                    "3. 日本語入力（IME）がオンのままだと全角で入力されます。半角英数字で入力してください。\n\n"
                    "それでもログインできない場合は、パスワードを再設定してください。"
                    "お問い合わせの際は、入力した会員番号と、画面に表示されたメッセージをお知らせください。",
                    "/password/forgot",
                    "パスワードを再設定する",
                ),
                (
                    f"「{LOCKED_MESSAGE}」と表示されました。",
                    f"パスワードを **{org.lockout_threshold}回** 続けて間違えると、安全のため"
                    f" **{lock_time}** ログインできなくなります。画面に表示された時刻を過ぎると、自動でログインできるようになります。\n\n"
                    "すぐにご利用になりたい場合は、パスワードを再設定してください。再設定するとすぐにログインできます。"
                    "このとき、登録メールアドレスに再設定用のご案内をお送りしています。",
                    "/password/forgot",
                    "パスワードを再設定する",
                ),
                (
                    "「次回から自動ログインする」を選ぶと、いつまでログインしたままになりますか？",
                    f"最後にご利用になった日から **{days}日間** ログインしたままになります。"
                    f"期間中にご利用になるたびに、その日から{days}日間に延長されます。\n\n"
                    "共用のパソコンではチェックを入れずにログインし、使い終わったら「ログアウト」を押してください。",
                    "/login",
                    "ログイン画面を開く",
                ),
                (
                    "操作していないのにログアウトされました。",
                    "「次回から自動ログインする」を選ばずにログインした場合、安全のため"
                    f" **{idle_time}** 操作がないと自動的にログアウトされます。ブラウザを閉じたときもログアウトされます。\n\n"
                    "毎回のログインを省きたい場合は、ご自分のスマートフォンやパソコンで、"
                    "ログイン画面の「次回から自動ログインする」にチェックを入れてください。",
                    "/login",
                    "ログイン画面を開く",
                ),
            ],
        ),
        (
            "新着記事・閲覧履歴",
            [
                (
                    "新着記事には、いつからの記事が何件表示されますか？",
                    "公開から **14日以内** の記事が、登録した新着条件ごとに **最大30件** まで新しい順に表示されます。"
                    "新着条件（国・地域とテーマ）は10件まで登録できます。\n\n"
                    "表示される記事が少ないときは、新着条件の国・地域やテーマを広げてみてください。",
                    "/conditions",
                    "新着条件の設定を開く",
                ),
                (
                    "「閲覧履歴」に何も表示されません。",
                    "「閲覧履歴」には、ログインした状態で開いた **記事のページ** が、新しい順に最大50件表示されます。"
                    "一覧や検索結果のページは記録されません。\n\n"
                    "ログインせずに記事を見た場合や、まだ記事を開いていない場合は何も表示されません。",
                    "/history",
                    "閲覧履歴を開く",
                ),
            ],
        ),
        (
            "新着お知らせメール",
            [
                (
                    "新着お知らせメールが届きません。",
                    "次の点をご確認ください。\n\n"
                    "1. メール設定が「受け取らない」になっていないか。\n"
                    "2. 登録した新着条件に合う新着記事があったか（該当する記事がないときはメールをお送りしません）。\n"
                    f"3. 迷惑メールフォルダに振り分けられていないか。送信元 **{SENDER_MARKER}** からのメールを"
                    "受信できるよう設定してください（パスワード再設定などのメールも同じアドレスから届きます）。\n"
                    "4. 登録メールアドレスが正しいか（会員情報の画面で確認できます）。",
                    "/settings/mail",
                    "メール設定を開く",
                ),
                (
                    "新着お知らせメールを毎日受け取れますか？",
                    f"**毎日** の配信は、**{plan}** の特典です。{plan}の方は、"
                    "メール設定で「毎日」を選べます。前日に公開された記事のうち、新着条件に合うものをお知らせします。\n\n"
                    "それ以外の方には **毎週（水曜日）** お届けします。",
                    "/settings/mail",
                    "メール設定を開く",
                ),
                (
                    "新着お知らせメールが届く曜日を変えられますか？",
                    "毎週の新着お知らせメールは **水曜日** にお送りしています"
                    "（前の週の水曜日から火曜日までに公開された記事が対象です）。曜日は変更できません。\n\n"
                    f"毎日受け取りたい場合は、{plan}にご参加のうえ、メール設定で「毎日」を選んでください。",
                    "/settings/mail",
                    "メール設定を開く",
                ),
                (
                    "新着お知らせメールを止めたいです。",
                    "メール設定で「受け取らない」を選んで保存してください。"
                    "新着お知らせメールの末尾にある「配信を停止する」のリンクからも停止できます。\n\n"
                    "会費やお手続きに関する大切なご連絡は、この設定にかかわらずお送りします。",
                    "/settings/mail",
                    "メール設定を開く",
                ),
            ],
        ),
        (
            "プラン",
            [
                (
                    f"{plan}の特典は何ですか？",
                    f"{plan}では、次の特典をご利用いただけます。\n\n"
                    "- 新着お知らせメールの **毎日** の配信\n"
                    "- **イベント情報** の閲覧\n"
                    "- **会員限定記事** の閲覧",
                    "/settings/membership",
                    "プラン・退会の画面を開く",
                ),
                (
                    f"{plan}に参加するには？",
                    "所属団体やキャンペーンでお知らせしている **参加コード** を、「プラン・退会」の画面で入力してください。"
                    f"入力したその場で{plan}に切り替わります。今のプランを解約して申し込み直す必要はありません。\n\n"
                    "参加コードがわからない場合は、所属団体のご担当者か事務局にお問い合わせください。",
                    "/settings/membership",
                    "参加コードを入力する",
                ),
            ],
        ),
        (
            "退会",
            [
                (
                    "退会したいです。",
                    "マイページの「プラン・退会」の画面で「退会を申し出る」を押し、内容を確認してお申し出ください。"
                    "事務局で確認のうえ手続きを行い、完了をメールでお知らせします。\n\n"
                    "退会すると会員情報は削除され、マイページにはログインできなくなります。"
                    "会費のお支払い記録は、法令に基づき保存します。"
                    "ログインできない場合は、お問い合わせフォームでお名前と会員番号をお知らせください。",
                    "/settings/membership/leave",
                    "退会を申し出る",
                ),
            ],
        ),
    ]


async def paid_plan(app: AppContext) -> str:
    """The paid tier as members read it (「有料会員」プラン), for the FAQ's {プラン名}."""
    from db import tiers as tier_queries
    from services.templates import plan_label

    for row in await tier_queries.all_tiers(app.db):
        if row["is_paid"]:
            return plan_label(str(row["name"]))
    return ""


async def seed_demo_help(app: AppContext) -> None:
    """Demo step: the FAQ from the member guides, once (an edited or emptied help stays as the admin left it)."""
    if await help_queries.count_sections(app.db) > 0:
        return
    now = app.clock.now()
    for section_index, (title, entries) in enumerate(demo_faq(app), start=1):
        section_id = await help_queries.create_section(
            app.db, title=title, sort_order=section_index * 10, now=now
        )
        for entry_index, (question, answer, link_path, link_label) in enumerate(entries, start=1):
            values, errors = check_entry(
                {
                    "section_id": str(section_id),
                    "question": question,
                    "answer_md": answer,
                    "link_path": link_path,
                    "link_label": link_label,
                    "published": "1",
                    "sort_order": str(entry_index * 10),
                },
                {section_id},
            )
            assert not errors, errors
            await help_queries.create_entry(
                app.db,
                section_id=section_id,
                values=values,
                published=True,
                sort_order=entry_index * 10,
                now=now,
            )
