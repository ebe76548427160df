"""published_article_terms (0011) stays in sync with articles and article_terms on every write path, and
the condition-driven new-arrivals query gives exactly what the rules say on random data."""

from __future__ import annotations

import random
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from db import article_matching as matching_queries
from db import articles as article_queries
from db import taxonomy as taxonomy_queries
from db.articles import ArticleData
from db.timestamps import to_db
from services import articles as article_service
from services.markdown import render_markdown
from tests.article_helpers import add_article, add_condition, grant_members_tier, seed_terms
from tests.helpers import make_member


async def index_rows(app) -> set[tuple]:
    rows = await app.db.fetchall(
        "SELECT article_id, term_id, published_at, kind, members_only FROM published_article_terms"
    )
    return {tuple(r) for r in rows}


async def expected_rows(app) -> set[tuple]:
    rows = await app.db.fetchall(
        "SELECT at.article_id, at.term_id, a.published_at, a.kind, a.members_only "
        "FROM article_terms at JOIN articles a ON a.id = at.article_id WHERE a.status = 'published'"
    )
    return {tuple(r) for r in rows}


async def assert_in_sync(app) -> None:
    assert await index_rows(app) == await expected_rows(app)


def article_data(app, title: str, **changes) -> ArticleData:
    data = ArticleData(
        kind="article",
        status="published",
        title=title,
        summary="概要",
        body_md="本文",
        body_html=render_markdown("本文"),
        external_url="",
        published_at=app.clock.now() - timedelta(hours=1),
        members_only=False,
        event_date=None,
        event_place="",
        application_url="",
    )
    return replace(data, **changes)


async def test_index_follows_every_article_write(app_ctx):
    ids = await seed_terms(app_ctx)
    now = app_ctx.clock.now()
    published = await add_article(app_ctx, "公開", ["china", "trade"], ids=ids)
    draft = await add_article(app_ctx, "下書き", ["uk", "trade"], ids=ids, status="draft")
    assert {row[0] for row in await index_rows(app_ctx)} == {published}
    await assert_in_sync(app_ctx)

    # Editing: new terms, rescheduled, became an event and members-only.
    changed = article_data(
        app_ctx, "公開(改)", kind="event", members_only=True, published_at=now - timedelta(days=2)
    )
    await article_queries.update_article(
        app_ctx.db, published, changed, [ids["korea"], ids["investment"]], now=now
    )
    assert await index_rows(app_ctx) == {
        (published, ids["korea"], to_db(now - timedelta(days=2)), "event", 1),
        (published, ids["investment"], to_db(now - timedelta(days=2)), "event", 1),
    }

    # Publishing the draft, unpublishing the other.
    await article_queries.set_status(app_ctx.db, draft, "published", now=now)
    await article_queries.set_status(app_ctx.db, published, "unpublished", now=now)
    assert {row[0] for row in await index_rows(app_ctx)} == {draft}
    await assert_in_sync(app_ctx)

    # Feed import: a new entry, then the same guid updated with other terms.
    feed_id, created = await article_queries.upsert_feed_article(
        app_ctx.db, "guid-1", article_data(app_ctx, "フィード"), [ids["us"]], now=now
    )
    assert created
    await article_queries.upsert_feed_article(
        app_ctx.db, "guid-1", article_data(app_ctx, "フィード(更新)"), [ids["uk"], ids["trade"]], now=now
    )
    assert {row[1] for row in await index_rows(app_ctx) if row[0] == feed_id} == {ids["uk"], ids["trade"]}
    await assert_in_sync(app_ctx)

    # Raw SQL (seeds, other features' tests) is covered by the triggers too.
    await app_ctx.db.execute(
        "INSERT INTO article_terms (article_id, term_id) VALUES (?, ?)", (draft, ids["regulation"])
    )
    await app_ctx.db.execute("UPDATE articles SET published_at = ? WHERE id = ?", (to_db(now), draft))
    await assert_in_sync(app_ctx)
    await app_ctx.db.execute("DELETE FROM articles WHERE id = ?", (draft,))
    assert not [row for row in await index_rows(app_ctx) if row[0] == draft]
    await assert_in_sync(app_ctx)


