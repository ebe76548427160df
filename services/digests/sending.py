"""The digest's runs on the shared engine (services/delivery.py): build a run's deliveries, send them
through the engine, and run each (kind, window) exactly once."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

from db import deliveries
from db import digests as digests_db
from db.deliveries import DIGEST_DELIVERIES
from db.digests import RunCounts
from db.timestamps import from_db
from services import leases
from services.context import AppContext
from services.delivery import (
    DeliverySender,
    SendReport,
)
from services.digest_windows import DigestKind, Window, due_windows, window_at
from services.digests.compose import DigestTemplates, compose_digest
from services.digests.options import (
    CLAIM_LEASE,
    SCHEDULE_SLACK,
    SKIP_ARTICLES_GONE,
    SKIP_CLOSED,
    SKIP_EXPIRED,
    SKIP_UNSUBSCRIBED,
    DigestOptions,
    load_options,
    send_hour,
)
from services.digests.recipients import (
    ArticleIndex,
    Section,
    decode_sections,
    iterate_plans,
    load_index,
    unsendable_reason,
)
from services.mailer import OutgoingMail

log = logging.getLogger("tsudoi.digests")

# ------------------------------------------------------------------------------------- building


def _run_lease(app: AppContext, run_id: int) -> AbstractAsyncContextManager[leases.Lease]:
    """One process at a time builds or sends a run (a worker's scheduler, `send-digests`): the others wait,
    then find it done; when the holder dies its lease runs out and a waiter resumes the run."""
    return leases.held(
        app.db, f"digest-run:{run_id}", seconds=app.settings.lease_seconds, wait=None, poll=0.5
    )


def _bounds(run: sqlite3.Row) -> tuple[datetime, datetime]:
    start, end = from_db(run["window_start"]), from_db(run["window_end"])
    assert start is not None and end is not None
    return start, end


async def build_run(app: AppContext, run_id: int) -> None:
    """Write every member's delivery row (resuming after the last batch written), then start sending."""
    run = await digests_db.get_run(app.db, run_id)
    if run is None or run["status"] != "building":
        return
    start, end = _bounds(run)
    index = await load_index(app, start, end)
    # The tier on the run's day decides (a window's end is 00:00 of that day, in org time).
    async for cursor, plans in iterate_plans(
        app, str(run["kind"]), index, tier_at=end, after_id=int(run["build_cursor"])
    ):
        await digests_db.write_deliveries(
            app.db, run_id, [plan for _, plan, _ in plans], cursor=cursor, now=app.clock.now()
        )
    await digests_db.set_run_sending(app.db, run_id, now=app.clock.now())


# -------------------------------------------------------------------------------------- sending


class _RunSender(DeliverySender[list[Section]]):
    """One digest run's deliveries through the shared engine (services/delivery.py)."""

    queue = DIGEST_DELIVERIES
    label = "digest"

    def __init__(
        self,
        app: AppContext,
        run: sqlite3.Row,
        index: ArticleIndex,
        options: DigestOptions,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        super().__init__(app, int(run["id"]), options, sleep)
        self.run_id = int(run["id"])
        self.kind = str(run["kind"])
        self.start, self.end = _bounds(run)
        self.index = index
        self.templates = DigestTemplates(app)

    def _skip_reason(self, member: sqlite3.Row | None) -> str:
        if member is None or member["status"] != "active":
            return SKIP_CLOSED
        frequency = str(member["digest_frequency"])
        if frequency == "none" or (self.kind == "daily" and frequency != "daily"):
            return SKIP_UNSUBSCRIBED
        return unsendable_reason(member)

    def plan(self, row: sqlite3.Row, member: sqlite3.Row | None) -> list[Section] | str:
        reason = self._skip_reason(member)
        # An article unpublished since the build is left out; nothing left means no mail.
        sections = [
            Section(s.condition_id, s.name, ids, s.more)
            for s in decode_sections(str(row["content"]))
            if (ids := tuple(a for a in s.article_ids if a in self.index.articles))
        ]
        if reason or not sections:
            return reason or SKIP_ARTICLES_GONE
        return sections

    def compose(self, row: sqlite3.Row, member: sqlite3.Row, planned: list[Section]) -> OutgoingMail:
        return compose_digest(
            self.app,
            member=member,
            kind=self.kind,
            start=self.start,
            end=self.end,
            sections=planned,
            index=self.index,
            templates=self.templates,
            article_count=int(row["article_count"]) or None,
        )


async def send_run(
    app: AppContext,
    run_id: int,
    *,
    options: DigestOptions | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> SendReport:
    """Send what is due in one run; the run is done once nothing is pending (retries may remain)."""
    options = options or await load_options(app)
    async with _run_lease(app, run_id):
        run = await digests_db.get_run(app.db, run_id)
        if run is None or run["status"] != "sending":
            return SendReport()
        now = app.clock.now()
        released = await deliveries.release_stale_claims(
            app.db, DIGEST_DELIVERIES, run_id, claimed_before=now - CLAIM_LEASE, now=now
        )
        if released:
            log.warning("digest %s: %s deliveries left by a stopped sender are sent again", run_id, released)
        start, end = _bounds(run)
        index = await load_index(app, start, end)
        report = await _RunSender(app, run, index, options, sleep).send_all()
        await digests_db.finish_run_if_complete(app.db, run_id, now=app.clock.now())
        return report


# ------------------------------------------------------------------------------------- running


@dataclass
class RunReport:
    run_id: int
    kind: str
    window_key: str
    created: bool
    status: str
    counts: RunCounts


async def _report(app: AppContext, run_id: int, created: bool) -> RunReport:
    run = await digests_db.get_run(app.db, run_id)
    assert run is not None
    counts = (await digests_db.run_counts(app.db, [run_id]))[run_id]
    return RunReport(run_id, str(run["kind"]), str(run["window_key"]), created, str(run["status"]), counts)


async def continue_run(
    app: AppContext,
    run_id: int,
    *,
    options: DigestOptions | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    options = options or await load_options(app)
    async with _run_lease(app, run_id):
        await build_run(app, run_id)
    await send_run(app, run_id, options=options, sleep=sleep)


async def run_window(
    app: AppContext,
    window: Window,
    *,
    trigger: str,
    options: DigestOptions | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> RunReport:
    """The run of one (kind, window): created once, then built and sent (or resumed) — exactly once."""
    run_id, created = await digests_db.create_run(
        app.db,
        kind=window.kind,
        window_key=window.key,
        window_start=window.start_utc,
        window_end=window.end_utc,
        due_at=window.due_at_utc,
        trigger=trigger,
        now=app.clock.now(),
    )
    if created:
        log.info("digest run %s (%s) started by %s", run_id, window.key, trigger)
    await continue_run(app, run_id, options=options, sleep=sleep)
    return await _report(app, run_id, created)


async def run_due(
    app: AppContext, kind: DigestKind, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> list[RunReport]:
    """The scheduler's job for one kind: resume unfinished runs (retries, a crash, a stop), then run
    each window that is due and has no run yet — after downtime that is a catch-up, sent once."""
    options = await load_options(app)
    now = app.clock.now()
    reports: list[RunReport] = []
    for run in await digests_db.unfinished_runs(app.db, kind):
        run_id = int(run["id"])
        due_at = from_db(run["due_at"])
        if due_at is not None and due_at + options.catch_up_limit < now:
            # Stalled for longer than the catch-up limit: what is left is no longer news.
            async with _run_lease(app, run_id):
                await digests_db.set_run_sending(app.db, run_id, now=now)
                await deliveries.expire_open(app.db, DIGEST_DELIVERIES, run_id, reason=SKIP_EXPIRED, now=now)
                await digests_db.finish_run_if_complete(app.db, run_id, now=now)
            log.warning("digest run %s expired unfinished", run_id)
            continue
        if run["status"] == "sending" and not await deliveries.has_due_pending(
            app.db, DIGEST_DELIVERIES, run_id, now=now
        ):
            stale = await deliveries.release_stale_claims(
                app.db, DIGEST_DELIVERIES, run_id, claimed_before=now - CLAIM_LEASE, now=now
            )
            if not stale:
                await digests_db.finish_run_if_complete(app.db, run_id, now=now)
                continue
        await continue_run(app, run_id, options=options, sleep=sleep)
        reports.append(await _report(app, run_id, False))
    last = await digests_db.last_window_key(app.db, kind)
    for window in due_windows(kind, last, now, app.settings.tz, send_hour(app, kind), options.catch_up_limit):
        trigger = "schedule" if now - window.due_at_utc <= SCHEDULE_SLACK else "catch_up"
        reports.append(await run_window(app, window, trigger=trigger, options=options, sleep=sleep))
    return reports


async def run_weekly_job(app: AppContext) -> list[RunReport]:
    return await run_due(app, "weekly")


async def run_daily_job(app: AppContext) -> list[RunReport]:
    return await run_due(app, "daily")


def window_for(app: AppContext, kind: DigestKind, at: datetime) -> Window:
    """The latest `kind` window due at `at` (the CLI's --at)."""
    return window_at(kind, at, app.settings.tz, send_hour(app, kind))
