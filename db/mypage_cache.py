"""The My Page cache's rows and the version counters that keep them honest (0027_mypage_cache.sql,
0029_mypage_cache_stars.sql)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from db.database import Database
from db.sessions import WITH_MEMBER
from db.timestamps import to_db

# The versions, the next scheduled publish time and the member's kept parts, in one statement (one snapshot).
# The scheduled article is found in the articles_published index: the first published_at after now.
_READ = """
SELECT v.shared_now, v.member_now, v.bookmarks_now, v.next_publish,
       c.part, c.build, c.shared_version, c.member_version, c.day, c.valid_until, c.stored_at, c.body
FROM (SELECT
        (SELECT version FROM page_versions WHERE owner = 0) AS shared_now,
        coalesce((SELECT version FROM page_versions WHERE owner = :member), 0) AS member_now,
        coalesce((SELECT bookmarks FROM page_versions WHERE owner = :member), 0) AS bookmarks_now,
        (SELECT a.published_at FROM articles a WHERE a.status = 'published' AND a.published_at > :now
         ORDER BY a.published_at LIMIT 1) AS next_publish) v
LEFT JOIN mypage_cache c ON c.member_id = :member AND c.part IN (:first, :second)
"""

# One statement for any number of parts (the mypage_cache_prune_* triggers drop the parts of earlier days;
# mypage_cache_articles_* write the articles whose stars they show), stored only if the member's bookmarks did
# not change since the versions were read: a toggle that landed before could not know the parts show its star.
_STORE = """
INSERT INTO mypage_cache
    (member_id, part, build, shared_version, member_version, day, valid_until, body, stored_at, article_ids)
SELECT * FROM (VALUES {rows})
WHERE coalesce((SELECT bookmarks FROM page_versions WHERE owner = ?), 0) = ?
ON CONFLICT (member_id, part) DO UPDATE SET
    build = excluded.build, shared_version = excluded.shared_version, member_version = excluded.member_version,
    day = excluded.day, valid_until = excluded.valid_until, body = excluded.body, stored_at = excluded.stored_at,
    article_ids = excluded.article_ids
"""


@dataclass(frozen=True)
class Versions:
    """What a kept part must match to be served, read in the same statement as the parts."""

    shared: int
    member: int
    next_publish: str | None
    # Counts every bookmark change of the member; `member` counts only those that show on a kept part.
    bookmarks: int


@dataclass(frozen=True)
class KeptPart:
    build: str
    shared_version: int
    member_version: int
    day: str
    valid_until: str | None
    stored_at: str
    body: bytes


async def read(
    db: Database, member_id: int, parts: Sequence[str], *, now: datetime
) -> tuple[Versions, dict[str, KeptPart]]:
    """The current versions and the member's kept parts (one or two of them), in one query."""
    rows = await db.fetchall(_READ, {"member": member_id, **_read_params(parts, now)})
    return _versions_and_kept(rows)


def _read_params(parts: Sequence[str], now: datetime) -> dict[str, object]:
    """_READ's parameters but the member: one or two parts (the one repeated) and now."""
    return {"now": to_db(now), "first": parts[0], "second": parts[-1]}


def _versions_and_kept(rows: list[sqlite3.Row]) -> tuple[Versions, dict[str, KeptPart]]:
    head = rows[0]
    versions = Versions(
        int(head["shared_now"] or 0),
        int(head["member_now"] or 0),
        head["next_publish"],
        int(head["bookmarks_now"] or 0),
    )
    kept = {str(row["part"]): _kept(row) for row in rows if row["part"] is not None}
    return versions, kept


async def read_with_session(
    db: Database, token_hash: str, parts: Sequence[str], *, now: datetime
) -> tuple[sqlite3.Row | None, tuple[Versions, dict[str, KeptPart]] | None]:
    """The session with its member (db.sessions.WITH_MEMBER) and, when there is one, the versions and the
    member's kept parts (`read`): two statements in one trip to a reader, for a reload of My Page."""
    session, rows = await db.run_reads(_session_and_parts, token_hash, _read_params(parts, now))
    db.query_count += 1 if session is None else 2
    return session, None if rows is None else _versions_and_kept(rows)


def _session_and_parts(
    conn: sqlite3.Connection, token_hash: str, params: dict[str, object]
) -> tuple[sqlite3.Row | None, list[sqlite3.Row] | None]:
    # fetchall: each statement runs to its end, so no read transaction stays open behind a cursor.
    found = conn.execute(WITH_MEMBER, (token_hash,)).fetchall()
    if not found:
        return None, None
    session: sqlite3.Row = found[0]
    return session, conn.execute(_READ, {"member": session["id"], **params}).fetchall()


def _kept(row: sqlite3.Row) -> KeptPart:
    return KeptPart(
        build=str(row["build"]),
        shared_version=int(row["shared_version"]),
        member_version=int(row["member_version"]),
        day=str(row["day"]),
        valid_until=row["valid_until"],
        stored_at=str(row["stored_at"]),
        body=bytes(row["body"]),
    )


@dataclass(frozen=True)
class NewPart:
    part: str
    valid_until: str | None
    body: bytes
    # The articles whose bookmark stars the part shows.
    article_ids: tuple[int, ...] = ()


async def store(
    db: Database,
    member_id: int,
    parts: Sequence[NewPart],
    *,
    build: str,
    versions: Versions,
    day: str,
    now: datetime,
) -> None:
    """Keep the parts (one statement), replacing the member's earlier copies of them. Nothing is kept when the
    member's bookmarks changed since `versions` were read."""
    if not parts:
        return
    rows = ", ".join("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" for _ in parts)
    params: list[object] = []
    for part in parts:
        params += [
            member_id,
            part.part,
            build,
            versions.shared,
            versions.member,
            day,
            part.valid_until,
            part.body,
            to_db(now),
            json.dumps(part.article_ids) if part.article_ids else None,
        ]
    params += [member_id, versions.bookmarks]
    await db.execute(_STORE.format(rows=rows), params)  # noqa: S608 - only ? marks are formatted in
