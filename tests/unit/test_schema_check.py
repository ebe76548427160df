"""Schema drift: the live database compared with what the migrations build; the repair's column line."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from db.database import Database
from services.context import build_context, open_context
from services.schema_check import schema_drift
from tests.helpers import test_settings


def write_migrations(folder: Path, *scripts: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, sql in enumerate(scripts, start=1):
        (folder / f"{number:04d}_step.sql").write_text(sql, encoding="utf-8")
    return folder


async def test_add_column_if_missing_adds_the_column_only_where_it_is_missing(tmp_path):
    line = "-- add-column-if-missing: a.y TEXT NOT NULL DEFAULT 'weekly' CHECK (y IN ('none', 'weekly'))\n"
    # A database made before the first migration gained column y …
    old = write_migrations(tmp_path / "old", "CREATE TABLE a (x);")
    path = tmp_path / "old.sqlite3"
    db = Database(path)
    await db.connect()
    try:
        await db.migrate(old)
        await db.execute("INSERT INTO a (x) VALUES (1)")
        # … and the code after: 0001 edited (the mistake), 0002 the repair.
        new = write_migrations(
            tmp_path / "new", "CREATE TABLE a (x, y TEXT NOT NULL DEFAULT 'weekly');", line + "SELECT 1;"
        )
        await db.migrate(new)
        assert [tuple(row) for row in await db.fetchall("SELECT x, y FROM a")] == [(1, "weekly")]
        assert await db.schema_version() == 2
    finally:
        await db.close()
    # A fresh database already has the column: the repair leaves it alone.
    fresh = Database(tmp_path / "fresh.sqlite3")
    await fresh.connect()
    try:
        await fresh.migrate(new)
        columns = [row["name"] for row in await fresh.fetchall("SELECT name FROM pragma_table_info('a')")]
        assert columns == ["x", "y"]
    finally:
        await fresh.close()


async def test_a_fresh_database_has_no_drift(tmp_path):
    db = Database(tmp_path / "t.sqlite3")
    await db.connect()
    try:
        await db.migrate()
        assert await schema_drift(db) == []
    finally:
        await db.close()


async def test_drift_names_missing_and_changed_objects(tmp_path):
    path = tmp_path / "t.sqlite3"
    db = Database(path)
    await db.connect()
    await db.migrate()
    await db.close()
    raw = sqlite3.connect(path)
    raw.executescript(
        """
        DROP INDEX articles_window;
        DROP TRIGGER published_article_terms_untag;
        ALTER TABLE members DROP COLUMN digest_frequency;
        DROP TABLE mail_queue;
        DROP INDEX fees_member;
        CREATE INDEX fees_member ON fees (member_id);
        CREATE TABLE leftovers (x);
        """
    )
    raw.close()
    db = Database(path)
    await db.connect()
    try:
        drift = await schema_drift(db)
    finally:
        await db.close()
    assert [str(item) for item in drift] == [
        "missing table mail_queue",
        "missing column members.digest_frequency (TEXT NOT NULL DEFAULT 'weekly')",
        "extra table leftovers",
        "missing index articles_window (on articles)",
        "different index fees_member (expected CREATE INDEX fees_member ON fees(member_id,id), "
        "found CREATE INDEX fees_member ON fees(member_id))",
        "missing index mail_queue_due (on mail_queue)",
        "missing trigger published_article_terms_untag (on article_terms)",
    ]
    assert [item.japanese for item in drift[:3]] == [
        "テーブル mail_queue がありません。",
        "列 members.digest_frequency がありません。",
        "テーブル leftovers はマイグレーションにないものです。",
    ]
    assert drift[4].japanese.startswith(
        "インデックス fees_member の定義が、新しく作ったデータベースと違います（"
    )


async def test_start_up_logs_the_drift_as_a_warning(tmp_path, caplog):
    settings = test_settings(tmp_path)
    ctx = await open_context(build_context(settings))
    await ctx.db.close()
    raw = sqlite3.connect(settings.database)
    raw.execute("DROP INDEX articles_window")
    raw.close()
    with caplog.at_level(logging.WARNING, logger="tsudoi.schema"):
        ctx = await open_context(build_context(settings))
        await ctx.db.close()
    warnings = [record.getMessage() for record in caplog.records if record.name == "tsudoi.schema"]
    assert len(warnings) == 1
    assert "missing index articles_window (on articles)" in warnings[0]


async def test_start_up_is_quiet_when_the_schema_matches(tmp_path, caplog):
    settings = test_settings(tmp_path)
    with caplog.at_level(logging.WARNING, logger="tsudoi.schema"):
        ctx = await open_context(build_context(settings))
        await ctx.db.close()
    assert not [record for record in caplog.records if record.name == "tsudoi.schema"]


async def test_a_migration_that_landed_below_the_database_version_is_applied(tmp_path):
    """Early on, 0009 landed before 0003-0008: a database made then records version 9 without them."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0001_a.sql").write_text("CREATE TABLE a (x);", encoding="utf-8")
    (folder / "0009_c.sql").write_text("CREATE TABLE c (x); CREATE INDEX c_x ON c (x);", encoding="utf-8")
    db = Database(tmp_path / "t.sqlite3")
    await db.connect()
    try:
        await db.migrate(folder)
        assert await db.schema_version() == 9
        (folder / "0003_b.sql").write_text(
            "CREATE TABLE b (x); INSERT INTO b VALUES (1); ALTER TABLE a ADD COLUMN y;", encoding="utf-8"
        )
        (folder / "0010_d.sql").write_text("CREATE TABLE d (x);", encoding="utf-8")
        assert await db.migrate(folder, backup_dir=tmp_path / "backups") == 10
        assert await db.fetchval("SELECT count(*) FROM b") == 1
        assert await db.fetchval("SELECT count(*) FROM pragma_table_info('a') WHERE name = 'y'") == 1
        assert await schema_drift(db, folder) == []
        # Applied once: the next start finds it present.
        (folder / "0011_e.sql").write_text("CREATE TABLE e (x);", encoding="utf-8")
        await db.migrate(folder)
        assert await db.fetchval("SELECT count(*) FROM b") == 1
    finally:
        await db.close()


async def test_a_migration_present_in_part_is_not_applied_again(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0001_a.sql").write_text("CREATE TABLE a (x);", encoding="utf-8")
    db = Database(tmp_path / "t.sqlite3")
    await db.connect()
    try:
        await db.migrate(folder)
        # 0001 edited after it landed (the mistake the repair migrations mend): not a skipped migration.
        (folder / "0001_a.sql").write_text("CREATE TABLE a (x); CREATE TABLE a2 (x);", encoding="utf-8")
        (folder / "0002_b.sql").write_text("CREATE TABLE b (x);", encoding="utf-8")
        await db.migrate(folder)
        assert [str(item) for item in await schema_drift(db, folder)] == ["missing table a2"]
    finally:
        await db.close()
