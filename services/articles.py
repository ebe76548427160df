"""Articles and new arrivals: the matching rules, the 14-day window, tier gating, taxonomies and forms."""

from __future__ import annotations

import re
import secrets
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from db import article_matching as matching_queries
from db import articles as article_queries
from db import conditions as condition_queries
from db import taxonomy as taxonomy_queries
from db import tiers as tier_queries
from db.article_matching import MatchCount
from db.articles import ArticleData, SearchTerms
from db.timestamps import to_db
from services.charset import check_text
from services.context import AppContext
from services.markdown import render_markdown
from services.perks import Perk, tier_and_perk_tier_name

NEW_ARRIVAL_DAYS = 14
NEW_ARRIVAL_LIMIT = 30
MAX_CONDITIONS = 10
HISTORY_KEEP = 50
CONDITION_NAME_MAX = 40
PAGE_SIZE = 20
# Where a member learns how to join the tier that includes events and members-only articles.
JOIN_TIER_URL = "/settings/membership"

TAXONOMIES = {"region": "国・地域", "topic": "テーマ"}
KINDS = {"article": "記事", "event": "イベント"}
STATUSES = {"draft": "下書き", "published": "公開", "unpublished": "非公開"}


# ---------------------------------------------------------------- window and access


def new_arrivals_window(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The "new" window: from 00:00 (org time) 13 days before today, through `now` — 14 calendar days.

    Articles published before the window's start, or later than now (scheduled), are not new.
    Both ends are inclusive. Returned as aware UTC datetimes.
    """
    today = now.astimezone(tz).date()
    start_day = today - timedelta(days=NEW_ARRIVAL_DAYS - 1)
    start = datetime.combine(start_day, time(0), tzinfo=tz).astimezone(UTC)
    return start, now.astimezone(UTC)


@dataclass(frozen=True)
class Access:
    """What a viewer's tier lets them see, decided by services.perks (the one place for tier gates)."""

    logged_in: bool
    events: bool
    members_only: bool
    # The name of the tier that would add what is missing (for the "join" line); "" when nothing is missing.
    tier_name: str = ""

    @property
    def full(self) -> bool:
        return self.events and self.members_only


async def access_for(app: AppContext, member_id: int | None) -> Access:
    """The viewer's access (one query for a member: the tier and the tier to suggest together)."""
    if member_id is None:
        return Access(False, False, False, await _perk_tier_name(app))
    tier, perk_tier_name = await tier_and_perk_tier_name(
        app.db, member_id, now=app.clock.now(), tz=app.settings.tz
    )
    events, members_only = tier.may(Perk.EVENTS), tier.may(Perk.MEMBERS_ONLY)
    if events and members_only:
        return Access(True, True, True)
    return Access(True, events, members_only, perk_tier_name or DEFAULT_PERK_TIER_NAME)


# The tier to suggest when no tier carries the events or members-only perk.
DEFAULT_PERK_TIER_NAME = "有料会員"


async def _perk_tier_name(app: AppContext) -> str:
    for row in await tier_queries.all_tiers(app.db):
        if row["perk_events"] or row["perk_members_only"]:
            return str(row["name"])
    return DEFAULT_PERK_TIER_NAME


def may_read(article: sqlite3.Row, access: Access) -> bool:
    """Full text of an event needs the events perk; of a members-only article, the members-only perk."""
    if article["kind"] == "event" and not access.events:
        return False
    return not (article["members_only"] and not access.members_only)


def is_visible(article: sqlite3.Row, now: datetime) -> bool:
    return article["status"] == "published" and str(article["published_at"]) <= to_db(now)


# ---------------------------------------------------------------- taxonomy trees


@dataclass
class TermNode:
    id: int
    taxonomy: str
    name: str
    slug: str
    parent_id: int | None
    sort_order: int
    depth: int = 0
    children: list[TermNode] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name


@dataclass
class Taxonomies:
    """Both term trees, built from one query."""

    roots: dict[str, list[TermNode]]
    by_id: dict[int, TermNode]

    def flat(self, taxonomy: str) -> list[TermNode]:
        found: list[TermNode] = []

        def walk(nodes: list[TermNode]) -> None:
            for node in nodes:
                found.append(node)
                walk(node.children)

        walk(self.roots.get(taxonomy, []))
        return found

    def by_slug(self, taxonomy: str, slug: str) -> TermNode | None:
        for node in self.by_id.values():
            if node.taxonomy == taxonomy and node.slug == slug:
                return node
        return None

    def path(self, term_id: int) -> str:
        names: list[str] = []
        node = self.by_id.get(term_id)
        while node is not None and len(names) < 20:
            names.append(node.name)
            node = self.by_id.get(node.parent_id) if node.parent_id is not None else None
        return " > ".join(reversed(names))

    def subtree_ids(self, term_id: int) -> set[int]:
        found: set[int] = set()
        stack = [self.by_id[term_id]] if term_id in self.by_id else []
        while stack:
            node = stack.pop()
            found.add(node.id)
            stack.extend(node.children)
        return found

    def keep(self, taxonomy: str, ids: Sequence[int]) -> list[int]:
        """Only ids of existing terms of that taxonomy, duplicates dropped, order kept."""
        seen: list[int] = []
        for term_id in ids:
            node = self.by_id.get(term_id)
            if node is not None and node.taxonomy == taxonomy and term_id not in seen:
                seen.append(term_id)
        return seen


def build_taxonomies(rows: Sequence[sqlite3.Row]) -> Taxonomies:
    by_id = {
        int(r["id"]): TermNode(
            id=int(r["id"]),
            taxonomy=str(r["taxonomy"]),
            name=str(r["name"]),
            slug=str(r["slug"]),
            parent_id=int(r["parent_id"]) if r["parent_id"] is not None else None,
            sort_order=int(r["sort_order"]),
        )
        for r in rows
    }
    roots: dict[str, list[TermNode]] = {"region": [], "topic": []}
    for node in by_id.values():
        parent = by_id.get(node.parent_id) if node.parent_id is not None else None
        (parent.children if parent else roots.setdefault(node.taxonomy, [])).append(node)

    def order(nodes: list[TermNode], depth: int) -> None:
        nodes.sort(key=lambda n: (n.sort_order, n.name, n.id))
        for node in nodes:
            node.depth = depth
            order(node.children, depth + 1)

    for nodes in roots.values():
        order(nodes, 0)
    return Taxonomies(roots=roots, by_id=by_id)


# The topic whose articles are events (the demo's イベント): a perk of the paid tier.
EVENT_TOPIC_SLUG = "events"


def picks_event_topic(topic_ids: list[int] | tuple[int, ...] | set[int], taxonomies: Taxonomies) -> bool:
    return any(
        (node := taxonomies.by_id.get(topic_id)) is not None and node.slug == EVENT_TOPIC_SLUG
        for topic_id in topic_ids
    )


async def load_taxonomies(app: AppContext) -> Taxonomies:
    return build_taxonomies(await taxonomy_queries.all_terms(app.db))


# ---------------------------------------------------------------- keyword search


MAX_KEYWORDS = 5


def parse_keywords(raw: str) -> SearchTerms:
    """Split a keyword box into words (full-width spaces too); NFKC so full-width letters match. Control
    characters, lone surrogates and unassigned code points (a NUL breaks an FTS5 phrase) separate words."""
    text = "".join(
        " " if unicodedata.category(char) in _NOT_TEXT else char
        for char in unicodedata.normalize("NFKC", raw)
    )
    words = [w[:50] for w in text.split() if w.strip()]
    return article_queries.search_terms(words[:MAX_KEYWORDS])


_NOT_TEXT = {"Cc", "Cs", "Co", "Cn"}


# ---------------------------------------------------------------- conditions


@dataclass
class Condition:
    id: int
    name: str
    region_ids: list[int] = field(default_factory=list)
    topic_ids: list[int] = field(default_factory=list)
    region_names: list[str] = field(default_factory=list)
    topic_names: list[str] = field(default_factory=list)
    region_slugs: list[str] = field(default_factory=list)
    topic_slugs: list[str] = field(default_factory=list)

    @property
    def term_ids(self) -> list[int]:
        return [*self.region_ids, *self.topic_ids]


def conditions_from_rows(rows: Sequence[sqlite3.Row]) -> list[Condition]:
    found: dict[int, Condition] = {}
    for row in rows:
        condition = found.setdefault(int(row["id"]), Condition(id=int(row["id"]), name=str(row["name"])))
        if row["term_id"] is None:
            continue
        if row["taxonomy"] == "region":
            condition.region_ids.append(int(row["term_id"]))
            condition.region_names.append(str(row["term_name"]))
            condition.region_slugs.append(str(row["term_slug"]))
        else:
            condition.topic_ids.append(int(row["term_id"]))
            condition.topic_names.append(str(row["term_name"]))
            condition.topic_slugs.append(str(row["term_slug"]))
    return list(found.values())


async def member_conditions(app: AppContext, member_id: int) -> list[Condition]:
    return conditions_from_rows(await condition_queries.list_with_terms(app.db, member_id))


async def member_condition(app: AppContext, member_id: int, condition_id: int) -> Condition | None:
    found = conditions_from_rows(await condition_queries.get_for_member(app.db, member_id, condition_id))
    return found[0] if found else None


@dataclass
class ConditionInput:
    name: str
    region_ids: list[int]
    topic_ids: list[int]


def check_condition(
    name: str, region_ids: Sequence[int], topic_ids: Sequence[int], taxonomies: Taxonomies
) -> tuple[ConditionInput, dict[str, str]]:
    """Clean a condition form: the name is required and plain; unknown term ids are dropped."""
    errors: dict[str, str] = {}
    # Kept as typed (full-width brackets and letters are ordinary in Japanese names), only trimmed.
    clean_name = name.strip()
    if not clean_name:
        errors["name"] = "条件の名前を入力してください（例：アジアの通商政策）。"
    elif len(clean_name) > CONDITION_NAME_MAX:
        errors["name"] = (
            f"条件の名前は{CONDITION_NAME_MAX}文字以内で入力してください（現在{len(clean_name)}文字）。"
        )
    else:
        problem = check_text(clean_name)
        if problem:
            errors["name"] = problem
    value = ConditionInput(
        name=clean_name,
        region_ids=taxonomies.keep("region", region_ids),
        topic_ids=taxonomies.keep("topic", topic_ids),
    )
    return value, errors


async def count_preview(
    app: AppContext, member_id: int, region_ids: Sequence[int], topic_ids: Sequence[int]
) -> int:
    """How many articles of the last 14 days an (unsaved) condition matches, with the member's tier applied."""
    access = await access_for(app, member_id)
    start, end = new_arrivals_window(app.clock.now(), app.settings.tz)
    return await matching_queries.count_for_terms(
        app.db, region_ids, topic_ids, start, end, events=access.events, members_only=access.members_only
    )


# ---------------------------------------------------------------- new arrivals


@dataclass
class NewArrivals:
    access: Access
    conditions: list[Condition]
    counts: dict[int, MatchCount]
    selected: Condition | None
    items: list[sqlite3.Row]
    window_start: datetime

    @property
    def total(self) -> int:
        """How many articles the shown view matched (its items are the newest of them)."""
        count = self.counts.get(self.selected.id if self.selected else 0)
        return count.shown if count else 0

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.items))

    @property
    def gated(self) -> int:
        count = self.counts.get(self.selected.id if self.selected else 0)
        return count.gated if count else 0

    def count_of(self, condition_id: int) -> int:
        count = self.counts.get(condition_id)
        return count.shown if count else 0


