"""The audit log in the office's words: each event's Japanese name and its detail as a readable line
(「会費「2026年度 年会費」（会員 001001）」, not `fee_id=8`). Ids in a detail are resolved by the caller in one
query per kind (`References`); an event or key not listed here still shows, under its own name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.fees import FEE_STATUS_LABELS, PAID_METHOD_LABELS
from services.profile import LABELS as PROFILE_LABELS

EVENT_LABELS: dict[str, str] = {
    "login.ok": "ログイン",
    "login.failed": "ログイン失敗",
    "login.refused_locked": "ロック中のログイン",
    "login.throttled": "ログインの試行が多すぎるため拒否",
    "logout": "ログアウト",
    "account.locked": "アカウントのロック",
    "account.unlocked": "ロックの解除",
    "account.closed": "退会の手続き",
    "admin.mfa_ok": "二段階認証",
    "admin.mfa_failed": "二段階認証の失敗",
    "admin.mfa_enrolled": "二段階認証の登録",
    "admin.mfa_reset": "二段階認証の登録解除",
    "admin.recovery_codes_renewed": "リカバリーコードの再発行",
    "console.account_created": "管理者・スタッフの追加",
    "console.account_removed": "管理者・スタッフの削除",
    "member.created": "会員の登録",
    "member.updated": "会員情報の変更（管理画面）",
    "members.exported": "会員CSVの書き出し",
    "members.imported": "会員CSVの取り込み",
    "members.labels_made": "宛名ラベルの作成",
    "member_number.reminder_sent": "会員番号のお知らせメール",
    "password.initial_set": "初期パスワードの発行",
    "password.letter_made": "初期パスワード通知書の作成",
    "letters.made": "初期パスワード通知書の作成",
    "password.changed": "パスワードの変更",
    "password.reset": "パスワードの再設定",
    "password.reset_requested": "パスワード再設定の申し込み",
    "password.expiry_postponed": "パスワード変更の延期",
    "settings.updated": "設定の変更",
    "mail.test_sent": "テストメールの送信",
    "backup.downloaded": "バックアップのダウンロード",
    "setup.completed": "初期設定",
    "signup.requested": "会員登録の申し込み",
    "signup.completed": "会員登録の完了",
    "signup.duplicate_email": "登録済みアドレスでの会員登録の申し込み",
    "closure.requested": "退会の申し出",
    "closure.withdrawn": "退会の申し出の取り下げ",
    "tier.code_redeemed": "参加コードの利用",
    "tier.code_created": "参加コードの作成",
    "tier.updated": "プランの変更（設定）",
    "tier.granted": "プランの付与",
    "payment.attempt_created": "お支払い手続きの開始",
    "payment.attempt_cancelled": "お支払い手続きの取り消し",
    "payment.link_expired": "お支払いページの期限切れ",
    "payment.needs_attention": "お支払いの要確認",
    "payment.state_changed": "お支払い状況の変化",
    "payment.marked_paid_bank_transfer": "銀行振込の入金記録",
    "payment.receipt_downloaded": "領収書のダウンロード",
    "digest.frequency_changed": "お知らせメールの頻度の変更",
    "digest.unsubscribed": "お知らせメールの配信停止",
    "digest.address_flagged": "届かないアドレスの記録",
    "digest.bounce_flag_cleared": "届かないアドレスの記録の解除",
    "digest.fell_back_to_weekly": "お知らせメールを週1回に戻した",
    "inquiry_reply": "お問い合わせへの返信",
    "inquiry_status": "お問い合わせの状態の変更",
    "help_section_created": "ヘルプの見出しの追加",
    "help_section_updated": "ヘルプの見出しの変更",
    "help_section_deleted": "ヘルプの見出しの削除",
    "help_entry_created": "ヘルプの項目の追加",
    "help_entry_updated": "ヘルプの項目の変更",
    "help_entry_deleted": "ヘルプの項目の削除",
    "article.created": "記事・イベントの作成",
    "article.updated": "記事・イベントの保存",
    "article.status_changed": "記事・イベントの公開状態の変更",
}

KEY_LABELS: dict[str, str] = {
    "count": "件数",
    "bytes": "サイズ（バイト）",
    "fields": "変更した項目",
    "changed": "変更",
    "method": "方法",
    "role": "役割",
    "layout": "用紙",
    "without_address": "住所がなく除いた人数",
    "generated_passwords": "自動作成した初期パスワード",
    "reason": "理由",
    "outcome": "結果",
    "from": "変更前",
    "to": "変更後",
    "status": "状態",
    "title": "題名",
    "kind": "種類",
    "tier": "プラン",
    "ends_on": "終了日",
    "source": "経路",
    "frequency": "頻度",
    "mailed": "メール送信",
    "mail_sent": "メール送信",
    "one_click": "ワンクリック",
    "ok": "結果",
    "answer": "サーバーの応答",
    "smtp": "送信サーバー",
    "paid_on": "入金日",
    "note": "メモ",
    "receipt_number": "領収書番号",
    "code": "コード",
    "name": "名称",
    "via": "経路",
    "error": "エラー",
    "member_number": "会員番号",
    "by": "照会の方法",
    "email_change_requested": "メールアドレス変更の申し込み",
    "request_id": "申し込み番号",
}

VALUE_WORDS: dict[str, str] = {
    **PAID_METHOD_LABELS,
    **FEE_STATUS_LABELS,
    "staff": "事務局スタッフ",
    "admin": "管理者",
    "article": "記事",
    "event": "イベント",
    "published": "公開",
    "draft": "下書き",
    "archived": "非公開",
    "weekly": "週1回",
    "daily": "毎日",
    "none": "受け取らない",
    "recovery": "リカバリーコード",
    "totp": "認証アプリ",
    "new": "未対応",
    "open": "対応中",
    "closed": "完了",
}

# Keys that only point at a row: shown through References instead of as a number.
_ID_KEYS = {
    "fee_id",
    "attempt_id",
    "article_id",
    "inquiry_id",
    "section_id",
    "entry_id",
    "code_id",
    "tier_id",
}


@dataclass
class References:
    """Names for the ids the details on one page mention, looked up in one query per kind."""

    fees: dict[int, str] = field(default_factory=dict)
    field_labels: Mapping[str, str] = field(default_factory=dict)


def _word(value: Any) -> str:
    if value is True:
        return "あり"
    if value is False:
        return "なし"
    if value is None:
        return "なし"
    text = str(value)
    return VALUE_WORDS.get(text, text)


def _field(name: str, refs: References) -> str:
    return PROFILE_LABELS.get(name) or refs.field_labels.get(name) or name


def fee_ids(detail: Mapping[str, Any]) -> list[int]:
    value = detail.get("fee_id")
    return [value] if isinstance(value, int) else []


def describe(event: str, detail: Mapping[str, Any], refs: References) -> str:
    """The detail as one readable Japanese line (at most 500 characters)."""
    parts: list[str] = []
    fee_id = detail.get("fee_id")
    if isinstance(fee_id, int):
        parts.append(refs.fees.get(fee_id, f"会費（番号 {fee_id}）"))
    if "attempt_id" in detail:
        parts.append(f"お支払い手続き 番号 {detail['attempt_id']}")
    if "inquiry_id" in detail:
        parts.append(f"お問い合わせ 番号 {detail['inquiry_id']}")
    if "title" in detail and event.startswith(("article.", "help_")):
        kind = _word(detail.get("kind", "")) if detail.get("kind") else ""
        parts.append(f"{kind}「{detail['title']}」")
    for key, value in detail.items():
        if key in _ID_KEYS or (key == "title" and event.startswith(("article.", "help_"))):
            continue
        if key == "kind" and event.startswith("article."):
            continue
        label = KEY_LABELS.get(key, key)
        if key == "fields" and isinstance(value, list):
            text = "、".join(_field(str(name), refs) for name in value)
        elif isinstance(value, dict):
            text = "、".join(
                f"{_field(str(name), refs)}: {_word(change[0])} → {_word(change[1])}"
                if isinstance(change, list) and len(change) == 2
                else f"{_field(str(name), refs)}: {_word(change)}"
                for name, change in value.items()
            )
        elif isinstance(value, list):
            text = "、".join(_word(item) for item in value)
        elif key == "layout":
            text = f"A4 {value}面"
        else:
            text = _word(value)
        parts.append(f"{label}: {text}")
    return "・".join(parts)[:500]
