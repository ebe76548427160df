"""The in-process scheduler: when jobs are due, catch-up after downtime, failures,
housekeeping, and start/stop with the app."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import AsyncTestClient

import services.scheduler as scheduler_module
from app import create_app
from db import scheduler_jobs
from db.timestamps import to_db
from services.clock import FrozenClock
from services.context import AppContext
from services.leases import wall_clock
from services.scheduler import Job, Scheduler, is_due, run_cleanup_job
from services.settings import Settings

JST = ZoneInfo("Asia/Tokyo")
CALLS: list[str] = []


async def record_call(app: AppContext) -> None:
    CALLS.append("ran")


async def fail(app: AppContext) -> None:
    raise RuntimeError("boom")


async def slow(app: AppContext) -> None:
    await asyncio.sleep(3600)


def test_daily_job_runs_once_after_a_night_switched_off(app_ctx: AppContext) -> None:
    job = Job("nightly", "夜間", record_call, daily_at=time(3, 0))
    last = datetime(2026, 11, 20, 3, 0, 5, tzinfo=JST)
    assert not is_due(job, last, datetime(2026, 11, 21, 2, 59, tzinfo=JST), app_ctx)
    assert is_due(job, last, datetime(2026, 11, 21, 3, 0, tzinfo=JST), app_ctx)
    # Off for three nights, back at noon: due once (the next check sees it started after 03:00).
    assert is_due(job, last, datetime(2026, 11, 23, 12, 0, tzinfo=JST), app_ctx)
    assert not is_due(
        job, datetime(2026, 11, 23, 12, 0, tzinfo=JST), datetime(2026, 11, 23, 18, 0, tzinfo=JST), app_ctx
    )
    every = Job("often", "頻繁", record_call, every=timedelta(minutes=30))
    assert is_due(every, None, datetime(2026, 11, 23, tzinfo=UTC), app_ctx)
    assert not is_due(
        every, datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 23, 0, 29, tzinfo=UTC), app_ctx
    )


async def test_tick_runs_due_jobs_and_records_failures(app_ctx: AppContext, clock: FrozenClock) -> None:
    CALLS.clear()
    jobs = [
        Job("ok", "成功", record_call, every=timedelta(minutes=5)),
        Job("broken", "失敗", fail, every=timedelta(minutes=5)),
    ]
    scheduler = Scheduler(app_ctx, jobs)
    assert await scheduler.tick() == ["ok", "broken"]
    await scheduler.wait_idle()
    assert CALLS == ["ran"]
    states = await scheduler_jobs.job_states(app_ctx.db)
    assert states["ok"]["last_status"] == "ok"
    assert states["broken"]["last_status"] == "error" and states["broken"]["last_error"] == "RuntimeError"
    assert await scheduler.tick() == []  # not due again yet
    clock.advance(timedelta(minutes=5))
    assert await scheduler.tick() == ["ok", "broken"]
    await scheduler.wait_idle()
    assert CALLS == ["ran", "ran"]
    # A restart keeps the record: the new scheduler does not run the jobs again at once.
    assert await Scheduler(app_ctx, jobs).tick() == []


async def test_a_running_job_is_not_started_twice(app_ctx: AppContext, clock: FrozenClock) -> None:
    scheduler = Scheduler(app_ctx, [Job("slow", "遅い", slow, every=timedelta(minutes=1))])
    assert await scheduler.tick() == ["slow"]
    clock.advance(timedelta(minutes=2))
    assert await scheduler.tick() == []
    await scheduler.stop(grace_seconds=0.01)
    assert scheduler.running == {}


async def test_cleanup_removes_expired_sessions_old_rate_limit_rows_and_used_tokens(
    app_ctx: AppContext, clock: FrozenClock
) -> None:
    from tests.helpers import make_member

    member = await make_member(app_ctx, "001001")
    now = clock.now()
    for token, expires in (("old", now - timedelta(minutes=1)), ("live", now + timedelta(days=1))):
        await app_ctx.db.execute(
            "INSERT INTO sessions (token_hash, member_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (token, member, to_db(now), to_db(now), to_db(expires)),
        )
    await app_ctx.db.execute(
        "INSERT INTO rate_limit_events (bucket, at) VALUES ('a', ?), ('b', ?)",
        (to_db(now - timedelta(days=8)), to_db(now)),
    )
    await app_ctx.db.execute(
        "INSERT INTO used_tokens (token_id, purpose, used_at) VALUES ('t1', 'x', ?), ('t2', 'x', ?)",
        (to_db(now - timedelta(days=31)), to_db(now)),
    )
    week_ago = to_db(now - timedelta(days=8))
    await app_ctx.db.execute(  # a forgotten streak goes; a recent one and a running lock stay
        "INSERT INTO login_failures (login_id, attempts, locked_until, updated_at) VALUES "
        "('stale', 2, NULL, ?), ('recent', 2, NULL, ?), ('locked', 5, ?, ?)",
        (week_ago, to_db(now), to_db(now + timedelta(days=1)), week_ago),
    )
    # A lease a dead worker left a day ago goes; a live one stays (leases run on the wall clock).
    await app_ctx.db.execute(
        "INSERT INTO leases (name, holder, expires_at) VALUES ('dead', 'host:1:a', 1.0), ('live', 'host:2:b', ?)",
        (wall_clock() + 60,),
    )
    assert await run_cleanup_job(app_ctx) == {
        "sessions": 1,
        "rate_limit_events": 1,
        "used_tokens": 1,
        "login_failures": 1,
        "contact_pending_uploads": 0,
        "leases": 1,
    }
    assert await app_ctx.db.fetchval("SELECT group_concat(name) FROM leases") == "live"
    assert await app_ctx.db.fetchval("SELECT group_concat(token_hash) FROM sessions") == "live"
    kept = await app_ctx.db.fetchall("SELECT login_id FROM login_failures ORDER BY login_id")
    assert [row[0] for row in kept] == ["locked", "recent"]


async def test_the_app_starts_and_stops_the_scheduler_when_it_is_on(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    CALLS.clear()
    monkeypatch.setattr(
        scheduler_module,
        "JOBS",
        [Job("ok", "成功", record_call, every=timedelta(hours=1))],
    )
    app = create_app(settings.with_(scheduler=True), clock)
    async with AsyncTestClient(app=app):
        ctx: AppContext = app.state.ctx
        scheduler = scheduler_module.current_scheduler(ctx)
        assert scheduler is not None
        for _ in range(100):
            if CALLS:
                break
            await asyncio.sleep(0.01)
        assert CALLS == ["ran"]
    assert scheduler_module.current_scheduler(ctx) is None


async def test_the_real_job_list_runs_every_job_and_the_console_lists_them(
    app_ctx: AppContext, clock: FrozenClock
) -> None:
    names = [job.name for job in scheduler_module.JOBS]
    assert {"weekly_digest", "daily_digest", "feed_import", "cleanup", "contact_qr", "nightly_backup"} <= set(
        names
    )
    scheduler = Scheduler(app_ctx)
    assert await scheduler.tick() == names  # a fresh install: every job is due and starts
    await scheduler.wait_idle()
    states = await scheduler_jobs.job_states(app_ctx.db)
    recorded = [job.name for job in scheduler_module.JOBS if job.record]
    assert all(states[name]["last_status"] == "ok" for name in recorded), dict(states)
    overview = await scheduler_module.job_overview(app_ctx)
    assert [status.name for status in overview] == names


async def test_only_the_lease_holder_runs_the_jobs_and_another_takes_over_when_it_stops(
    app_ctx: AppContext, clock: FrozenClock
) -> None:
    """Two workers' schedulers on one database (the processes are in tests/http/test_workers.py)."""
    jobs = [Job("ok", "成功", record_call, every=timedelta(hours=1))]
    first, second = Scheduler(app_ctx, jobs), Scheduler(app_ctx, jobs)
    first.lease.seconds = second.lease.seconds = 0.3
    assert await first.lead() and not await second.lead()
    assert await first.lead()  # renewed
    await scheduler_jobs.job_started(app_ctx.db, "ok", now=clock.now())
    await asyncio.sleep(0.35)  # the first stopped renewing (its process died): its lease ran out
    clock.advance(timedelta(seconds=1))
    assert await second.lead()
    assert not await first.lead()  # it learns it lost the lease and stops ticking
    # The job the first left started counts as interrupted, not as running forever.
    state = (await scheduler_jobs.job_states(app_ctx.db))["ok"]
    assert state["last_status"] == "error" and state["last_error"] == "interrupted"
    await second.stop()  # a clean stop gives the lease back at once
    assert await first.lead()
    await first.stop()
