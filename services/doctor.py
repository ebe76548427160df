"""The go-live check (公開前チェック): is this install ready for members? Used by `litestar tsudoi doctor`
and the admin dashboard. Each check is a plain async function of the app context returning one Check;
append a function to CHECKS to add one."""

from __future__ import annotations

import ipaddress
import logging
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from db import admin_dashboard
from db.timestamps import from_db
from services.context import AppContext
from services.mailer import MailError, SmtpTransport
from services.payment_config import gateway_state
from services.private_files import loose_entries
from services.replication import lag_text, replica_state
from services.schema_check import schema_drift

log = logging.getLogger("tsudoi.doctor")

SMTP_PROBE_TIMEOUT = 5.0
SMTP_PROBE_CACHE = timedelta(minutes=5)
BACKUP_MAX_AGE = timedelta(hours=36)
MIN_FREE_BYTES = 1024**3  # 1 GiB: a few nightly backups of a small organization's database, and room to grow
LOCAL_HOSTS = {"localhost", "localhost.localdomain", "localdomain", "local"}


@dataclass(frozen=True)
class Check:
    title: str
    ok: bool
    detail: str  # what was found; when not ok, what to do

    @property
    def status(self) -> str:
        return "OK" if self.ok else "要対応"


CheckFunction = Callable[[AppContext], Awaitable[Check]]


def _is_local_host(host: str) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    if host in LOCAL_HOSTS or host.endswith((".localhost", ".local")):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def check_smtp(app: AppContext) -> Check:
    title = "メールの送信サーバー"
    url = app.settings.smtp_url
    if not url:
        return Check(
            title,
            False,
            f"TSUDOI_SMTP_URL が未設定のため、メールは送信されず {app.settings.outbox_dir} にファイルとして"
            "保存されています。送信サーバーを TSUDOI_SMTP_URL=smtp://ユーザー:パスワード@smtp.example.jp:587"
            " の形で設定し、アプリを再起動してください。",
        )
    # The dashboard asks on every visit: one probe per few minutes is enough and keeps the page fast.
    now = app.clock.now()
    cached = app.smtp_probe
    if cached is not None and cached[0] == url and now - cached[1] < SMTP_PROBE_CACHE:
        return cached[2]
    transport = SmtpTransport(url, timeout=SMTP_PROBE_TIMEOUT)
    try:
        answer = await transport.probe()
    except MailError as error:
        result = Check(
            title,
            False,
            f"{error}。TSUDOI_SMTP_URL のホスト名・ポート番号と、サーバーのファイアウォールをご確認ください。",
        )
    else:
        result = Check(title, True, answer)
    app.smtp_probe = (url, now, result)
    return result


async def check_sender(app: AppContext) -> Check:
    title = "メールの送信元"
    sender = app.sender
    if sender.source == "default" or not sender.domain or _is_local_host(sender.domain):
        return Check(
            title,
            False,
            f"送信元が {sender.address or '(なし)'} です。受信側のサーバーに迷惑メールとして扱われます。"
            "管理画面の「設定」で送信元メールアドレスを団体のドメインのアドレス（例：no-reply@example.jp）に"
            "してください（TSUDOI_MAIL_FROM でも指定できます）。",
        )
    return Check(title, True, f"{sender.value}（{sender.source_label}）")


async def check_base_url(app: AppContext) -> Check:
    title = "公開URL"
    url = app.settings.base_url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    if parts is None or not host or _is_local_host(host):
        return Check(
            title,
            False,
            f"公開URLが {url} です。会員へのメールのリンクやQRコードが会員の端末から開けません。"
            "TSUDOI_BASE_URL（または管理画面の「設定」の公開URL）を https://portal.example.jp のような"
            "会員がアクセスするURLにしてください。",
        )
    if parts.scheme != "https":
        return Check(
            title,
            False,
            f"公開URLが {url} です。パスワードやログインの Cookie が暗号化されずに送られます。"
            "nginx や Caddy で HTTPS を設定し（README「HTTPS とリバースプロキシ」）、"
            "TSUDOI_BASE_URL を https:// のURLにしてください。",
        )
    return Check(title, True, url)


async def check_payment_gateway(app: AppContext) -> Check:
    # The same answer the pay flow acts on (services/payment_config.gateway_state): the demo's sandbox too.
    state = await gateway_state(app)
    return Check("オンライン決済", state.live, state.summary)


async def check_schema(app: AppContext) -> Check:
    """The live schema against a fresh database's: what an upgrade left out shows here before members see it."""
    title = "データベースの構造"
    drift = await schema_drift(app.db)
    if not drift:
        return Check(title, True, "新しく作ったデータベースと同じです。")
    shown = "".join(item.japanese for item in drift[:5]) + (
        f"ほか{len(drift) - 5}件。" if len(drift) > 5 else ""
    )
    return Check(
        title,
        False,
        f"{shown}バックアップを取ってから、このメッセージを添えて Tsudoi の開発者に報告してください。",
    )


