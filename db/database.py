"""The one SQLite file: a serialized writer, a small pool of readers, migrations on start."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from services.private_files import make_sqlite_private, open_private, private_dir, touch_private

log = logging.getLogger("tsudoi.db")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# A column a landed migration gained later: SQLite has no ADD COLUMN IF NOT EXISTS, so a repair migration
# names it on a comment line and the runner adds it (in that migration's transaction) only where missing.
_ADD_COLUMN_IF_MISSING = re.compile(
    r"^-- add-column-if-missing: ([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*) (.+)$", re.MULTILINE
)

Params = Sequence[Any] | dict[str, Any]
T = TypeVar("T")

# Every schema object by name, and every column as "table.column" (SQLite's own objects left out).
_LIVE_OBJECTS_SQL = """
SELECT 'object', name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
UNION ALL
SELECT 'column', m.name || '.' || p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
"""


@lru_cache(maxsize=8)
def _footprints(scripts: tuple[tuple[int, str], ...]) -> dict[int, frozenset[tuple[str, str]]]:
    """What each migration creates that a fresh database still has, found by applying them in memory."""
    conn = sqlite3.connect(":memory:")
    try:
        seen: set[tuple[str, str]] = set()
        created: dict[int, set[tuple[str, str]]] = {}
        for number, sql in scripts:
            try:
                conn.executescript(sql)
            except sqlite3.Error:
                break  # a broken migration stops here, as it would stop start-up
            now = {(str(row[0]), str(row[1])) for row in conn.execute(_LIVE_OBJECTS_SQL)}
            created[number] = now - seen
            seen = now
        return {number: frozenset(objects & seen) for number, objects in created.items()}
    finally:
        conn.close()


def _footprints_of(files: list[tuple[int, Path]]) -> dict[int, frozenset[tuple[str, str]]]:
    return _footprints(tuple((number, path.read_text(encoding="utf-8")) for number, path in files))


class MigrationError(RuntimeError):
    """A migration failed or the database is newer than this code; start-up must stop."""


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    numbers = [number for number, _ in found]
    if len(set(numbers)) != len(numbers):
        raise MigrationError(f"two migrations share a number: {numbers}")
    return found


async def _configure(conn: aiosqlite.Connection, busy_timeout_ms: int, autocheckpoint: bool = True) -> None:
    conn.row_factory = sqlite3.Row
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    await conn.execute("PRAGMA synchronous = NORMAL")
    if not autocheckpoint:
        # Litestream owns checkpointing while it replicates (services/replication.py).
        await conn.execute("PRAGMA wal_autocheckpoint = 0")


MIGRATE_LOCK = "migrate.lock"


def _lock_migrations(database: Path) -> int:
    """Wait for, then hold, the exclusive lock migrations take (released when the descriptor closes)."""
    fd = open_private(private_dir(database.parent) / MIGRATE_LOCK, truncate=False)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


async def _on_thread(conn: aiosqlite.Connection, function: Callable[..., T], *args: Any) -> T:
    """`function(sqlite3 connection, *args)` on the connection's own thread, in one trip. aiosqlite has a
    one-trip fetchall (execute_fetchall) but no fetchone or single-statement transaction; `_execute` is how
    its own helpers run a function there."""
    result: T = await conn._execute(function, conn._conn, *args)  # type: ignore[no-untyped-call]
    return result


def _first_row(conn: sqlite3.Connection, sql: str, params: Params) -> sqlite3.Row | None:
    """Runs on the connection's thread: the first row, the cursor closed at once."""
    cursor = conn.execute(sql, params)
    try:
        row: sqlite3.Row | None = cursor.fetchone()
        return row
    finally:
        cursor.close()


def _all_rows(conn: sqlite3.Connection, sql: str, params: Params) -> list[sqlite3.Row]:
    cursor = conn.execute(sql, params)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


