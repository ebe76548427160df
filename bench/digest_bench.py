"""Benchmark: one weekly digest run for 100,000 members with 2,000 articles in the window.

    .venv/bin/python bench/digest_bench.py [--members 100000] [--articles 2000] [--mime]

The data is seeded straight into a temporary SQLite file (in a child process, so the run's peak memory
is measured alone). The run is the real one (services.digests.run_window, as the CLI starts it: build in batches, claim,
compose both parts, record each delivery) with a bulk sender that accepts without talking to a server;
with --mime it also writes the full MIME message of every mail (the engine's WireWriter, what SMTP gets).
Prints the time of each phase and the peak resident memory. Target: under 60 s and 300 MB.

Same-run baseline: every --sample-every'th mail is also made the old way (both templates rendered for
the mail, then build_message and the email package's flattening) and both ways are timed on that same
member and compared text for text; the ratio is printed, and the samples' old-way time is left out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.policy
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db.timestamps import to_db  # noqa: E402
from services.clock import FrozenClock  # noqa: E402
from services.context import AppContext, build_context, open_context  # noqa: E402
from services.digest_windows import weekly_window  # noqa: E402
from services.digests import sending  # noqa: E402
from services.digests.compose import DigestTemplates  # noqa: E402
from services.mail_skeleton import ContextBuilder, Plain, SkeletonTemplate, Slots  # noqa: E402
from services.mailer import BulkSender, Mailer, OutgoingMail, WireMessage, WireWriter, build_message  # noqa: E402
from services.settings import Settings  # noqa: E402

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC) + timedelta(hours=-9, minutes=1)  # Wed 07:01 JST


def settings_for(database: Path) -> Settings:
    return Settings(
        database=database,
        base_url="https://portal.example.jp",
        secret_key="bench-" + "k" * 40,
        scheduler=False,
        log_requests=False,
        mail_from="つどい学会 <office@tsudoi.example.jp>",
    )


async def seed(database: Path, members: int, articles: int) -> None:
    rng = random.Random(7)
    app = await open_context(build_context(settings_for(database), FrozenClock(NOW)))
    db = app.db
    stamp = to_db(NOW - timedelta(days=30))
    async with db.write() as conn:
        # Regions: 6 areas with 8 countries each; topics: 12.
        term_rows: list[tuple[int, str, int | None, str, str]] = []
        closure: list[tuple[int, int]] = []
        next_id = 1
        countries: list[int] = []
        areas: list[int] = []
        for area in range(6):
            area_id = next_id
            next_id += 1
            areas.append(area_id)
            term_rows.append((area_id, "region", None, f"地域{area}", f"area-{area}"))
            closure.append((area_id, area_id))
            for country in range(8):
                country_id = next_id
                next_id += 1
                countries.append(country_id)
                term_rows.append(
                    (country_id, "region", area_id, f"国{area}-{country}", f"country-{area}-{country}")
                )
                closure += [(country_id, country_id), (area_id, country_id)]
        topics = list(range(next_id, next_id + 12))
        for index, topic_id in enumerate(topics):
            term_rows.append((topic_id, "topic", None, f"テーマ{index}", f"topic-{index}"))
            closure.append((topic_id, topic_id))
        await conn.executemany(
            "INSERT INTO terms (id, taxonomy, parent_id, name, slug) VALUES (?, ?, ?, ?, ?)", term_rows
        )
        await conn.executemany("INSERT INTO term_closure (ancestor_id, descendant_id) VALUES (?, ?)", closure)

        window = weekly_window(NOW, app.settings.tz)
        span = (window.end_utc - window.start_utc).total_seconds()
        article_rows = []
        article_terms = []
        for article_id in range(1, articles + 1):
            published = window.start_utc + timedelta(seconds=rng.random() * span)
            kind = "event" if rng.random() < 0.1 else "article"
            article_rows.append(
                (
                    article_id,
                    kind,
                    f"【ニュース{article_id}】各国の経済・貿易動向に関する最新レポート",
                    "海外の市場動向や制度改正について、会員向けに要点をまとめました。" * 2,
                    to_db(published),
                    1 if rng.random() < 0.1 else 0,
                    "2026-12-15" if kind == "event" else None,
                    stamp,
                    stamp,
                )
            )
            for term in {rng.choice(countries) for _ in range(rng.randint(1, 2))} | {
                rng.choice(topics) for _ in range(rng.randint(1, 2))
            }:
                article_terms.append((article_id, term))
        await conn.executemany(
            "INSERT INTO articles (id, kind, title, summary, published_at, members_only, event_date, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            article_rows,
        )
        await conn.executemany("INSERT INTO article_terms (article_id, term_id) VALUES (?, ?)", article_terms)

        member_rows = []
        condition_rows = []
        condition_terms = []
        tier_rows = []
        condition_id = 0
        for member_id in range(1, members + 1):
            member_rows.append(
                (
                    member_id,
                    f"{member_id:06d}",
                    "山田",
                    "花子",
                    f"member{member_id:06d}@example.jp",
                    "daily" if rng.random() < 0.05 else "weekly",
                    stamp,
                    stamp,
                )
            )
            if rng.random() < 0.2:
                tier_rows.append((member_id, "2026-01-01", stamp))
            for _ in range(rng.randint(1, 3)):
                condition_id += 1
                condition_rows.append((condition_id, member_id, f"条件{condition_id % 7}", stamp, stamp))
                shape = rng.random()
                chosen: list[int] = []
                if shape < 0.4:  # a country and a topic
                    chosen = [rng.choice(countries), rng.choice(topics)]
                elif shape < 0.7:  # an area
                    chosen = [rng.choice(areas)]
                elif shape < 0.95:  # two topics
                    chosen = rng.sample(topics, 2)
                condition_terms += [(condition_id, term) for term in chosen]
        await conn.executemany(
            "INSERT INTO members (id, member_number, family_name, given_name, email, digest_frequency, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            member_rows,
        )
        await conn.executemany(
            "INSERT INTO member_tiers (member_id, tier_id, starts_on, source, created_at) "
            "SELECT ?, id, ?, 'bench', ? FROM tiers WHERE code = 'members'",
            tier_rows,
        )
        await conn.executemany(
            "INSERT INTO conditions (id, member_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            condition_rows,
        )
        await conn.executemany(
            "INSERT INTO condition_terms (condition_id, term_id) VALUES (?, ?)", condition_terms
        )
    await app.update_org({"digest_rate_per_second": "0"})
    await db.close()


class BenchSender(BulkSender):
    """The engine's bulk sender with a transport that accepts without a server. With --mime every mail
    is written to its full wire form (WireWriter, as SMTP gets it); without, composition only."""

    def __init__(self, base: BulkSender, *, mime: bool) -> None:
        super().__init__(base.mailer, base.writer, base.transport)
        self.mime = mime
        self.sent = 0
        self.bytes = 0
        # Building writes every delivery before the first message goes out: the first send ends the build.
        self.first_send: tuple[float, float] | None = None

    async def send(self, mail: OutgoingMail, *, now: datetime) -> str:
        if self.first_send is None:
            self.first_send = (time.perf_counter(), cpu_seconds())
        self.sent += 1
        if not self.mime:
            self.bytes += len(mail.text) + len(mail.html or "")
            return f"<bench-{self.sent}@example.jp>"
        message = self.write(mail, now=now)
        self.bytes += len(message.data) if isinstance(message, WireMessage) else len(message.as_bytes())
        return message.message_id if isinstance(message, WireMessage) else str(message["Message-ID"])


class BenchMailer(Mailer):
    def __init__(self, base: Mailer, *, mime: bool) -> None:
        super().__init__(base.transport, base.sender, base.templates, tz=base.tz, reply_to=base.reply_to)
        self.mime = mime
        self.sender_used: BenchSender | None = None

    @contextlib.asynccontextmanager
    async def bulk(self, connections: int = 1) -> AsyncIterator[BulkSender]:
        async with super().bulk(connections) as base:
            self.sender_used = BenchSender(base, mime=self.mime)
            yield self.sender_used


class EveryMailTemplate(SkeletonTemplate):
    """The composition before skeletons: the template rendered for every mail."""

    def render_slots(
        self, constants: Any, slots: Slots, marked: dict[str, Any], build: ContextBuilder
    ) -> str:
        return self.template.render(build(Plain()))


class Baseline:
    """The same-run baseline: for every SAMPLE-th mail, the mail is also made the way it was before
    (both parts rendered by the templates, then build_message and the email package's flattening, as
    aiosmtplib sent it) and both ways are timed on that same member; the texts are compared too."""

    def __init__(self, app: AppContext, every: int) -> None:
        self.app = app
        self.every = every
        self.calls = 0
        self.old_seconds = 0.0
        self.new_seconds = 0.0
        self.samples = 0
        self.identical = 0
        self.old_templates = DigestTemplates(app)
        self.old_templates.text = EveryMailTemplate(self.old_templates.text.template)
        self.old_templates.html = EveryMailTemplate(self.old_templates.html.template)
        self.writer = WireWriter(app.mailer.sender, tz=app.settings.tz, reply_to=app.mailer.reply_to)
        self.real: Callable[..., OutgoingMail] = vars(sending)["compose_digest"]

    def compose(self, app: AppContext, **kwargs: Any) -> OutgoingMail:
        self.calls += 1
        if self.calls % self.every:
            return self.real(app, **kwargs)
        now = app.clock.now()
        t0 = time.perf_counter()
        new = self.real(app, **kwargs)
        self.writer.write(new, now=now)
        t1 = time.perf_counter()
        old = self.real(app, **{**kwargs, "templates": self.old_templates})
        build_message(old, sender=app.mailer.sender, now=now, tz=app.settings.tz).as_bytes(
            policy=email.policy.SMTP
        )
        t2 = time.perf_counter()
        self.samples += 1
        self.new_seconds += t1 - t0
        self.old_seconds += t2 - t1
        self.identical += (old.text, old.html, old.headers) == (new.text, new.html, new.headers)
        return new


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(database: Path, mime: bool, every: int) -> dict[str, Any]:
    from services import digests

    app: AppContext = await open_context(build_context(settings_for(database), FrozenClock(NOW)))
    mailer = BenchMailer(app.mailer, mime=mime)
    app.mailer = mailer
    baseline = Baseline(app, every)
    vars(sending)["compose_digest"] = baseline.compose  # the sampling wrapper
    window = weekly_window(NOW, app.settings.tz)
    started, cpu_started = time.perf_counter(), cpu_seconds()
    queries_before = app.db.query_count
    report = await digests.run_window(app, window, trigger="cli")  # the real run, as the CLI starts it
    finished, cpu_finished = time.perf_counter(), cpu_seconds()
    vars(sending)["compose_digest"] = baseline.real
    bench_sender = mailer.sender_used
    assert bench_sender is not None
    built, cpu_built = bench_sender.first_send or (finished, cpu_finished)
    queries = app.db.query_count - queries_before
    await app.db.close()
    # The baseline's own samples (made the old way too) are not part of the run's time.
    extra = baseline.old_seconds
    return {
        "build": built - started,
        "send": finished - built - extra,
        "elapsed": finished - started - extra,
        "cpu_build": cpu_built - cpu_started,
        "cpu_send": cpu_finished - cpu_built - extra,
        "status": report.status,
        "counts": report.counts,
        "queries": queries,
        "mails": bench_sender.sent,
        "bytes": bench_sender.bytes,
        "samples": baseline.samples,
        "identical": baseline.identical,
        "old_ms": 1000 * baseline.old_seconds / max(1, baseline.samples),
        "new_ms": 1000 * baseline.new_seconds / max(1, baseline.samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--articles", type=int, default=2_000)
    parser.add_argument("--mime", action="store_true", help="also write each full MIME message")
    parser.add_argument(
        "--sample-every", type=int, default=100, help="baseline: make every Nth mail the old way too"
    )
    parser.add_argument("--seed-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_into:
        asyncio.run(seed(args.seed_into, args.members, args.articles))
        return
    with tempfile.TemporaryDirectory(prefix="tsudoi-digest-bench-") as folder:
        database = Path(folder) / "bench.sqlite3"
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--seed-into",
                str(database),
                "--members",
                str(args.members),
                "--articles",
                str(args.articles),
            ],
            check=True,
        )
        seeded = time.perf_counter() - t0
        result = asyncio.run(run(database, args.mime, args.sample_every))
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        counts = result["counts"]
        print(f"members: {args.members:,}  articles in window: {args.articles:,}  mime: {args.mime}")
        print(f"seeding (child process): {seeded:.1f} s")
        print(
            f"weekly run: {result['elapsed']:.1f} s wall = build {result['build']:.1f} s + send {result['send']:.1f} s "
            f"({result['mails'] / result['elapsed']:.0f} mails/s, {result['queries']:,} read/one-off queries)"
        )
        print(f"cpu time of the run: build {result['cpu_build']:.1f} s + send {result['cpu_send']:.1f} s")
        print(
            f"deliveries: matched {counts.matched:,}  sent {counts.sent:,}  skipped {counts.skipped:,}  "
            f"failed {counts.failed:,}  status {result['status']}"
        )
        print(f"rendered: {result['bytes'] / 1e6:.0f} MB of mail {'(full MIME)' if args.mime else 'text'}")
        print(
            f"same-run baseline, {result['samples']:,} sampled mails made both ways: composition + MIME "
            f"{result['new_ms']:.3f} ms now vs {result['old_ms']:.3f} ms the old way (templates per mail, "
            f"build_message + flattening); ratio now / old: {result['new_ms'] / max(result['old_ms'], 1e-9):.3f}; "
            f"identical text, HTML and headers: {result['identical']:,} of {result['samples']:,}"
        )
        print(
            f"(the samples' old-way time, {result['samples'] * result['old_ms'] / 1000:.1f} s, is left out of the run)"
        )
        print(f"peak memory (max RSS of the run process): {peak_mb:.0f} MB")
        ok = result["elapsed"] < 60 and peak_mb < 300
        print("target (< 60 s, < 300 MB):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