async def check_file_permissions(app: AppContext) -> Check:
    title = "秘密鍵とデータのファイル権限"
    folder = app.settings.data_dir
    loose = loose_entries(folder, app.settings.database.name)
    if loose:
        shown = "、".join(str(path) for path in loose[:3]) + (
            f" ほか{len(loose) - 3}件" if len(loose) > 3 else ""
        )
        return Check(
            title,
            False,
            f"他のユーザーが読めるファイルがあります（{shown}）。アプリを起動し直すと直ります。"
            f"データフォルダに Tsudoi 以外のファイルがある場合、フォルダ自体は変更しません。専用のフォルダに"
            f"移すか、手で chmod 700 {folder} とし、中のファイルを chmod 600 にしてください。",
        )
    return Check(title, True, f"{folder} は所有者だけが読み書きできます（フォルダ 0700・ファイル 0600）。")


async def check_backup(app: AppContext) -> Check:
    title = "バックアップ"
    backup = await admin_dashboard.last_backup(app.db)
    offsite = (
        f"{app.settings.data_dir / 'backups'} は別のマシンにも毎日コピーしてください（例：cron で rsync）。"
    )
    if backup is None:
        return Check(
            title,
            False,
            "まだバックアップがありません。アプリを動かし続けると毎晩自動で作られます。"
            f"今すぐ作るには litestar tsudoi backup を実行してください。{offsite}",
        )
    made_at = from_db(str(backup["created_at"]))
    if made_at is None:
        return Check(title, False, f"最後のバックアップの日時が読めません。{offsite}")
    age = app.clock.now() - made_at
    hours = int(age.total_seconds() // 3600)
    if age > BACKUP_MAX_AGE:
        return Check(
            title,
            False,
            f"最後のバックアップは {hours} 時間前です。毎晩の自動バックアップが動いているか"
            f"（TSUDOI_SCHEDULER が off になっていないか）確かめてください。{offsite}",
        )
    return Check(title, True, f"最後のバックアップは {max(hours, 0)} 時間前です。{offsite}")


async def check_timezone(app: AppContext) -> Check:
    title = "タイムゾーン"
    try:
        zone = ZoneInfo(app.settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return Check(
            title,
            False,
            f"TSUDOI_TIMEZONE={app.settings.timezone} は使えません。Asia/Tokyo のように指定してください。",
        )
    local = app.clock.now().astimezone(zone)
    return Check(
        title,
        True,
        f"{app.settings.timezone}（現在 {local:%Y-%m-%d %H:%M}）。お知らせメールの曜日・時刻や会費の期限はこの時刻で"
        "決まります。違う場合は TSUDOI_TIMEZONE とサーバーの時計を確かめてください。",
    )


async def check_disk_space(app: AppContext) -> Check:
    title = "ディスクの空き容量"
    folder = app.settings.data_dir
    usage = shutil.disk_usage(folder if folder.exists() else folder.parent)
    free_gb = usage.free / 1024**3
    if usage.free < MIN_FREE_BYTES:
        return Check(
            title,
            False,
            f"データフォルダのディスクの空きが {free_gb:.1f} GB しかありません。いっぱいになると保存や"
            "バックアップが失敗します。不要なファイルを消すか、ディスクを増やしてください。",
        )
    return Check(title, True, f"空き {free_gb:.1f} GB（{usage.free * 100 // usage.total}%）")


async def check_replication(app: AppContext) -> Check:
    """Off-site replication is optional: off is an OK line saying how to turn it on; on but not current
    (Litestream stopped, never synced, lagging past TSUDOI_REPLICA_MAX_LAG) needs action."""
    title = "オフサイト複製（Litestream）"
    state = await replica_state(app.settings)
    if state is None:
        return Check(
            title,
            True,
            "使っていません（任意）。サーバーが壊れても数秒前までのデータを残すには、TSUDOI_REPLICA_URL="
            "s3://バケット/tsudoi などを設定し、Litestream を動かしてください（README「オフサイト複製」）。",
        )
    if not state.ok:
        return Check(title, False, state.problem)
    return Check(
        title,
        True,
        f"{state.url} へ複製中です。最後の同期 {state.last_sync_local(app.settings.tz)}"
        f"（遅れ {lag_text(state.lag_seconds)}、上限 {state.max_lag} 秒）。",
    )


CHECKS: list[CheckFunction] = [
    check_smtp,
    check_sender,
    check_base_url,
    check_payment_gateway,
    check_file_permissions,
    check_backup,
    check_timezone,
    check_disk_space,
    check_replication,
    check_schema,
]


async def run_checks(app: AppContext, checks: list[CheckFunction] | None = None) -> list[Check]:
    """Every check, in order; a check that raises is reported as needing action, never hides the rest."""
    results = []
    for function in CHECKS if checks is None else checks:
        try:
            results.append(await function(app))
        except Exception as error:
            log.exception("go-live check %s failed", function.__name__)
            results.append(
                Check(function.__name__, False, f"確認できませんでした（{type(error).__name__}）。")
            )
    return results


def report_lines(results: list[Check]) -> list[str]:
    lines = [f"[{check.status}] {check.title}: {check.detail}" for check in results]
    pending = sum(1 for check in results if not check.ok)
    lines.append("公開の準備ができています。" if not pending else f"要対応が {pending} 件あります。")
    return lines
