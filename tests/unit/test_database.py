"""The database layer: migrations, refusal of newer files, consistent backups."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from db.database import Database, MigrationError


def write_migrations(folder: Path, *scripts: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, sql in enumerate(scripts, start=1):
        (folder / f"{number:04d}_step.sql").write_text(sql, encoding="utf-8")
    return folder


async def test_migrations_apply_in_order_and_record_user_version(tmp_path):
    migrations = write_migrations(tmp_path / "m", "CREATE TABLE a (x);", "ALTER TABLE a ADD COLUMN y;")
    db = Database(tmp_path / "t.sqlite3")
    await db.connect()
    try:
        assert await db.migrate(migrations) == 2
        assert await db.schema_version() == 2
        assert await db.migrate(migrations) == 2  # idempotent
    finally:
        await db.close()


async def test_failed_migration_leaves_the_file_as_it_was(tmp_path):
    good = write_migrations(tmp_path / "m", "CREATE TABLE a (x);")
    db = Database(tmp_path / "t.sqlite3")
    await db.connect()
    try:
        await db.migrate(good)
        (good / "0002_step.sql").write_text(
            "CREATE TABLE b (x); INSERT INTO nowhere VALUES (1);", encoding="utf-8"
        )
        with pytest.raises(MigrationError, match="0002_step.sql"):
            await db.migrate(good, backup_dir=tmp_path / "backups")
        assert await db.schema_version() == 1
        tables = {row[0] for row in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "b" not in tables
        assert list((tmp_path / "backups").glob("before-migration-v1-*.sqlite3"))
    finally:
        await db.close()


async def test_database_newer_than_the_code_is_refused(tmp_path):
    path = tmp_path / "t.sqlite3"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    db = Database(path)
    await db.connect()
    try:
        with pytest.raises(MigrationError, match="newer than this code"):
            await db.migrate(write_migrations(tmp_path / "m", "CREATE TABLE a (x);"))
    finally:
        await db.close()


async def test_writes_are_serialized_and_readers_see_committed_rows(tmp_path):
    db = Database(tmp_path / "t.sqlite3")
    await db.connect()
    try:
        await db.migrate(write_migrations(tmp_path / "m", "CREATE TABLE counter (n INTEGER);"))
        await db.execute("INSERT INTO counter VALUES (0)")

        async def bump() -> None:
            async with db.write() as conn:
                cursor = await conn.execute("SELECT n FROM counter")
                (value,) = await cursor.fetchone()
                await asyncio.sleep(0)
                await conn.execute("UPDATE counter SET n = ?", (value + 1,))

        await asyncio.gather(*(bump() for _ in range(50)))
        assert await db.fetchval("SELECT n FROM counter") == 50
    finally:
        await db.close()


async def test_failed_write_transaction_rolls_back(tmp_path):
    db = Database(tmp_path / "t.sqlite3")
    await db.connect()
    try:
        await db.migrate(write_migrations(tmp_path / "m", "CREATE TABLE t (x);"))
        with pytest.raises(RuntimeError):
            async with db.write() as conn:
                await conn.execute("INSERT INTO t VALUES (1)")
                raise RuntimeError("crash mid-transaction")
        assert await db.fetchval("SELECT count(*) FROM t") == 0
    finally:
        await db.close()


async def test_backup_while_writes_go_on_is_consistent(tmp_path):
    db = Database(tmp_path / "t.sqlite3")
    await db.connect()
    try:
        await db.migrate(write_migrations(tmp_path / "m", "CREATE TABLE t (x INTEGER, y INTEGER);"))

        async def writer() -> None:
            for i in range(200):
                async with db.write() as conn:
                    await conn.execute("INSERT INTO t VALUES (?, ?)", (i, i))
                    await conn.execute("INSERT INTO t VALUES (?, ?)", (-i, -i))

        task = asyncio.create_task(writer())
        await asyncio.sleep(0.01)
        target = tmp_path / "backup.sqlite3"
        await db.backup_to(target)
        await task
        copy = sqlite3.connect(target)
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = copy.execute("SELECT count(*) FROM t").fetchone()[0]
        assert count % 2 == 0  # never half a transaction
        copy.close()
    finally:
        await db.close()


async def test_cancelled_writer_never_leaves_a_transaction_open(tmp_path):
    db = Database(tmp_path / "t.sqlite3")
    await db.connect()
    try:
        await db.migrate(write_migrations(tmp_path / "m", "CREATE TABLE t (x);"))

        async def slow_write() -> None:
            async with db.write() as conn:
                await conn.execute("INSERT INTO t VALUES (1)")
                await asyncio.sleep(10)

        for delay in (0, 0.001, 0.01):
            task = asyncio.create_task(slow_write())
            await asyncio.sleep(delay)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        await db.execute("INSERT INTO t VALUES (2)")
        assert await db.fetchval("SELECT group_concat(x) FROM t") == "2"
    finally:
        await db.close()


async def test_run_reads_runs_at_once_and_takes_a_reader_when_sqlite_answers_busy(tmp_path):
    """run_reads (a kept My Page's reads) runs on the calling thread and never waits for a lock: when SQLite
    answers busy it runs on a reader's thread, which waits as every query does."""
    db = Database(tmp_path / "t.sqlite3")
    await db.connect()
    threads: list[int] = []

    def needs_the_lock(conn: sqlite3.Connection) -> str:
        """Waits for the write lock as long as `conn` would wait for a lock (busy while another writes)."""
        threads.append(threading.get_ident())
        wait_ms = conn.execute("PRAGMA busy_timeout").fetchone()[0]
        other = sqlite3.connect(db.path, timeout=wait_ms / 1000, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        finally:
            other.close()
        return "read"

    try:
        here = threading.get_ident()
        assert await db.run_reads(needs_the_lock) == "read" and threads == [here]
        async with db.write():
            waiting = asyncio.create_task(db.run_reads(needs_the_lock))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # busy at once here, then waiting on a reader
        assert await waiting == "read"
        assert threads[1] == here and threads[2] != here
        # Other errors are not retried.
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await db.run_reads(lambda conn: conn.execute("SELECT * FROM nowhere").fetchall())
    finally:
        await db.close()


async def test_short_reads_run_at_once_and_a_long_read_goes_to_a_reader_without_stalling_the_loop(tmp_path):
    """fetchone/fetchall run on the loop's thread; one that runs past the budget is stopped there, answered
    by a reader's thread (the loop keeps serving meanwhile) and its SQL goes to a reader from then on."""
    db = Database(tmp_path / "t.sqlite3")
    await db.connect()
    readers_taken = 0
    plain_read = db.read

    def counted_read() -> Any:
        nonlocal readers_taken
        readers_taken += 1
        return plain_read()

    db.read = counted_read  # type: ignore[method-assign]
    long_sql = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT count(*) FROM c"
    )
    try:
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x)")
        await db.executemany("INSERT INTO t (x) VALUES (?)", [(n,) for n in range(50)])
        assert (await db.fetchone("SELECT x FROM t WHERE id = ?", (7,)))["x"] == 6
        rows = await db.fetchall("SELECT x FROM t WHERE id <= 3 ORDER BY id")
        assert [row["x"] for row in rows] == [0, 1, 2]
        assert readers_taken == 0 and db.query_count == 4

        async def longest_pause(read: Any) -> float:
            """The longest the loop went without running another task while `read` ran, as a share of the
            read's time: a read on the loop's thread would pause it for nearly all of it (a ratio, so that a
            busy machine, which slows the read and the loop alike, does not fail the test)."""
            pauses: list[float] = []
            done = False

            async def ticker() -> None:
                last = asyncio.get_running_loop().time()
                while not done:
                    await asyncio.sleep(0.001)
                    now = asyncio.get_running_loop().time()
                    pauses.append(now - last)
                    last = now

            ticking = asyncio.create_task(ticker())
            await asyncio.sleep(0.01)
            started = asyncio.get_running_loop().time()
            assert await read == 1_000_000
            took = asyncio.get_running_loop().time() - started
            assert took > 0.1  # it did run long
            done = True
            await ticking
            return max(pauses) / took

        assert await longest_pause(db.fetchval(long_sql, (1_000_000,))) < 0.4
        assert readers_taken == 1 and long_sql in db._long_reads
        assert await longest_pause(_first_value(db.fetchall(long_sql, (1_000_000,)))) < 0.4
        assert readers_taken == 2  # straight to a reader: no second stall on the loop
        # Errors other than busy or a stop are raised, from either place.
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await db.fetchone("SELECT * FROM nowhere")
        with pytest.raises(sqlite3.OperationalError, match="attempt to write a readonly database"):
            await db.fetchall("INSERT INTO t (x) VALUES (1) RETURNING id")
    finally:
        await db.close()