# A read on the event loop's own thread (see Database.fetchone) that has used this much of the thread's CPU
# is stopped and run again on a reader's thread; its SQL then always goes there. CPU time, not wall time:
# under load the check itself may wait a few ms for the GIL, which says nothing about the read. A read
# waiting for the disk is stopped after AT_ONCE_WAIT_S of wall time. SQLite checks every _PROGRESS_STEPS
# steps of its VM (an indexed lookup is tens to hundreds: it is never checked).
AT_ONCE_BUDGET_S = 0.002
AT_ONCE_WAIT_S = 0.02
_PROGRESS_STEPS = 1000
_LONG_READS_KEPT = 1024
_TAKE_A_READER: Any = object()  # busy, locked or over budget: the read goes to a reader's thread


def _transaction(conn: sqlite3.Connection, function: Callable[..., T], args: tuple[Any, ...]) -> T:
    """Runs on the writer's thread: `function(conn, *args)` in one write transaction."""
    conn.execute("BEGIN IMMEDIATE")  # when busy this raises with no transaction open
    try:
        result = function(conn, *args)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def _one_statement(conn: sqlite3.Connection, sql: str, params: Any, many: bool) -> int:
    cursor = conn.executemany(sql, params) if many else conn.execute(sql, params)
    rowid = cursor.lastrowid or 0
    cursor.close()
    return rowid


