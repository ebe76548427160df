"""Digest e-mails (新着お知らせメール): build each (kind, window) run, send it exactly once, previews.

A run goes building -> sending -> done. Building walks the members in batches (a fixed number of
queries per batch, whatever its size) and writes one delivery row per member: 'pending' with the
articles to send, or 'skipped' with the reason. Sending claims pending rows with UPDATE … RETURNING,
so a second worker or a restart can never take the same row, sends them through the mailer at the
configured rate, and records each outcome right after the server answered.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiosmtplib
from itsdangerous import BadSignature, Signer

from db import app_settings, audit, mail_log
from db import digests as digests_db
from db.digests import PlannedDelivery, RunCounts
from db.timestamps import from_db
from services.context import AppContext
from services.digest_windows import DigestKind, Window, due_windows, next_run, window_at
from services.mailer import MailError, OutgoingMail
from services.perks import MemberTier, Perk, tiers_for
from services.templates import plan_label

log = logging.getLogger("tsudoi.digests")

FREQUENCIES = ("none", "weekly", "daily")
FREQUENCY_LABELS = {"none": "受け取らない", "weekly": "毎週（水曜日）", "daily": "毎日"}
KIND_LABELS = {"weekly": "毎週", "daily": "毎日"}

# A condition lists its newest items and counts the rest, so a digest stays readable on a phone.
MAX_ITEMS_PER_CONDITION = 10
BUILD_BATCH_SIZE = 500
# A delivery still 'sending' this long after its claim belongs to a sender that died; it is sent again.
CLAIM_LEASE = timedelta(minutes=15)
# Transient SMTP errors (4xx, connection trouble): wait, then try again; the last failure is final.
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
HARD_BOUNCE_LIMIT = 3
# A run started this long after it was due is a catch-up (shown as such to the admin).
SCHEDULE_SLACK = timedelta(minutes=30)

SKIP_NO_MATCH = "該当する新着記事がありません"
SKIP_NO_ADDRESS = "メールアドレスが登録されていません"
SKIP_FLAGGED = f"宛先不明で{HARD_BOUNCE_LIMIT}回戻ったため、送信を止めています"
SKIP_UNSUBSCRIBED = "送信前に配信が停止されました"
SKIP_CLOSED = "退会済みの会員です"
SKIP_ARTICLES_GONE = "記事が非公開になったため送信しませんでした"
SKIP_EXPIRED = "配信期限を過ぎたため送信しませんでした"

UNSUBSCRIBE_LIST = "digest"


# ------------------------------------------------------------------------------------ options


@dataclass(frozen=True)
class DigestOptions:
    """Sending settings the admin can change on /admin/digests (stored with the organization settings)."""

    rate_per_second: float = 10.0  # 0 = no limit
    concurrency: int = 4  # messages in flight at once (SMTP connections)
    catch_up_days: int = 3

    @property
    def claim_size(self) -> int:
        # About half a minute of sending per claim keeps every claim far inside CLAIM_LEASE.
        if self.rate_per_second <= 0:
            return 200
        return max(1, min(200, int(self.rate_per_second * 30)))

    @property
    def catch_up_limit(self) -> timedelta:
        return timedelta(days=self.catch_up_days)


OPTION_KEYS = ("digest_rate_per_second", "digest_concurrency", "digest_catch_up_days")


def options_from_strings(values: Mapping[str, str]) -> DigestOptions:
    defaults = DigestOptions()

    def number(key: str, default: float, low: float, high: float) -> float:
        try:
            value = float(values.get(key, default))
        except ValueError:
            return default
        return value if low <= value <= high else default

    return DigestOptions(
        rate_per_second=number("digest_rate_per_second", defaults.rate_per_second, 0, 100_000),
        concurrency=int(number("digest_concurrency", defaults.concurrency, 1, 32)),
        catch_up_days=int(number("digest_catch_up_days", defaults.catch_up_days, 0, 30)),
    )


async def load_options(app: AppContext) -> DigestOptions:
    return options_from_strings(await app_settings.get_all(app.db))


def send_hour(app: AppContext, kind: str) -> int:
    return app.org.weekly_digest_hour if kind == "weekly" else app.org.daily_digest_hour


def effective_frequency(frequency: str, tier: MemberTier) -> str:
    """Daily is a Members perk: without it a member set to daily gets the weekly digest."""
    if frequency == "daily" and not tier.may(Perk.DAILY_DIGEST):
        return "weekly"
    return frequency if frequency in FREQUENCIES else "weekly"


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


def _unsendable(member: sqlite3.Row) -> str:
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
        reason = _unsendable(member) or ("" if sections else SKIP_NO_MATCH)
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


# ------------------------------------------------------------------------------ composing mails


class UnsubscribeTokenInvalid(Exception):
    """Tampered, made for another list, or not a token at all."""


class _KeyedSigner(Signer):
    """itsdangerous derives the HMAC key on every signature; a run signs one link per member."""

    @functools.cached_property
    def _own_key(self) -> bytes:
        return super().derive_key()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        return self._own_key if secret_key is None else super().derive_key(secret_key)


@functools.lru_cache(maxsize=4)
def _unsubscribe_signer(secret_key: str) -> Signer:
    return _KeyedSigner(secret_key, salt="tsudoi:unsubscribe")


def unsubscribe_token(secret_key: str, member_id: int) -> str:
    """'<member id>.<list>.<signature>': names the member and the list. It never expires, because an
    old mail's link must keep working; a plain signer keeps making 100,000 of them cheap."""
    return _unsubscribe_signer(secret_key).sign(f"{member_id}.{UNSUBSCRIBE_LIST}").decode("ascii")