async def new_arrivals(app: AppContext, member_id: int, condition_id: int | None) -> NewArrivals | None:
    """A member's new arrivals: per condition (condition_id) or all conditions without duplicates (None).

    The rules (mirror them in any batch query, e.g. digests):
    - an article is a candidate when status = 'published' and start <= published_at <= now, where
      start is 00:00 org time 13 days before today (`new_arrivals_window`);
    - a condition matches a candidate when, for each taxonomy (region, topic), the condition chose no
      term there, or the article carries a chosen term or any descendant of one (term_closure);
    - events need Perk.EVENTS and members-only articles need Perk.MEMBERS_ONLY (services.perks);
      the others are counted as `gated` so the page can say what the tier would add;
    - newest first (published_at DESC, id DESC), at most 30 shown, the rest counted as "more".

    Returns None when `condition_id` is not one of the member's conditions. Runs a fixed number of
    queries whatever the number of conditions: tier (2-3), conditions (1), counts and list (1).
    """
    conditions = await member_conditions(app, member_id)
    selected = None
    if condition_id is not None:
        selected = next((c for c in conditions if c.id == condition_id), None)
        if selected is None:
            return None
    access = await access_for(app, member_id)
    start, end = new_arrivals_window(app.clock.now(), app.settings.tz)
    if not conditions:
        return NewArrivals(access, [], {}, None, [], start)
    gates = {"events": access.events, "members_only": access.members_only}
    counts, items = await matching_queries.match_page(
        app.db, member_id, condition_id, start, end, limit=NEW_ARRIVAL_LIMIT, **gates
    )
    return NewArrivals(access, conditions, counts, selected, items, start)


