"""New-arrival matching: which published articles fall under a member's saved conditions, counted and listed."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.articles import CARD_COLUMNS, UNDER_TERMS
from db.database import Database
from db.timestamps import to_db

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
        parts.append(UNDER_TERMS.replace(":marks", marks))
        params.update({f"{name}{index}": term_id for index, term_id in enumerate(ids)})
    where = " AND ".join(parts)
    return int(await db.fetchval(f"SELECT COUNT(*) FROM articles a WHERE {where}", params) or 0)  # noqa: S608
