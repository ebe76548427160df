"""Data at rest: the data folder is 0700 and every file in it 0600 under a permissive umask, and restore
refuses to replace the database under a running app."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app import create_app
from db.database import Database
from services import backup
from services.settings import load_or_create_secret_key
from tests.contact_helpers import png_bytes
from tests.helpers import free_port, make_member
from tests.http.test_cli import ROOT, run_cli
from tests.http.test_contact import TYPED, open_form, send


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(folder: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_private(folder: Path) -> dict[str, int]:
    found = modes(folder)
    loose = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (folder / name).is_dir() else 0o600)
    }
    assert not loose, loose
    return found


async def test_every_file_the_app_writes_is_0600_in_0700_folders_under_umask_022(
    settings: Any, clock: Any, umask_022: None
) -> None:
    data = settings.data_dir
    app = create_app(settings, clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        admin_id = await make_member(ctx, "900001", role="admin")
        # A contact with a screenshot: an upload in attachments/ and two mails in outbox/.
        token = await open_form(client, clock)
        response = await send(
            client, TYPED, token=token, files={"attachment": ("screen.png", png_bytes(), "image/png")}
        )
        assert response.status_code == 303
        await backup.run_nightly_backup(ctx)
        # The same path writes the copy taken before a migration (Database.migrate calls backup_to).
        await ctx.db.backup_to(data / "backups" / "before-migration-v10-20261123T030000Z.sqlite3")
        download, _, _ = await backup.download_snapshot(ctx, actor_id=admin_id)
        with_app_running = assert_private(data)
        download.unlink()
    for expected in ("tsudoi.sqlite3", "tsudoi.sqlite3-wal", "tsudoi.sqlite3-shm", "attachments", "outbox"):
        assert expected in with_app_running, expected
    assert any(name.startswith("outbox/") and name.endswith(".eml") for name in with_app_running)
    assert any(name.startswith("attachments/") and name.endswith(".png") for name in with_app_running)
    assert any(name.startswith("backups/nightly-") for name in with_app_running)
    assert any(name.startswith("tmp/download-") for name in with_app_running)

    # Restore (app stopped): the database rewritten and the before-restore copy are private too.
    nightly = next((data / "backups").glob("nightly-*.sqlite3"))
    safety = backup.restore(nightly, settings.database)
    assert safety is not None and safety.exists()
    key = load_or_create_secret_key(data)
    assert key and (data / "secret_key").exists()
    assert_private(data)


async def test_start_narrows_a_data_folder_left_readable_by_an_older_version(
    settings: Any, clock: Any, umask_022: None
) -> None:
    data = settings.data_dir
    (data / "outbox").mkdir(parents=True)
    os.chmod(data, 0o755)
    old_mail = data / "outbox" / "20261101-090000-abcdef12.eml"
    old_mail.write_bytes(b"Subject: reset link\r\n\r\nhttps://portal.example.jp/password/reset/token\r\n")
    assert stat.S_IMODE(old_mail.stat().st_mode) == 0o644
    sqlite3.connect(settings.database).close()
    os.chmod(settings.database, 0o644)
    async with AsyncTestClient(app=create_app(settings, clock), base_url="http://testserver.local"):
        assert_private(data)


def wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stdout.read() if process.stdout else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server did not start")


def test_restore_refuses_while_the_app_is_serving_then_works_once_it_stopped(tmp_path: Path) -> None:
    created = run_cli(tmp_path, "demo")
    assert created.returncode == 0, created.stderr
    copy = tmp_path / "copy.sqlite3"
    assert run_cli(tmp_path, "backup", str(copy)).returncode == 0
    port = free_port()
    env = {
        **os.environ,
        "TSUDOI_DATABASE": str(tmp_path / "data" / "tsudoi.sqlite3"),
        "TSUDOI_SCHEDULER": "off",
        "TSUDOI_LOG_REQUESTS": "off",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "litestar"), "--app", "app:app", "run", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, server)
        for args in (("restore", "--yes", str(copy)), ("restore", str(copy))):
            refused = run_cli(tmp_path, *args, input_text="y\n")
            assert refused.returncode == 1, refused.stdout
            assert "アプリが" in refused.stderr and "動いているため、復元できません" in refused.stderr
            assert "systemctl stop tsudoi" in refused.stderr
        assert not list((tmp_path / "data" / "backups").glob("before-restore-*"))
    finally:
        server.terminate()
        server.wait(timeout=30)
    restored = run_cli(tmp_path, "restore", "--yes", str(copy))
    assert restored.returncode == 0, restored.stderr
    assert "復元しました" in restored.stdout


async def test_the_copy_taken_before_a_migration_is_private(tmp_path: Path, umask_022: None) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_first.sql").write_text("CREATE TABLE first (id INTEGER PRIMARY KEY);", "utf-8")
    data = tmp_path / "data"
    db = Database(data / "tsudoi.sqlite3")
    await db.connect()
    try:
        await db.migrate(migrations, backup_dir=data / "backups")
        (migrations / "0002_second.sql").write_text("CREATE TABLE second (id INTEGER PRIMARY KEY);", "utf-8")
        await db.migrate(migrations, backup_dir=data / "backups")
    finally:
        await db.close()
    (copy,) = (data / "backups").glob("before-migration-v1-*.sqlite3")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert_private(data)


async def test_a_database_put_in_a_shared_folder_narrows_only_its_own_files(
    tmp_path: Path, clock: Any, umask_022: None
) -> None:
    """TSUDOI_DATABASE=/home/office/tsudoi.sqlite3 must not chmod the office's home folder or its files."""
    from services.doctor import run_checks
    from tests.helpers import test_settings

    shared = tmp_path / "home"
    shared.mkdir()
    os.chmod(shared, 0o755)
    (shared / "notes.txt").write_text("not ours", "utf-8")
    (shared / "bin").mkdir()
    settings = test_settings(tmp_path).with_(database=shared / "tsudoi.sqlite3")
    app = create_app(settings, clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local"):
        found = modes(shared)
        results = {check.title: check for check in await run_checks(app.state.ctx)}
    assert found["."] == 0o755 and found["notes.txt"] == 0o644 and found["bin"] == 0o755
    assert found["tsudoi.sqlite3"] == 0o600 and found["tsudoi.sqlite3-wal"] == 0o600
    permissions = results["秘密鍵とデータのファイル権限"]
    assert not permissions.ok and str(shared) in permissions.detail and "専用のフォルダ" in permissions.detail
