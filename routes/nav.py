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
    NavItem("/conditions", "新着条件"),
    NavItem("/bookmarks", "ブックマーク"),
    NavItem("/history", "閲覧履歴"),
    NavItem("/profile", "会員情報"),
    NavItem("/settings/mail", "メール設定"),
    NavItem("/settings/membership", "プラン・退会"),
    NavItem("/payments", "会費のお支払い"),
    NavItem("/settings/security", "ログインとセキュリティ"),
    NavItem("/settings/data", "登録情報のダウンロード"),
]

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
    NavItem("/admin/digests", "お知らせメール"),
    NavItem("/admin/tiers", "プラン"),
    NavItem("/admin/codes", "参加コード"),
    NavItem("/admin/closures", "退会手続き"),
    NavItem("/admin/fees", "会費"),
    NavItem("/admin/payments", "入金状況"),
    NavItem("/admin/inbox", "問い合わせ"),
    NavItem("/admin/help", "ヘルプ編集"),
    NavItem("/admin/settings", "設定"),
    NavItem("/admin/audit", "監査ログ"),
    NavItem("/admin/backup", "バックアップ"),
    NavItem("/admin/security", "セキュリティ"),
]
