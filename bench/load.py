"""Load test: 200 simulated members against Tsudoi with 10,000 members and 100,000 articles, for 60 s.

Each simulated member logs in once (the logins are spread over a ramp, as members arrive), then browses
in a loop: My Page, an article page, a bookmark toggle (htmx, as the star button sends it), bookmarks,
history. Once the ramp is over and every login is answered, a 60 s window is measured: requests/s,
p50/p95/p99 per route and the errors (any answer but the page a browser would get: a redirect to /login,
4xx, 5xx, a failed connection). The same number of clients, closed loop, against a Litestar hello-world
app served the same way in the same run gives the ceiling.

By default members do not pause between requests (closed loop: the hardest case, it measures capacity);
--think 1 makes each member pause about a second between requests, still far busier than a person.

Run: .venv/bin/python -m bench.load [--seconds 60] [--members 200] [--think 0] [--database data/load.sqlite3]
     [--workers N]

--workers N (N >= 2) measures the same members on the same data twice in one run: first one worker (the
uvicorn command `litestar run --wc N` itself runs, with one worker), then the real
`litestar run --wc N`, and prints both req/s and their ratio. Each side logs its members in anew
(the ramp), and the bookmark toggles of the first side stay in the database for the second.
What limits the ratio on the 2-core machine: one worker, CPU-bound, uses 100-113 % of a core (its event
loop, plus SQLite's writer and reader threads, which run outside the GIL), and the load generator (one
Python process, closed loop) 6-20 %; so two workers on the two cores can do at most about 1.75 times what
one does (they use about 190 % together). Every write (the bookmark toggle and the view history, two of
the five requests; the logins) still goes through SQLite's one write lock.

What to expect on the 2-core machine (one uvicorn worker, the load generator on the same machine):
- closed loop (--think 0) measures capacity: ~300-370 req/s over the five routes; with 200 members always
  waiting, Little's law puts the mean latency at 200 / 330 req/s = 0.6 s, so p99 < 200 ms cannot be met
  closed loop by any page that costs more than ~0.5 ms (the hello-world ceiling itself shows ~35 ms p99);
- --think 1 (each member pauses 0.5-1.5 s between requests, ~200 req/s offered) meets the target: zero
  errors, every browse route p99 < 200 ms (59 ms at worst).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import ROOT, RawClient, RawHTTPError, RawResponse, Result, Server, free_port, run_load
from bench.seed import BENCH_PASSWORD, seed_members
from db.timestamps import to_db
from services.context import build_context, open_context
from services.markdown import render_markdown
from services.settings import Settings

SECRET = "bench-secret-key-" + "x" * 30
ARTICLE_COUNT = 100_000
MEMBER_COUNT = 10_000
# A browser asks for compressed pages, so the server pays for gzip as it would in use.
BROWSER_HEADERS = {"Accept-Encoding": "gzip"}


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
        body = "本文です。" * 40 + "\n\n## 見出し\n\n- 項目一\n- 項目二\n\n" + "続きの本文です。" * 40
        body_html = render_markdown(body)
        for i in range(count):
            published = now - timedelta(minutes=rng.randint(0, 365 * 24 * 60))
            batch.append((f"ベンチマーク記事 {i} 市場動向と通商政策の最新情報", "概要です。" * 5, body, body_html,
                          to_db(published), int(rng.random() < 0.1), to_db(published), to_db(published)))  # fmt: skip
        await db.executemany(
            "INSERT INTO articles (title, summary, body_md, body_html, published_at, members_only, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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


@dataclass
class Run:
    """Shared state of one load run: results per route, unexpected answers, the measured window.

    The window opens when the ramp is over and every member's login has been answered, whichever is later
    (until then it is unknown: from infinity to infinity). Hashing the last logins takes whole cores for
    seconds after the ramp, more so the busier the workers are; counting that time would measure the logins'
    backlog in the browse figures, differently for each side."""

    ramp_end: float
    seconds: float
    members: int
    think: float
    window_start: float = float("inf")
    window_end: float = float("inf")
    logins_answered: int = 0
    results: dict[str, Result] = field(default_factory=lambda: defaultdict(lambda: Result("")))
    unexpected: Counter[str] = field(default_factory=Counter)
    logins: Result = field(default_factory=lambda: Result("POST /login (argon2id, ramp)"))

    def login_answered(self) -> None:
        self.logins_answered += 1
        if self.logins_answered == self.members:
            self.window_start = max(time.perf_counter(), self.ramp_end)
            self.window_end = self.window_start + self.seconds


async def simulated_member(base_url: str, number: str, start_at: float, run: Run) -> None:
    """Log in once (at `start_at`, spread over the ramp), then browse until the window ends.

    Browsing latencies count only inside the measured window (after every member's login was answered).
    An answer other than the page a browser would get (a redirect to /login, 4xx, 5xx, a failed
    connection) is an error.
    """
    rng = random.Random(number)
    client = RawClient(base_url, headers=BROWSER_HEADERS)
    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))

    async def timed(method: str, url: str, expect: int = 200, **kwargs: Any) -> RawResponse | None:
        name = route_name(method, url)
        measured = run.window_start <= time.perf_counter() < run.window_end
        started = time.perf_counter()
        try:
            response = await client.request(method, url, **kwargs)
        except RawHTTPError:
            run.unexpected[f"{name} connection error"] += 1
            if measured:
                run.results[name].errors += 1
            return None
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.status != expect:
            run.unexpected[f"{name} {response.status}"] += 1
            if measured:
                run.results[name].errors += 1
            return None
        if measured:
            run.results[name].latencies_ms.append(elapsed_ms)
        return response

    answered = False
    try:
        await timed("GET", "/login")
        token = client.cookies.get("tsudoi_csrf", "")
        started = time.perf_counter()
        form = {"_csrf_token": token, "member_id": number, "password": BENCH_PASSWORD}
        login = await timed("POST", "/login", expect=303, form=form)
        answered = True
        run.login_answered()
        if login is None or "tsudoi_session" not in client.cookies:
            run.logins.errors += 1
            return
        run.logins.latencies_ms.append((time.perf_counter() - started) * 1000)
        htmx = {"HX-Request": "true"}
        while time.perf_counter() < run.window_end:
            article_id = rng.randint(1, ARTICLE_COUNT)
            visit: list[tuple[str, str, dict[str, Any]]] = [
                ("GET", "/mypage", {}),
                ("GET", f"/articles/{article_id}", {}),
                ("POST", f"/bookmarks/{article_id}", {"form": {"_csrf_token": token}, "headers": htmx}),
                ("GET", "/bookmarks", {}),
                ("GET", "/history", {}),
            ]
            for method, url, kwargs in visit:
                if time.perf_counter() >= run.window_end:
                    break
                await timed(method, url, **kwargs)
                if run.think:
                    await asyncio.sleep(rng.uniform(0.5, 1.5) * run.think)
    finally:
        if not answered:
            run.login_answered()  # the window must open even if this member never got an answer
        await client.aclose()


async def hello_ceiling(url: str, clients: int, seconds: float) -> Result:
    """The same number of clients, closed loop (no pause), against a Litestar hello-world app."""
    raw_clients = [RawClient(url, headers=BROWSER_HEADERS) for _ in range(clients)]

    async def hello_world(client: RawClient) -> RawResponse:
        return await client.get("/")

    try:
        return await run_load(
            "hello-world (Litestar, closed loop)", hello_world, clients=raw_clients, seconds=seconds
        )
    finally:
        for client in raw_clients:
            await client.aclose()


class LitestarRun:
    """The real `litestar run --wc N` (uvicorn's supervisor and N worker processes), configured like
    harness.Server: access log off, warnings only, scheduler off (the same for both sides)."""

    def __init__(self, workers: int, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {
            **os.environ,
            "TSUDOI_SCHEDULER": "off",
            "TSUDOI_LOG_REQUESTS": "off",
            # `litestar run --wc N` starts the uvicorn command line, which reads UVICORN_* variables.
            "UVICORN_ACCESS_LOG": "false",
            "UVICORN_LOG_LEVEL": "warning",
            **env,
        }
        litestar = Path(sys.executable).parent / "litestar"
        self.process = subprocess.Popen(  # noqa: S603 — the venv's own litestar
            [str(litestar), *"--app app:app run --host 127.0.0.1 --port".split(), str(self.port)]
            + ["--wc", str(workers)],
            cwd=ROOT,
            env=full_env,
            start_new_session=True,
        )

    def wait_ready(self, path: str = "/", timeout: float = 90) -> None:
        Server.wait_ready(self, path, timeout)  # type: ignore[arg-type]

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class Side:
    label: str
    rps: float
    errors: int
    run: Run


async def measure(label: str, url: str, members: int, think: float, ramp: float, seconds: float) -> Side:
    now = time.perf_counter()
    run = Run(ramp_end=now + ramp, seconds=seconds, members=members, think=think)
    await asyncio.gather(
        *(
            simulated_member(url, f"{i:06d}", now + ramp * (i - 1) / members, run)
            for i in range(1, members + 1)
        )
    )
    for name, result in run.results.items():
        result.name = name
        result.seconds = seconds
    total = sum(len(r.latencies_ms) for r in run.results.values())
    errors = sum(r.errors for r in run.results.values()) + run.logins.errors
    return Side(label, total / seconds, errors, run)


def report(side: Side, ceiling: Result, *, members: int, think: float, ramp: float, seconds: float) -> None:
    run = side.run
    pause = f"{think:.2f} s mean pause between requests" if think else "no pause (closed loop)"
    print(
        f"\nTsudoi load, {side.label}: {members} simulated members, {pause}; logins spread over a {ramp:.0f} s "
        f"ramp, then {seconds:.0f} s measured (2-core machine, same load generator for every side)"
    )
    print(
        f"measured window opened {run.window_start - run.ramp_end:.1f} s after the ramp, when every login was answered"
    )
    print(ceiling.line())
    print(f"{'all Tsudoi browse routes':<34} {side.rps:8.1f} req/s  errors {side.errors}")
    for _name, result in sorted(run.results.items()):
        print(result.line())
    run.logins.seconds = ramp or 1
    print(run.logins.line())
    for what, count in sorted(run.unexpected.items()):
        print(f"  unexpected answer: {what} x{count}")
    worst = max((r.pct(99) for r in run.results.values() if r.latencies_ms), default=float("nan"))
    print(f"worst browse route p99 {worst:.1f} ms (target < 200 ms); errors {side.errors} (target 0)")
    print(f"ratio Tsudoi / hello-world: {side.rps / ceiling.rps:.3f} (req/s)")


async def main(
    seconds: float, members: int, think: float, ramp: float, database: Path | None, workers: int = 1
) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if database is None:
        database = Path(tempfile.mkdtemp(prefix="tsudoi-load-")) / "tsudoi.sqlite3"
    started = time.perf_counter()
    await seed_members(database, MEMBER_COUNT, secret_key=SECRET)
    await seed_articles(database, ARTICLE_COUNT, members)
    print(
        f"{MEMBER_COUNT} members and {ARTICLE_COUNT} articles ready in {time.perf_counter() - started:.0f} s"
    )
    # Every simulated member logs in from this one address: the per-address login throttle (meant for one
    # attacker) would answer most of them 429.
    env = {
        "TSUDOI_DATABASE": str(database),
        "TSUDOI_SECRET_KEY": SECRET,
        "TSUDOI_LOGIN_IP_FAILURES": "1000000",
    }
    hello = Server("bench.apps:hello_app")
    try:
        hello.wait_ready("/")
        ceiling = await hello_ceiling(hello.url, members, min(seconds, 20))
    finally:
        hello.stop()
    sides: list[Side] = []
    tsudoi = Server("app:app", env)
    try:
        tsudoi.wait_ready("/healthz")
        sides.append(await measure("1 worker", tsudoi.url, members, think, ramp, seconds))
    finally:
        tsudoi.stop()
    report(sides[0], ceiling, members=members, think=think, ramp=ramp, seconds=seconds)
    if workers > 1:
        several = LitestarRun(workers, env)
        try:
            several.wait_ready("/healthz")
            label = f"`litestar run --wc {workers}`"
            sides.append(await measure(label, several.url, members, think, ramp, seconds))
        finally:
            several.stop()
        report(sides[1], ceiling, members=members, think=think, ramp=ramp, seconds=seconds)
        one, many = sides
        print(
            f"\nratio {workers} workers / 1 worker: {many.rps / one.rps:.2f} "
            f"({many.rps:.1f} / {one.rps:.1f} req/s; errors {many.errors} / {one.errors}; target >= 1.7)"
        )
        logged = [len(side.run.logins.latencies_ms) for side in (many, one)]
        print(
            f"members browsing: {logged[0]} / {logged[1]} of {members}"
            + ("" if logged[0] == logged[1] else " — not comparable: give the logins a longer --ramp")
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60, help="measured window")
    parser.add_argument("--members", type=int, default=200, help="simulated members")
    parser.add_argument("--think", type=float, default=0.0, help="mean pause between a member's requests (s)")
    parser.add_argument(
        "--ramp",
        type=float,
        default=60.0,
        help="logins are spread over this many seconds (argon2id: a few per second)",
    )
    parser.add_argument("--database", type=Path, help="reuse (or create) this database instead of a temp one")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="also measure the real `litestar run --wc N` (N >= 2) and print its ratio to one worker",
    )
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.members, args.think, args.ramp, args.database, args.workers))
