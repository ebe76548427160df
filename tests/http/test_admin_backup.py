"""Backups: consistent while writes go on, nightly rotation, download from the console, restore round trip."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta

from click.testing import CliRunner
from litestar.testing import AsyncTestClient

from app import create_app
from db import members as member_queries
from services import backup
from tests.helpers import csrf_token, login_admin, make_member, visible_text


def open_copy(path):
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    return conn


async def test_backup_taken_while_writes_go_on_is_consistent(app_ctx, tmp_path):
    stop = asyncio.Event()
    written = 0

    async def writer():
        nonlocal written
        while not stop.is_set():
            # Each member comes with its password history row in one transaction.
            await make_member(app_ctx, f"5{written:05d}", email=f"w{written}@example.jp")
            written += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    copies = []
    for n in range(5):
        while written < (n + 1) * 5:
            await asyncio.sleep(0)
        target = tmp_path / f"copy-{n}.sqlite3"
        await backup.snapshot(app_ctx, target)
        copies.append(target)
    stop.set()
    await task
    counts = []
    for path in copies:
        conn = open_copy(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
            members = conn.execute("SELECT count(*) FROM members").fetchone()[0]
            histories = conn.execute("SELECT count(DISTINCT member_id) FROM password_history").fetchone()[0]
            assert members == histories  # never a member without its history row: no torn write
            counts.append(members)
        finally:
            conn.close()
    assert counts == sorted(counts) and counts[-1] > counts[0]


async def test_nightly_backup_keeps_the_last_seven(app_ctx, clock):
    paths = []
    for _ in range(9):
        paths.append(await backup.run_nightly_backup(app_ctx))
        clock.advance(timedelta(days=1))
    kept = sorted(p.name for p in backup.backup_dir(app_ctx).glob("nightly-*.sqlite3"))
    assert kept == sorted(p.name for p in paths[-7:])
    assert backup.integrity(paths[-1]) == "ok"
    rows = await app_ctx.db.fetchall("SELECT kind, status FROM backups")
    assert len(rows) == 9 and all(row["kind"] == "nightly" and row["status"] == "ok" for row in rows)


async def test_console_download_is_a_checked_snapshot_and_leaves_no_file(client, app_ctx, tmp_path):
    await make_member(app_ctx, "001001", family_name="山田")
    admin_id = await login_admin(client, app_ctx)
    page = await client.get("/admin/backup")
    assert "今すぐバックアップをダウンロード" in page.text and "litestar tsudoi restore" in page.text
    response = await client.post("/admin/backup/download", data={"_csrf_token": await csrf_token(client)})
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"SQLite format 3\x00")
    target = tmp_path / "downloaded.sqlite3"
    target.write_bytes(response.content)
    assert backup.integrity(target) == "ok"
    conn = open_copy(target)
    assert (
        conn.execute("SELECT family_name FROM members WHERE member_number = '001001'").fetchone()[0] == "山田"
    )
    conn.close()
    assert list((app_ctx.settings.data_dir / "tmp").glob("download-*")) == []
    row = await app_ctx.db.fetchone("SELECT * FROM backups")
    assert row["kind"] == "download" and row["actor_member_id"] == admin_id
    dashboard = visible_text((await client.get("/admin")).text)
    assert "まだバックアップがありません" not in dashboard


async def test_restore_round_trip(settings, clock, tmp_path):
    app = create_app(settings, clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local"):
        ctx = app.state.ctx
        await make_member(ctx, "001001", family_name="山田")
        saved = await backup.run_nightly_backup(ctx)
        await make_member(ctx, "001002", family_name="佐藤")
        await ctx.db.execute("UPDATE members SET family_name = '変更' WHERE member_number = '001001'")
    # The app is stopped: restore the nightly copy.
    safety = backup.restore(saved, settings.database)
    assert safety is not None and backup.integrity(safety) == "ok"
    app = create_app(settings, clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local"):
        ctx = app.state.ctx
        restored = await member_queries.get_by_number(ctx.db, "001001")
        assert restored["family_name"] == "山田"
        assert await member_queries.get_by_number(ctx.db, "001002") is None
    # The copy taken before the restore still has the later changes.
    conn = open_copy(safety)
    assert conn.execute("SELECT count(*) FROM members").fetchone()[0] == 2
    conn.close()


def test_restore_refuses_a_file_that_is_not_a_tsudoi_backup(tmp_path):
    not_db = tmp_path / "notes.sqlite3"
    not_db.write_bytes(b"hello, this is not a database" * 100)
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.close()
    for path, message in (
        (not_db, "SQLite"),
        (other, "Tsudoi のバックアップではありません"),
        (tmp_path / "none.sqlite3", "見つかりません"),
    ):
        try:
            backup.restore(path, tmp_path / "db.sqlite3")
        except backup.RestoreError as error:
            assert message in str(error)
        else:
            raise AssertionError(path)
    assert not (tmp_path / "db.sqlite3").exists()


def test_cli_backup_and_restore(tmp_path, monkeypatch):
    from cli import tsudoi_cli

    database = tmp_path / "data" / "cli.sqlite3"
    monkeypatch.setenv("TSUDOI_DATABASE", str(database))
    monkeypatch.setenv("TSUDOI_SECRET_KEY", "cli-test-secret-" + "z" * 32)
    runner = CliRunner()
    dest = tmp_path / "copy.sqlite3"
    result = runner.invoke(tsudoi_cli, ["backup", str(dest)])
    assert result.exit_code == 0, result.output
    assert "整合性チェック済み" in result.output and backup.integrity(dest) == "ok"
    result = runner.invoke(tsudoi_cli, ["restore", str(dest)], input="n\n")
    assert result.exit_code != 0  # asked first; "no" stops
    result = runner.invoke(tsudoi_cli, ["restore", str(dest), "--yes"])
    assert result.exit_code == 0, result.output
    assert "before-restore-" in result.output


async def test_backup_page_says_the_secret_key_must_be_kept_with_the_database(client, app_ctx):
    await login_admin(client, app_ctx)
    text = visible_text((await client.get("/admin/backup")).text)
    assert "秘密鍵もいっしょに保管してください" in text
    assert str(app_ctx.settings.data_dir / "secret_key") in text
