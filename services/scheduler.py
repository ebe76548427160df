"""The scheduler: a plain asyncio loop that runs each job when it is due, in exactly one worker process.

A loop rather than APScheduler because every job here decides "due" from the database (the digest
runs from digest_runs, the others from scheduler_jobs), which makes downtime catch-up, admin-changed
hours and restarts work without a job store, and lets tests drive a tick with a frozen clock.

With several workers (`litestar run --wc N`) every worker starts this loop, but only the holder of
the `scheduler` lease (services/leases.py) ticks; it renews the lease every third of
TSUDOI_LEASE_SECONDS. When it dies (even SIGKILL) the lease runs out and another worker takes over, reading
the jobs' last starts from the database, so nothing due is lost and nothing runs twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time as clock_time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from db import leases as lease_queries
from db import login_failures, rate_limits, scheduler_jobs, sessions, used_tokens
from db.timestamps import from_db
from services.announcements import run_due as run_announcements_job
from services.backup import run_nightly_backup
from services.contact import remove_stale_pending_uploads
from services.contact_qr import refresh_contact_qr
from services.context import AppContext
from services.digests import request_stop, run_daily_job, run_weekly_job
from services.events import run_reminder_job as run_event_reminders
from services.fee_reminders import run_reminder_job as run_fee_reminders
from services.feeds import run_feed_import_job
from services.leases import Lease, wall_clock
from services.membership import apply_tier_endings

log = logging.getLogger("tsudoi.scheduler")

TICK_SECONDS = 30.0
SCHEDULER_LEASE = "scheduler"
# A lease left by a process that died is deleted once it has been over this long.
LEASE_KEEP_SECONDS = 24 * 3600
# Old rows kept for a while after they stop mattering: rate-limit windows are minutes to a day,
# single-use links live hours to days.
RATE_LIMIT_KEEP = timedelta(days=7)
USED_TOKEN_KEEP = timedelta(days=30)


@dataclass(frozen=True)
class Job:
    name: str
    label: str  # what the admin reads
    function: Callable[[AppContext], Awaitable[Any]]  # called with the AppContext
    every: timedelta | None = None
    daily_at: time | None = None  # local time in the organization's zone
    record: bool = True  # False for jobs that check often and keep their own records (digests)

    def schedule_label(self) -> str:
        if self.daily_at is not None:
            return f"毎日 {self.daily_at:%H:%M}"
        if self.every is not None:
            minutes = int(self.every.total_seconds() // 60)
            return f"{minutes // 60}時間ごと" if minutes >= 60 and minutes % 60 == 0 else f"{minutes}分ごと"
        return ""


async def run_cleanup_job(app: AppContext) -> dict[str, int]:
    """Expired sessions, stale rate-limit rows, long-used single-use token ids, forgotten login failures,
    contact-form screenshots of forms left unsent for a day."""
    now = app.clock.now()
    return {
        "sessions": await sessions.delete_expired(app.db, now=now),
        "rate_limit_events": await rate_limits.delete_older_than(app.db, now - RATE_LIMIT_KEEP),
        "used_tokens": await used_tokens.delete_older_than(app.db, now - USED_TOKEN_KEEP),
        "login_failures": await login_failures.delete_stale(app.db, before=now - RATE_LIMIT_KEEP, now=now),
        "contact_pending_uploads": await remove_stale_pending_uploads(app),
        "leases": await lease_queries.delete_expired(app.db, before=wall_clock() - LEASE_KEEP_SECONDS),
    }


JOBS: list[Job] = [
    # The digest jobs look every minute; whether a window is due is theirs to decide (digest_runs).
    Job(
        "weekly_digest",
        "新着お知らせメール（毎週）",
        run_weekly_job,
        every=timedelta(minutes=1),
        record=False,
    ),
    Job(
        "daily_digest",
        "新着お知らせメール（毎日）",
        run_daily_job,
        every=timedelta(minutes=1),
        record=False,
    ),
    # Scheduled announcements whose time has come, and any send a crash or restart interrupted.
    Job(
        "announcements",
        "事務局からのお知らせの送信",
        run_announcements_job,
        every=timedelta(minutes=1),
        record=False,
    ),
    Job("feed_import", "フィードの取り込み", run_feed_import_job, every=timedelta(minutes=30)),
    Job(
        "cleanup",
        "期限切れのログイン・トークン・送信されなかった添付画像の削除",
        run_cleanup_job,
        every=timedelta(hours=1),
    ),
    Job(
        "contact_qr",
        "お問い合わせページのQRコード更新",
        refresh_contact_qr,
        daily_at=time(4, 30),
    ),
    Job("nightly_backup", "夜間バックアップ", run_nightly_backup, daily_at=time(3, 0)),
    # Fee reminders by the schedule in the settings; each (fee, step) goes once (fee_reminders).
    Job("fee_reminders", "会費の督促メール", run_fee_reminders, daily_at=time(9, 0)),
    Job("tier_endings", "プラン終了の処理", apply_tier_endings, daily_at=time(0, 10)),
    Job("event_reminders", "イベント前日のご案内メール", run_event_reminders, every=timedelta(minutes=15)),
]


def last_occurrence(at: time, now: datetime, app: AppContext) -> datetime:
    """The latest local `at` not after `now` (aware)."""
    tz = app.settings.tz
    local = now.astimezone(tz)
    moment = datetime.combine(local.date(), at, tzinfo=tz)
    if moment > local:
        moment = datetime.combine(local.date() - timedelta(days=1), at, tzinfo=tz)
    return moment


def is_due(job: Job, last_started: datetime | None, now: datetime, app: AppContext) -> bool:
    """Never run: due now. Otherwise after `every`, or once the latest daily time has passed since the last
    start (so a night spent switched off is made up once, not once per missed night)."""
    if last_started is None:
        return True
    if job.every is not None:
        return now - last_started >= job.every
    if job.daily_at is not None:
        return last_started < last_occurrence(job.daily_at, now, app)
    return False


class Scheduler:
    def __init__(
        self, app: AppContext, jobs: list[Job] | None = None, tick_seconds: float = TICK_SECONDS
    ) -> None:
        self.app = app
        self.jobs = list(JOBS if jobs is None else jobs)
        self.tick_seconds = tick_seconds
        self.running: dict[str, asyncio.Task[None]] = {}
        self.last_started: dict[str, datetime] = {}
        self._stop = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._loaded = False
        # Held by the one worker that ticks (see the module's docstring).
        self.lease = Lease(app.db, SCHEDULER_LEASE, seconds=float(app.settings.lease_seconds))

    async def _load(self) -> None:
        if self._loaded:
            return
        for name, row in (await scheduler_jobs.job_states(self.app.db)).items():
            started = from_db(row["last_started_at"])
            if started is not None:
                self.last_started[name] = started
        self._loaded = True

    async def tick(self) -> list[str]:
        """Start every due job that is not already running; returns the names started."""
        await self._load()
        now = self.app.clock.now()
        started: list[str] = []
        for job in self.jobs:
            if job.name in self.running:
                continue
            if not is_due(job, self.last_started.get(job.name), now, self.app):
                continue
            self.last_started[job.name] = now
            task = asyncio.create_task(self._run(job, now), name=f"tsudoi-job-{job.name}")
            self.running[job.name] = task
            task.add_done_callback(self._forget)
            started.append(job.name)
        return started

    def _forget(self, task: asyncio.Task[None]) -> None:
        for name, running in list(self.running.items()):
            if running is task:
                del self.running[name]

    async def _run(self, job: Job, now: datetime) -> None:
        if job.record:
            await scheduler_jobs.job_started(self.app.db, job.name, now=now)
        try:
            await job.function(self.app)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # one failing job must not stop the others or the loop
            log.exception("job %s failed", job.name)
            if job.record:
                await scheduler_jobs.job_finished(
                    self.app.db,
                    job.name,
                    now=self.app.clock.now(),
                    status="error",
                    error=type(error).__name__,
                )
            return
        if job.record:
            await scheduler_jobs.job_finished(self.app.db, job.name, now=self.app.clock.now(), status="ok")

    async def wait_idle(self) -> None:
        """Wait for the jobs started so far (tests)."""
        while self.running:
            await asyncio.gather(*list(self.running.values()), return_exceptions=True)

    async def lead(self) -> bool:
        """Take or renew the scheduler's lease; True while this worker is the one that runs the jobs."""
        was = self.lease.held
        leading = await self.lease.try_take() if was else await self.lease.wait_take(wait=0)
        if leading and not was:
            self._loaded = False  # another worker may have run jobs meanwhile: read their last starts again
            if not self.running:
                # Nothing runs here, so a job left started was cut off with the scheduler that ran it.
                await scheduler_jobs.mark_interrupted(self.app.db, now=self.app.clock.now())
            log.info("this worker (pid %s) runs the scheduler", os.getpid())
        elif was and not leading:
            log.warning("another worker took the scheduler over (this one stalled past its lease)")
        return leading

    async def _loop(self) -> None:
        next_tick = 0.0
        while not self._stop.is_set():
            leading = False
            try:
                leading = await self.lead()
                if leading and clock_time.monotonic() >= next_tick:
                    next_tick = clock_time.monotonic() + self.tick_seconds
                    await self.app.refresh_org()  # the settings may have been changed through another worker
                    await self.tick()
            except Exception:
                log.exception("scheduler tick failed")
            pause = self.lease.seconds / 3
            if leading:
                pause = min(pause, max(0.0, next_tick - clock_time.monotonic()))
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=pause)
            except TimeoutError:
                pass

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="tsudoi-scheduler")
        log.info(
            "scheduler started with %d jobs (it ticks in the worker that holds its lease)", len(self.jobs)
        )

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop ticking, then give running jobs a moment; a digest still sending is cancelled cleanly
        (unsent claims go back to pending) and resumes at the next start."""
        self._stop.set()
        request_stop(self.app)  # digest senders finish the message in hand and give back the rest
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        tasks = list(self.running.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.lease.held:
            # Another worker takes over at its next look instead of waiting for the lease to run out.
            await self.lease.release()


def current_scheduler(app: AppContext) -> Scheduler | None:
    return app.scheduler


async def start_scheduler(app: AppContext) -> Scheduler:
    scheduler = Scheduler(app)
    app.scheduler = scheduler
    scheduler.start()
    return scheduler


async def stop_scheduler(app: AppContext) -> None:
    scheduler, app.scheduler = app.scheduler, None
    if scheduler is not None:
        await scheduler.stop()


@dataclass(frozen=True)
class JobStatus:
    name: str
    label: str
    schedule: str
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str
    last_error: str
    running: bool


async def job_overview(app: AppContext) -> list[JobStatus]:
    """Every job with its last run, for the admin (two queries). With several workers the page may be
    served by one that does not run the scheduler: a recorded job started and not finished counts as
    running while the worker holding the scheduler's lease is alive."""
    states = await scheduler_jobs.job_states(app.db)
    scheduler = current_scheduler(app)
    lease = await lease_queries.current(app.db, SCHEDULER_LEASE)
    elsewhere = (
        lease is not None
        and float(lease["expires_at"]) > wall_clock()
        and (scheduler is None or lease["holder"] != scheduler.lease.holder)
    )
    result: list[JobStatus] = []
    for job in JOBS:
        row = states.get(job.name)
        started = from_db(row["last_started_at"]) if row else None
        finished = from_db(row["last_finished_at"]) if row else None
        unfinished = started is not None and (finished is None or finished < started)
        result.append(
            JobStatus(
                name=job.name,
                label=job.label,
                schedule=job.schedule_label(),
                last_started_at=from_db(row["last_started_at"]) if row else None,
                last_finished_at=from_db(row["last_finished_at"]) if row else None,
                last_status=str(row["last_status"]) if row else "",
                last_error=str(row["last_error"]) if row else "",
                running=(scheduler is not None and job.name in scheduler.running)
                or (elsewhere and job.record and unfinished),
            )
        )
    return result