def read_unsubscribe_token(secret_key: str, token: str) -> int:
    if not token or len(token) > 200:
        raise UnsubscribeTokenInvalid(token[:20])
    try:
        value = _unsubscribe_signer(secret_key).unsign(token).decode("ascii")
    except (BadSignature, UnicodeError) as error:
        raise UnsubscribeTokenInvalid("bad signature") from error
    member_text, _, list_name = value.partition(".")
    if list_name != UNSUBSCRIBE_LIST or not member_text.isdigit() or len(member_text) > 12:
        raise UnsubscribeTokenInvalid("wrong list")
    return int(member_text)


@functools.lru_cache(maxsize=64)
def period_label(kind: str, start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """'11月18日(水)〜11月24日(火)' for a week, '11月24日(火)' for a day (the end is exclusive)."""
    first = start.astimezone(tz)
    last = (end - timedelta(microseconds=1)).astimezone(tz)
    days = "月火水木金土日"

    def label(moment: datetime) -> str:
        return f"{moment.month}月{moment.day}日({days[moment.weekday()]})"

    if first.date() >= last.date():
        return label(first)
    return f"{label(first)}〜{label(last)}"


def _list_id(base_url: str) -> str:
    host = urlsplit(base_url).hostname or "localhost"
    return f"<digest.{host}>"


class DigestTemplates:
    """The digest's templates, loaded once per run; each article's entry is rendered once per run too
    (views/mail/_digest_item.*) and shared by every recipient, so a mail costs one small join."""

    def __init__(self, app: AppContext) -> None:
        env = app.templates
        self.text = env.get_template("mail/digest.txt")
        self.html = env.get_template("mail/digest.html")
        self._item_text = env.get_template("mail/_digest_item.txt").module.item  # type: ignore[attr-defined]
        self._item_html = env.get_template("mail/_digest_item.html").module.item  # type: ignore[attr-defined]
        self._items: dict[int, dict[str, Any]] = {}

    def item(self, index: ArticleIndex, article_id: int, base_url: str, tz: ZoneInfo) -> dict[str, Any]:
        cached = self._items.get(article_id)
        if cached is None:
            cached = dict(index.item(article_id, base_url, tz))
            cached["text"] = str(self._item_text(cached)).strip("\n")
            # Made by an autoescaping template: digest.html outputs it with |safe.
            cached["html"] = str(self._item_html(cached))
            self._items[article_id] = cached
        return cached


def compose_digest(
    app: AppContext,
    *,
    member: sqlite3.Row,
    kind: str,
    start: datetime,
    end: datetime,
    sections: Sequence[Section],
    index: ArticleIndex,
    templates: DigestTemplates | None = None,
    article_count: int | None = None,
    subject_prefix: str = "",
) -> OutgoingMail:
    """The digest mail for one member: text and HTML parts, with the RFC 8058 one-click headers."""
    templates = templates or DigestTemplates(app)
    base_url = app.settings.base_url
    tz = app.settings.tz
    token = unsubscribe_token(app.settings.secret_key, int(member["id"]))
    unsubscribe_url = f"{base_url}/unsubscribe/{token}"
    rendered: list[dict[str, Any]] = []
    for section in sections:
        items = [
            templates.item(index, aid, base_url, tz) for aid in section.article_ids if aid in index.articles
        ]
        rendered.append(
            {
                "name": section.name,
                "items": items,
                # The entries are rendered once per run; a mail only joins them (100,000 mails a run).
                "items_text": "\n".join(item["text"] for item in items),
                "items_html": "\n".join(item["html"] for item in items),
                "more": section.more,
                "more_url": f"{base_url}/mypage?condition={section.condition_id}",
            }
        )
    if article_count is None:
        article_count = sum(len(s["items"]) + int(s["more"]) for s in rendered)
    period = period_label(kind, start, end, tz)
    subject = f"{subject_prefix}【{app.org.short_name}】新着お知らせメール {period}"
    context = {
        "subject": subject,
        "member": member,
        "org": app.org,
        "kind": kind,
        "kind_label": KIND_LABELS.get(kind, ""),
        "period": period,
        "sections": rendered,
        "article_count": article_count,
        "base_url": base_url,
        "mypage_url": f"{base_url}/mypage",
        "settings_url": f"{base_url}/settings/mail",
        "unsubscribe_url": unsubscribe_url,
    }
    return OutgoingMail(
        to=str(member["email"]),
        subject=subject,
        text=templates.text.render(context),
        html=templates.html.render(context),
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": _list_id(base_url),
        },
    )


