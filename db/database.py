"""The one SQLite file: a serialized writer, a small pool of readers, migrations on start."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from services.private_files import make_sqlite_private, private_dir, touch_private

log = logging.getLogger("tsudoi.db")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

Params = Sequence[Any] | dict[str, Any]


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


async def _configure(conn: aiosqlite.Connection, busy_timeout_ms: int) -> None:
    conn.row_factory = sqlite3.Row
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    await conn.execute("PRAGMA synchronous = NORMAL")


class Database:
    def __init__(self, path: Path, readers: int = 3, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.reader_count = readers
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        # Counts statements so tests and benches can see each page's query count.
        self.query_count = 0

    async def connect(self) -> None:
        # Created 0600 before SQLite opens it: SQLite gives -wal and -shm the database file's mode.
        touch_private(self.path)
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        await self._writer.execute("PRAGMA journal_mode = WAL")
        make_sqlite_private(self.path)
        await _configure(self._writer, self.busy_timeout_ms)
        for _ in range(self.reader_count):
            reader = await aiosqlite.connect(self.path, isolation_level=None)
            await _configure(reader, self.busy_timeout_ms)
            await reader.execute("PRAGMA query_only = ON")
            self._all_readers.append(reader)
            self._readers.put_nowait(reader)

    async def close(self) -> None:
        for reader in self._all_readers:
            await reader.close()
        self._all_readers.clear()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction at a time; BEGIN IMMEDIATE so readers never upgrade into a deadlock."""
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

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        self.query_count += 1
        async with self.read() as conn, conn.execute(sql, params) as cursor:
            row: sqlite3.Row | None = await cursor.fetchone()
            return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        self.query_count += 1
        async with self.read() as conn, conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def execute(self, sql: str, params: Params = ()) -> int:
        """A single write statement in its own transaction; returns lastrowid."""
        self.query_count += 1
        async with self.write() as conn:
            cursor = await conn.execute(sql, params)
            return cursor.lastrowid or 0

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self.query_count += 1
        async with self.write() as conn:
            await conn.executemany(sql, rows)

    async def schema_version(self) -> int:
        return int(await self.fetchval("PRAGMA user_version") or 0)

    async def migrate(self, directory: Path = MIGRATIONS_DIR, backup_dir: Path | None = None) -> int:
        """Apply pending migrations, each in one transaction; refuse a database newer than the code."""
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
        for number, path in pending:
            sql = path.read_text(encoding="utf-8")
            async with self._write_lock:
                try:
                    await self._writer.executescript(
                        f"BEGIN IMMEDIATE;\n{sql}\n;PRAGMA user_version = {number};\nCOMMIT;"
                    )
                except sqlite3.Error as error:
                    if self._writer.in_transaction:
                        await self._writer.execute("ROLLBACK")
                    raise MigrationError(
                        f"Migration {path.name} failed: {error}. The database was left unchanged "
                        f"at schema version {number - 1}."
                    ) from error
            log.info("applied migration %s", path.name)
        return latest

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
