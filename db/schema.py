"""The schema a database really has (sqlite_master and pragma_table_info), and the one the migrations build."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from db.database import MIGRATIONS_DIR, Database, migration_files

# Internal tables (sqlite_sequence, sqlite_stat1) and automatic indexes (sqlite_autoindex_*) are SQLite's.
_OBJECTS_SQL = (
    "SELECT type, name, tbl_name, sql FROM sqlite_master "
    "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name"
)
_COLUMNS_SQL = (
    'SELECT m.name, p.name, p.type, p."notnull", p.dflt_value, p.pk '
    "FROM sqlite_master m JOIN pragma_table_info(m.name) p "
    "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY m.name, p.cid"
)


def normalize_sql(sql: str | None) -> str:
    """The statement without comments, IF NOT EXISTS or layout, so equal definitions compare equal."""
    text = re.sub(r"--[^\n]*", " ", sql or "")
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s*([(),;])\s*", r"\1", text)
    return re.sub(
        r"^(CREATE (?:UNIQUE )?(?:VIRTUAL )?(?:TABLE|INDEX|TRIGGER|VIEW)) IF NOT EXISTS ", r"\1 ", text
    )


@dataclass(frozen=True)
class Column:
    type: str
    notnull: bool
    default: str | None
    pk: int

    def describe(self) -> str:
        parts = [self.type or "(no type)"]
        if self.notnull:
            parts.append("NOT NULL")
        if self.default is not None:
            parts.append(f"DEFAULT {self.default}")
        if self.pk:
            parts.append("PRIMARY KEY")
        return " ".join(parts)


@dataclass(frozen=True)
class SchemaObject:
    """An index, trigger or view: its table and its normalized CREATE statement."""

    type: str
    name: str
    table: str
    sql: str


@dataclass
class Schema:
    tables: dict[str, str] = field(default_factory=dict)  # name -> normalized CREATE TABLE
    columns: dict[str, dict[str, Column]] = field(default_factory=dict)  # table -> column name -> Column
    objects: dict[str, SchemaObject] = field(default_factory=dict)  # indexes, triggers and views by name

    @classmethod
    def from_rows(cls, objects: Iterable[Any], columns: Iterable[Any]) -> Schema:
        schema = cls()
        for kind, name, table, sql in objects:
            if kind == "table":
                schema.tables[name] = normalize_sql(sql)
                schema.columns[name] = {}
            else:
                schema.objects[name] = SchemaObject(kind, name, table, normalize_sql(sql))
        for table, name, kind, notnull, default, pk in columns:
            schema.columns.setdefault(table, {})[name] = Column(kind, bool(notnull), default, int(pk))
        return schema


def read_schema_sync(conn: sqlite3.Connection) -> Schema:
    return Schema.from_rows(conn.execute(_OBJECTS_SQL).fetchall(), conn.execute(_COLUMNS_SQL).fetchall())


async def read_schema(db: Database) -> Schema:
    return Schema.from_rows(await db.fetchall(_OBJECTS_SQL), await db.fetchall(_COLUMNS_SQL))


def fresh_schema(directory: Path = MIGRATIONS_DIR) -> Schema:
    """The schema every migration in `directory` builds on an empty database (in memory, once per content)."""
    return _fresh_schema(tuple(path.read_text(encoding="utf-8") for _, path in migration_files(directory)))


@lru_cache(maxsize=4)
def _fresh_schema(scripts: tuple[str, ...]) -> Schema:
    conn = sqlite3.connect(":memory:")
    try:
        for sql in scripts:
            conn.executescript(sql)
        return read_schema_sync(conn)
    finally:
        conn.close()
