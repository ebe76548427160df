"""Schema drift: what the live database lacks (or has differently) compared with a fresh one.

A database made by an earlier release can miss an index or column when a migration was edited after it
had landed. `schema_drift(db)` names every such difference; start-up logs them as a warning and
`litestar tsudoi doctor` can list them for the admin.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from db.database import MIGRATIONS_DIR, Database
from db.schema import Schema, SchemaObject, fresh_schema, read_schema

Problem = Literal["missing", "different", "extra"]
Kind = Literal["table", "column", "index", "trigger", "view"]

_KIND_JA = {
    "table": "テーブル",
    "column": "列",
    "index": "インデックス",
    "trigger": "トリガー",
    "view": "ビュー",
}


@dataclass(frozen=True)
class SchemaDrift:
    """One difference. `name` is the object's name ("table.column" for a column)."""

    problem: Problem
    kind: Kind
    name: str
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.problem} {self.kind} {self.name}"
        return f"{text} ({self.detail})" if self.detail else text

    @property
    def japanese(self) -> str:
        """The line for the admin (doctor)."""
        what = f"{_KIND_JA[self.kind]} {self.name}"
        if self.problem == "missing":
            return f"{what} がありません。"
        if self.problem == "extra":
            return f"{what} はマイグレーションにないものです。"
        return f"{what} の定義が、新しく作ったデータベースと違います（{self.detail}）。"


def _kind(item: SchemaObject) -> Kind:
    return cast(Kind, item.type)


def compare_schemas(expected: Schema, actual: Schema) -> list[SchemaDrift]:
    """Differences of `actual` from `expected`: tables, their columns, indexes, triggers and views."""
    drift: list[SchemaDrift] = []
    for table in sorted(expected.tables.keys() - actual.tables.keys()):
        drift.append(SchemaDrift("missing", "table", table))
    for table in sorted(expected.tables.keys() & actual.tables.keys()):
        want, have = expected.columns.get(table, {}), actual.columns.get(table, {})
        for column in want:
            name = f"{table}.{column}"
            if column not in have:
                drift.append(SchemaDrift("missing", "column", name, want[column].describe()))
            elif have[column] != want[column]:
                detail = f"expected {want[column].describe()}, found {have[column].describe()}"
                drift.append(SchemaDrift("different", "column", name, detail))
        for column in have.keys() - want.keys():
            drift.append(SchemaDrift("extra", "column", f"{table}.{column}"))
        # Same columns in the same order yet another statement: a constraint (CHECK, REFERENCES…) differs.
        # (A column added later by ALTER TABLE sits last; that order alone is no difference.)
        if list(want.items()) == list(have.items()) and expected.tables[table] != actual.tables[table]:
            detail = f"expected {expected.tables[table]}, found {actual.tables[table]}"
            drift.append(SchemaDrift("different", "table", table, detail))
    for table in sorted(actual.tables.keys() - expected.tables.keys()):
        drift.append(SchemaDrift("extra", "table", table))
    for name in sorted(expected.objects):
        want_object = expected.objects[name]
        have_object = actual.objects.get(name)
        if have_object is None:
            drift.append(SchemaDrift("missing", _kind(want_object), name, f"on {want_object.table}"))
        elif have_object != want_object:
            detail = f"expected {want_object.sql}, found {have_object.sql}"
            drift.append(SchemaDrift("different", _kind(want_object), name, detail))
    for name in sorted(actual.objects.keys() - expected.objects.keys()):
        drift.append(SchemaDrift("extra", _kind(actual.objects[name]), name))
    return drift


async def schema_drift(db: Database, directory: Path = MIGRATIONS_DIR) -> list[SchemaDrift]:
    """Compare the connected database with a fresh in-memory one built from the migrations in `directory`.

    Returns [] when they match. Reads only (the reader pool); safe while the app serves.
    """
    expected = await asyncio.to_thread(fresh_schema, directory)
    return compare_schemas(expected, await read_schema(db))
