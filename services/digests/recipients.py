"""Who gets which articles: the window's article index, each member's conditions, and the delivery plan
written for every member, in batches (a fixed number of queries per batch, whatever its size)."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from db import digests as digests_db
from db.digests import PlannedDelivery
from db.timestamps import from_db
from services.context import AppContext
from services.digests.options import (
    BUILD_BATCH_SIZE,
    MAX_ITEMS_PER_CONDITION,
    SKIP_FLAGGED,
    SKIP_NO_ADDRESS,
    SKIP_NO_MATCH,
    effective_frequency,
)
from services.perks import MemberTier, Perk, tiers_for

# ------------------------------------------------------------------------------------ articles


@dataclass(frozen=True, slots=True)
class DigestArticle:
    id: int
    kind: str
    title: str
    summary: str
    published_at: datetime
    members_only: bool
    event_date: str
    event_place: str

    @property
    def is_event(self) -> bool:
        return self.kind == "event"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ArticleIndex:
    """The window's published articles, indexed by every term and its ancestors, so matching a
    condition is a few set operations instead of a query."""

    def __init__(self, articles: Sequence[DigestArticle], term_pairs: Iterable[tuple[int, int]]) -> None:
        # `articles` come newest first; that order is the order in the mail.
        self.articles: dict[int, DigestArticle] = {article.id: article for article in articles}
        self._rank = {article.id: rank for rank, article in enumerate(articles)}
        self._all = tuple(article.id for article in articles)
        by_term: dict[int, set[int]] = {}
        for article_id, term_id in term_pairs:
            if article_id in self.articles:
                by_term.setdefault(term_id, set()).add(article_id)
        self._by_term = by_term
        self._events = frozenset(a.id for a in articles if a.is_event)
        self._members_only = frozenset(a.id for a in articles if a.members_only)
        self._matches: dict[tuple[frozenset[int], frozenset[int]], tuple[int, ...]] = {}
        self._forbidden: dict[tuple[bool, bool], frozenset[int]] = {}
        self._allowed: dict[tuple[frozenset[int], frozenset[int], frozenset[int]], frozenset[int]] = {}
        self._items: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._all)

    def matching(self, regions: frozenset[int], topics: frozenset[int]) -> tuple[int, ...]:
        """Articles sharing a region (if any chosen) and a topic (if any chosen), newest first."""
        key = (regions, topics)
        cached = self._matches.get(key)
        if cached is not None:
            return cached
        found: set[int] | None = None
        for terms in (regions, topics):
            if not terms:
                continue
            hits: set[int] = set()
            for term_id in terms:
                hits.update(self._by_term.get(term_id, ()))
            found = hits if found is None else found & hits
        result = self._all if found is None else tuple(sorted(found, key=self._rank.__getitem__))
        if len(self._matches) >= 20_000:  # members mostly share conditions; bound the memory anyway
            self._matches.clear()
        self._matches[key] = result
        return result

    def forbidden(self, tier: MemberTier) -> frozenset[int]:
        """What this tier may not receive: events without Perk.EVENTS, members-only without its perk."""
        key = (tier.may(Perk.EVENTS), tier.may(Perk.MEMBERS_ONLY))
        cached = self._forbidden.get(key)
        if cached is None:
            cached = frozenset(
                (frozenset() if key[0] else self._events) | (frozenset() if key[1] else self._members_only)
            )
            self._forbidden[key] = cached
        return cached

    def allowed(self, regions: frozenset[int], topics: frozenset[int], tier: MemberTier) -> frozenset[int]:
        """The matching articles this tier may receive, as a set (cached: members share conditions)."""
        forbidden = self.forbidden(tier)
        key = (regions, topics, forbidden)
        cached = self._allowed.get(key)
        if cached is None:
            cached = frozenset(self.matching(regions, topics)) - forbidden
            if len(self._allowed) >= 20_000:
                self._allowed.clear()
            self._allowed[key] = cached
        return cached

    def item(self, article_id: int, base_url: str, tz: ZoneInfo) -> dict[str, Any]:
        """What a mail shows for one article (made once per run, shared by every recipient)."""
        cached = self._items.get(article_id)
        if cached is None:
            article = self.articles[article_id]
            local = article.published_at.astimezone(tz)
            cached = {
                "id": article.id,
                "title": article.title,
                "summary": _shorten(article.summary, 80),
                "url": f"{base_url}/articles/{article.id}",
                "date": f"{local.month}月{local.day}日",
                "is_event": article.is_event,
                "event_date": _event_label(article.event_date, tz),
                "event_place": article.event_place,
                "members_only": article.members_only,
            }
            self._items[article_id] = cached
        return cached


def _event_label(value: str, tz: ZoneInfo) -> str:
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    weekday = "月火水木金土日"[moment.weekday()]
    if moment.tzinfo is None:
        return f"{moment.year}年{moment.month}月{moment.day}日({weekday})"
    local = moment.astimezone(tz)
    weekday = "月火水木金土日"[local.weekday()]
    return f"{local.year}年{local.month}月{local.day}日({weekday}) {local:%H:%M}"


def _article_from_row(row: sqlite3.Row) -> DigestArticle:
    published = from_db(row["published_at"])
    assert published is not None
    return DigestArticle(
        id=int(row["id"]),
        kind=str(row["kind"]),
        title=str(row["title"]),
        summary=str(row["summary"] or ""),
        published_at=published,
        members_only=bool(row["members_only"]),
        event_date=str(row["event_date"] or ""),
        event_place=str(row["event_place"] or ""),
    )


async def load_index(app: AppContext, start: datetime, end: datetime) -> ArticleIndex:
    """Two queries for the whole run: the window's articles and their (article, ancestor term) pairs."""
    articles = [_article_from_row(row) for row in await digests_db.window_articles(app.db, start, end)]
    pairs = [
        (int(row["article_id"]), int(row["term_id"]))
        for row in await digests_db.window_article_terms(app.db, start, end)
    ]
    return ArticleIndex(articles, pairs)


