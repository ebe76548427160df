"""Queries on taxonomy terms (with their closure table), articles, browsing, search and new-arrival matching."""

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


# ---------------------------------------------------------------- terms


async def all_terms(db: Database) -> list[sqlite3.Row]:
    return await db.fetchall("SELECT * FROM terms ORDER BY taxonomy, sort_order, name, id")


async def get_term(db: Database, term_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM terms WHERE id = ?", (term_id,))


async def term_by_slug(db: Database, taxonomy: str, slug: str) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM terms WHERE taxonomy = ? AND slug = ?", (taxonomy, slug))


async def slug_taken(db: Database, taxonomy: str, slug: str, *, except_id: int = 0) -> bool:
    row = await db.fetchone(
        "SELECT 1 FROM terms WHERE taxonomy = ? AND slug = ? AND id != ?", (taxonomy, slug, except_id)
    )
    return row is not None


async def term_usage(db: Database) -> dict[int, tuple[int, int, int]]:
    """Per term: (articles tagged with it, conditions choosing it, child terms), in one query."""
    rows = await db.fetchall(
        """
        SELECT t.id,
          (SELECT COUNT(*) FROM article_terms at WHERE at.term_id = t.id) AS articles,
          (SELECT COUNT(*) FROM condition_terms ct WHERE ct.term_id = t.id) AS conditions,
          (SELECT COUNT(*) FROM terms c WHERE c.parent_id = t.id) AS children
        FROM terms t
        """
    )
    return {int(r["id"]): (int(r["articles"]), int(r["conditions"]), int(r["children"])) for r in rows}


async def is_in_subtree(db: Database, root_id: int, term_id: int) -> bool:
    row = await db.fetchone(
        "SELECT 1 FROM term_closure WHERE ancestor_id = ? AND descendant_id = ?", (root_id, term_id)
    )
    return row is not None


async def create_term(
    db: Database, *, taxonomy: str, name: str, slug: str, parent_id: int | None, sort_order: int
) -> int:
    """Insert a term and its closure rows: itself, plus every ancestor of its parent."""
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute(
            "INSERT INTO terms (taxonomy, parent_id, name, slug, sort_order) VALUES (?, ?, ?, ?, ?)",
            (taxonomy, parent_id, name, slug, sort_order),
        )
        term_id = int(cursor.lastrowid or 0)
        await conn.execute(
            "INSERT INTO term_closure (ancestor_id, descendant_id) "
            "SELECT ancestor_id, ? FROM term_closure WHERE descendant_id = ? UNION SELECT ?, ?",
            (term_id, parent_id if parent_id is not None else -1, term_id, term_id),
        )
    return term_id


async def update_term(
    db: Database, term_id: int, *, name: str, slug: str, parent_id: int | None, sort_order: int
) -> None:
    """Rename or move a term; moving re-links its whole subtree under the new parent's ancestors.

    The caller has checked that the new parent is not inside the term's own subtree.
    """
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute("SELECT parent_id FROM terms WHERE id = ?", (term_id,))
        row = await cursor.fetchone()
        old_parent = row[0] if row else None
        await conn.execute(
            "UPDATE terms SET name = ?, slug = ?, parent_id = ?, sort_order = ? WHERE id = ?",
            (name, slug, parent_id, sort_order, term_id),
        )
        if old_parent == parent_id:
            return
        # Detach the subtree from every ancestor outside it, then attach it to the new parent's chain.
        await conn.execute(
            """
            DELETE FROM term_closure
            WHERE descendant_id IN (SELECT descendant_id FROM term_closure WHERE ancestor_id = :t)
              AND ancestor_id NOT IN (SELECT descendant_id FROM term_closure WHERE ancestor_id = :t)
            """,
            {"t": term_id},
        )
        if parent_id is not None:
            await conn.execute(
                """
                INSERT INTO term_closure (ancestor_id, descendant_id)
                SELECT above.ancestor_id, below.descendant_id
                FROM term_closure above CROSS JOIN term_closure below
                WHERE above.descendant_id = :p AND below.ancestor_id = :t
                """,
                {"p": parent_id, "t": term_id},
            )


async def delete_term(db: Database, term_id: int, *, move_to: int | None) -> None:
    """Delete a leaf term; its articles and conditions move to `move_to` first when one is given."""
    async with db.write() as conn:
        db.query_count += 1
        if move_to is not None:
            await conn.execute(
                "INSERT OR IGNORE INTO article_terms (article_id, term_id) "
                "SELECT article_id, ? FROM article_terms WHERE term_id = ?",
                (move_to, term_id),
            )
            await conn.execute(
                "INSERT OR IGNORE INTO condition_terms (condition_id, term_id) "
                "SELECT condition_id, ? FROM condition_terms WHERE term_id = ?",
                (move_to, term_id),
            )
        await conn.execute("DELETE FROM article_terms WHERE term_id = ?", (term_id,))
        await conn.execute("DELETE FROM condition_terms WHERE term_id = ?", (term_id,))
        await conn.execute(
            "DELETE FROM term_closure WHERE ancestor_id = ? OR descendant_id = ?", (term_id, term_id)
        )
        await conn.execute("DELETE FROM terms WHERE id = ?", (term_id,))


async def closure_pairs(db: Database) -> set[tuple[int, int]]:
    rows = await db.fetchall("SELECT ancestor_id, descendant_id FROM term_closure")
    return {(int(r[0]), int(r[1])) for r in rows}


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


_UNDER_TERMS = (
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
            parts.append(_UNDER_TERMS.replace(":marks", marks))
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


# ---------------------------------------------------------------- new arrivals

# The member's conditions matched against the articles of the window [:start, :end]. A condition
# without terms in a taxonomy accepts any article there; one with terms needs the article to carry one
# of them or a descendant (アジア matches 中国). `gated` marks what the viewer's tier does not include
# (events, members-only articles).
#
# Driven from the conditions, not from the window's articles (0011_article_match_index.sql):
# - wanted: each condition's chosen terms expanded to their descendants (term_closure, self included);
# - sides: per condition and taxonomy, how many window rows its terms have — counted inside the covering
#   index published_article_terms_window (term_id, published_at, ...), one range per term, no lookups;
# - matches: each condition reads the rows of its smaller side and keeps an article only when it also
#   carries a term of the other side (a primary-key probe of its two or three terms).
# A condition with no terms at all matches the whole window (articles_window). The join order is forced
# (CROSS JOIN); the cost follows the smaller side of each condition, not the window's or archive's size.
# Each big table is read either as the outermost loop or through `IN (...)` under a tiny loop: once
# ANALYZE has run, SQLite would otherwise put a Bloom filter on it, which scans the whole table first
# (and drops the covering index) — 26 ms instead of 7 ms at 100,000 articles and 10 conditions.
_MATCH_CTE = """
WITH wanted AS MATERIALIZED (
  SELECT DISTINCT ct.condition_id, tc.descendant_id AS term_id, t.taxonomy = 'region' AS is_region
  FROM conditions c
  CROSS JOIN condition_terms ct ON ct.condition_id = c.id
  CROSS JOIN terms t ON t.id = ct.term_id
  CROSS JOIN term_closure tc ON tc.ancestor_id = ct.term_id
  WHERE c.member_id = :member
),
sides AS MATERIALIZED (
  SELECT w.condition_id, w.is_region,
    SUM((SELECT COUNT(*) FROM published_article_terms x INDEXED BY published_article_terms_window
         WHERE x.term_id = w.term_id AND x.published_at >= :start AND x.published_at <= :end)) AS n
  FROM wanted w GROUP BY w.condition_id, w.is_region
),
cond AS MATERIALIZED (
  SELECT c.id,
    (SELECT s.n FROM sides s WHERE s.condition_id = c.id AND s.is_region) AS regions,
    (SELECT s.n FROM sides s WHERE s.condition_id = c.id AND NOT s.is_region) AS topics
  FROM conditions c WHERE c.member_id = :member
),
drive AS MATERIALIZED (
  SELECT c.id AS condition_id,
    CASE WHEN c.regions IS NULL THEN 0 WHEN c.topics IS NULL THEN 1 ELSE c.regions <= c.topics END AS is_region,
    c.regions IS NOT NULL AND c.topics IS NOT NULL AS both_sides
  FROM cond c WHERE c.regions IS NOT NULL OR c.topics IS NOT NULL
),
matches AS MATERIALIZED (
  SELECT DISTINCT d.condition_id, x.article_id, x.published_at,
    (x.kind = 'event' AND NOT :events) OR (x.members_only AND NOT :members_only) AS gated
  FROM drive d
  CROSS JOIN published_article_terms x INDEXED BY published_article_terms_window
    ON x.term_id IN (SELECT w.term_id FROM wanted w WHERE w.condition_id = d.condition_id AND w.is_region = d.is_region)
    AND x.published_at >= :start AND x.published_at <= :end
  WHERE NOT d.both_sides OR EXISTS (
    SELECT 1 FROM article_terms y CROSS JOIN wanted o ON o.condition_id = d.condition_id AND o.term_id = y.term_id
    WHERE y.article_id = x.article_id AND o.is_region != d.is_region)
  UNION ALL
  SELECT c.id, a.id, a.published_at,
    (a.kind = 'event' AND NOT :events) OR (a.members_only AND NOT :members_only)
  FROM articles a INDEXED BY articles_window CROSS JOIN cond c
  WHERE a.status = 'published' AND a.published_at >= :start AND a.published_at <= :end
    AND c.regions IS NULL AND c.topics IS NULL
)
"""

_COUNTS = """
SELECT condition_id, SUM(NOT gated) AS shown, SUM(gated) AS gated FROM matches GROUP BY condition_id
UNION ALL
SELECT 0, COUNT(DISTINCT CASE WHEN NOT gated THEN article_id END),
       COUNT(DISTINCT CASE WHEN gated THEN article_id END) FROM matches
"""

# Only the `limit` newest are turned into cards, so the per-card subqueries run 30 times, not per match.
_PICKED = """
, picked AS (
  SELECT article_id, MAX(published_at) AS published_at FROM matches
  WHERE NOT gated AND (:condition = 0 OR condition_id = :condition)
  GROUP BY article_id ORDER BY published_at DESC, article_id DESC LIMIT :limit
)
"""

_LIST_TAIL = (
    _PICKED
    + """
SELECT :card_columns FROM picked JOIN articles a ON a.id = picked.article_id
ORDER BY a.published_at DESC, a.id DESC
""".replace(":card_columns", CARD_COLUMNS)
)

_CARD_NAMES = (
    "id, kind, status, title, summary, published_at, members_only, event_date, event_place, external_url, "
    "region_names, topic_names, bookmarked"
)

# Counts and the shown list in one statement: the matching runs once per page view.
_PAGE_TAIL = (
    _PICKED
    + """
, counted AS (:counts)
SELECT 'count' AS row_type, condition_id, shown, gated, :nulls FROM counted
UNION ALL
SELECT 'item', NULL, NULL, NULL, :card_columns FROM picked JOIN articles a ON a.id = picked.article_id
""".replace(":counts", _COUNTS)
    .replace(":nulls", ", ".join(f"NULL AS {name.strip()}" for name in _CARD_NAMES.split(",")))
    .replace(":card_columns", CARD_COLUMNS)
)


def _match_params(
    member_id: int, start: datetime, end: datetime, *, events: bool, members_only: bool
) -> dict[str, Any]:
    return {
        "member": member_id,
        "start": to_db(start),
        "end": to_db(end),
        "events": 1 if events else 0,
        "members_only": 1 if members_only else 0,
    }


@dataclass(frozen=True)
class MatchCount:
    shown: int
    gated: int


async def match_counts(
    db: Database, member_id: int, start: datetime, end: datetime, *, events: bool, members_only: bool
) -> dict[int, MatchCount]:
    """Per condition id (0 = all conditions, duplicates removed): matches shown and held back by the tier."""
    rows = await db.fetchall(
        _MATCH_CTE + _COUNTS,
        _match_params(member_id, start, end, events=events, members_only=members_only),
    )
    return {int(r[0]): MatchCount(int(r[1] or 0), int(r[2] or 0)) for r in rows}


async def match_list(
    db: Database,
    member_id: int,
    condition_id: int | None,
    start: datetime,
    end: datetime,
    *,
    events: bool,
    members_only: bool,
    limit: int,
) -> list[sqlite3.Row]:
    """The newest `limit` matches of one condition, or of all conditions without duplicates (None)."""
    params = _match_params(member_id, start, end, events=events, members_only=members_only)
    params.update(condition=condition_id or 0, limit=limit, viewer=member_id)
    return await db.fetchall(_MATCH_CTE + _LIST_TAIL, params)


async def match_page(
    db: Database,
    member_id: int,
    condition_id: int | None,
    start: datetime,
    end: datetime,
    *,
    events: bool,
    members_only: bool,
    limit: int,
) -> tuple[dict[int, MatchCount], list[sqlite3.Row]]:
    """`match_counts` and `match_list` in one query (the new-arrivals page), newest first."""
    params = _match_params(member_id, start, end, events=events, members_only=members_only)
    params.update(condition=condition_id or 0, limit=limit, viewer=member_id)
    rows = await db.fetchall(_MATCH_CTE + _PAGE_TAIL, params)
    counts = {
        int(r["condition_id"]): MatchCount(int(r["shown"] or 0), int(r["gated"] or 0))
        for r in rows
        if r["row_type"] == "count"
    }
    items = sorted(
        (r for r in rows if r["row_type"] == "item"),
        key=lambda r: (str(r["published_at"]), int(r["id"])),
        reverse=True,
    )
    return counts, items


async def count_for_terms(
    db: Database,
    region_ids: Sequence[int],
    topic_ids: Sequence[int],
    start: datetime,
    end: datetime,
    *,
    events: bool,
    members_only: bool,
) -> int:
    """How many articles of the window an unsaved condition would match (the form's live count)."""
    parts = [
        "a.status = 'published' AND a.published_at >= :start AND a.published_at <= :end",
        "(:events OR a.kind != 'event')",
        "(:members_only OR NOT a.members_only)",
    ]
    params: dict[str, Any] = _match_params(0, start, end, events=events, members_only=members_only)
    for name, ids in (("region", region_ids), ("topic", topic_ids)):
        if not ids:
            continue
        marks = ",".join(f":{name}{index}" for index in range(len(ids)))
        parts.append(_UNDER_TERMS.replace(":marks", marks))
        params.update({f"{name}{index}": term_id for index, term_id in enumerate(ids)})
    where = " AND ".join(parts)
    return int(await db.fetchval(f"SELECT COUNT(*) FROM articles a WHERE {where}", params) or 0)  # noqa: S608


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
