"""New-arrivals benchmark: GET /mypage at 100,000 articles for a member with 10 conditions, against a
hello-world Litestar app served the same way in the same run; also the page's query counts (db.query_count)
on a cache miss and a cache hit, which must not grow with the number of conditions.

My Page is kept per member (services/mypage_cache.py), so the page is measured twice, same page, same
member, same data:
- hit: what a member reloading My Page gets (the cache is fresh);
- miss: what the first view after any change gets. For this run the bench adds a trigger to its own
  throwaway database that deletes each part the moment it is stored, so every request reads the cache,
  finds nothing, makes the whole page (new arrivals, notices, announcement) and stores it again.

The articles are spread over the last --archive-days (365 by default: about 3,600 fall in the 14-day
window). The page's matching query reads, per condition, the window rows of its terms' smaller side
(published_article_terms), so neither the archive size nor the whole window sets its cost.
Both apps are driven by the same lean keep-alive client (bench.harness.RawClient) asking for gzip.

Run: .venv/bin/python -m bench.articles_bench [--seconds 10] [--articles 100000] [--archive-days 365]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from app import create_app
from bench.harness import RawClient, RawResponse, Server, ratio_line, run_load
from bench.seed import BENCH_PASSWORD, seed_members
from db import conditions as condition_queries
from db import taxonomy as taxonomy_queries
from db.timestamps import to_db
from services import articles as article_service
from services.article_demo import REGIONS, TOPICS
from services.context import AppContext, build_context, open_context
from services.settings import Settings

SECRET = "bench-secret-key-" + "x" * 30
CONCURRENCY = 20
# A browser asks for compressed pages, so the server pays for gzip as it would in use.
BROWSER_HEADERS = {"Accept-Encoding": "gzip"}
MEMBER_TEN = "000001"  # 10 conditions
MEMBER_ONE = "000002"  # 1 condition


def settings_for(database: Path) -> Settings:
    return Settings(database=database, secret_key=SECRET, scheduler=False)


async def seed(database: Path, count: int, archive_days: int) -> None:
    await seed_members(database, 2, secret_key=SECRET)
    context = await open_context(build_context(settings_for(database)))
    db = context.db
    try:
        rng = random.Random(5)
        now = datetime.now(UTC)
        regions: list[int] = []
        parents: list[int] = []
        for order, (slug, name, children) in enumerate(REGIONS):
            parent = await taxonomy_queries.create_term(
                db, taxonomy="region", name=name, slug=slug, parent_id=None, sort_order=order
            )
            parents.append(parent)
            for child_order, (child_slug, child_name) in enumerate(children):
                regions.append(
                    await taxonomy_queries.create_term(
                        db,
                        taxonomy="region",
                        name=child_name,
                        slug=child_slug,
                        parent_id=parent,
                        sort_order=child_order,
                    )
                )
        topics = [
            await taxonomy_queries.create_term(
                db, taxonomy="topic", name=name, slug=slug, parent_id=None, sort_order=i
            )
            for i, (slug, name) in enumerate(TOPICS)
        ]
        started = time.perf_counter()
        rows = []
        for i in range(count):
            published = to_db(now - timedelta(minutes=rng.randint(0, archive_days * 24 * 60)))
            kind = "event" if rng.random() < 0.01 else "article"
            rows.append(
                (
                    kind,
                    f"ベンチマーク記事 {i} 市場動向と通商政策の最新情報",
                    "概要です。" * 5,
                    "本文です。" * 40,
                    "<p>本文です。</p>",
                    published,
                    int(rng.random() < 0.08),
                    published if kind == "event" else None,
                    published,
                    published,
                )
            )
        await db.executemany(
            "INSERT INTO articles (kind, title, summary, body_md, body_html, published_at, members_only, event_date, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        tags = []
        for article_id in range(1, count + 1):
            tags.append((article_id, rng.choice(regions)))
            tags.append((article_id, rng.choice(topics)))
            if rng.random() < 0.2:
                tags.append((article_id, rng.choice(topics)))
        await db.executemany("INSERT OR IGNORE INTO article_terms VALUES (?, ?)", tags)
        await db.execute("ANALYZE")
        start, end = article_service.new_arrivals_window(now, context.settings.tz)
        in_window = await db.fetchval(
            "SELECT COUNT(*) FROM articles WHERE published_at >= ? AND published_at <= ?",
            (to_db(start), to_db(end)),
        )
        print(
            f"seeded {count:,} articles over {archive_days} days in {time.perf_counter() - started:.1f} s "
            f"({in_window:,} in the 14-day window)"
        )
        ten = await db.fetchval("SELECT id FROM members WHERE member_number = ?", (MEMBER_TEN,))
        one = await db.fetchval("SELECT id FROM members WHERE member_number = ?", (MEMBER_ONE,))
        for n in range(10):
            chosen = [rng.choice(parents if n % 3 == 0 else regions), rng.choice(topics)]
            if n % 4 == 1:
                chosen.append(rng.choice(regions))
            await condition_queries.create(db, int(ten), f"条件{n + 1}", chosen, now=now, limit=10)
        await condition_queries.create(db, int(one), "条件1", [parents[0], topics[0]], now=now, limit=10)
    finally:
        await db.close()


# Bench-only, on its own throwaway database: a count of the parts stored, to show that a hit run stores
# nothing and a miss run stores every view's parts.
COUNT_STORES = """
CREATE TABLE bench_stores (n INTEGER NOT NULL);
CREATE TRIGGER bench_count_insert AFTER INSERT ON mypage_cache BEGIN INSERT INTO bench_stores VALUES (1); END;
CREATE TRIGGER bench_count_update AFTER UPDATE ON mypage_cache BEGIN INSERT INTO bench_stores VALUES (1); END;
"""
# Every part is deleted the moment it is stored (and those kept so far with them): every view is a miss.
ALWAYS_MISS = """
CREATE TRIGGER bench_always_miss_insert AFTER INSERT ON mypage_cache BEGIN
    DELETE FROM mypage_cache WHERE member_id = new.member_id;
