"""The exactly-once mail engine shared by the digest and 事務局からのお知らせ: claim a batch's delivery rows
(UPDATE … RETURNING, so a second worker or a restart never takes the same row), send them through the
mailer at the configured rate (Pacer), record each outcome right after the server answered, retry
temporary failures later and count consecutive hard bounces per address.

A mail kind subclasses `DeliverySender` with what differs: `plan` (what to send to one member, or why
not) and `compose` (the message)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import aiosmtplib

from db import audit, deliveries
from db import digests as digests_db
from db.deliveries import DeliveryTable
from services.context import AppContext
from services.mailer import BulkSender, MailError, OutgoingMail

if TYPE_CHECKING:
    from services.digests.options import DigestOptions

log = logging.getLogger("tsudoi.delivery")

# A delivery still 'sending' this long after its claim belongs to a sender that died; it is sent again.
CLAIM_LEASE = timedelta(minutes=15)
# Transient SMTP errors (4xx, connection trouble): wait, then try again; the last failure is final.
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
HARD_BOUNCE_LIMIT = 3


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
P = TypeVar("P")


async def recorded(write: Coroutine[Any, Any, T]) -> T:
    """An outcome is written even when the sender is being stopped: a stop must not lose the record of
    a message the server already has (nor leave the writer mid-transaction)."""
    return await asyncio.shield(write)


class SentRecorder:
    """Group commit: deliveries accepted at about the same moment are recorded in one transaction
    (one writer round trip instead of one per message), which keeps a 100,000-member run fast. The
    record is written in its own task, so a sender being cancelled cannot lose it."""

    def __init__(self, app: AppContext, queue: DeliveryTable) -> None:
        self.app = app
        self.queue = queue
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
                await deliveries.mark_sent(
                    self.app.db,
                    self.queue,
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


class DeliverySender(ABC, Generic[P]):
    """Sends one batch's (a digest run's, an announcement's) claimed deliveries. Subclasses say what a
    member gets (`plan`) and how the mail looks (`compose`)."""

    queue: DeliveryTable
    label = "delivery"  # for the log
    audit_event = "digest.address_flagged"

    def __init__(
        self,
        app: AppContext,
        batch_id: int,
        options: DigestOptions,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.app = app
        self.batch_id = batch_id
        self.options = options
        self.pacer = Pacer(options.rate_per_second, sleep)
        self.recorder = SentRecorder(app, self.queue)
        self.report = SendReport()
        self._waiting: set[int] = set()
        self._bulk: BulkSender | None = None

    # ---------------------------------------------------------------------- what differs per kind

    @abstractmethod
    def plan(self, row: sqlite3.Row, member: sqlite3.Row | None) -> P | str:
        """What to send to this member, or the reason (Japanese, for the admin) to skip them."""

    @abstractmethod
    def compose(self, row: sqlite3.Row, member: sqlite3.Row, planned: P) -> OutgoingMail:
        """The mail for this member."""

    # -------------------------------------------------------------------------------- the engine

    async def send_all(self) -> SendReport:
        """Claim, send and record until nothing is due. The mails go out through one bulk sender: each
        written straight to its wire form, over up to TSUDOI_SMTP_CONNECTIONS kept connections."""
        connections = min(self.app.settings.smtp_connections, self.options.concurrency)
        async with self.app.mailer.bulk(connections) as bulk:
            self._bulk = bulk
            try:
                return await self._send_claims()
            finally:
                self._bulk = None

    async def _send_claims(self) -> SendReport:
        db = self.app.db
        while not stopping(self.app):
            claimed = await deliveries.claim(
                db, self.queue, self.batch_id, now=self.app.clock.now(), limit=self.options.claim_size
            )
            if not claimed:
                break
            members = await digests_db.members_for_send(db, [int(row["member_id"]) for row in claimed])
            todo: deque[sqlite3.Row] = deque(claimed)
            skipped: list[tuple[int, str]] = []
            workers = [
                asyncio.create_task(self._worker(todo, members, skipped))
                for _ in range(min(self.options.concurrency, len(todo)))
            ]
            try:
                await asyncio.gather(*workers)
            except asyncio.CancelledError:
                # Cancelled (the app stopping past its grace period): what was claimed but never handed
                # to the server goes back to pending now; a message in flight stays 'sending' and is sent
                # again after CLAIM_LEASE — the documented duplicate window.
                back = [int(row["id"]) for row in todo] + sorted(self._waiting) + [i for i, _ in skipped]
                todo.clear()
                await asyncio.shield(
                    deliveries.release_claims(db, self.queue, back, now=self.app.clock.now())
                )
                raise
            except BaseException:
                # One worker died (a bug, or a simulated crash): the others take nothing new, but finish
                # and record the message they have in flight, so it is not sent twice later.
                todo.clear()
                await asyncio.wait(workers)
                raise
            # A stop requested while sending: the unsent rest of this claim goes back to pending.
            await deliveries.release_claims(
                db, self.queue, [int(row["id"]) for row in todo], now=self.app.clock.now()
            )
            await deliveries.mark_skipped(db, self.queue, skipped, now=self.app.clock.now())
            self.report.skipped += len(skipped)
        return self.report

    async def _worker(
        self, todo: deque[sqlite3.Row], members: dict[int, sqlite3.Row], skipped: list[tuple[int, str]]
    ) -> None:
        while todo and not stopping(self.app):
            row = todo.popleft()
            member = members.get(int(row["member_id"]))
            planned = self.plan(row, member)
            if member is None or isinstance(planned, str):
                skipped.append((int(row["id"]), planned if isinstance(planned, str) else ""))
                continue
            await self._send_one(row, member, planned)

    async def _send_one(self, row: sqlite3.Row, member: sqlite3.Row, planned: P) -> None:
        delivery_id = int(row["id"])
        try:
            mail = self.compose(row, member, planned)
        except Exception:  # a template or data problem must not stop everyone else's mail
            log.exception("%s %s: composing delivery %s failed", self.label, self.batch_id, delivery_id)
            await self._transient(row, "メールの作成に失敗しました（管理者にお問い合わせください）")
            return
        # Until the pacer lets it go, the message is not with the server: a stop may give it back.
        self._waiting.add(delivery_id)
        await self.pacer.wait()
        self._waiting.discard(delivery_id)
        try:
            assert self._bulk is not None  # set by send_all
            message_id = await self._bulk.send(mail, now=self.app.clock.now())
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
            await recorded(
                deliveries.mark_failed(
                    self.app.db,
                    self.queue,
                    int(row["id"]),
                    error=f"{attempts}回試しましたが送れませんでした: {message}",
                    now=now,
                )
            )
            self.report.failed += 1
            return
        delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
        await recorded(
            deliveries.mark_retry(
                self.app.db, self.queue, int(row["id"]), error=message, next_attempt_at=now + delay, now=now
            )
        )
        self.report.retrying += 1

    async def _failed(self, row: sqlite3.Row, member: sqlite3.Row, error: Exception) -> None:
        permanent, message = classify_failure(error)
        log.warning(
            "%s %s: delivery %s failed (%s): %s",
            self.label,
            self.batch_id,
            row["id"],
            "permanent" if permanent else "transient",
            message,
        )
        if not permanent:
            await self._transient(row, message)
            return
        now = self.app.clock.now()
        await recorded(
            deliveries.mark_failed(self.app.db, self.queue, int(row["id"]), error=message, now=now)
        )
        self.report.failed += 1
        flagged = await recorded(
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
                self.audit_event,
                now=now,
                subject_member_id=int(member["id"]),
                detail={"error": message[:200]},
            )
