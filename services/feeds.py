"""Import the organization's existing RSS/Atom feed as articles, mapping feed categories to taxonomy terms."""

from __future__ import annotations

import hashlib
import html
import json
import logging
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import feedparser
import httpx
import nh3

from db import articles as article_queries
from db import taxonomy as taxonomy_queries
from db.articles import ArticleData
from db.timestamps import to_db
from services.context import AppContext
from services.markdown import render_markdown, sanitize_html

log = logging.getLogger("tsudoi.feeds")

FETCH_TIMEOUT_SECONDS = 20.0
MAX_FEED_BYTES = 5_000_000
GUID_PREFIX = "feed:"
SUMMARY_MAX = 300
TITLE_MAX = 200


class FeedError(Exception):
    """The feed could not be fetched or read; the message is for the admin, in Japanese."""


@dataclass
class FeedResult:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    categories: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def summary(self) -> str:
        if self.error:
            return f"取り込みに失敗しました: {self.error}"
        text = f"新規 {self.created}件・更新 {self.updated}件"
        return text + (f"・スキップ {self.skipped}件" if self.skipped else "")


def normalize_category(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def parse_category_map(raw: str) -> dict[str, list[int]]:
    """The stored mapping (JSON list of [category, term id] pairs) as category → term ids."""
    try:
        pairs = json.loads(raw) if raw else []
    except ValueError:
        return {}
    mapping: dict[str, list[int]] = {}
    if not isinstance(pairs, list):
        return {}
    for pair in pairs:
        if (
            isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], str)
            and isinstance(pair[1], int)
        ):
            key = normalize_category(pair[0])
            if key and pair[1] not in mapping.setdefault(key, []):
                mapping[key].append(pair[1])
    return mapping


def category_pairs(raw: str) -> list[tuple[str, int]]:
    """The stored mapping as the admin typed it, for the settings form."""
    try:
        pairs = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [
        (str(p[0]), int(p[1]))
        for p in pairs
        if isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], int)
    ]


def dump_category_map(pairs: list[tuple[str, int]]) -> str:
    return json.dumps([[category, term_id] for category, term_id in pairs], ensure_ascii=False)


def _text(value: str) -> str:
    """Feed HTML to plain text (titles and summaries are shown as text)."""
    cleaned = nh3.clean(value or "", tags=set(), clean_content_tags={"script", "style"})
    return " ".join(html.unescape(cleaned).split())


def _published(entry: Any, now: datetime) -> datetime:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                year, month, day, hour, minute, second = (int(v) for v in parsed[:6])
                return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except (TypeError, ValueError):
                continue
    return now


def _guid(entry: Any) -> str:
    raw = str(entry.get("id") or entry.get("link") or "")
    if not raw:
        raw = "sha256:" + hashlib.sha256(str(entry.get("title", "")).encode("utf-8")).hexdigest()
    return (GUID_PREFIX + raw)[:500]


def _link(entry: Any) -> str:
    link = str(entry.get("link") or "")
    return link if link.startswith(("http://", "https://")) and len(link) <= 1000 else ""


async def fetch_feed(url: str) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise FeedError("フィードのURLは http:// または https:// で始めてください。")
    try:
        async with (
            httpx.AsyncClient(
                timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=True, max_redirects=5
            ) as client,
            client.stream("GET", url, headers={"User-Agent": "Tsudoi feed import"}) as response,
        ):
            if response.status_code != 200:
                raise FeedError(
                    f"フィードを取得できませんでした（HTTP {response.status_code}）。URLをご確認ください。"
                )
            chunks = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_FEED_BYTES:
                    raise FeedError("フィードが大きすぎます（5MBまで）。")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as error:
        raise FeedError(
            f"フィードに接続できませんでした（{type(error).__name__}）。URLとネットワークをご確認ください。"
        ) from error


async def import_feed(
    app: AppContext, url_or_bytes: str | bytes, category_map: dict[str, list[int]]
) -> FeedResult:
    """Import every entry of a feed (a URL to fetch, or the document itself).

    Entries are keyed by their guid (or link): a re-import updates the article in place and never
    duplicates it, keeping the admin's publish status. Feed categories found in `category_map`
    (compared after NFKC + case folding) become the article's terms; unknown term ids are ignored.
    """
    now = app.clock.now()
    try:
        content = url_or_bytes if isinstance(url_or_bytes, bytes) else await fetch_feed(url_or_bytes)
    except FeedError as error:
        return FeedResult(error=str(error))
    # feedparser only ever gets bytes here, never a string it might treat as a path or URL.
    parsed = await anyio.to_thread.run_sync(feedparser.parse, content)
    if not parsed.entries:
        if parsed.get("bozo"):
            return FeedResult(error="RSS/Atom として読み取れませんでした。フィードのURLをご確認ください。")
        return FeedResult()
    valid_terms = {int(row["id"]) for row in await taxonomy_queries.all_terms(app.db)}
    mapping = {key: [t for t in ids if t in valid_terms] for key, ids in category_map.items()}
    result = FeedResult()
    seen: list[str] = []
    for entry in parsed.entries:
        title = _text(str(entry.get("title", "")))[:TITLE_MAX]
        if not title:
            result.skipped += 1
            continue
        categories = [str(tag.get("term") or "").strip() for tag in entry.get("tags", []) or []]
        term_ids: list[int] = []
        for category in categories:
            if category and category not in seen:
                seen.append(category)
            for term_id in mapping.get(normalize_category(category), []):
                if term_id not in term_ids:
                    term_ids.append(term_id)
        summary_html = str(entry.get("summary", ""))
        contents = entry.get("content") or []
        body_source = str(contents[0].get("value", "")) if contents else summary_html
        body_md = sanitize_html(body_source)
        data = ArticleData(
            kind="article",
            status="published",
            title=title,
            summary=_text(summary_html)[:SUMMARY_MAX],
            body_md=body_md,
            body_html=render_markdown(body_md),
            external_url=_link(entry),
            published_at=_published(entry, now),
            members_only=False,
            event_date=None,
            event_place="",
            application_url="",
        )
        _, created = await article_queries.upsert_feed_article(app.db, _guid(entry), data, term_ids, now=now)
        if created:
            result.created += 1
        else:
            result.updated += 1
    result.categories = seen[:200]
    return result


async def run_feed_import_job(app: AppContext) -> int:
    """The scheduled import: fetch the configured feed, import it, record the outcome. Never raises.

    Returns how many articles were created or updated (0 when no feed is configured).
    """
    settings = await article_queries.feed_settings(app.db)
    url = settings.get("feed_url", "").strip()
    if not url:
        return 0
    try:
        result = await import_feed(app, url, parse_category_map(settings.get("feed_category_map", "")))
    except Exception:  # the scheduler must keep running; the admin sees the failure on the feeds screen
        log.exception("feed import failed")
        result = FeedResult(error="予期しないエラーが発生しました。フィードの内容をご確認ください。")
    await record_result(app, result)
    return result.created + result.updated


async def record_result(app: AppContext, result: FeedResult) -> None:
    values = {"feed_last_run_at": to_db(app.clock.now()), "feed_last_result": result.summary()}
    if result.categories:
        values["feed_seen_categories"] = json.dumps(result.categories, ensure_ascii=False)
    await article_queries.put_feed_settings(app.db, values)


def seen_categories(raw: str) -> list[str]:
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [str(v) for v in value if isinstance(v, str)] if isinstance(value, list) else []
