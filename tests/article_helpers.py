"""Test helpers for articles: a small taxonomy, articles at given times, conditions, the Members tier."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from db import articles as article_queries
from db import conditions as condition_queries
from db import taxonomy as taxonomy_queries
from db.articles import ArticleData
from db.timestamps import to_db
from services.context import AppContext
from services.markdown import render_markdown

TERMS = [
    ("region", "asia", "アジア", None),
    ("region", "china", "中国", "asia"),
    ("region", "korea", "韓国", "asia"),
    ("region", "europe", "欧州", None),
    ("region", "uk", "英国", "europe"),
    ("region", "north-america", "北米", None),
    ("region", "us", "米国", "north-america"),
    ("topic", "trade", "通商政策", None),
    ("topic", "investment", "投資", None),
    ("topic", "regulation", "規制・制度", None),
]


async def seed_terms(app: AppContext) -> dict[str, int]:
    ids: dict[str, int] = {}
    for order, (taxonomy, slug, name, parent) in enumerate(TERMS):
        ids[slug] = await taxonomy_queries.create_term(
            app.db, taxonomy=taxonomy, name=name, slug=slug, parent_id=ids.get(parent or ""), sort_order=order
        )
    return ids


async def add_article(
    app: AppContext,
    title: str,
    slugs: Sequence[str] = (),
    *,
    ids: dict[str, int],
    published_at: datetime | None = None,
    age: timedelta | None = None,
    kind: str = "article",
    members_only: bool = False,
    status: str = "published",
    summary: str = "",
    body: str = "",
) -> int:
    now = app.clock.now()
    when = published_at or (now - (age if age is not None else timedelta(hours=1)))
    data = ArticleData(
        kind=kind,
        status=status,
        title=title,
        summary=summary or f"{title}の概要です。",
        body_md=body or f"{title}の本文です。",
        body_html=render_markdown(body or f"{title}の本文です。"),
        external_url="",
        published_at=when,
        members_only=members_only,
        event_date=now + timedelta(days=10) if kind == "event" else None,
        event_place="東京会場" if kind == "event" else "",
        application_url="https://example.jp/apply" if kind == "event" else "",
    )
    return await article_queries.create_article(app.db, data, [ids[s] for s in slugs], now=now)


async def add_condition(
    app: AppContext, member_id: int, name: str, slugs: Sequence[str], ids: dict[str, int]
) -> int:
    condition_id = await condition_queries.create(
        app.db, member_id, name, [ids[s] for s in slugs], now=app.clock.now(), limit=10
    )
    assert condition_id is not None
    return condition_id


async def grant_members_tier(app: AppContext, member_id: int) -> None:
    today = app.clock.now().astimezone(app.settings.tz).date()
    await app.db.execute(
        "INSERT INTO member_tiers (member_id, tier_id, starts_on, ends_on, source, created_at) "
        "SELECT ?, id, ?, NULL, 'test', ? FROM tiers WHERE code = 'members'",
        (member_id, (today - timedelta(days=30)).isoformat(), to_db(app.clock.now())),
    )