# ---------------------------------------------------------------- admin: article form


URL_RE = re.compile(r"^https?://[^\s<>\"']+$", re.IGNORECASE)
TITLE_MAX = 200
SUMMARY_MAX = 1000
BODY_MAX = 100_000
URL_MAX = 1000
PLACE_MAX = 200


def parse_local_datetime(raw: str, tz: ZoneInfo) -> datetime | None:
    """A datetime-local value (org time) as aware UTC; None when it is not one."""
    text = unicodedata.normalize("NFKC", raw).strip().replace(" ", "T").replace("/", "-")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def local_input_value(moment: datetime | str | None, tz: ZoneInfo) -> str:
    if not moment:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def _check_url(value: str, label: str, errors: dict[str, str], key: str) -> None:
    if value and (len(value) > URL_MAX or not URL_RE.match(value)):
        errors[key] = f"{label}は http:// または https:// で始まるURLを入力してください。"


def check_article_form(
    values: dict[str, str],
    region_ids: Sequence[int],
    topic_ids: Sequence[int],
    taxonomies: Taxonomies,
    *,
    kind: str,
    tz: ZoneInfo,
    now: datetime,
) -> tuple[ArticleData | None, list[int], dict[str, str]]:
    """Validate the admin's article/event form. An empty publish time means now; a future one schedules."""
    errors: dict[str, str] = {}
    title = values.get("title", "").strip()
    if not title:
        errors["title"] = "タイトルを入力してください。"
    elif len(title) > TITLE_MAX:
        errors["title"] = f"タイトルは{TITLE_MAX}文字以内で入力してください。"
    summary = values.get("summary", "").strip()
    if len(summary) > SUMMARY_MAX:
        errors["summary"] = f"概要は{SUMMARY_MAX}文字以内で入力してください。"
    body = values.get("body_md", "")
    if len(body) > BODY_MAX:
        errors["body_md"] = f"本文は{BODY_MAX:,}文字以内で入力してください。"
    external_url = values.get("external_url", "").strip()
    _check_url(external_url, "外部リンク", errors, "external_url")
    status = values.get("status", "published")
    if status not in STATUSES:
        errors["status"] = "公開状態を選んでください。"
    raw_published = values.get("published_at", "").strip()
    published_at = parse_local_datetime(raw_published, tz) if raw_published else now
    if published_at is None:
        errors["published_at"] = "公開日時は「2026-11-23 09:00」の形式で入力してください。"
    event_date: datetime | None = None
    place = values.get("event_place", "").strip()
    application_url = values.get("application_url", "").strip()
    if kind == "event":
        raw_event = values.get("event_date", "").strip()
        event_date = parse_local_datetime(raw_event, tz) if raw_event else None
        if not raw_event:
            errors["event_date"] = "開催日時を入力してください。"
        elif event_date is None:
            errors["event_date"] = "開催日時は「2026-12-01 14:00」の形式で入力してください。"
        if len(place) > PLACE_MAX:
            errors["event_place"] = f"会場は{PLACE_MAX}文字以内で入力してください。"
        _check_url(application_url, "申込みURL", errors, "application_url")
    term_ids = [*taxonomies.keep("region", region_ids), *taxonomies.keep("topic", topic_ids)]
    if errors or published_at is None:
        return None, term_ids, errors
    data = ArticleData(
        kind=kind,
        status=status,
        title=title,
        summary=summary,
        body_md=body,
        body_html=render_markdown(body),
        external_url=external_url,
        published_at=published_at,
        members_only=values.get("members_only", "") in {"1", "on", "true"},
        event_date=event_date,
        event_place=place if kind == "event" else "",
        application_url=application_url if kind == "event" else "",
    )
    return data, term_ids, {}


