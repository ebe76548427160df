"""Off-site replication with Litestream: settings, the config the app writes, WAL settings, the replica's state
on the dashboard and in the go-live check (a real `litestream replicate`), and the restore command's safety."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app import create_app
from services import replication
from services.doctor import check_file_permissions, check_replication
from services.settings import get_settings
from tests.helpers import login_admin, test_settings, visible_text
from tests.http.test_cli import ROOT, run_cli
from tests.replica_support import Litestream, litestream_or_skip


def replica_settings(tmp_path: Path, **changes: Any) -> Any:
    # Short folder names: the control socket's path must fit in 107 bytes.
    return test_settings(tmp_path, replica_url=f"file://{tmp_path / 'replica'}", **changes)


def test_settings_from_the_environment(tmp_path: Path) -> None:
    base = {"TSUDOI_DATABASE": str(tmp_path / "d" / "t.sqlite3"), "TSUDOI_SECRET_KEY": "k" * 40}
    off = get_settings(base)
    assert not off.replication and off.replica_max_lag == 300 and off.replica_sync_interval == 1
    on = get_settings(
        {
            **base,
            "TSUDOI_REPLICA_URL": " s3://bucket/tsudoi ",
            "TSUDOI_REPLICA_MAX_LAG": "60",
            "TSUDOI_REPLICA_SYNC_INTERVAL": "10",
        }
    )
    assert on.replication and on.replica_url == "s3://bucket/tsudoi"
    assert on.replica_max_lag == 60 and on.replica_sync_interval == 10
    odd = get_settings({**base, "TSUDOI_REPLICA_MAX_LAG": "soon", "TSUDOI_REPLICA_SYNC_INTERVAL": "0"})
    assert odd.replica_max_lag == 300 and odd.replica_sync_interval == 1


def test_replica_urls_are_checked_and_passwords_never_shown() -> None:
    assert replication.url_problem("s3://bucket/tsudoi") == ""
    assert replication.url_problem("sftp://backup@host.example.jp/srv/tsudoi") == ""
    assert replication.url_problem("file:///mnt/backup/tsudoi") == ""
    assert "対応していません" in replication.url_problem("http://example.jp/x")
    assert "対応していません" in replication.url_problem("/mnt/backup")
    assert "絶対パス" in replication.url_problem("file://relative/path")
    assert "バケット名" in replication.url_problem("s3:///path")
    assert "ユーザー名" in replication.url_problem("sftp://host.example.jp/srv")
    shown = replication.display_url("sftp://backup:hunter2@host.example.jp:2222/srv")
    assert "hunter2" not in shown and shown == "sftp://backup:***@host.example.jp:2222/srv"


def test_config_is_written_0600_and_litestream_reads_it(tmp_path: Path) -> None:
    settings = replica_settings(tmp_path, replica_sync_interval=5)
    path = replication.write_config(settings)
    assert path == settings.data_dir / "litestream.yml"
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text(encoding="utf-8")
    assert f'path: "{settings.database.resolve()}"' in text
    assert f'url: "file://{tmp_path / "replica"}"' in text and "sync-interval: 5s" in text
    assert f'path: "{settings.data_dir.resolve() / "litestream.sock"}"' in text
    binary = litestream_or_skip()
    listed = subprocess.run(
        [binary, "databases", "-config", str(path)], capture_output=True, text=True, timeout=30
    )
    assert listed.returncode == 0, listed.stderr
    assert str(settings.database.resolve()) in listed.stdout and "file" in listed.stdout


def test_config_refuses_a_bad_url(tmp_path: Path) -> None:
    with pytest.raises(replication.ReplicaError, match="対応していません"):
        replication.write_config(test_settings(tmp_path, replica_url="ftp://host/x"))
    with pytest.raises(replication.ReplicaError, match="未設定"):
        replication.write_config(test_settings(tmp_path))


def test_replica_config_command(tmp_path: Path) -> None:
    off = run_cli(tmp_path, "replica-config")
    assert off.returncode == 1 and "TSUDOI_REPLICA_URL が未設定" in off.stderr
    result = run_cli(tmp_path, "replica-config", env={"TSUDOI_REPLICA_URL": f"file://{tmp_path / 'replica'}"})
    assert result.returncode == 0, result.stderr
    written = tmp_path / "data" / "litestream.yml"
    assert result.stdout == written.read_text(encoding="utf-8")
    assert "litestream replicate -config" in result.stderr


async def test_app_start_writes_the_config_and_leaves_checkpoints_to_litestream(
    tmp_path: Path, clock: Any
) -> None:
    settings = replica_settings(tmp_path)
    app = create_app(settings, clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local"):
        assert (settings.data_dir / "litestream.yml").stat().st_mode & 0o777 == 0o600
        assert await app.state.ctx.db.fetchval("PRAGMA wal_autocheckpoint") == 0
        # The connections that wait for a lock wait 5 s (the one read at once on the loop never waits).
        async with app.state.ctx.db.read() as reader, reader.execute("PRAGMA busy_timeout") as cursor:
            assert (await cursor.fetchone())[0] == 5000
        async with app.state.ctx.db.write() as writer, writer.execute("PRAGMA busy_timeout") as cursor:
            assert (await cursor.fetchone())[0] == 5000
    plain = create_app(test_settings(tmp_path / "plain"), clock)
    async with AsyncTestClient(app=plain, base_url="http://testserver.local"):
        assert await plain.state.ctx.db.fetchval("PRAGMA wal_autocheckpoint") == 1000
        assert not (tmp_path / "plain" / "data" / "litestream.yml").exists()


async def test_dashboard_and_doctor_follow_the_real_replica(tmp_path: Path, clock: Any) -> None:
    settings = replica_settings(tmp_path, replica_max_lag=2)
    app = create_app(settings, clock)
    litestream = Litestream(
        settings.data_dir / "litestream.yml",
        settings.data_dir.resolve() / "litestream.sock",
        tmp_path / "ls.log",
    )
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        await login_admin(client, ctx)
        # Configured but Litestream not started: red, saying how to start it.
        page = await client.get("/admin")
        text = unescape(visible_text(page.text))
        assert "オフサイト複製の最終同期 要対応" in text
        assert "Litestream が動いていないため" in text and "systemctl start tsudoi-litestream" in text
        assert not (await check_replication(ctx)).ok
        litestream.start()
        try:
            litestream.wait_synced(settings.database)
            check = await check_replication(ctx)
            assert check.ok, check.detail
            # Litestream's own files in the data folder (run as the README's unit) keep the 0600 rule.
            assert (settings.data_dir / ".tsudoi.sqlite3-litestream").is_dir()
            permissions = await check_file_permissions(ctx)
            assert permissions.ok, permissions.detail
            assert f"file://{tmp_path / 'replica'} へ複製中です。最後の同期" in check.detail
            text = unescape(visible_text((await client.get("/admin")).text))
            assert "オフサイト複製の最終同期 遅れ" in text and "Litestream が動いていない" not in text
            # The replica becomes unwritable (a file where its folder was): syncs fail, the lag grows past
            # TSUDOI_REPLICA_MAX_LAG (2 s) and the dashboard turns red.
            await ctx.db.execute("INSERT INTO app_settings (key, value) VALUES ('drill', '1')")
            shutil.rmtree(tmp_path / "replica")
            (tmp_path / "replica").write_text("not a folder", encoding="utf-8")
            for _ in range(100):
                await ctx.db.execute("UPDATE app_settings SET value = value || 'x' WHERE key = 'drill'")
                state = await replication.replica_state(settings)
                if state is not None and not state.ok:
                    break
                await asyncio.sleep(0.1)
            assert state is not None and not state.ok, state
            assert "秒前です（上限 2 秒）" in state.problem
            text = unescape(visible_text((await client.get("/admin")).text))
            assert "オフサイト複製の最終同期 要対応" in text and "秒前です（上限 2 秒）" in text
        finally:
            litestream.kill()
        state = await replication.replica_state(settings)
        assert state is not None and not state.running and "Litestream が動いていない" in state.problem


def test_restore_arguments_are_checked(tmp_path: Path) -> None:
    neither = run_cli(tmp_path, "restore", "--yes")
    assert neither.returncode == 2 and "復元元を1つ指定してください" in neither.stderr
    stray = run_cli(tmp_path, "restore", "--timestamp", "2026-11-25T07:00", "--yes", str(ROOT / "README.md"))
    assert stray.returncode == 2
    env_off = run_cli(tmp_path, "restore", "--from-replica", "--yes")
    assert env_off.returncode == 1 and "TSUDOI_REPLICA_URL が未設定" in env_off.stderr


def test_restore_refuses_while_litestream_replicates(tmp_path: Path) -> None:
    settings = replica_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    conn = sqlite3.connect(settings.database)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE members (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    replication.write_config(settings)
    litestream = Litestream(
        settings.data_dir / "litestream.yml",
        settings.data_dir.resolve() / "litestream.sock",
        tmp_path / "ls.log",
    )
    assert settings.database == tmp_path / "data" / "tsudoi.sqlite3"  # run_cli's database
    litestream.start()
    try:
        litestream.wait_synced(settings.database)
        refused = run_cli(
            tmp_path, "restore", "--from-replica", "--yes", env={"TSUDOI_REPLICA_URL": settings.replica_url}
        )
    finally:
        litestream.kill()
    assert refused.returncode == 1
    assert "Litestream が" in refused.stderr and "systemctl stop tsudoi-litestream" in refused.stderr
    assert sqlite3.connect(settings.database).execute("SELECT count(*) FROM members").fetchone() == (0,)


def test_bad_timestamp_is_a_clear_message(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "restore",
        "--from-replica",
        "--timestamp",
        "昨日",
        "--yes",
        env={"TSUDOI_REPLICA_URL": f"file://{tmp_path / 'replica'}"},
    )
    assert result.returncode == 2 and "日時として読めません" in result.stderr


def test_timestamp_without_offset_is_the_organizations_time() -> None:
    from zoneinfo import ZoneInfo

    parsed = replication.parse_timestamp("2026-11-25T07:00", ZoneInfo("Asia/Tokyo"))
    assert parsed.isoformat() == "2026-11-24T22:00:00+00:00"


def test_odd_answers_from_litestream_are_states_not_errors(tmp_path: Path) -> None:
    settings = replica_settings(tmp_path)
    for answer in ("garbage", None, {"databases": "x"}, {"databases": [{"path": 5}]}):
        state = replication.evaluate(settings, answer, None)
        assert not state.ok and "複製していません" in state.problem
    entry = {"path": str(settings.database), "status": "replicating", "last_sync_at": "yesterday"}
    state = replication.evaluate(settings, {"databases": [entry]}, None)
    assert not state.ok and "まだ一度も" in state.problem


async def test_a_hung_or_fake_socket_is_reported_quickly(tmp_path: Path) -> None:
    import socket as sockets

    settings = replica_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    path = replication.socket_path(settings)
    path.write_text("not a socket", encoding="utf-8")
    state = await replication.replica_state(settings)
    assert state is not None and not state.running and "接続できません" in state.problem
    path.unlink()
    hung = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
    hung.bind(str(path))
    hung.listen(1)  # accepts the connection, never answers
    try:
        started = asyncio.get_running_loop().time()
        state = await replication.replica_state(settings)
        waited = asyncio.get_running_loop().time() - started
    finally:
        hung.close()
    assert state is not None and not state.running and waited < replication.STATE_TIMEOUT + 2
