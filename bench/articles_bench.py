"""New-arrivals benchmark: GET /mypage at 100,000 articles for a member with 10 conditions, against a
hello-world Litestar app served the same way in the same run; also the page's query count (db.query_count),
which must not grow with the number of conditions.

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
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


async def page_query_counts(database: Path) -> tuple[int, int, float]:
    """Queries per GET /mypage for the 10-condition and the 1-condition member, and the in-process p50."""
    app = create_app(settings_for(database))
    context: AppContext = app.state.ctx
    counts = []
    async with AsyncTestClient(app=app, base_url="http://bench.local") as client:
        for number in (MEMBER_TEN, MEMBER_ONE):
            client.cookies.clear()
            await client.get("/login")
            token = client.cookies.get("tsudoi_csrf")
            response = await client.post(
                "/login", data={"_csrf_token": token, "member_id": number, "password": BENCH_PASSWORD}
            )
            assert response.status_code in (200, 303), response.status_code
            await client.get("/mypage")
            before = context.db.query_count
            page = await client.get("/mypage")
            assert page.status_code == 200, page.status_code
            counts.append(context.db.query_count - before)
        member_id = int(
            await context.db.fetchval("SELECT id FROM members WHERE member_number = ?", (MEMBER_TEN,))
        )
        timings = []
        for _ in range(30):
            started = time.perf_counter()
            await article_service.new_arrivals(context, member_id, None)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return counts[0], counts[1], timings[len(timings) // 2]


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
    ten, one, service_p50 = await page_query_counts(database)
    print(f"queries per GET /mypage: {ten} with 10 conditions, {one} with 1 condition (must be equal)")
    print(f"new-arrivals service call (counts + list, 10 conditions) in-process p50: {service_p50:.1f} ms")
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
        page = await run_load(
            f"GET /mypage ({articles // 1000}k articles, 10 conds)", mypage, clients=clients, seconds=seconds
        )
        print(
            f"concurrency {CONCURRENCY}, {seconds:.0f} s each, uvicorn 1 worker for both, same client for both"
        )
        print(ceiling.line())
        print(page.line())
        print(ratio_line(page, ceiling))
        for client in [*clients, *hello_clients]:
            await client.aclose()
    finally:
        tsudoi.stop()
        hello.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--archive-days", type=int, default=365)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.seconds, arguments.articles, arguments.archive_days))
