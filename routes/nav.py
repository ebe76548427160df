"""The menus: one entry per screen, in the order people see them.

A new screen touches four places: its route module, `routes/registry.py`, these menus and its
`views/<screen>/` folder; see "Where things go" in the README's development section.
"""

from __future__ import annotations

from typing import NamedTuple


class NavItem(NamedTuple):
    path: str
    label: str


# A member screen's entry (README: Where things go).
MEMBER_NAV: list[NavItem] = [
    NavItem("/mypage", "マイページ"),
    NavItem("/articles", "記事一覧"),
    NavItem("/events", "イベント"),
    NavItem("/conditions", "新着条件"),
    NavItem("/bookmarks", "ブックマーク"),
    NavItem("/history", "閲覧履歴"),
    NavItem("/announcements", "事務局からのお知らせ"),
    NavItem("/profile", "会員情報"),
    NavItem("/settings/mail", "メール設定"),
    NavItem("/settings/membership", "プラン・退会"),
    NavItem("/payments", "会費のお支払い"),
    NavItem("/card", "会員証"),
    NavItem("/settings/connections", "連携中のサービス"),
    NavItem("/inquiries", "お問い合わせ履歴"),
    NavItem("/settings/security", "ログインとセキュリティ"),
    NavItem("/settings/data", "登録情報のダウンロード"),
]

# The phone's bottom tab bar: these four, then メニュー (MENU_ITEM), whose page lists every MEMBER_NAV
# entry. New screens go in MEMBER_NAV only: they appear under メニュー without touching the tabs.
TAB_NAV: list[NavItem] = [
    NavItem("/mypage", "マイページ"),
    NavItem("/articles", "記事"),
    NavItem("/bookmarks", "ブックマーク"),
    NavItem("/payments", "お支払い"),
]
MENU_ITEM = NavItem("/menu", "メニュー")


def is_current(item_path: str, current_path: str) -> bool:
    """Whether a menu entry is the place the member is at (its own screen or one below it)."""
    if item_path == "/mypage":
        return current_path in ("/mypage", "/mypage/")
    return current_path == item_path or current_path.startswith(item_path.rstrip("/") + "/")


class Tab(NamedTuple):
    path: str
    label: str
    # aria-current: "page" on the tab of the screen shown; "true" on メニュー for a screen listed under it.
    current: str | None


def member_tabs(current_path: str) -> list[Tab]:
    tabs = [
        Tab(item.path, item.label, "page" if is_current(item.path, current_path) else None)
        for item in TAB_NAV
    ]
    menu_current: str | None = None
    if is_current(MENU_ITEM.path, current_path):
        menu_current = "page"
    elif not any(tab.current for tab in tabs) and any(
        is_current(item.path, current_path) for item in MEMBER_NAV
    ):
        menu_current = "true"
    return [*tabs, Tab(MENU_ITEM.path, MENU_ITEM.label, menu_current)]


# An admin screen's entry (README: Where things go).
ADMIN_NAV: list[NavItem] = [
    NavItem("/admin", "ダッシュボード"),
    NavItem("/admin/members", "会員"),
    NavItem("/admin/import", "CSV取り込み"),
    NavItem("/admin/letters", "初期パスワード通知"),
    NavItem("/admin/articles", "記事"),
    NavItem("/admin/events", "イベント"),
    NavItem("/admin/taxonomies", "分類"),
    NavItem("/admin/feeds", "フィード取り込み"),
    NavItem("/admin/digests", "新着お知らせメール"),
    NavItem("/admin/announcements", "事務局からのお知らせ"),
    NavItem("/admin/tiers", "プラン"),
    NavItem("/admin/codes", "参加コード"),
    NavItem("/admin/closures", "退会手続き"),
    NavItem("/admin/fees", "会費"),
    NavItem("/admin/payments", "入金状況"),
    NavItem("/admin/inbox", "問い合わせ"),
    NavItem("/admin/stats", "統計"),
    NavItem("/admin/help", "ヘルプ編集"),
    NavItem("/admin/settings", "設定"),
    NavItem("/admin/app", "アプリとロゴ"),
    NavItem("/admin/connect", "外部サービス連携"),
    NavItem("/admin/staff", "管理者・スタッフ"),
    NavItem("/admin/audit", "監査ログ"),
    NavItem("/admin/backup", "バックアップ"),
    NavItem("/admin/security", "セキュリティ"),
]