# ------------------------------------------------------------------------------------ matching


@dataclass(frozen=True, slots=True)
class MemberCondition:
    id: int
    name: str
    regions: frozenset[int]
    topics: frozenset[int]


def group_conditions(rows: Iterable[sqlite3.Row]) -> dict[int, list[MemberCondition]]:
    """Rows of digests_db.conditions_for -> each member's conditions in their order."""
    building: dict[int, dict[int, tuple[str, set[int], set[int]]]] = {}
    for row in rows:
        member = building.setdefault(int(row["member_id"]), {})
        name, regions, topics = member.setdefault(int(row["condition_id"]), (str(row["name"]), set(), set()))
        if row["term_id"] is not None:
            (regions if row["taxonomy"] == "region" else topics).add(int(row["term_id"]))
    return {
        member_id: [
            MemberCondition(cid, name, frozenset(regions), frozenset(topics))
            for cid, (name, regions, topics) in conditions.items()
        ]
        for member_id, conditions in building.items()
    }


@dataclass(frozen=True, slots=True)
class Section:
    condition_id: int
    name: str
    article_ids: tuple[int, ...]
    more: int


def select_sections(
    index: ArticleIndex, conditions: Sequence[MemberCondition], tier: MemberTier
) -> tuple[list[Section], int]:
    """Each condition's newest matching articles the tier allows, each article under its first
    condition only; returns the sections and the number of distinct matching articles."""
    forbidden = index.forbidden(tier)
    shown: set[int] = set()
    matched: list[frozenset[int]] = []
    sections: list[Section] = []
    for condition in conditions:
        allowed = index.allowed(condition.regions, condition.topics, tier)
        if not allowed:
            continue
        matched.append(allowed)
        listed: list[int] = []
        for article_id in index.matching(condition.regions, condition.topics):
            if article_id in forbidden or article_id in shown:
                continue
            listed.append(article_id)
            if len(listed) == MAX_ITEMS_PER_CONDITION:
                break
        # Not listed here: allowed, minus what earlier conditions showed, minus what this one lists.
        more = len(allowed) - len(listed) - sum(1 for article_id in shown if article_id in allowed)
        shown.update(listed)
        if listed:
            sections.append(Section(condition.id, condition.name, tuple(listed), more))
    return sections, _distinct(matched)