# ------------------------------------------------------------------------------------- building


def _locks(app: AppContext) -> dict[int, asyncio.Lock]:
    locks: dict[int, asyncio.Lock] = app.extras.setdefault("digest_run_locks", {})
    return locks


def _run_lock(app: AppContext, run_id: int) -> asyncio.Lock:
    return _locks(app).setdefault(run_id, asyncio.Lock())


def _bounds(run: sqlite3.Row) -> tuple[datetime, datetime]:
    start, end = from_db(run["window_start"]), from_db(run["window_end"])
    assert start is not None and end is not None
    return start, end


async def build_run(app: AppContext, run_id: int) -> None:
    """Write every member's delivery row (resuming after the last batch written), then start sending."""
    run = await digests_db.get_run(app.db, run_id)
    if run is None or run["status"] != "building":
        return
    start, end = _bounds(run)
    index = await load_index(app, start, end)
    # The tier on the run's day decides (a window's end is 00:00 of that day, in org time).
    async for cursor, plans in iterate_plans(
        app, str(run["kind"]), index, tier_at=end, after_id=int(run["build_cursor"])
    ):
        await digests_db.write_deliveries(
            app.db, run_id, [plan for _, plan, _ in plans], cursor=cursor, now=app.clock.now()
        )
    await digests_db.set_run_sending(app.db, run_id, now=app.clock.now())


# -------------------------------------------------------------------------------------- sending


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    flagged: list[int] = field(default_factory=list)


STOPPING_KEY = "digest_stopping"


def stopping(app: AppContext) -> bool:
    """Set by the scheduler when the app stops: senders finish the message in hand and take no more."""
    event = app.extras.get(STOPPING_KEY)
    return isinstance(event, asyncio.Event) and event.is_set()


def request_stop(app: AppContext) -> None:
    event = app.extras.setdefault(STOPPING_KEY, asyncio.Event())
    event.set()


class Pacer:
    """Spaces messages to at most `rate` per second across every worker (0 = no limit)."""

    def __init__(
        self,
        rate: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._sleep = sleep
        self._monotonic = monotonic
        self._next = 0.0

    async def wait(self) -> None:
        if self.interval <= 0:
            return
        now = self._monotonic()
        slot = max(self._next, now)
        self._next = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)


def classify_failure(error: Exception) -> tuple[bool, str]:
    """(permanent?, message for the admin). A 5xx answer is permanent; 4xx and network trouble are not."""
    if isinstance(error, ValueError):
        return True, "メールアドレスの形式が正しくありません"
    cause = error.__cause__
    # The mailer reports a refused recipient as "unavailable"; its per-recipient codes tell the truth.
    if isinstance(cause, aiosmtplib.SMTPRecipientsRefused) and cause.recipients:
        codes = [refused.code for refused in cause.recipients]
        first = cause.recipients[0]
        message = f"SMTP {first.code}: {first.message}"
        return all(500 <= code < 600 for code in codes), message
    return bool(getattr(error, "permanent", False)), str(error)