END;
CREATE TRIGGER bench_always_miss_update AFTER UPDATE ON mypage_cache BEGIN
    DELETE FROM mypage_cache WHERE member_id = new.member_id;
END;
DELETE FROM mypage_cache;
"""


def run_sql(database: Path, script: str) -> None:
    with sqlite3.connect(database) as conn:
        conn.executescript(script)


def stores_since(database: Path) -> int:
    """Parts stored since the count was last taken (and the count reset)."""
    with sqlite3.connect(database) as conn:
        stored = int(conn.execute("SELECT count(*) FROM bench_stores").fetchone()[0])
        conn.execute("DELETE FROM bench_stores")
    return stored


@dataclass
class PageCounts:
    """Queries per GET /mypage (session included) by member: whole page and htmx fragment, miss and hit."""

    miss: dict[str, int]
    hit: dict[str, int]
    fragment_miss: dict[str, int]
    fragment_hit: dict[str, int]
    service_p50_ms: float


async def page_query_counts(database: Path) -> PageCounts:
    """Queries per GET /mypage for the 10-condition and the 1-condition member (a miss: the first view
    after login, and a hit: the reload), and the in-process p50 of the new-arrivals service call."""
    app = create_app(settings_for(database))
    context: AppContext = app.state.ctx
    counts = PageCounts({}, {}, {}, {}, 0.0)
    htmx = {"HX-Request": "true"}

    async def queries(client: AsyncTestClient[Any], headers: dict[str, str] | None = None) -> int:
        before = context.db.query_count
        page = await client.get("/mypage", headers=headers or {})
        assert page.status_code == 200, page.status_code
        return context.db.query_count - before

    async with AsyncTestClient(app=app, base_url="http://bench.local") as client:
        for number in (MEMBER_TEN, MEMBER_ONE):
            client.cookies.clear()
            await client.get("/login")
            token = client.cookies.get("tsudoi_csrf")
            response = await client.post(
                "/login", data={"_csrf_token": token, "member_id": number, "password": BENCH_PASSWORD}
            )
            assert response.status_code in (200, 303), response.status_code
            await context.db.execute("DELETE FROM mypage_cache")
            counts.miss[number] = await queries(client)
            counts.hit[number] = await queries(client)
            await context.db.execute("DELETE FROM mypage_cache")
            counts.fragment_miss[number] = await queries(client, htmx)
            counts.fragment_hit[number] = await queries(client, htmx)
        member_id = int(
            await context.db.fetchval("SELECT id FROM members WHERE member_number = ?", (MEMBER_TEN,))
        )
        timings = []
        for _ in range(30):
            started = time.perf_counter()
            await article_service.new_arrivals(context, member_id, None)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    counts.service_p50_ms = timings[len(timings) // 2]
    return counts


async def logged_in_client(base_url: str, member_number: str) -> RawClient:
    client = RawClient(base_url, headers=BROWSER_HEADERS)
    await client.get("/login")
    token = client.cookies.get("tsudoi_csrf", "")
    response = await client.post(
        "/login", form={"_csrf_token": token, "member_id": member_number, "password": BENCH_PASSWORD}
    )
    assert response.status == 303, response.status
    return client


async def main(seconds: float, articles: int, archive_days: int) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="tsudoi-articles-bench-"))
    database = folder / "tsudoi.sqlite3"
    await seed(database, articles, archive_days)
    counts = await page_query_counts(database)
    for label, found in (
        ("miss", counts.miss),
        ("hit", counts.hit),
        ("htmx fragment miss", counts.fragment_miss),
        ("htmx fragment hit", counts.fragment_hit),
    ):
        print(
            f"queries per GET /mypage, {label}: {found[MEMBER_TEN]} with 10 conditions, "
            f"{found[MEMBER_ONE]} with 1 condition (must be equal; the session included)"
        )
    print(
        f"new-arrivals service call (counts + list, 10 conditions) in-process p50: {counts.service_p50_ms:.1f} ms"
    )
    env = {"TSUDOI_DATABASE": str(database), "TSUDOI_SECRET_KEY": SECRET}
    tsudoi = Server("app:app", env)
    hello = Server("bench.apps:hello_app")
    try:
        tsudoi.wait_ready("/healthz")
        hello.wait_ready("/")
        clients = [await logged_in_client(tsudoi.url, MEMBER_TEN) for _ in range(CONCURRENCY)]
        hello_clients = [RawClient(hello.url, headers=BROWSER_HEADERS) for _ in range(CONCURRENCY)]

        async def mypage(client: RawClient) -> RawResponse:
            return await client.get("/mypage")

        async def hello_world(client: RawClient) -> RawResponse:
            return await client.get("/")

        await run_load("warm-up", mypage, clients=clients, seconds=1)
        ceiling = await run_load(
            "hello-world (Litestar)", hello_world, clients=hello_clients, seconds=seconds
        )
        label = f"{articles // 1000}k articles, 10 conds"
        run_sql(database, COUNT_STORES)
        hit = await run_load(f"GET /mypage hit ({label})", mypage, clients=clients, seconds=seconds)
        hit_stores = stores_since(database)
        run_sql(database, ALWAYS_MISS)
        miss = await run_load(f"GET /mypage miss ({label})", mypage, clients=clients, seconds=seconds)
        miss_stores = stores_since(database)
        print(
            f"concurrency {CONCURRENCY}, {seconds:.0f} s each, uvicorn 1 worker for both, same client for both"
        )
        print(ceiling.line())
        print(hit.line())
        print(miss.line())
        print(ratio_line(hit, ceiling))
        print(ratio_line(miss, ceiling))
        print(
            f"parts stored: {hit_stores} during the hit run ({len(hit.latencies_ms)} views), "
            f"{miss_stores} during the miss run ({len(miss.latencies_ms)} views of 2 parts each)"
        )
        for client in [*clients, *hello_clients]:
            await client.aclose()
    finally:
        tsudoi.stop()
        hello.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--archive-days", type=int, default=365)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.seconds, arguments.articles, arguments.archive_days))
