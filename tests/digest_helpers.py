"""Digest test data written straight through SQL (terms, articles, conditions, tiers), independent of the
article screens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from db.timestamps import to_db
from services.context import AppContext
from tests.helpers import make_member


async def add_term(app: AppContext, taxonomy: str, name: str, parent: int | None = None) -> int:
    slug = f"{taxonomy}-{name}"
    term_id = await app.db.execute(
        "INSERT INTO terms (taxonomy, parent_id, name, slug) VALUES (?, ?, ?, ?)",
        (taxonomy, parent, name, slug),
    )
    rows: list[tuple[int, int]] = [(term_id, term_id)]
    if parent is not None:
        ancestors = await app.db.fetchall(
            "SELECT ancestor_id FROM term_closure WHERE descendant_id = ?", (parent,)
        )
        rows += [(int(row[0]), term_id) for row in ancestors]
    await app.db.executemany("INSERT INTO term_closure (ancestor_id, descendant_id) VALUES (?, ?)", rows)
    return term_id


async def add_article(
    app: AppContext,
    title: str,
    published_at: datetime,
    terms: Sequence[int] = (),
    *,
    kind: str = "article",
    members_only: bool = False,
    status: str = "published",
    summary: str = "",
    event_date: str | None = None,
) -> int:
    stamp = to_db(datetime(2026, 1, 1, tzinfo=UTC))
    article_id = await app.db.execute(
        "INSERT INTO articles (kind, status, title, summary, published_at, members_only, event_date, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (kind, status, title, summary, to_db(published_at), int(members_only), event_date, stamp, stamp),
    )
    if terms:
        await app.db.executemany(
            "INSERT INTO article_terms (article_id, term_id) VALUES (?, ?)", [(article_id, t) for t in terms]
        )
    return article_id


async def add_condition(app: AppContext, member_id: int, name: str, terms: Sequence[int] = ()) -> int:
    stamp = to_db(datetime(2026, 1, 1, tzinfo=UTC))
    condition_id = await app.db.execute(
        "INSERT INTO conditions (member_id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
        (member_id, name, stamp, stamp),
    )
    if terms:
        await app.db.executemany(
            "INSERT INTO condition_terms (condition_id, term_id) VALUES (?, ?)",
            [(condition_id, t) for t in terms],
        )
    return condition_id


async def join_members_tier(app: AppContext, member_id: int, *, ends_on: date | None = None) -> None:
    await app.db.execute(
        "INSERT INTO member_tiers (member_id, tier_id, starts_on, ends_on, source, created_at) "
        "SELECT ?, id, '2020-01-01', ?, 'test', ? FROM tiers WHERE code = 'members'",
        (member_id, ends_on.isoformat() if ends_on else None, to_db(datetime(2026, 1, 1, tzinfo=UTC))),
    )


async def digest_member(
    app: AppContext, number: str, *, frequency: str = "weekly", members_tier: bool = False, **profile: Any
) -> int:
    member_id = await make_member(app, number, **profile)
    await app.db.execute("UPDATE members SET digest_frequency = ? WHERE id = ?", (frequency, member_id))
    if members_tier:
        await join_members_tier(app, member_id)
    return member_id


async def fast_sending(app: AppContext) -> None:
    """Tests send without the production rate limit."""
    await app.update_org({"digest_rate_per_second": "0"})