def article_state(article: sqlite3.Row, now: datetime) -> str:
    """published / scheduled / draft / unpublished, for admin badges."""
    if article["status"] == "published":
        return "published" if str(article["published_at"]) <= to_db(now) else "scheduled"
    return str(article["status"])


STATE_LABELS = {"published": "公開中", "scheduled": "予約", "draft": "下書き", "unpublished": "非公開"}


# ---------------------------------------------------------------- admin: taxonomy terms

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
TERM_NAME_MAX = 40


def _auto_slug(name: str, taxonomy: str) -> str:
    ascii_name = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKC", name).lower()).strip("-")[:40]
    return ascii_name if ascii_name and SLUG_RE.match(ascii_name) else f"{taxonomy}-{secrets.token_hex(3)}"


async def save_term(
    app: AppContext,
    *,
    term_id: int | None,
    taxonomy: str,
    name: str,
    slug: str,
    parent_raw: str,
    sort_raw: str,
) -> tuple[int | None, dict[str, str]]:
    """Create (term_id None) or update a term, keeping the closure table right. Returns (id, errors)."""
    errors: dict[str, str] = {}
    if taxonomy not in TAXONOMIES:
        return None, {"form": "分類を選び直してください。"}
    name = unicodedata.normalize("NFKC", name).strip()
    if not name:
        errors["name"] = "名前を入力してください。"
    elif len(name) > TERM_NAME_MAX:
        errors["name"] = f"名前は{TERM_NAME_MAX}文字以内で入力してください。"
    slug = unicodedata.normalize("NFKC", slug).strip().lower()
    if slug and not SLUG_RE.match(slug):
        errors["slug"] = "識別子は半角英小文字・数字・ハイフン（60文字以内）で入力してください。"
    elif slug and await taxonomy_queries.slug_taken(app.db, taxonomy, slug, except_id=term_id or 0):
        errors["slug"] = "この識別子はすでに使われています。別の識別子にしてください。"
    parent_id: int | None = None
    if parent_raw.strip():
        parent = await taxonomy_queries.get_term(app.db, int(parent_raw)) if parent_raw.isdigit() else None
        if parent is None or parent["taxonomy"] != taxonomy:
            errors["parent_id"] = "親の項目を選び直してください。"
        elif term_id is not None and await taxonomy_queries.is_in_subtree(app.db, term_id, int(parent["id"])):
            errors["parent_id"] = "自分自身やその下の項目を親にすることはできません。"
        else:
            parent_id = int(parent["id"])
    sort_text = unicodedata.normalize("NFKC", sort_raw).strip() or "0"
    if not re.fullmatch(r"-?\d{1,6}", sort_text):
        errors["sort_order"] = "表示順は整数で入力してください。"
    if errors:
        return None, errors
    sort_order = int(sort_text)
    if term_id is None:
        new_id = await taxonomy_queries.create_term(
            app.db,
            taxonomy=taxonomy,
            name=name,
            slug=slug or _auto_slug(name, taxonomy),
            parent_id=parent_id,
            sort_order=sort_order,
        )
        return new_id, {}
    current = await taxonomy_queries.get_term(app.db, term_id)
    await taxonomy_queries.update_term(
        app.db,
        term_id,
        name=name,
        slug=slug or (str(current["slug"]) if current else _auto_slug(name, taxonomy)),
        parent_id=parent_id,
        sort_order=sort_order,
    )
    return term_id, {}


