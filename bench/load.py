"""Load test: 200 simulated members against Tsudoi with 10,000 members and 100,000 articles, for 60 s.

Each simulated member logs in once, then browses: My Page, an article page, a bookmark toggle, bookmarks,
history. Prints requests/s, p50/p95/p99 per route and the error count, and the same figures for a Litestar
hello-world app served the same way in the same run (the ceiling).

Run: .venv/bin/python -m bench.load [--seconds 60] [--members 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.harness import Result, Server, run_load
from bench.seed import BENCH_PASSWORD, seed_members
from services.clock import to_db
from services.context import build_context, open_context
from services.settings import Settings

SECRET = "bench-secret-key-" + "x" * 30
ARTICLE_COUNT = 100_000
MEMBER_COUNT = 10_000


async def seed_articles(database: Path, count: int, members: int) -> None:
    context = await open_context(
        build_context(Settings(database=database, secret_key=SECRET, scheduler=False))
    )
    db = context.db
    try:
        if await db.fetchval("SELECT count(*) FROM articles") >= count:
            return
        regions = {"アジア": ["中国", "韓国", "台湾", "ベトナム", "タイ", "インド"], "欧州": ["英国", "ドイツ", "フランス"],
                   "北米": ["米国", "カナダ"]}  # fmt: skip
        topics = ["通商政策", "投資", "規制・制度", "市場動向", "人材", "環境・エネルギー"]
        term_ids: dict[str, list[int]] = {"region": [], "topic": []}
        async with db.write() as conn:
            for slug_index, (parent, children) in enumerate(regions.items()):
                cursor = await conn.execute(
                    "INSERT INTO terms (taxonomy, name, slug, sort_order) VALUES ('region', ?, ?, ?)",
                    (parent, f"r{slug_index}", slug_index),
                )
                parent_id = cursor.lastrowid
                await conn.execute("INSERT INTO term_closure VALUES (?, ?)", (parent_id, parent_id))
                for child_index, child in enumerate(children):
                    cursor = await conn.execute(
                        "INSERT INTO terms (taxonomy, parent_id, name, slug, sort_order) VALUES ('region', ?, ?, ?, ?)",
                        (parent_id, child, f"r{slug_index}-{child_index}", child_index),
                    )
                    child_id = cursor.lastrowid
                    await conn.execute(
                        "INSERT INTO term_closure VALUES (?, ?), (?, ?)",
                        (child_id, child_id, parent_id, child_id),
                    )
                    term_ids["region"].append(child_id)
            for index, topic in enumerate(topics):
                cursor = await conn.execute(
                    "INSERT INTO terms (taxonomy, name, slug, sort_order) VALUES ('topic', ?, ?, ?)",
                    (topic, f"t{index}", index),
                )
                await conn.execute(
                    "INSERT INTO term_closure VALUES (?, ?)", (cursor.lastrowid, cursor.lastrowid)
                )
                term_ids["topic"].append(cursor.lastrowid)
        now = datetime.now(UTC)
        rng = random.Random(7)
        batch = []
        for i in range(count):
            published = now - timedelta(minutes=rng.randint(0, 365 * 24 * 60))
            batch.append((f"ベンチマーク記事 {i} 市場動向と通商政策の最新情報", "概要です。" * 5, "本文です。" * 40, to_db(published),
                          int(rng.random() < 0.1), to_db(published), to_db(published)))  # fmt: skip
        await db.executemany(
            "INSERT INTO articles (title, summary, body_md, published_at, members_only, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            batch,
        )
        rows = []
        for article_id in range(1, count + 1):
            rows.append((article_id, rng.choice(term_ids["region"])))
            rows.append((article_id, rng.choice(term_ids["topic"])))
        await db.executemany("INSERT OR IGNORE INTO article_terms VALUES (?, ?)", rows)
        stamp = to_db(now)
        for member_id in range(1, members + 1):
            async with db.write() as conn:
                for n in range(3):
                    cursor = await conn.execute(
                        "INSERT INTO conditions (member_id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                        (member_id, f"条件{n + 1}", stamp, stamp),
                    )
                    await conn.execute(
                        "INSERT INTO condition_terms VALUES (?, ?), (?, ?)",
                        (
                            cursor.lastrowid,
                            rng.choice(term_ids["region"]),
                            cursor.lastrowid,
                            rng.choice(term_ids["topic"]),
                        ),
                    )
    finally:
        await db.close()


def route_name(method: str, url: str) -> str:
    return f"{method} " + re.sub(r"/\d+", "/{id}", url.split("?")[0])


async def simulated_member(base_url: str, number: str, deadline: float, results: dict[str, Result]) -> None:
    rng = random.Random(number)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:

        async def timed(method: str, url: str, **kwargs: object) -> httpx.Response | None:
            result = results[route_name(method, url)]
            started = time.perf_counter()
            try:
                response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
            except httpx.HTTPError:
                result.errors += 1
                return None
            if response.status_code >= 400:
                result.errors += 1
            else:
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
            return response

        await timed("GET", "/login")
        token = client.cookies.get("tsudoi_csrf")
        await timed(
            "POST", "/login", data={"_csrf_token": token, "member_id": number, "password": BENCH_PASSWORD}
        )
        while time.perf_counter() < deadline:
            article_id = rng.randint(1, ARTICLE_COUNT)
            await timed("GET", "/mypage")
            await timed("GET", f"/articles/{article_id}")
            await timed("POST", f"/bookmarks/{article_id}", data={"_csrf_token": token})
            await timed("GET", "/bookmarks")
            await timed("GET", "/history")


async def main(seconds: float, members: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tsudoi-load-"))
    database = folder / "tsudoi.sqlite3"
    started = time.perf_counter()
    await seed_members(database, MEMBER_COUNT, secret_key=SECRET)
    await seed_articles(database, ARTICLE_COUNT, members)
    print(
        f"seeded {MEMBER_COUNT} members and {ARTICLE_COUNT} articles in {time.perf_counter() - started:.0f} s"
    )
    tsudoi = Server("app:app", {"TSUDOI_DATABASE": str(database), "TSUDOI_SECRET_KEY": SECRET})
    hello = Server("bench.apps:hello_app")
    try:
        tsudoi.wait_ready("/healthz")
        hello.wait_ready("/")
        hello_clients = [httpx.AsyncClient(base_url=hello.url, timeout=30) for _ in range(members)]

        async def hello_world(client: httpx.AsyncClient) -> httpx.Response:
            return await client.get("/")

        ceiling = await run_load(
            "hello-world (Litestar)", hello_world, clients=hello_clients, seconds=min(seconds, 20)
        )
        for client in hello_clients:
            await client.aclose()

        results: dict[str, Result] = defaultdict(lambda: Result(""))
        begun = time.perf_counter()
        deadline = begun + seconds
        await asyncio.gather(
            *(simulated_member(tsudoi.url, f"{i:06d}", deadline, results) for i in range(1, members + 1))
        )
        elapsed = time.perf_counter() - begun
        total = sum(len(r.latencies_ms) for r in results.values())
        errors = sum(r.errors for r in results.values())
        print(
            f"\nTsudoi load: {members} simulated members for {elapsed:.0f} s (2-core machine, 1 uvicorn worker)"
        )
        print(ceiling.line())
        print(f"{'all Tsudoi routes':<34} {total / elapsed:8.1f} req/s  errors {errors}")
        for name, result in sorted(results.items()):
            result.name = name
            result.seconds = elapsed
            print(result.line())
        worst = max((r.pct(99) for r in results.values() if r.latencies_ms), default=float("nan"))
        print(f"worst route p99 {worst:.1f} ms (target < 200 ms); errors {errors} (target 0)")
        print(f"ratio Tsudoi / hello-world: {total / elapsed / ceiling.rps:.2f} (req/s)")
    finally:
        tsudoi.stop()
        hello.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--members", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.members))
