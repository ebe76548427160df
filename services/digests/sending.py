"""The sending engine: build a run's deliveries, claim them with UPDATE … RETURNING so a second worker or
a restart never takes the same row, send them through the mailer at the configured rate (Pacer), record
each outcome right after the server answered, and run each (kind, window) exactly once."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import aiosmtplib

from db import audit
from db import digests as digests_db
from db.digests import RunCounts
from db.timestamps import from_db
from services.context import AppContext
from services.digest_windows import DigestKind, Window, due_windows, window_at
from services.digests.compose import DigestTemplates, compose_digest
from services.digests.options import (
    CLAIM_LEASE,
    HARD_BOUNCE_LIMIT,
    MAX_ATTEMPTS,
    RETRY_DELAYS,
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
from services.mailer import MailError

log = logging.getLogger("tsudoi.digests")

# ------------------------------------------------------------------------------------- building


def _run_lock(app: AppContext, run_id: int) -> asyncio.Lock:
    return app.digest_run_locks.setdefault(run_id, asyncio.Lock())


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


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    flagged: list[int] = field(default_factory=list)


def stopping(app: AppContext) -> bool:
    """Set by the scheduler when the app stops: senders finish the message in hand and take no more."""
    return app.stopping.is_set()


def request_stop(app: AppContext) -> None:
    app.stopping.set()


class Pacer:
    """Spaces messages to at most `rate` per second across every worker (0 = no limit)."""

    def __init__(
        self,
        rate: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._sleep = sleep
        self._monotonic = monotonic
        self._next = 0.0

    async def wait(self) -> None:
        if self.interval <= 0:
            return
        now = self._monotonic()
        slot = max(self._next, now)
        self._next = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)


def classify_failure(error: Exception) -> tuple[bool, str]:
    """(permanent?, message for the admin). A 5xx answer is permanent; 4xx and network trouble are not."""
    if isinstance(error, ValueError):
        return True, "メールアドレスの形式が正しくありません"
    cause = error.__cause__
    # The mailer reports a refused recipient as "unavailable"; its per-recipient codes tell the truth.
    if isinstance(cause, aiosmtplib.SMTPRecipientsRefused) and cause.recipients:
        codes = [refused.code for refused in cause.recipients]
        first = cause.recipients[0]
        message = f"SMTP {first.code}: {first.message}"
        return all(500 <= code < 600 for code in codes), message
    return bool(getattr(error, "permanent", False)), str(error)


T = TypeVar("T")


async def _recorded(write: Coroutine[Any, Any, T]) -> T:
    """An outcome is written even when the sender is being stopped: a stop must not lose the record of
    a message the server already has (nor leave the writer mid-transaction)."""
    return await asyncio.shield(write)


class _SentRecorder:
    """Group commit: deliveries accepted at about the same moment are recorded in one transaction
    (one writer round trip instead of one per message), which keeps a 100,000-member run fast. The
    record is written in its own task, so a sender being cancelled cannot lose it."""

    def __init__(self, app: AppContext) -> None:
        self.app = app
        self._pending: list[tuple[int, str, int | None, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def record(self, delivery_id: int, message_id: str, clear_bounces_of: int | None) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((delivery_id, message_id, clear_bounces_of, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await digests_db.mark_sent(
                    self.app.db,
                    [(delivery_id, message_id) for delivery_id, message_id, _, _ in batch],
                    clear_bounces_of=[member for _, _, member, _ in batch if member is not None],
                    now=self.app.clock.now(),
                )
            except BaseException as error:
                for *_, future in batch:
                    if future.done():
                        continue
                    if isinstance(error, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(error)
                raise
            for *_, future in batch:
                if not future.done():
                    future.set_result(None)


class _RunSender:
    def __init__(
        self,
        app: AppContext,
        run: sqlite3.Row,
        index: ArticleIndex,
        options: DigestOptions,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.app = app
        self.run_id = int(run["id"])
        self.kind = str(run["kind"])
        self.start, self.end = _bounds(run)
        self.index = index
        self.options = options
        self.pacer = Pacer(options.rate_per_second, sleep)
        self.templates = DigestTemplates(app)
        self.recorder = _SentRecorder(app)
        self.report = SendReport()
        self._waiting: set[int] = set()

    async def send_all(self) -> SendReport:
        db = self.app.db
        while not stopping(self.app):
            claimed = await digests_db.claim(
                db, self.run_id, now=self.app.clock.now(), limit=self.options.claim_size
            )
            if not claimed:
                break
            members = await digests_db.members_for_send(db, [int(row["member_id"]) for row in claimed])
            queue: deque[sqlite3.Row] = deque(claimed)
            skipped: list[tuple[int, str]] = []
            workers = [
                asyncio.create_task(self._worker(queue, members, skipped))
                for _ in range(min(self.options.concurrency, len(queue)))
            ]
            try:
                await asyncio.gather(*workers)
            except asyncio.CancelledError:
                # Cancelled (the app stopping past its grace period): what was claimed but never handed
                # to the server goes back to pending now; a message in flight stays 'sending' and is sent
                # again after CLAIM_LEASE — the documented duplicate window.
                back = [int(row["id"]) for row in queue] + sorted(self._waiting) + [i for i, _ in skipped]
                queue.clear()
                await asyncio.shield(digests_db.release_claims(db, back, now=self.app.clock.now()))
                raise
            except BaseException:
                # One worker died (a bug, or a simulated crash): the others take nothing new, but finish
                # and record the message they have in flight, so it is not sent twice later.
                queue.clear()
                await asyncio.wait(workers)
                raise
            # A stop requested while sending: the unsent rest of this claim goes back to pending.
            await digests_db.release_claims(db, [int(row["id"]) for row in queue], now=self.app.clock.now())
            await digests_db.mark_skipped(db, skipped, now=self.app.clock.now())
            self.report.skipped += len(skipped)
        return self.report

    def _skip_reason(self, member: sqlite3.Row | None) -> str:
        if member is None or member["status"] != "active":
            return SKIP_CLOSED
        frequency = str(member["digest_frequency"])
        if frequency == "none" or (self.kind == "daily" and frequency != "daily"):
            return SKIP_UNSUBSCRIBED
        return unsendable_reason(member)

    async def _worker(
        self, queue: deque[sqlite3.Row], members: dict[int, sqlite3.Row], skipped: list[tuple[int, str]]
    ) -> None:
        while queue and not stopping(self.app):
            row = queue.popleft()
            member = members.get(int(row["member_id"]))
            reason = self._skip_reason(member)
            # An article unpublished since the build is left out; nothing left means no mail.
            sections = [
                Section(s.condition_id, s.name, ids, s.more)
                for s in decode_sections(str(row["content"]))
                if (ids := tuple(a for a in s.article_ids if a in self.index.articles))
            ]
            if member is None or reason or not sections:
                skipped.append((int(row["id"]), reason or SKIP_ARTICLES_GONE))
                continue
            await self._send_one(row, member, sections)

    async def _send_one(self, row: sqlite3.Row, member: sqlite3.Row, sections: list[Section]) -> None:
        delivery_id = int(row["id"])
        try:
            mail = compose_digest(
                self.app,
                member=member,
                kind=self.kind,
                start=self.start,
                end=self.end,
                sections=sections,
                index=self.index,
                templates=self.templates,
                article_count=int(row["article_count"]) or None,
            )
        except Exception:  # a template or data problem must not stop everyone else's digest
            log.exception("digest %s: composing delivery %s failed", self.run_id, delivery_id)
            await self._transient(row, "メールの作成に失敗しました（管理者にお問い合わせください）")
            return
        # Until the pacer lets it go, the message is not with the server: a stop may give it back.
        self._waiting.add(delivery_id)
        await self.pacer.wait()
        self._waiting.discard(delivery_id)
        try:
            message_id = await self.app.mailer.send(mail, now=self.app.clock.now())
        except (MailError, ValueError) as error:
            await self._failed(row, member, error)
            return
        # The duplicate window: the server has the message and the row still says 'sending'. A crash
        # exactly here makes a later start send this message once more (after CLAIM_LEASE). Each worker
        # waits for its record to commit before taking another message, so at most one message per
        # worker is ever in that state.
        clear = int(member["id"]) if member["hard_bounces"] else None
        await self.recorder.record(delivery_id, message_id, clear)
        self.report.sent += 1

    async def _transient(self, row: sqlite3.Row, message: str) -> None:
        attempts = int(row["attempts"])
        now = self.app.clock.now()
        if attempts >= MAX_ATTEMPTS:
            await _recorded(
                digests_db.mark_failed(
                    self.app.db,
                    int(row["id"]),
                    error=f"{attempts}回試しましたが送れませんでした: {message}",
                    now=now,
                )
            )
            self.report.failed += 1
            return
        delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
        await _recorded(
            digests_db.mark_retry(
                self.app.db, int(row["id"]), error=message, next_attempt_at=now + delay, now=now
            )
        )
        self.report.retrying += 1

    async def _failed(self, row: sqlite3.Row, member: sqlite3.Row, error: Exception) -> None:
        permanent, message = classify_failure(error)
        log.warning(
            "digest %s: delivery %s failed (%s): %s",
            self.run_id,
            row["id"],
            "permanent" if permanent else "transient",
            message,
        )
        if not permanent:
            await self._transient(row, message)
            return
        now = self.app.clock.now()
        await _recorded(digests_db.mark_failed(self.app.db, int(row["id"]), error=message, now=now))
        self.report.failed += 1
        flagged = await _recorded(
            digests_db.record_hard_bounce(
                self.app.db,
                int(member["id"]),
                email=str(member["email"]),
                error=message,
                now=now,
                flag_after=HARD_BOUNCE_LIMIT,
            )
        )
        if flagged:
            self.report.flagged.append(int(member["id"]))
            await audit.record(
                self.app.db,
                "digest.address_flagged",
                now=now,
                subject_member_id=int(member["id"]),
                detail={"error": message[:200]},
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
    async with _run_lock(app, run_id):
        run = await digests_db.get_run(app.db, run_id)
        if run is None or run["status"] != "sending":
            return SendReport()
        now = app.clock.now()
        released = await digests_db.release_stale_claims(
            app.db, run_id, claimed_before=now - CLAIM_LEASE, now=now
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
    async with _run_lock(app, run_id):
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
            async with _run_lock(app, run_id):
                await digests_db.set_run_sending(app.db, run_id, now=now)
                await digests_db.expire_open_deliveries(app.db, run_id, reason=SKIP_EXPIRED, now=now)
                await digests_db.finish_run_if_complete(app.db, run_id, now=now)
            log.warning("digest run %s expired unfinished", run_id)
            continue
        if run["status"] == "sending" and not await digests_db.has_due_pending(app.db, run_id, now=now):
            stale = await digests_db.release_stale_claims(
                app.db, run_id, claimed_before=now - CLAIM_LEASE, now=now
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