@dataclass(frozen=True)
class TermUsage:
    articles: int
    conditions: int
    children: int

    @property
    def in_use(self) -> bool:
        return self.articles > 0 or self.conditions > 0


async def term_usage(app: AppContext) -> dict[int, TermUsage]:
    return {k: TermUsage(*v) for k, v in (await taxonomy_queries.term_usage(app.db)).items()}


async def delete_term(app: AppContext, term_id: int, move_to_raw: str) -> str | None:
    """Delete a term. In use → refuse unless a replacement of the same taxonomy is chosen; with children → refuse."""
    term = await taxonomy_queries.get_term(app.db, term_id)
    if term is None:
        return "項目が見つかりません。"
    usage = (await term_usage(app)).get(term_id, TermUsage(0, 0, 0))
    if usage.children:
        return (
            f"「{term['name']}」の下に{usage.children}件の項目があります。"
            "先に下の項目を削除するか、別の親に移してください。"
        )
    move_to: int | None = None
    if move_to_raw.strip():
        target = await taxonomy_queries.get_term(app.db, int(move_to_raw)) if move_to_raw.isdigit() else None
        if target is None or target["taxonomy"] != term["taxonomy"] or int(target["id"]) == term_id:
            return "移動先の項目を選び直してください。"
        move_to = int(target["id"])
    if usage.in_use and move_to is None:
        return (
            f"「{term['name']}」は記事{usage.articles}件・新着条件{usage.conditions}件で使われています。"
            "移動先の項目を選んでから削除してください。"
        )
    await taxonomy_queries.delete_term(app.db, term_id, move_to=move_to)
    return None