async def _first_value(rows: Any) -> Any:
    return (await rows)[0][0]


async def test_fetches_and_single_writes_keep_their_results_and_roll_back_on_error(tmp_path):
    db = Database(tmp_path / "t.sqlite3")
    await db.connect()
    try:
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x UNIQUE)")
        assert await db.execute("INSERT INTO t (x) VALUES (?)", ("a",)) == 1
        await db.executemany("INSERT INTO t (x) VALUES (?)", [("b",), ("c",)])
        with pytest.raises(sqlite3.IntegrityError):
            await db.executemany("INSERT INTO t (x) VALUES (?)", [("d",), ("a",)])
        assert [row["x"] for row in await db.fetchall("SELECT x FROM t ORDER BY id")] == ["a", "b", "c"]
        assert (await db.fetchone("SELECT x FROM t WHERE id = 2"))["x"] == "b"
        assert await db.fetchone("SELECT x FROM t WHERE id = 9") is None
        assert await db.fetchval("SELECT count(*) FROM t") == 3
        # The writer is free again after the error (no transaction left open).
        assert await db.execute("INSERT INTO t (x) VALUES ('e')") == 4
    finally:
        await db.close()


async def test_two_databases_on_one_file_take_turns_to_write(tmp_path):
    """Two worker processes each have a Database on the file: one writes while the other waits, a whole
    run_write transaction commits or rolls back, and a holder that is cancelled lets the other on."""
    path = tmp_path / "t.sqlite3"
    first, second = Database(path), Database(path)
    await first.connect()
    await second.connect()
    try:
        await first.execute("CREATE TABLE t (x)")
        async with first.write() as conn:
            await conn.execute("INSERT INTO t VALUES (1)")
            waiting = asyncio.create_task(second.execute("INSERT INTO t VALUES (2)"))
            await asyncio.sleep(0.2)
            assert not waiting.done()
        await asyncio.wait_for(waiting, 2)
        assert await second.fetchval("SELECT group_concat(x) FROM t") == "1,2"

        # A whole transaction in one trip: run_write commits, or rolls back and lets the other write.
        def move(conn: sqlite3.Connection, value: int) -> int:
            conn.execute("INSERT INTO t VALUES (?)", (value,))
            if value < 0:
                raise ValueError("refused")
            return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])

        assert await first.run_write(move, 3) == 3
        with pytest.raises(ValueError, match="refused"):
            await first.run_write(move, -1)
        assert await second.execute("INSERT INTO t VALUES (4)")

        # A writer cancelled while it holds the lock releases it.
        async def held_too_long() -> None:
            async with first.write() as conn:
                await conn.execute("INSERT INTO t VALUES (5)")
                await asyncio.sleep(10)

        task = asyncio.create_task(held_too_long())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(second.execute("INSERT INTO t VALUES (6)"), 2)
        assert await first.fetchval("SELECT group_concat(x) FROM t") == "1,2,3,4,6"
    finally:
        await first.close()
        await second.close()


async def test_waiting_to_write_ends_at_the_busy_timeout(tmp_path):
    path = tmp_path / "t.sqlite3"
    holder, waiter = Database(path), Database(path, busy_timeout_ms=150)
    await holder.connect()
    await waiter.connect()
    try:
        await holder.execute("CREATE TABLE t (x)")
        async with holder.write():
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                await waiter.execute("INSERT INTO t VALUES (1)")
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                async with waiter.write() as conn:
                    await conn.execute("INSERT INTO t VALUES (1)")
        # Nothing is left held on the waiter's side.
        await waiter.execute("INSERT INTO t VALUES (2)")
        async with waiter.write() as conn:
            await conn.execute("INSERT INTO t VALUES (3)")
        assert await holder.fetchval("SELECT group_concat(x) FROM t") == "2,3"
    finally:
        await holder.close()
        await waiter.close()