class Database:
    def __init__(
        self, path: Path, readers: int = 3, busy_timeout_ms: int = 5000, autocheckpoint: bool = True
    ) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.autocheckpoint = autocheckpoint
        self.reader_count = readers
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._at_once: sqlite3.Connection | None = None
        self._at_once_deadline = 0.0
        self._at_once_wait_deadline = 0.0
        self._long_reads: set[str] = set()
        # Counts statements so tests and benches can see each page's query count.
        self.query_count = 0

    async def connect(self) -> None:
        # Created 0600 before SQLite opens it: SQLite gives -wal and -shm the database file's mode.
        touch_private(self.path)
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        await self._writer.execute("PRAGMA journal_mode = WAL")
        make_sqlite_private(self.path)
        await _configure(self._writer, self.busy_timeout_ms, self.autocheckpoint)
        for _ in range(self.reader_count):
            reader = await aiosqlite.connect(self.path, isolation_level=None)
            await _configure(reader, self.busy_timeout_ms, self.autocheckpoint)
            await reader.execute("PRAGMA query_only = ON")
            self._all_readers.append(reader)
            self._readers.put_nowait(reader)
        self._at_once = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._at_once.row_factory = sqlite3.Row
        # Never waits: a lock held elsewhere raises at once and the caller takes a reader instead.
        self._at_once.execute("PRAGMA busy_timeout = 0")
        self._at_once.execute("PRAGMA query_only = ON")
        self._at_once.set_progress_handler(self._over_budget, _PROGRESS_STEPS)
        if not self.autocheckpoint:
            self._at_once.execute("PRAGMA wal_autocheckpoint = 0")

    async def close(self) -> None:
        if self._at_once is not None:
            self._at_once.close()
            self._at_once = None
        for reader in self._all_readers:
            await reader.close()
        self._all_readers.clear()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction at a time; BEGIN IMMEDIATE so readers never upgrade into a deadlock. Each
        statement in it is a trip to the writer's thread: a transaction that needs no await between its
        statements is better as one `run_write`."""
        assert self._writer is not None, "database is not connected"
        async with self._write_lock:
            conn = self._writer
            try:
                await conn.execute("BEGIN IMMEDIATE")
                yield conn
            except BaseException:
                # Shielded, and queued after BEGIN on the connection's thread: even a task cancelled while
                # BEGIN was still pending never leaves a transaction open behind the lock.
                await asyncio.shield(self._rollback(conn))
                raise
            else:
                await asyncio.shield(conn.execute("COMMIT"))

    @staticmethod
    async def _rollback(conn: aiosqlite.Connection) -> None:
        try:
            await conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass  # BEGIN itself failed (busy): no transaction to undo

    async def run_write(self, function: Callable[..., T], *args: Any) -> T:
        """`function(sqlite3 connection, *args)` in one write transaction, in one trip to the writer's
        thread: the write lock is held only while its statements run. The caller counts its statements."""
        assert self._writer is not None, "database is not connected"
        conn = self._writer
        async with self._write_lock:
            # Shielded: once queued, the transaction ends on the writer's thread (committed or rolled back)
            # even when the caller is cancelled, before the next writer's statement runs there.
            return await asyncio.shield(_on_thread(conn, _transaction, function, args))

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    # Reads run on the event loop's own thread when they are short (nearly all are: indexed rows), on a
    # connection that never waits for a lock. A trip to a reader's thread and back costs more than such a
    # read (each way waits for the GIL while the loop is busy), and it kept a worker's load on more than one
    # core, which left a second worker less than a core of its own (bench/load.py --workers 2). A read that
    # runs long is stopped after AT_ONCE_BUDGET_S of CPU and goes to a reader's thread, as does one
    # SQLite answers busy; its SQL then always goes there, so it stalls the loop at most once.
    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = await self._read(sql, _first_row, params)
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = await self._read(sql, _all_rows, params)
        return rows

    async def _read(
        self, sql: str, function: Callable[[sqlite3.Connection, str, Params], T], params: Params
    ) -> T:
        self.query_count += 1
        if sql not in self._long_reads:
            result = self._at_once_or_reader(sql, function, sql, params)
            if result is not _TAKE_A_READER:
                return result
        return await self._on_a_reader(function, sql, params)

    async def _on_a_reader(self, function: Callable[..., T], *args: Any) -> T:
        async with self.read() as conn:
            return await _on_thread(conn, function, *args)

    def _over_budget(self) -> bool:
        return (
            time.thread_time() > self._at_once_deadline or time.perf_counter() > self._at_once_wait_deadline
        )

    def _at_once_or_reader(self, sql: str | None, function: Callable[..., T], *args: Any) -> T:
        """`function(connection, *args)` on this thread, or _TAKE_A_READER (remembering `sql` as long)."""
        if self._at_once is None:
            return _TAKE_A_READER  # type: ignore[no-any-return]
        self._at_once_deadline = time.thread_time() + AT_ONCE_BUDGET_S
        self._at_once_wait_deadline = time.perf_counter() + AT_ONCE_WAIT_S
        try:
            return function(self._at_once, *args)
        except sqlite3.OperationalError as error:
            code = error.sqlite_errorcode & 0xFF
            if code == sqlite3.SQLITE_INTERRUPT and sql is not None:
                if len(self._long_reads) >= _LONG_READS_KEPT:
                    self._long_reads.clear()  # SQL built with a varying text; the next long read re-learns
                self._long_reads.add(sql)
            elif code not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT):
                raise
            return _TAKE_A_READER  # type: ignore[no-any-return]

    async def run_reads(self, function: Callable[..., T], *args: Any) -> T:
        """`function(sqlite3 connection, *args)`, a few reads of indexed rows for the hottest path (a kept
        My Page), run at once on the event loop's own thread as fetchone does; the caller adds its
        statements to query_count. When SQLite answers busy (or the reads run long), they run on a reader's
        thread, which waits for a lock as every query does."""
        result = self._at_once_or_reader(None, function, *args)
        if result is not _TAKE_A_READER:
            return result
        return await self._on_a_reader(function, *args)

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def execute(self, sql: str, params: Params = ()) -> int:
        """A single write statement in its own transaction; returns lastrowid."""
        self.query_count += 1
        return await self._write_alone(sql, params, many=False)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self.query_count += 1
        await self._write_alone(sql, rows, many=True)

    async def _write_alone(self, sql: str, params: Any, *, many: bool) -> int:
        """BEGIN, the statement and COMMIT in one trip to the writer's thread (three with `write()`)."""
        return await self.run_write(_one_statement, sql, params, many)

    async def schema_version(self) -> int:
        return int(await self.fetchval("PRAGMA user_version") or 0)

    async def migrate(self, directory: Path = MIGRATIONS_DIR, backup_dir: Path | None = None) -> int:
        """Apply pending migrations, each in one transaction; refuse a database newer than the code.

        Several processes may start at once on one file (`litestar run --wc N`, a CLI command beside
        the app): they take turns through an exclusive lock on `migrate.lock` beside the database, so the
        first migrates (and writes the backup before it) and the others then find nothing pending."""
        fd = await asyncio.to_thread(_lock_migrations, self.path)
        try:
            return await self._migrate(directory, backup_dir)
        finally:
            os.close(fd)  # closing the file drops the lock

    async def _migrate(self, directory: Path, backup_dir: Path | None) -> int:
        assert self._writer is not None
        files = migration_files(directory)
        latest = files[-1][0] if files else 0
        async with self._writer.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        current = int(row[0]) if row else 0
        if current > latest:
            raise MigrationError(
                f"The database {self.path} has schema version {current}, newer than this code ({latest}). "
                "Upgrade Tsudoi or restore a matching backup."
            )
        pending = [(number, path) for number, path in files if number > current]
        if pending and current > 0 and backup_dir is not None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            target = backup_dir / f"before-migration-v{current}-{stamp}.sqlite3"
            await self.backup_to(target)
            log.info("backup before migration written to %s", target)
        if pending and current > 0:
            for _, path in await self._skipped_migrations(files, current):
                await self._apply(path.name, path.read_text(encoding="utf-8"), current)
                log.warning(
                    "applied migration %s, which landed below this database's version %s", path.name, current
                )
        for number, path in pending:
            await self._apply(path.name, path.read_text(encoding="utf-8"), number, previous=current)
            current = number
            log.info("applied migration %s", path.name)
        return latest

    async def _apply(self, name: str, sql: str, version: int, previous: int | None = None) -> None:
        """One migration in one transaction, ending with `PRAGMA user_version = version`."""
        assert self._writer is not None
        async with self._write_lock:
            try:
                sql = await self._missing_columns_sql(sql) + sql
                await self._writer.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\n;PRAGMA user_version = {version};\nCOMMIT;"
                )
            except sqlite3.Error as error:
                if self._writer.in_transaction:
                    await self._writer.execute("ROLLBACK")
                raise MigrationError(
                    f"Migration {name} failed: {error}. The database was left unchanged "
                    f"at schema version {version if previous is None else previous}."
                ) from error

    async def _skipped_migrations(
        self, files: list[tuple[int, Path]], current: int
    ) -> list[tuple[int, Path]]:
        """Migrations numbered at or below the database's version that it never got.

        In the project's first hour migrations landed out of number order (0009 before 0003-0008, 0008
        before 0006), so a database made in between records version 9 without them, and the usual rule
        (apply what is above user_version) would never apply them. A migration counts as skipped when the
        database has none of the tables, columns, indexes and triggers it creates (those a fresh database
        still has). A migration present in part is not re-applied: repair migrations handle that case.
        """
        assert self._writer is not None
        footprints = await asyncio.to_thread(_footprints_of, files)
        async with self._writer.execute(_LIVE_OBJECTS_SQL) as cursor:
            live = {(str(row[0]), str(row[1])) for row in await cursor.fetchall()}
        return [
            (number, path)
            for number, path in files
            if number <= current and footprints.get(number) and not footprints[number] & live
        ]

    async def _missing_columns_sql(self, sql: str) -> str:
        """ALTER TABLE … ADD COLUMN for each `-- add-column-if-missing:` line whose column the table lacks."""
        assert self._writer is not None
        statements = []
        for table, column, definition in _ADD_COLUMN_IF_MISSING.findall(sql):
            async with self._writer.execute("SELECT name FROM pragma_table_info(?)", (table,)) as cursor:
                columns = {row[0] for row in await cursor.fetchall()}
            if columns and column not in columns:
                statements.append(f"ALTER TABLE {table} ADD COLUMN {column} {definition};\n")
        return "".join(statements)

    async def backup_to(self, target: Path) -> None:
        """A consistent copy through SQLite's online backup API, safe while the app writes."""
        assert self._writer is not None
        private_dir(target.parent)
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.unlink(missing_ok=True)
        touch_private(tmp)
        async with self._write_lock:
            dest = await aiosqlite.connect(tmp)
            try:
                await self._writer.backup(dest)
            finally:
                await dest.close()
        tmp.replace(target)
