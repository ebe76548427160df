"""Queries on articles: writing them (admin, feed), one article's page, browsing and search, admin lists,
the feed settings."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.database import Database
from db.timestamps import to_db

# A viewer may see an article when it is published and due.
VISIBLE = "a.status = 'published' AND a.published_at <= :now"

# What an article card shows, plus the viewer's bookmark (member 0 = nobody logged in).
CARD_COLUMNS = """
    a.id, a.kind, a.status, a.title, a.summary, a.published_at, a.members_only, a.event_date,
    a.event_place, a.external_url,
    (SELECT group_concat(t.name, '・') FROM article_terms at2 JOIN terms t ON t.id = at2.term_id
      WHERE at2.article_id = a.id AND t.taxonomy = 'region') AS region_names,
    (SELECT group_concat(t.name, '・') FROM article_terms at2 JOIN terms t ON t.id = at2.term_id
      WHERE at2.article_id = a.id AND t.taxonomy = 'topic') AS topic_names,
    EXISTS (SELECT 1 FROM bookmarks b WHERE b.member_id = :viewer AND b.article_id = a.id) AS bookmarked
"""


# ---------------------------------------------------------------- articles


@dataclass(frozen=True)
class ArticleData:
    """Everything an article row holds apart from its id and timestamps."""

    kind: str
    status: str
    title: str
    summary: str
    body_md: str
    body_html: str
    external_url: str
    published_at: datetime
    members_only: bool
    event_date: datetime | None
    event_place: str
    application_url: str

    def params(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": self.status,
            "title": self.title,
            "summary": self.summary,
            "body_md": self.body_md,
            "body_html": self.body_html,
            "external_url": self.external_url,
            "published_at": to_db(self.published_at),
            "members_only": 1 if self.members_only else 0,
            "event_date": to_db(self.event_date) if self.event_date else None,
            "event_place": self.event_place,
            "application_url": self.application_url,
        }


_INSERT_ARTICLE = """
INSERT INTO articles (kind, status, title, summary, body_md, body_html, external_url, published_at,
  members_only, event_date, event_place, application_url, feed_guid, created_at, updated_at)
VALUES (:kind, :status, :title, :summary, :body_md, :body_html, :external_url, :published_at,
  :members_only, :event_date, :event_place, :application_url, :feed_guid, :now, :now)
"""

_UPDATE_ARTICLE = """
UPDATE articles SET kind = :kind, status = :status, title = :title, summary = :summary, body_md = :body_md,
  body_html = :body_html, external_url = :external_url, published_at = :published_at,
  members_only = :members_only, event_date = :event_date, event_place = :event_place,
  application_url = :application_url, updated_at = :now