def _distinct(sets: list[frozenset[int]]) -> int:
    """|A ∪ B ∪ C| by inclusion-exclusion (intersections cost the smaller set, unions both)."""
    if not sets:
        return 0
    if len(sets) == 1:
        return len(sets[0])
    if len(sets) == 2:
        a, b = sets
        return len(a) + len(b) - len(a & b)
    if len(sets) == 3:
        a, b, c = sets
        ab = a & b
        return len(a) + len(b) + len(c) - len(ab) - len(a & c) - len(b & c) + len(ab & c)
    return len(frozenset().union(*sets))


def encode_sections(sections: Sequence[Section]) -> str:
    """Compact JSON, [[condition_id, name, [article ids], more], ...], written by hand: one per member."""
    parts = [
        f"[{s.condition_id},{_json_name(s.name)},[{','.join(map(str, s.article_ids))}],{s.more}]"
        for s in sections
    ]
    return "[" + ",".join(parts) + "]"


@functools.lru_cache(maxsize=4096)
def _json_name(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


def decode_sections(content: str) -> list[Section]:
    try:
        raw = json.loads(content or "[]")
        return [Section(int(c), str(n), tuple(int(a) for a in ids), int(m)) for c, n, ids, m in raw]
    except (ValueError, TypeError):
        return []


def unsendable_reason(member: sqlite3.Row) -> str:
    email = str(member["email"] or "").strip()
    if not email:
        return SKIP_NO_ADDRESS
    if member["flagged_at"] and member["bounced_email"] == email:
        return SKIP_FLAGGED
    return ""


async def plan_batch(
    app: AppContext,
    members: Sequence[sqlite3.Row],
    index: ArticleIndex,
    *,
    kind: str,
    tier_at: datetime,
) -> list[tuple[sqlite3.Row, PlannedDelivery, list[Section]]]:
    """Who in this batch gets this kind of digest, and with what: three queries for the whole batch
    (tiers: two, conditions: one), the matching itself in memory."""
    ids = [int(member["id"]) for member in members]
    tiers = await tiers_for(app.db, ids, now=tier_at, tz=app.settings.tz)
    conditions = group_conditions(await digests_db.conditions_for(app.db, ids))
    planned: list[tuple[sqlite3.Row, PlannedDelivery, list[Section]]] = []
    for member in members:
        member_id = int(member["id"])
        tier = tiers[member_id]
        if effective_frequency(str(member["digest_frequency"]), tier) != kind:
            continue
        sections, count = select_sections(index, conditions.get(member_id, []), tier)
        reason = unsendable_reason(member) or ("" if sections else SKIP_NO_MATCH)
        if reason:
            planned.append((member, PlannedDelivery(member_id, "skipped", count, "[]", reason), []))
        else:
            content = encode_sections(sections)
            planned.append((member, PlannedDelivery(member_id, "pending", count, content), sections))
    return planned


def _frequencies_for(kind: str) -> tuple[str, ...]:
    # Daily members without the perk get the weekly digest, so the weekly run looks at them too.
    return ("weekly", "daily") if kind == "weekly" else ("daily",)


async def iterate_plans(
    app: AppContext, kind: str, index: ArticleIndex, *, tier_at: datetime, after_id: int = 0
) -> AsyncIterator[tuple[int, list[tuple[sqlite3.Row, PlannedDelivery, list[Section]]]]]:
    """Every batch of members with their plans, and the last member id of the batch."""
    cursor = after_id
    while True:
        members = await digests_db.member_batch(
            app.db, after_id=cursor, limit=BUILD_BATCH_SIZE, frequencies=_frequencies_for(kind)
        )
        if not members:
            return
        cursor = int(members[-1]["id"])
        yield cursor, await plan_batch(app, members, index, kind=kind, tier_at=tier_at)