T = TypeVar("T")


async def _recorded(write: Coroutine[Any, Any, T]) -> T:
    """An outcome is written even when the sender is being stopped: a stop must not lose the record of
    a message the server already has (nor leave the writer mid-transaction)."""
    return await asyncio.shield(write)


class _SentRecorder:
    """Group commit: deliveries accepted at about the same moment are recorded in one transaction
    (one writer round trip instead of one per message), which keeps a 100,000-member run fast. The
    record is written in its own task, so a sender being cancelled cannot lose it."""

    def __init__(self, app: AppContext) -> None:
        self.app = app
        self._pending: list[tuple[int, str, int | None, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def record(self, delivery_id: int, message_id: str, clear_bounces_of: int | None) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((delivery_id, message_id, clear_bounces_of, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await digests_db.mark_sent(
                    self.app.db,
                    [(delivery_id, message_id) for delivery_id, message_id, _, _ in batch],
                    clear_bounces_of=[member for _, _, member, _ in batch if member is not None],
                    now=self.app.clock.now(),
                )
            except BaseException as error:
                for *_, future in batch:
                    if future.done():
                        continue
                    if isinstance(error, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(error)
                raise
            for *_, future in batch:
                if not future.done():
                    future.set_result(None)


class _RunSender:
    def __init__(
        self,
        app: AppContext,
        run: sqlite3.Row,
        index: ArticleIndex,
        options: DigestOptions,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.app = app
        self.run_id = int(run["id"])
        self.kind = str(run["kind"])
        self.start, self.end = _bounds(run)
        self.index = index
        self.options = options
        self.pacer = Pacer(options.rate_per_second, sleep)
        self.templates = DigestTemplates(app)
        self.recorder = _SentRecorder(app)
        self.report = SendReport()
        self._waiting: set[int] = set()

    async def send_all(self) -> SendReport:
        db = self.app.db
        while not stopping(self.app):
            claimed = await digests_db.claim(
                db, self.run_id, now=self.app.clock.now(), limit=self.options.claim_size
            )
            if not claimed:
                break
            members = await digests_db.members_for_send(db, [int(row["member_id"]) for row in claimed])
            queue: deque[sqlite3.Row] = deque(claimed)
            skipped: list[tuple[int, str]] = []
            workers = [
                asyncio.create_task(self._worker(queue, members, skipped))
                for _ in range(min(self.options.concurrency, len(queue)))
            ]
            try:
                await asyncio.gather(*workers)
            except asyncio.CancelledError:
                # Cancelled (the app stopping past its grace period): what was claimed but never handed
                # to the server goes back to pending now; a message in flight stays 'sending' and is sent
                # again after CLAIM_LEASE — the documented duplicate window.
                back = [int(row["id"]) for row in queue] + sorted(self._waiting) + [i for i, _ in skipped]
                queue.clear()
                await asyncio.shield(digests_db.release_claims(db, back, now=self.app.clock.now()))
                raise
            except BaseException:
                # One worker died (a bug, or a simulated crash): the others take nothing new, but finish
                # and record the message they have in flight, so it is not sent twice later.
                queue.clear()
                await asyncio.wait(workers)
                raise
            # A stop requested while sending: the unsent rest of this claim goes back to pending.
            await digests_db.release_claims(db, [int(row["id"]) for row in queue], now=self.app.clock.now())
            await digests_db.mark_skipped(db, skipped, now=self.app.clock.now())
            self.report.skipped += len(skipped)
        return self.report

    def _skip_reason(self, member: sqlite3.Row | None) -> str:
        if member is None or member["status"] != "active":
            return SKIP_CLOSED
        frequency = str(member["digest_frequency"])
        if frequency == "none" or (self.kind == "daily" and frequency != "daily"):
            return SKIP_UNSUBSCRIBED
        return _unsendable(member)

    async def _worker(
        self, queue: deque[sqlite3.Row], members: dict[int, sqlite3.Row], skipped: list[tuple[int, str]]
    ) -> None:
        while queue and not stopping(self.app):
            row = queue.popleft()
            member = members.get(int(row["member_id"]))
            reason = self._skip_reason(member)
            # An article unpublished since the build is left out; nothing left means no mail.
            sections = [
                Section(s.condition_id, s.name, ids, s.more)
                for s in decode_sections(str(row["content"]))
                if (ids := tuple(a for a in s.article_ids if a in self.index.articles))
            ]
            if member is None or reason or not sections:
                skipped.append((int(row["id"]), reason or SKIP_ARTICLES_GONE))
                continue
            await self._send_one(row, member, sections)

    async def _send_one(self, row: sqlite3.Row, member: sqlite3.Row, sections: list[Section]) -> None:
        delivery_id = int(row["id"])
        try:
            mail = compose_digest(
                self.app,
                member=member,
                kind=self.kind,
                start=self.start,
                end=self.end,
                sections=sections,
                index=self.index,
                templates=self.templates,
                article_count=int(row["article_count"]) or None,
            )
        except Exception:  # a template or data problem must not stop everyone else's digest
            log.exception("digest %s: composing delivery %s failed", self.run_id, delivery_id)
            await self._transient(row, "メールの作成に失敗しました（管理者にお問い合わせください）")
            return
        # Until the pacer lets it go, the message is not with the server: a stop may give it back.
        self._waiting.add(delivery_id)
        await self.pacer.wait()
        self._waiting.discard(delivery_id)
        try:
            message_id = await self.app.mailer.send(mail, now=self.app.clock.now())
        except (MailError, ValueError) as error:
            await self._failed(row, member, error)
            return
        # The duplicate window: the server has the message and the row still says 'sending'. A crash
        # exactly here makes a later start send this message once more (after CLAIM_LEASE). Each worker
        # waits for its record to commit before taking another message, so at most one message per
        # worker is ever in that state.
        clear = int(member["id"]) if member["hard_bounces"] else None
        await self.recorder.record(delivery_id, message_id, clear)
        self.report.sent += 1

    async def _transient(self, row: sqlite3.Row, message: str) -> None:
        attempts = int(row["attempts"])
        now = self.app.clock.now()
        if attempts >= MAX_ATTEMPTS:
            await _recorded(
                digests_db.mark_failed(
                    self.app.db,
                    int(row["id"]),
                    error=f"{attempts}回試しましたが送れませんでした: {message}",
                    now=now,
                )
            )
            self.report.failed += 1
            return
        delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
        await _recorded(
            digests_db.mark_retry(
                self.app.db, int(row["id"]), error=message, next_attempt_at=now + delay, now=now
            )
        )
        self.report.retrying += 1

    async def _failed(self, row: sqlite3.Row, member: sqlite3.Row, error: Exception) -> None:
        permanent, message = classify_failure(error)
        log.warning(
            "digest %s: delivery %s failed (%s): %s",
            self.run_id,
            row["id"],
            "permanent" if permanent else "transient",
            message,
        )
        if not permanent:
            await self._transient(row, message)
            return
        now = self.app.clock.now()
        await _recorded(digests_db.mark_failed(self.app.db, int(row["id"]), error=message, now=now))
        self.report.failed += 1
        flagged = await _recorded(
            digests_db.record_hard_bounce(
                self.app.db,
                int(member["id"]),
                email=str(member["email"]),
                error=message,
                now=now,
                flag_after=HARD_BOUNCE_LIMIT,
            )
        )
        if flagged:
            self.report.flagged.append(int(member["id"]))
            await audit.record(
                self.app.db,
                "digest.address_flagged",
                now=now,
                subject_member_id=int(member["id"]),
                detail={"error": message[:200]},
            )


async def send_run(
    app: AppContext,
    run_id: int,
    *,
    options: DigestOptions | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> SendReport:
    """Send what is due in one run; the run is done once nothing is pending (retries may remain)."""
    options = options or await load_options(app)
    async with _run_lock(app, run_id):
        run = await digests_db.get_run(app.db, run_id)
        if run is None or run["status"] != "sending":
            return SendReport()
        now = app.clock.now()
        released = await digests_db.release_stale_claims(
            app.db, run_id, claimed_before=now - CLAIM_LEASE, now=now
        )
        if released:
            log.warning("digest %s: %s deliveries left by a stopped sender are sent again", run_id, released)
        start, end = _bounds(run)
        index = await load_index(app, start, end)
        report = await _RunSender(app, run, index, options, sleep).send_all()
        await digests_db.finish_run_if_complete(app.db, run_id, now=app.clock.now())
        return report


# ------------------------------------------------------------------------------------- running


@dataclass
class RunReport:
    run_id: int
    kind: str
    window_key: str
    created: bool
    status: str
    counts: RunCounts


async def _report(app: AppContext, run_id: int, created: bool) -> RunReport:
    run = await digests_db.get_run(app.db, run_id)
    assert run is not None
    counts = (await digests_db.run_counts(app.db, [run_id]))[run_id]
    return RunReport(run_id, str(run["kind"]), str(run["window_key"]), created, str(run["status"]), counts)


async def continue_run(
    app: AppContext,
    run_id: int,
    *,
    options: DigestOptions | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    options = options or await load_options(app)
    async with _run_lock(app, run_id):
        await build_run(app, run_id)
    await send_run(app, run_id, options=options, sleep=sleep)


async def run_window(
    app: AppContext,
    window: Window,
    *,
    trigger: str,
    options: DigestOptions | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> RunReport:
    """The run of one (kind, window): created once, then built and sent (or resumed) — exactly once."""
    run_id, created = await digests_db.create_run(
        app.db,
        kind=window.kind,
        window_key=window.key,
        window_start=window.start_utc,
        window_end=window.end_utc,
        due_at=window.due_at_utc,
        trigger=trigger,
        now=app.clock.now(),
    )
    if created:
        log.info("digest run %s (%s) started by %s", run_id, window.key, trigger)
    await continue_run(app, run_id, options=options, sleep=sleep)
    return await _report(app, run_id, created)


async def run_due(
    app: AppContext, kind: DigestKind, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> list[RunReport]:
    """The scheduler's job for one kind: resume unfinished runs (retries, a crash, a stop), then run
    each window that is due and has no run yet — after downtime that is a catch-up, sent once."""
    options = await load_options(app)
    now = app.clock.now()
    reports: list[RunReport] = []
    for run in await digests_db.unfinished_runs(app.db, kind):
        run_id = int(run["id"])
        due_at = from_db(run["due_at"])
        if due_at is not None and due_at + options.catch_up_limit < now:
            # Stalled for longer than the catch-up limit: what is left is no longer news.
            async with _run_lock(app, run_id):
                await digests_db.set_run_sending(app.db, run_id, now=now)
                await digests_db.expire_open_deliveries(app.db, run_id, reason=SKIP_EXPIRED, now=now)
                await digests_db.finish_run_if_complete(app.db, run_id, now=now)
            log.warning("digest run %s expired unfinished", run_id)
            continue
        if run["status"] == "sending" and not await digests_db.has_due_pending(app.db, run_id, now=now):
            stale = await digests_db.release_stale_claims(
                app.db, run_id, claimed_before=now - CLAIM_LEASE, now=now
            )
            if not stale:
                await digests_db.finish_run_if_complete(app.db, run_id, now=now)
                continue
        await continue_run(app, run_id, options=options, sleep=sleep)
        reports.append(await _report(app, run_id, False))
    last = await digests_db.last_window_key(app.db, kind)
    for window in due_windows(kind, last, now, app.settings.tz, send_hour(app, kind), options.catch_up_limit):
        trigger = "schedule" if now - window.due_at_utc <= SCHEDULE_SLACK else "catch_up"
        reports.append(await run_window(app, window, trigger=trigger, options=options, sleep=sleep))
    return reports


async def run_weekly_job(app: AppContext) -> list[RunReport]:
    return await run_due(app, "weekly")


async def run_daily_job(app: AppContext) -> list[RunReport]:
    return await run_due(app, "daily")


def window_for(app: AppContext, kind: DigestKind, at: datetime) -> Window:
    """The latest `kind` window due at `at` (the CLI's --at)."""
    return window_at(kind, at, app.settings.tz, send_hour(app, kind))


# -------------------------------------------------------------------------------------- dry run


@dataclass(frozen=True)
class DryRunEntry:
    member_number: str
    name: str
    email: str
    status: str
    reason: str
    article_count: int
    sections: list[tuple[str, list[str], int]]


async def dry_run_entries(app: AppContext, window: Window) -> AsyncIterator[DryRunEntry]:
    """Who would get what for this window, without writing or sending anything."""
    index = await load_index(app, window.start_utc, window.end_utc)
    async for _, plans in iterate_plans(app, window.kind, index, tier_at=window.end_utc):
        for member, plan, sections in plans:
            yield DryRunEntry(
                member_number=str(member["member_number"]),
                name=f"{member['family_name']} {member['given_name']}".strip(),
                email=str(member["email"]),
                status=plan.status,
                reason=plan.note,
                article_count=plan.article_count,
                sections=[
                    (s.name, [index.articles[a].title for a in s.article_ids], s.more) for s in sections
                ],
            )


# -------------------------------------------------------------------------------------- preview


@dataclass
class DigestPreview:
    member: sqlite3.Row
    tier: MemberTier
    frequency: str  # what the member chose
    kind: str  # what the member gets ('none', 'weekly', 'daily')
    daily_allowed: bool
    next_run_at: datetime | None
    start: datetime | None
    end: datetime | None
    sections: list[Section]
    article_count: int
    index: ArticleIndex | None

    def items(self, app: AppContext) -> list[dict[str, Any]]:
        """Sections ready for a page: name, items (title, url, date…) and the count not listed."""
        if self.index is None:
            return []
        index = self.index
        return [
            {
                "name": s.name,
                "items": [index.item(a, "", app.settings.tz) for a in s.article_ids],
                "more": s.more,
            }
            for s in self.sections
        ]


async def preview(app: AppContext, member_id: int, *, kind: str | None = None) -> DigestPreview | None:
    """What the member's next digest would contain if it went out now: the articles published since
    the start of the upcoming window, with the same matching, gating and limits as the real run."""
    member = await digests_db.member_for_preview(app.db, member_id)
    if member is None:
        return None
    now = app.clock.now()
    tier = (await tiers_for(app.db, [member_id], now=now, tz=app.settings.tz))[member_id]
    frequency = str(member["digest_frequency"])
    effective = effective_frequency(frequency, tier)
    chosen = kind or effective
    result = DigestPreview(
        member=member,
        tier=tier,
        frequency=frequency,
        kind=effective,
        daily_allowed=tier.may(Perk.DAILY_DIGEST),
        next_run_at=None,
        start=None,
        end=None,
        sections=[],
        article_count=0,
        index=None,
    )
    if chosen not in ("weekly", "daily"):
        return result
    digest_kind: DigestKind = "weekly" if chosen == "weekly" else "daily"
    hour = send_hour(app, digest_kind)
    upcoming = next_run(digest_kind, now, app.settings.tz, hour)
    window = window_at(digest_kind, upcoming, app.settings.tz, hour)
    end = min(window.end_utc, now)
    index = await load_index(app, window.start_utc, end)
    conditions = group_conditions(await digests_db.conditions_for(app.db, [member_id]))
    sections, count = select_sections(index, conditions.get(member_id, []), tier)
    result.next_run_at = upcoming
    result.start, result.end = window.start_utc, window.end_utc
    result.sections, result.article_count, result.index = sections, count, index
    return result


def preview_mail(app: AppContext, result: DigestPreview, *, subject_prefix: str = "") -> OutgoingMail | None:
    if result.index is None or result.start is None or result.end is None or not result.sections:
        return None
    return compose_digest(
        app,
        member=result.member,
        kind=result.kind if result.kind in ("weekly", "daily") else "weekly",
        start=result.start,
        end=result.end,
        sections=result.sections,
        index=result.index,
        article_count=result.article_count,
        subject_prefix=subject_prefix,
    )


async def send_test(app: AppContext, member_id: int, *, kind: str, to: str) -> str | None:
    """Send `member_id`'s upcoming digest to the admin's own address; an error message, or None."""
    result = await preview(app, member_id, kind=kind)
    if result is None:
        return "会員が見つかりません。"
    if not to:
        return "管理者のメールアドレスが登録されていないため、テスト送信できません。"
    if result.index is not None:
        result.kind = kind
    mail = preview_mail(app, result, subject_prefix="[テスト送信] ")
    if mail is None:
        return "この会員には、今の時点で該当する新着記事がないため送信しませんでした。"
    mail.to = to
    now = app.clock.now()
    try:
        message_id = await app.mailer.send(mail, now=now)
    except (MailError, ValueError) as error:
        _, message = classify_failure(error)
        await mail_log.record(
            app.db,
            now=now,
            kind="digest_test",
            recipient=to,
            subject=mail.subject,
            message_id="",
            error=message,
        )
        return f"送信できませんでした（{message}）。"
    await mail_log.record(
        app.db, now=now, kind="digest_test", recipient=to, subject=mail.subject, message_id=message_id
    )
    return None


# ----------------------------------------------------------------------------- member settings


DAILY_NOT_ALLOWED = "毎日の配信は{tier}の特典です。"


async def change_frequency(app: AppContext, member_id: int, frequency: str, *, ip: str = "") -> str | None:
    """Set the member's digest frequency; a Japanese error message, or None when saved."""
    if frequency not in FREQUENCIES:
        return "配信頻度を選んでください。"
    if frequency == "daily":
        tier = (await tiers_for(app.db, [member_id], now=app.clock.now(), tz=app.settings.tz))[member_id]
        if not tier.may(Perk.DAILY_DIGEST):
            return (
                DAILY_NOT_ALLOWED.format(tier=plan_label(await daily_tier_name(app)))
                + "毎週または受け取らないを選んでください。"
            )
    await digests_db.set_frequency(app.db, member_id, frequency, now=app.clock.now())
    await audit.record(
        app.db,
        "digest.frequency_changed",
        now=app.clock.now(),
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
        detail={"frequency": frequency},
    )
    return None


async def daily_tier_name(app: AppContext) -> str:
    """The name of the tier that includes the daily digest (set by the admin), for the member's line."""
    from db import tiers as tier_queries

    for row in await tier_queries.all_tiers(app.db):
        if row["perk_daily_digest"]:
            return str(row["name"])
    return "有料会員"


async def unsubscribe(app: AppContext, member_id: int, *, one_click: bool, ip: str = "") -> bool:
    """The unsubscribe link: frequency none. True when something changed."""
    member = await digests_db.member_for_preview(app.db, member_id)
    if member is None:
        return False
    changed = str(member["digest_frequency"]) != "none"
    if changed:
        await digests_db.set_frequency(app.db, member_id, "none", now=app.clock.now())
        await audit.record(
            app.db,
            "digest.unsubscribed",
            now=app.clock.now(),
            subject_member_id=member_id,
            ip=ip,
            detail={"one_click": one_click},
        )
    return changed


# ------------------------------------------------------------------------------------------ CLI


def parse_at(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    """--at: ISO 8601; without an offset it is read in the organization's time zone."""
    if not text:
        return now
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


async def cli_send_digests(
    app: AppContext, kind: str, at_text: str, *, dry_run: bool, echo: Callable[[str], None]
) -> int:
    """`litestar tsudoi send-digests`: the same run as the scheduler's, for the window due at --at."""
    if kind not in ("weekly", "daily"):
        echo("--kind には weekly か daily を指定してください。")
        return 2
    digest_kind: DigestKind = "weekly" if kind == "weekly" else "daily"
    try:
        at = parse_at(at_text, app.settings.tz, app.clock.now())
    except ValueError:
        echo(f"--at の日時「{at_text}」を読み取れません。例：2026-11-25T07:00")
        return 2
    window = window_for(app, digest_kind, at)
    period = period_label(kind, window.start_utc, window.end_utc, app.settings.tz)
    echo(f"{KIND_LABELS[kind]}の配信 {window.key}（{period}）")
    if dry_run:
        would_send = skipped = 0
        async for entry in dry_run_entries(app, window):
            if entry.status != "pending":
                skipped += 1
                continue
            would_send += 1
            echo(f"{entry.member_number} {entry.name} <{entry.email}>: {entry.article_count}件")
            for name, titles, more in entry.sections:
                echo(f"  ■ {name}")
                for title in titles:
                    echo(f"    ・{title}")
                if more:
                    echo(f"    ほか {more} 件")
        echo(f"送信予定 {would_send} 名／対象外 {skipped} 名（--dry-run: 何も送信していません）")
        return 0
    existing = await digests_db.get_run_by_key(app.db, kind, window.key)
    if existing is not None and existing["status"] == "done":
        counts = (await digests_db.run_counts(app.db, [int(existing["id"])]))[int(existing["id"])]
        echo(f"この回はすでに送信済みです（送信 {counts.sent}／失敗 {counts.failed}）。二重には送りません。")
        return 0
    report = await run_window(app, window, trigger="cli")
    counts = report.counts
    echo(
        f"該当 {counts.matched} 名／送信 {counts.sent}／対象外 {counts.skipped}／失敗 {counts.failed}"
        + (f"／再試行待ち {counts.open}（自動配信が有効なら後で再送します）" if counts.open else "")
    )
    return 0 if not counts.failed else 1