WHERE id = :id
"""


async def create_article(
    db: Database, data: ArticleData, term_ids: Sequence[int], *, now: datetime, feed_guid: str | None = None
) -> int:
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute(
            _INSERT_ARTICLE, {**data.params(), "feed_guid": feed_guid, "now": to_db(now)}
        )
        article_id = int(cursor.lastrowid or 0)
        await conn.executemany(
            "INSERT OR IGNORE INTO article_terms (article_id, term_id) VALUES (?, ?)",
            [(article_id, term_id) for term_id in term_ids],
        )
    return article_id


async def update_article(
    db: Database, article_id: int, data: ArticleData, term_ids: Sequence[int], *, now: datetime
) -> None:
    async with db.write() as conn:
        db.query_count += 1
        await conn.execute(_UPDATE_ARTICLE, {**data.params(), "id": article_id, "now": to_db(now)})
        await conn.execute("DELETE FROM article_terms WHERE article_id = ?", (article_id,))
        await conn.executemany(
            "INSERT OR IGNORE INTO article_terms (article_id, term_id) VALUES (?, ?)",
            [(article_id, term_id) for term_id in term_ids],
        )


async def upsert_feed_article(
    db: Database, feed_guid: str, data: ArticleData, term_ids: Sequence[int], *, now: datetime
) -> tuple[int, bool]:
    """Insert a feed entry, or update the article already imported under the same guid.

    An update keeps the article's status, so an article the admin unpublished stays unpublished.
    Returns (article id, created).
    """
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute("SELECT id, status FROM articles WHERE feed_guid = ?", (feed_guid,))
        row = await cursor.fetchone()
        params = {**data.params(), "now": to_db(now)}
        if row is None:
            cursor = await conn.execute(_INSERT_ARTICLE, {**params, "feed_guid": feed_guid})
            article_id, created = int(cursor.lastrowid or 0), True
        else:
            article_id, created = int(row[0]), False
            await conn.execute(_UPDATE_ARTICLE, {**params, "status": row[1], "id": article_id})
            await conn.execute("DELETE FROM article_terms WHERE article_id = ?", (article_id,))
        await conn.executemany(
            "INSERT OR IGNORE INTO article_terms (article_id, term_id) VALUES (?, ?)",
            [(article_id, term_id) for term_id in term_ids],
        )
    return article_id, created


async def set_status(db: Database, article_id: int, status: str, *, now: datetime) -> None:
    await db.execute(
        "UPDATE articles SET status = ?, updated_at = ? WHERE id = ?", (status, to_db(now), article_id)
    )


async def get_article(db: Database, article_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM articles WHERE id = ?", (article_id,))


async def feed_guids(db: Database, guids: Sequence[str]) -> set[str]:
    if not guids:
        return set()
    marks = ",".join("?" for _ in guids)
    rows = await db.fetchall(f"SELECT feed_guid FROM articles WHERE feed_guid IN ({marks})", tuple(guids))  # noqa: S608
    return {str(r[0]) for r in rows}


async def terms_of(db: Database, article_ids: Sequence[int]) -> dict[int, list[sqlite3.Row]]:
    """The terms of several articles in one query, taxonomy order kept."""
    if not article_ids:
        return {}
    marks = ",".join("?" for _ in article_ids)
    rows = await db.fetchall(
        "SELECT at.article_id, t.* FROM article_terms at JOIN terms t ON t.id = at.term_id "  # noqa: S608
        f"WHERE at.article_id IN ({marks}) ORDER BY t.taxonomy, t.sort_order, t.name",
        tuple(article_ids),
    )
    found: dict[int, list[sqlite3.Row]] = {article_id: [] for article_id in article_ids}
    for row in rows:
        found[int(row["article_id"])].append(row)
    return found


async def article_page(db: Database, article_id: int, *, viewer: int) -> sqlite3.Row | None:
    """The article with its bookmark state for the viewer (0 = nobody)."""
    return await db.fetchone(
        "SELECT a.*, EXISTS (SELECT 1 FROM bookmarks b WHERE b.member_id = :viewer AND b.article_id = a.id) "
        "AS bookmarked FROM articles a WHERE a.id = :id",
        {"viewer": viewer, "id": article_id},
    )


async def neighbours(
    db: Database, article: sqlite3.Row, *, now: datetime, include_events: bool
) -> dict[str, sqlite3.Row]:
    """The previous (older) and next (newer) article a viewer may list, in one query."""
    rows = await db.fetchall(
        f"""
        SELECT 'prev' AS side, * FROM (
          SELECT a.id, a.title FROM articles a WHERE {VISIBLE} AND (:events OR a.kind != 'event')
            AND (a.published_at < :p OR (a.published_at = :p AND a.id < :id))
          ORDER BY a.published_at DESC, a.id DESC LIMIT 1)
        UNION ALL
        SELECT 'next' AS side, * FROM (
          SELECT a.id, a.title FROM articles a WHERE {VISIBLE} AND (:events OR a.kind != 'event')
            AND (a.published_at > :p OR (a.published_at = :p AND a.id > :id))
          ORDER BY a.published_at ASC, a.id ASC LIMIT 1)
        """,  # noqa: S608
        {
            "now": to_db(now),
            "events": 1 if include_events else 0,
            "p": article["published_at"],
            "id": article["id"],
        },
    )
    return {str(r["side"]): r for r in rows}


# ---------------------------------------------------------------- browse and search


@dataclass(frozen=True)
class SearchTerms:
    """A keyword split into parts: 3+ characters go to the trigram index, shorter ones to LIKE."""

    fts: str
    likes: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.fts and not self.likes


def _like_pattern(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_terms(words: Sequence[str]) -> SearchTerms:
    phrases = []
    likes = []
    for word in words:
        if len(word) >= 3:
            phrases.append('"' + word.replace('"', '""') + '"')
        elif word:
            likes.append(_like_pattern(word))
    return SearchTerms(fts=" AND ".join(phrases), likes=tuple(likes))


UNDER_TERMS = (
    "EXISTS (SELECT 1 FROM article_terms at JOIN term_closure tc ON tc.descendant_id = at.term_id "
    "WHERE at.article_id = a.id AND tc.ancestor_id IN (:marks))"
)


def _browse_where(
    *,
    region_ids: Sequence[int],
    topic_ids: Sequence[int],
    search: SearchTerms,
    include_events: bool,
    kind: str | None,
) -> tuple[str, dict[str, Any]]:
    parts = [VISIBLE]
    params: dict[str, Any] = {}
    if not include_events:
        parts.append("a.kind != 'event'")
    if kind is not None:
        parts.append("a.kind = :kind")
        params["kind"] = kind
    for name, ids in (("region", region_ids), ("topic", topic_ids)):
        if ids:
            marks = ",".join(f":{name}{index}" for index in range(len(ids)))
            parts.append(UNDER_TERMS.replace(":marks", marks))
            params.update({f"{name}{index}": term_id for index, term_id in enumerate(ids)})
    if search.fts:
        parts.append("a.id IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :fts)")
        params["fts"] = search.fts
    for index, pattern in enumerate(search.likes):
        parts.append(
            f"(a.title LIKE :like{index} ESCAPE '\\' OR a.summary LIKE :like{index} ESCAPE '\\' "
            f"OR a.body_md LIKE :like{index} ESCAPE '\\')"
        )
        params[f"like{index}"] = pattern
    return " AND ".join(parts), params


async def browse(
    db: Database,
    *,
    now: datetime,
    viewer: int,
    region_ids: Sequence[int],
    topic_ids: Sequence[int],
    search: SearchTerms,
    include_events: bool,
    kind: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[sqlite3.Row], int]:
    """One page of visible articles, newest first, and how many match in all (two queries)."""
    where, params = _browse_where(
        region_ids=region_ids, topic_ids=topic_ids, search=search, include_events=include_events, kind=kind
    )
    params.update(now=to_db(now), viewer=viewer, limit=limit, offset=offset)
    rows = await db.fetchall(
        f"SELECT {CARD_COLUMNS} FROM articles a WHERE {where} "  # noqa: S608
        "ORDER BY a.published_at DESC, a.id DESC LIMIT :limit OFFSET :offset",
        params,
    )
    total = int(await db.fetchval(f"SELECT COUNT(*) FROM articles a WHERE {where}", params) or 0)  # noqa: S608
    return rows, total


# ---------------------------------------------------------------- admin lists


async def admin_list(
    db: Database, *, kind: str, state: str, search: SearchTerms, now: datetime, limit: int, offset: int
) -> tuple[list[sqlite3.Row], int]:
    """Articles or events for the admin: every status, scheduled ones included."""
    parts = ["a.kind = :kind"]
    params: dict[str, Any] = {"kind": kind, "now": to_db(now), "limit": limit, "offset": offset, "viewer": 0}
    if state == "published":
        parts.append(VISIBLE)
    elif state == "scheduled":
        parts.append("a.status = 'published' AND a.published_at > :now")
    elif state in ("draft", "unpublished"):
        parts.append("a.status = :state")
        params["state"] = state
    if search.fts:
        parts.append("a.id IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :fts)")
        params["fts"] = search.fts
    for index, pattern in enumerate(search.likes):
        parts.append(f"a.title LIKE :like{index} ESCAPE '\\'")
        params[f"like{index}"] = pattern
    where = " AND ".join(parts)
    rows = await db.fetchall(
        f"SELECT {CARD_COLUMNS} FROM articles a WHERE {where} "  # noqa: S608
        "ORDER BY a.published_at DESC, a.id DESC LIMIT :limit OFFSET :offset",
        params,
    )
    total = int(await db.fetchval(f"SELECT COUNT(*) FROM articles a WHERE {where}", params) or 0)  # noqa: S608
    return rows, total


# ---------------------------------------------------------------- feed settings (app_settings rows)

FEED_KEYS = ("feed_url", "feed_category_map", "feed_last_run_at", "feed_last_result", "feed_seen_categories")


async def feed_settings(db: Database) -> dict[str, str]:
    marks = ",".join("?" for _ in FEED_KEYS)
    rows = await db.fetchall(f"SELECT key, value FROM app_settings WHERE key IN ({marks})", FEED_KEYS)  # noqa: S608
    return {str(r["key"]): str(r["value"]) for r in rows}


async def put_feed_settings(db: Database, values: dict[str, str]) -> None:
    unknown = set(values) - set(FEED_KEYS)
    assert not unknown, unknown
    await db.executemany(
        "INSERT INTO app_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        list(values.items()),
    )