async def test_index_follows_term_deletes_and_moves(app_ctx):
    ids = await seed_terms(app_ctx)
    member = await make_member(app_ctx, "001001")
    korea = await add_article(app_ctx, "韓国", ["korea", "trade"], ids=ids)
    await add_article(app_ctx, "中国", ["china", "trade"], ids=ids)
    condition = await add_condition(app_ctx, member, "欧州", ["europe"], ids)

    # Deleting 韓国 and moving its articles to 英国 (under 欧州) makes the article match 欧州.
    await taxonomy_queries.delete_term(app_ctx.db, ids["korea"], move_to=ids["uk"])
    await assert_in_sync(app_ctx)
    arrivals = await article_service.new_arrivals(app_ctx, member, condition)
    assert arrivals is not None
    assert [row["id"] for row in arrivals.items] == [korea]

    # Moving 中国 under 欧州 needs no index change: the closure is read at query time.
    await taxonomy_queries.update_term(
        app_ctx.db, ids["china"], name="中国", slug="china", parent_id=ids["europe"], sort_order=0
    )
    arrivals = await article_service.new_arrivals(app_ctx, member, condition)
    assert arrivals is not None
    assert sorted(row["title"] for row in arrivals.items) == ["中国", "韓国"]

    # Deleting a term without a replacement removes its rows.
    await taxonomy_queries.delete_term(app_ctx.db, ids["trade"], move_to=None)
    await assert_in_sync(app_ctx)
    assert ids["trade"] not in {row[1] for row in await index_rows(app_ctx)}


async def test_migration_fills_the_index_from_existing_rows(app_ctx):
    ids = await seed_terms(app_ctx)
    await add_article(app_ctx, "一", ["china", "trade"], ids=ids)
    await add_article(app_ctx, "二", ["uk"], ids=ids, status="draft")
    await app_ctx.db.execute("DELETE FROM published_article_terms")
    sql = (Path(__file__).parents[2] / "db/migrations/0011_article_match_index.sql").read_text(
        encoding="utf-8"
    )
    fill = sql[sql.index("INSERT INTO published_article_terms") : sql.index(";", sql.index("INSERT INTO"))]
    await app_ctx.db.execute(fill)
    await assert_in_sync(app_ctx)
    assert len(await index_rows(app_ctx)) == 2


def reference(articles, conditions, closure, start, end, *, events, members_only, condition_id, limit=30):
    """The rules of services.articles.new_arrivals, in plain Python."""

    def under(chosen):
        return {d for c in chosen for d in closure[c]}

    counts, picked = {}, {}
    everything_shown, everything_gated = set(), set()
    for cid, (regions, topics) in conditions.items():
        shown = gated = 0
        for a in articles:
            if a["status"] != "published" or not (start <= a["published_at"] <= end):
                continue
            if regions and not (a["terms"] & under(regions)):
                continue
            if topics and not (a["terms"] & under(topics)):
                continue
            is_gated = (a["kind"] == "event" and not events) or (a["members_only"] and not members_only)
            if is_gated:
                gated += 1
                everything_gated.add(a["id"])
            else:
                shown += 1
                everything_shown.add(a["id"])
                if condition_id in (None, cid):
                    picked[a["id"]] = a
        counts[cid] = (shown, gated)
    counts[0] = (len(everything_shown), len(everything_gated))
    items = sorted(picked.values(), key=lambda a: (a["published_at"], a["id"]), reverse=True)[:limit]
    return counts, [a["id"] for a in items]


