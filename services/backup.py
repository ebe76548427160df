"""Backups: consistent SQLite snapshots (online backup API), the nightly rotation, and restore."""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.to_thread

from db import audit
from db import backups as backup_queries
from db.database import migration_files
from services.context import AppContext
from services.private_files import make_sqlite_private, touch_private

log = logging.getLogger("tsudoi.backup")

NIGHTLY_KEEP = 7
NIGHTLY_PREFIX = "nightly-"
CHUNK = 256 * 1024


class RestoreError(RuntimeError):
    """The file cannot be restored (not a Tsudoi database, damaged, or newer than this code)."""


def backup_dir(app: AppContext) -> Path:
    return app.settings.data_dir / "backups"


def integrity(path: Path) -> str:
    """SQLite's own check of a database file: 'ok' when every page and index is sound."""
    # immutable: reading a backup must not leave -wal/-shm files beside it.
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        row = conn.execute("PRAGMA integrity_check").fetchone()
        return str(row[0]) if row else "no answer"
    finally:
        conn.close()


def _checked_size(target: Path) -> int:
    # The copy carries the live database's WAL mode; a single self-contained file is easier to keep.
    conn = sqlite3.connect(target)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    result = integrity(target)
    if result != "ok":
        target.unlink(missing_ok=True)
        raise RuntimeError(f"integrity check of the backup failed: {result}")
    return target.stat().st_size


async def snapshot(app: AppContext, target: Path) -> int:
    """Write a consistent copy to target (safe while the app writes) and check it; returns its size."""
    await app.db.backup_to(target)
    return await anyio.to_thread.run_sync(_checked_size, target)


def _prune(folder: Path, keep: int) -> list[Path]:
    nightly = sorted(folder.glob(f"{NIGHTLY_PREFIX}*.sqlite3"))
    removed = nightly[:-keep] if len(nightly) > keep else []
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


async def run_nightly_backup(app: AppContext) -> Path:
    """The scheduler's nightly job: a snapshot into <data>/backups, keeping the newest 7 nightly files."""
    now = app.clock.now()
    folder = backup_dir(app)
    name = f"{NIGHTLY_PREFIX}{now.astimezone(app.settings.tz):%Y%m%d-%H%M%S}.sqlite3"
    target = folder / name
    try:
        size = await snapshot(app, target)
    except Exception as error:
        log.exception("nightly backup failed")
        await backup_queries.record(
            app.db, now=now, kind="nightly", file_name=name, error=str(error) or "error"
        )
        raise
    removed = await anyio.to_thread.run_sync(_prune, folder, NIGHTLY_KEEP)
    await backup_queries.record(app.db, now=now, kind="nightly", file_name=name, size_bytes=size)
    log.info("nightly backup written to %s (%d bytes), %d old ones removed", target, size, len(removed))
    return target


async def cli_backup(app: AppContext, dest: Path) -> int:
    size = await snapshot(app, dest)
    await backup_queries.record(app.db, now=app.clock.now(), kind="cli", file_name=dest.name, size_bytes=size)
    return size


async def download_snapshot(app: AppContext, *, actor_id: int, ip: str = "") -> tuple[Path, str, int]:
    """A fresh snapshot in a private temp file for the console's download; the caller streams and deletes it."""
    now = app.clock.now()
    name = f"tsudoi-{now.astimezone(app.settings.tz):%Y%m%d-%H%M%S}.sqlite3"
    temp = app.settings.data_dir / "tmp" / f"download-{secrets.token_hex(8)}.sqlite3"
    await anyio.to_thread.run_sync(_remove_stale_downloads, temp.parent)
    try:
        size = await snapshot(app, temp)
    except Exception as error:
        await backup_queries.record(
            app.db, now=now, kind="download", file_name=name, error=str(error) or "error", actor_id=actor_id
        )
        raise
    await backup_queries.record(
        app.db, now=now, kind="download", file_name=name, size_bytes=size, actor_id=actor_id
    )
    await audit.record(
        app.db, "backup.downloaded", now=now, actor_member_id=actor_id, ip=ip, detail={"bytes": size}
    )
    return temp, name, size


def _remove_stale_downloads(folder: Path) -> None:
    # A download the browser abandoned before the stream started leaves its file behind.
    if not folder.is_dir():
        return
    cutoff = datetime.now(UTC).timestamp() - 3600
    for path in folder.glob("download-*.sqlite3*"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


async def stream_and_delete(path: Path) -> AsyncIterator[bytes]:
    try:
        async with await anyio.open_file(path, "rb") as handle:
            while chunk := await handle.read(CHUNK):
                yield chunk
    finally:
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))


def restore(source: Path, database: Path) -> Path | None:
    """Replace the database with a backup (the app must be stopped). The current file is first copied to
    backups/before-restore-<time>.sqlite3, whose path is returned (None when there was no database)."""
    if not source.is_file():
        raise RestoreError(f"{source} が見つかりません。")
    try:
        result = integrity(source)
        conn = sqlite3.connect(f"file:{source}?mode=ro&immutable=1", uri=True)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            has_members = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'members'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        raise RestoreError(f"{source} は SQLite のデータベースではありません（{error}）。") from error
    if result != "ok":
        raise RestoreError(f"{source} は壊れています（integrity_check: {result}）。")
    if not has_members:
        raise RestoreError(f"{source} は Tsudoi のバックアップではありません。")
    latest = max((number for number, _ in migration_files()), default=0)
    if version > latest:
        raise RestoreError(
            f"{source} はこのバージョンより新しい Tsudoi のもの（スキーマ {version} > {latest}）です。新しい版で復元してください。"
        )
    safety: Path | None = None
    if database.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        safety = database.parent / "backups" / f"before-restore-{stamp}.sqlite3"
        _copy(database, safety)
    # The backup API writes through SQLite, so the target's WAL and shared memory stay consistent.
    _copy(source, database)
    return safety


def _copy(source: Path, target: Path) -> None:
    touch_private(target)
    src = sqlite3.connect(f"file:{source}?mode=ro&immutable=1", uri=True)
    dest = sqlite3.connect(target)
    try:
        src.backup(dest)
    finally:
        dest.close()
        src.close()
    make_sqlite_private(target)
