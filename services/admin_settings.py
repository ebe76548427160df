"""The organization settings the admin edits: each field's rule, validation, and the audited save."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from urllib.parse import urlsplit

from db import audit
from services.charset import CHARSET_CHOICES, check_text
from services.context import AppContext
from services.japanese import normalize_email
from services.mailer import MailError, SmtpTransport
from services.org import OrgSettings


@dataclass(frozen=True)
class SettingField:
    name: str
    label: str
    kind: str  # text, email, url, int, bool, choice
    group: str
    hint: str = ""
    minimum: int = 0
    maximum: int = 0
    max_length: int = 200
    choices: tuple[tuple[str, str], ...] = ()
    required: bool = False


GROUPS = (
    "団体",
    "メールの送信元",
    "ログインとパスワード",
    "会員情報",
    "会員登録とお支払い",
    "会費の督促メール",
    "新着お知らせメール",
)

FIELDS: tuple[SettingField, ...] = (
    SettingField(
        "org_name",
        "団体名",
        "text",
        "団体",
        "画面・メール・通知書・領収書に表示します。",
        max_length=100,
        required=True,
    ),
    SettingField(
        "org_short_name",
        "略称",
        "text",
        "団体",
        "メールの件名の【】に表示します（例：集い会）。空欄なら団体名を使います。長い正式名称の団体は設定すると、スマートフォンでも件名が読みやすくなります。",
        max_length=20,
    ),
    SettingField(
        "terms_url",
        "会員規約のURL",
        "text",
        "団体",
        "会員登録の同意欄からリンクします（例：https://example.jp/kiyaku.pdf）。空欄なら登録画面の「内容を読む」にリンクします。",
        max_length=300,
    ),
    SettingField(
        "org_address", "所在地", "text", "団体", "領収書とメールの署名に表示します。", max_length=200
    ),
    SettingField(
        "org_phone",
        "電話番号",
        "text",
        "団体",
        "初期パスワードの通知書に、ログインできないときの問い合わせ先として表示します（例：03-1234-5678）。",
        max_length=30,
    ),
    SettingField(
        "contact_email",
        "連絡先メールアドレス",
        "email",
        "団体",
        "お問い合わせの通知先で、会員へのメールにも表示します。",
        required=True,
    ),
    SettingField(
        "mail_from_name",
        "送信者名",
        "text",
        "メールの送信元",
        "会員へのメールの差出人名。空欄なら団体名を使います。",
        max_length=60,
    ),
    SettingField(
        "mail_from_address",
        "送信元メールアドレス",
        "email",
        "メールの送信元",
        "会員へのメールの差出人アドレス（例：no-reply@example.jp）。送信サーバーが送信を認める、団体のドメインのアドレスにします。"
        "会員が返信すると連絡先メールアドレスに届きます。",
    ),
    SettingField(
        "base_url",
        "公開URL",
        "url",
        "団体",
        "会員がアクセスするURL（例：https://portal.example.jp）。メールのリンク、QRコード、通知書に使います。",
        max_length=200,
        required=True,
    ),
    SettingField(
        "invoice_number",
        "適格請求書発行事業者の登録番号",
        "text",
        "団体",
        "T と13桁の数字（例：T1234567890123）。登録していない場合は空欄にします。",
        max_length=20,
    ),
    SettingField(
        "lockout_threshold",
        "ロックまでの失敗回数",
        "int",
        "ログインとパスワード",
        "この回数続けてパスワードを間違えるとロックします。",
        3,
        20,
    ),
    SettingField(
        "lockout_minutes",
        "ロックする時間（分）",
        "int",
        "ログインとパスワード",
        "会員の手引きでは120分です。",
        5,
        1440,
    ),
    SettingField(
        "remember_days",
        "自動ログインの期間（日）",
        "int",
        "ログインとパスワード",
        "「次回から自動ログインする」の有効期間。使うたびに延長します。",
        1,
        365,
    ),
    SettingField(
        "remember_absolute_days",
        "自動ログインの上限（日）",
        "int",
        "ログインとパスワード",
        "延長しても、ログインからこの日数で終わります。0 は上限なし。",
        0,
        3650,
    ),
    SettingField(
        "idle_minutes",
        "操作がないときのログアウト（分）",
        "int",
        "ログインとパスワード",
        "自動ログインを使わない場合。",
        5,
        1440,
    ),
    SettingField(
        "password_preset",
        "パスワードの規則",
        "choice",
        "ログインとパスワード",
        "「会員の手引き」: 8〜20文字、英大文字と数字を含む、有効期限あり。「NIST」: 8〜64文字、どの文字でも可、有効期限なし。",
        choices=(("guide", "会員の手引き（標準）"), ("modern", "NIST SP 800-63B-4")),
    ),
    SettingField("password_min_length", "パスワードの最小文字数", "int", "ログインとパスワード", "", 8, 64),
    SettingField(
        "password_max_length",
        "パスワードの最大文字数",
        "int",
        "ログインとパスワード",
        "「NIST」では64文字以上になります。",
        8,
        128,
    ),
    SettingField(
        "password_history", "再利用できない過去のパスワード数", "int", "ログインとパスワード", "", 0, 24
    ),
    SettingField(
        "password_expiry_days",
        "パスワードの有効期限（日）",
        "int",
        "ログインとパスワード",
        "0 は期限なし。「NIST」では使いません。",
        0,
        3650,
    ),
    SettingField(
        "member_number_width",
        "会員番号の桁数",
        "int",
        "ログインとパスワード",
        "新しい会員番号をこの桁数まで0で埋めます（例：6 → 000123）。",
        1,
        20,
    ),
    SettingField(
        "name_charset",
        "氏名・住所に使える文字",
        "choice",
        "会員情報",
        "「会員の手引き」: JIS X 0208 の文字だけ（髙・﨑 などは 高・崎 で登録します）。"
        "「JIS X 0213」: 髙・﨑・𠮷 など氏名の異体字も登録できます。どちらでも ①・㈱・絵文字・外字は使えません。",
        choices=CHARSET_CHOICES,
    ),
    SettingField(
        "member_number_length",
        "会員番号の固定桁数（取り込み）",
        "int",
        "会員情報",
        "会員番号がすべて同じ桁数のときに指定します。ファイルの取り込みで、Excel が先頭の0を消した番号（103）を"
        "この桁数まで0で埋めます（000103）。0 は指定なし：登録済みの会員番号がすべて同じ桁数なら、その桁数で埋めます。",
        0,
        20,
    ),
    SettingField("signup_enabled", "会員登録（自己申込）を受け付ける", "bool", "会員登録とお支払い"),
    SettingField("payment_card_enabled", "クレジットカード払い", "bool", "会員登録とお支払い"),
    SettingField("payment_konbini_enabled", "コンビニ払い", "bool", "会員登録とお支払い"),
    SettingField(
        "fiscal_year_start_month",
        "年度の始まりの月",
        "int",
        "会員登録とお支払い",
        "会費の年度と統計の年度別の集計は、この月の1日から始まります（4 なら4月〜翌年3月）。",
        1,
        12,
    ),
    SettingField(
        "reminder_days_before",
        "会費の支払期限の何日前に送るか",
        "int",
        "会費の督促メール",
        "お支払いがまだの会員に、会費の支払期限のこの日数前にお知らせします（0なら送りません）。",
        0,
        60,
    ),
    SettingField("reminder_on_due_date", "会費の支払期限の当日に送る", "bool", "会費の督促メール"),
    SettingField(
        "reminder_days_after",
        "会費の支払期限の何日後に送るか",
        "int",
        "会費の督促メール",
        "期限を過ぎてもお支払いがない会員に、この日数後にお知らせします（0なら送りません）。",
        0,
        90,
    ),
    SettingField(
        "reminder_konbini",
        "コンビニでのお支払い期限の前日に送る",
        "bool",
        "会費の督促メール",
        "コンビニ払いを選んでまだお支払いのない会員に、前日にお知らせします。",
    ),
    SettingField(
        "weekly_digest_hour",
        "週1回の新着お知らせメールの送信時刻（時）",
        "int",
        "新着お知らせメール",
        "水曜日のこの時刻に送ります（0〜23）。",
        0,
        23,
    ),
    SettingField(
        "daily_digest_hour",
        "毎日の新着お知らせメールの送信時刻（時）",
        "int",
        "新着お知らせメール",
        "毎日この時刻に送ります（0〜23）。",
        0,
        23,
    ),
)

_INVOICE = re.compile(r"T\d{13}")


def _check_url(value: str) -> tuple[str, str | None]:
    value = value.strip().rstrip("/")
    if not value:
        return value, "公開URLを入力してください。"
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return (
            value,
            "公開URLは http:// または https:// から始まる形で入力してください（例：https://portal.example.jp）。",
        )
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return (
            value,
            "公開URLはホスト名まで（例：https://portal.example.jp）にしてください。パスや ? 以降は付けられません。",
        )
    if any(ch.isspace() for ch in value) or not value.isascii():
        return (
            value,
            "公開URLに使えない文字が含まれています。半角英数字で入力してください（日本語ドメインは xn-- の形にします）。",
        )
    return value, None


def validate_field(spec: SettingField, raw: str) -> tuple[str, str | None]:
    if spec.kind == "bool":
        return ("1" if raw in ("1", "on", "true") else "0"), None
    if spec.kind == "int":
        digits = unicodedata.normalize("NFKC", raw).strip()
        if not digits:
            return raw, f"{spec.label}を入力してください。"
        if not digits.isdigit() or len(digits) > 6 or not spec.minimum <= int(digits) <= spec.maximum:
            return raw, f"{spec.label}は {spec.minimum}〜{spec.maximum} の整数で入力してください。"
        return str(int(digits)), None
    if spec.kind == "choice":
        if raw not in {key for key, _ in spec.choices}:
            return raw, f"{spec.label}を選んでください。"
        return raw, None
    if spec.kind == "email":
        value, problem = normalize_email(raw, required=spec.required)
        return value, problem
    if spec.kind == "url":
        return _check_url(raw)
    value = raw.strip()
    if spec.required and not value:
        return value, f"{spec.label}を入力してください。"
    if len(value) > spec.max_length:
        return value, f"{spec.label}は{spec.max_length}文字以内で入力してください（現在{len(value)}文字）。"
    if spec.name == "invoice_number":
        value = unicodedata.normalize("NFKC", value).upper().replace("-", "").replace(" ", "")
        if value and not _INVOICE.fullmatch(value):
            return value, "登録番号は T と13桁の数字で入力してください（例：T1234567890123）。"
        return value, None
    if spec.name == "terms_url" and value:
        if (
            not value.isascii()
            or any(ch.isspace() for ch in value)
            or not value.startswith(("https://", "http://"))
        ):
            return (
                value,
                "会員規約のURLは https:// で始まる半角のURLで入力してください（例：https://example.jp/kiyaku.pdf）。",
            )
        return value, None
    problem = check_text(value)
    return value, f"{spec.label}の{problem}" if problem else None


def validate_settings(form: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for spec in all_fields():
        value, problem = validate_field(spec, form.get(spec.name, ""))
        values[spec.name] = value
        if problem:
            errors[spec.name] = problem
    if "password_min_length" not in errors and "password_max_length" not in errors:
        if int(values["password_min_length"]) > int(values["password_max_length"]):
            errors["password_max_length"] = "最大文字数は最小文字数以上にしてください。"
    if values.get("payment_card_enabled") == "0" and values.get("payment_konbini_enabled") == "0":
        errors["payment_konbini_enabled"] = (
            "お支払い方法を1つ以上選んでください（会員が会費を払えなくなります）。"
        )
    return values, errors


BASE_URL_SOURCES = {
    "env": "環境変数 TSUDOI_BASE_URL",
    "console": "管理画面の設定",
    "default": "既定値",
}


def base_url_source(app: AppContext) -> tuple[str, str]:
    """("env" | "console" | "default", what the console says about where the base URL comes from)."""
    source = app.base_url_source()
    label = BASE_URL_SOURCES[source]
    if source == "env":
        note = f"現在の値は{label}の値で、ここでは変更できません。変更するには環境変数を変えて再起動してください。"
    elif source == "console":
        note = f"現在の値は{label}です。環境変数 TSUDOI_BASE_URL を設定すると、そちらが優先されます。"
    else:
        note = f"現在の値は{label}です。会員がアクセスするURLに変更してください。"
    return source, note


def current_values(app: AppContext) -> dict[str, str]:
    values = app.org.to_strings()
    if not values.get("base_url") or app.settings.base_url_from_env:
        values["base_url"] = app.settings.base_url
    return values


async def save_settings(app: AppContext, values: dict[str, str], *, actor_id: int, ip: str = "") -> list[str]:
    """Store the settings and audit what changed (old and new values: none of these is personal data).

    While TSUDOI_BASE_URL is set the base URL field only shows it: the stored value is left as it was.
    """
    if app.settings.base_url_from_env:
        values = {name: value for name, value in values.items() if name != "base_url"}
    before = current_values(app)
    changed = {
        name: [before.get(name, ""), value] for name, value in values.items() if before.get(name, "") != value
    }
    if not changed:
        return []
    await app.update_org(values)
    await audit.record(
        app.db,
        "settings.updated",
        now=app.clock.now(),
        actor_member_id=actor_id,
        ip=ip,
        detail={"changed": changed},
    )
    return list(changed)


def all_fields() -> tuple[SettingField, ...]:
    """FIELDS, plus a plain field for any OrgSettings field a later feature added without a spec."""
    known = {spec.name for spec in FIELDS}
    extra = []
    defaults = OrgSettings()
    for item in dataclass_fields(OrgSettings):
        if item.name in known:
            continue
        default = getattr(defaults, item.name)
        kind = "bool" if isinstance(default, bool) else "int" if isinstance(default, int) else "text"
        extra.append(SettingField(item.name, item.name, kind, "その他", minimum=0, maximum=1_000_000))
    return (*FIELDS, *extra)


def groups() -> list[tuple[str, list[SettingField]]]:
    specs = all_fields()
    names = list(dict.fromkeys([*GROUPS, *(spec.group for spec in specs)]))
    return [
        (name, [spec for spec in specs if spec.group == name])
        for name in names
        if any(s.group == name for s in specs)
    ]


@dataclass(frozen=True)
class TestMailResult:
    ok: bool
    answer: str  # the SMTP server's reply, the outbox file, or why it failed


async def send_test_mail(app: AppContext, *, to: str, actor_id: int, ip: str = "") -> TestMailResult:
    """Send one mail to the admin straight through the transport (no retry queue), so the admin sees what the
    SMTP server answered. Audited: who asked, whether it went, and the answer (no addresses)."""
    now = app.clock.now()
    mail = app.mailer.compose(
        "test_mail",
        to=to,
        subject=f"【{app.org.short_name}】テストメール",
        context={
            "org": app.org,
            "sender": app.sender.value,
            "sent_at": f"{now.astimezone(app.settings.tz):%Y-%m-%d %H:%M}",
            "base_url": app.settings.base_url,
        },
    )
    try:
        answer = await app.mailer.deliver_with_answer(app.mailer.build(mail, now=now))
        ok = True
    except (MailError, ValueError) as error:
        answer, ok = str(error), False
    await audit.record(
        app.db,
        "mail.test_sent",
        now=now,
        actor_member_id=actor_id,
        ip=ip,
        detail={"ok": ok, "smtp": bool(app.settings.smtp_url), "answer": answer[:300]},
    )
    return TestMailResult(ok, answer)


def smtp_server_label(app: AppContext) -> str:
    """host:port of the SMTP server, without the user name or password; empty when none is set."""
    if not app.settings.smtp_url:
        return ""
    transport = SmtpTransport(app.settings.smtp_url)
    return f"{transport.host}:{transport.port}"