async def test_condition_driven_query_matches_the_rules_on_random_data(app_ctx):
    rng = random.Random(11)
    ids = await seed_terms(app_ctx)
    taxonomies = await article_service.load_taxonomies(app_ctx)
    closure = {term_id: taxonomies.subtree_ids(term_id) for term_id in ids.values()}
    regions = [t for s, t in ids.items() if taxonomies.by_id[t].taxonomy == "region"]
    topics = [t for s, t in ids.items() if taxonomies.by_id[t].taxonomy == "topic"]
    now = app_ctx.clock.now()
    articles = []
    for n in range(160):
        terms = set(rng.sample(regions, rng.choice([0, 1, 1, 2]))) | set(
            rng.sample(topics, rng.choice([0, 1, 2]))
        )
        data = article_data(
            app_ctx,
            f"記事{n}",
            kind=rng.choice(["article"] * 5 + ["event"]),
            status=rng.choice(["published"] * 8 + ["draft", "unpublished"]),
            members_only=rng.random() < 0.2,
            # Some before the window, some scheduled after now.
            published_at=now - timedelta(minutes=rng.randint(-600, 20 * 24 * 60)),
        )
        article_id = await article_queries.create_article(app_ctx.db, data, sorted(terms), now=now)
        articles.append(
            {
                "id": article_id,
                "terms": terms,
                "status": data.status,
                "kind": data.kind,
                "members_only": data.members_only,
                "published_at": to_db(data.published_at),
            }
        )
    free = await make_member(app_ctx, "001001")
    paid = await make_member(app_ctx, "001002")
    await grant_members_tier(app_ctx, paid)
    start, end = (to_db(moment) for moment in article_service.new_arrivals_window(now, app_ctx.settings.tz))
    for member, full in ((free, False), (paid, True)):
        conditions = {}
        for n in range(10):
            chosen_regions = rng.sample(regions, rng.choice([0, 1, 1, 2]))
            chosen_topics = rng.sample(topics, rng.choice([0, 1, 1, 2]))
            slugs = [s for s, t in ids.items() if t in (*chosen_regions, *chosen_topics)]
            cid = await add_condition(app_ctx, member, f"条件{n}", slugs, ids)
            conditions[cid] = (set(chosen_regions), set(chosen_topics))
        for condition_id in (None, *conditions):
            arrivals = await article_service.new_arrivals(app_ctx, member, condition_id)
            assert arrivals is not None
            want_counts, want_items = reference(
                articles,
                conditions,
                closure,
                start,
                end,
                events=full,
                members_only=full,
                condition_id=condition_id,
            )
            # A condition without any match has no count row (the page shows 0).
            got_counts = {cid: (c.shown, c.gated) for cid, c in arrivals.counts.items()}
            assert got_counts == {cid: c for cid, c in want_counts.items() if cid == 0 or c != (0, 0)}
            assert [row["id"] for row in arrivals.items] == want_items


# sqlite_stat1 of the articles bench database (100,000 articles): what ANALYZE leaves behind at scale.
BENCH_STATS = [
    ("published_article_terms", "published_article_terms_window", "218112 5453 1 1 1"),
    ("published_article_terms", "published_article_terms", "218112 3 1"),
    ("articles", "articles_window", "100000 100000 1 1 1"),
    ("articles", "articles_kind_published", "100000 50000 50000 1"),
    ("articles", "articles_published", "100000 100000 1"),
    ("article_terms", "article_terms_term", "218112 5453 1"),
    ("article_terms", "article_terms", "218112 3 1"),
]


async def test_match_plan_stays_on_the_covering_index_after_analyze(app_ctx):
    # Once ANALYZE has run, SQLite may put a Bloom filter on a big inner table, which first scans the
    # whole table and gives up the covering index (26 ms instead of 7 ms at 100,000 articles).
    ids = await seed_terms(app_ctx)
    await add_article(app_ctx, "一", ["china", "trade"], ids=ids)
    await app_ctx.db.execute("ANALYZE")
    await app_ctx.db.execute("DELETE FROM sqlite_stat1")
    await app_ctx.db.executemany("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", BENCH_STATS)
    conn = sqlite3.connect(app_ctx.settings.database)
    try:
        start, end = article_service.new_arrivals_window(app_ctx.clock.now(), app_ctx.settings.tz)
        params = {
            "member": 1,
            "start": to_db(start),
            "end": to_db(end),
            "events": 0,
            "members_only": 0,
            "condition": 0,
            "limit": 30,
            "viewer": 1,
        }
        sql = matching_queries._MATCH_CTE + matching_queries._PAGE_TAIL
        plan = [str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    finally:
        conn.close()
    assert not [step for step in plan if "BLOOM FILTER" in step], plan
    window_steps = [step for step in plan if "published_article_terms_window" in step]
    assert window_steps and all("COVERING INDEX" in step for step in window_steps), plan
