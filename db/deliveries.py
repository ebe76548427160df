"""The delivery queue shared by the digest and announcement mails: one row per (batch, member), claimed
with UPDATE … RETURNING so a second sender or a restart never takes the same row.

Both tables have the same columns (id, <batch column>, member_id, status, attempts, last_error, message_id,
next_attempt_at, claimed_at, sent_at, updated_at); `DeliveryTable` names which one a call works on."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.database import Database
from db.timestamps import to_db


@dataclass(frozen=True)
class DeliveryTable:
    table: str  # a constant below, never input
    batch_column: str


DIGEST_DELIVERIES = DeliveryTable("digest_deliveries", "run_id")
ANNOUNCEMENT_DELIVERIES = DeliveryTable("announcement_deliveries", "announcement_id")
_KNOWN = {DIGEST_DELIVERIES, ANNOUNCEMENT_DELIVERIES}


def _checked(queue: DeliveryTable) -> DeliveryTable:
    # Table names cannot be bound as parameters; only the two constants above reach the SQL.
    if queue not in _KNOWN:
        raise ValueError(f"unknown delivery table {queue.table!r}")
    return queue


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" for _ in values)


@dataclass
class DeliveryCounts:
    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def matched(self) -> int:
        """Everyone a mail was or is to be sent to."""
        return self.pending + self.sending + self.sent + self.failed

    @property
    def total(self) -> int:
        return self.matched + self.skipped

    @property
    def open(self) -> int:
        return self.pending + self.sending


async def counts(db: Database, queue: DeliveryTable, batch_ids: Sequence[int]) -> dict[int, DeliveryCounts]:
    """Delivery counts by status for several batches in one query."""
    q = _checked(queue)
    result = {batch_id: DeliveryCounts() for batch_id in batch_ids}
    if not batch_ids:
        return result
    rows = await db.fetchall(
        f"SELECT {q.batch_column} AS batch, status, count(*) AS n FROM {q.table} "  # noqa: S608
        f"WHERE {q.batch_column} IN ({_marks(batch_ids)}) GROUP BY {q.batch_column}, status",
        tuple(batch_ids),
    )
    for row in rows:
        setattr(result[int(row["batch"])], str(row["status"]), int(row["n"]))
    return result


async def release_stale_claims(
    db: Database, queue: DeliveryTable, batch_id: int, *, claimed_before: datetime, now: datetime
) -> int:
    """Deliveries left 'sending' by a sender that died (crash, kill): back to pending."""
    q = _checked(queue)
    async with db.write() as conn:
        cursor = await conn.execute(
            f"UPDATE {q.table} SET status = 'pending', next_attempt_at = NULL, updated_at = ? "  # noqa: S608
            f"WHERE {q.batch_column} = ? AND status = 'sending' AND claimed_at < ?",
            (to_db(now), batch_id, to_db(claimed_before)),
        )
        return int(cursor.rowcount)


async def claim(
    db: Database, queue: DeliveryTable, batch_id: int, *, now: datetime, limit: int
) -> list[sqlite3.Row]:
    """Claim up to `limit` due deliveries: whoever gets a row back is the only one who sends it."""
    q = _checked(queue)
    stamp = to_db(now)
    async with db.write() as conn:
        cursor = await conn.execute(
            f"UPDATE {q.table} SET status = 'sending', attempts = attempts + 1, claimed_at = ?, "  # noqa: S608
            f"updated_at = ? WHERE id IN (SELECT id FROM {q.table} WHERE {q.batch_column} = ? "
            "AND status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?) "
            "RETURNING *",
            (stamp, stamp, batch_id, stamp, limit),
        )
        rows = list(await cursor.fetchall())
    rows.sort(key=lambda row: int(row["id"]))
    return rows


async def release_claims(
    db: Database, queue: DeliveryTable, delivery_ids: Sequence[int], *, now: datetime
) -> None:
    """Give back claimed deliveries that were never attempted (a graceful stop)."""
    q = _checked(queue)
    if not delivery_ids:
        return
    await db.execute(
        f"UPDATE {q.table} SET status = 'pending', attempts = max(attempts - 1, 0), updated_at = ? "  # noqa: S608
        f"WHERE status = 'sending' AND id IN ({_marks(delivery_ids)})",
        (to_db(now), *delivery_ids),
    )


async def has_due_pending(db: Database, queue: DeliveryTable, batch_id: int, *, now: datetime) -> bool:
    q = _checked(queue)
    value = await db.fetchval(
        f"SELECT 1 FROM {q.table} WHERE {q.batch_column} = ? AND status = 'pending' "  # noqa: S608
        "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) LIMIT 1",
        (batch_id, to_db(now)),
    )
    return value is not None


async def has_open(db: Database, queue: DeliveryTable, batch_id: int) -> bool:
    q = _checked(queue)
    value = await db.fetchval(
        f"SELECT 1 FROM {q.table} WHERE {q.batch_column} = ? AND status IN ('pending', 'sending') LIMIT 1",  # noqa: S608
        (batch_id,),
    )
    return value is not None


async def mark_sent(
    db: Database,
    queue: DeliveryTable,
    sent: Sequence[tuple[int, str]],
    *,
    clear_bounces_of: Sequence[int],
    now: datetime,
) -> None:
    """Record deliveries the server accepted, (delivery id, Message-ID) each, in one transaction.
    Written straight after the answer: the gap before this commit is the only duplicate window."""
    q = _checked(queue)
    stamp = to_db(now)
    async with db.write() as conn:
        await conn.executemany(
            f"UPDATE {q.table} SET status = 'sent', message_id = ?, sent_at = ?, last_error = '', "  # noqa: S608
            "next_attempt_at = NULL, updated_at = ? WHERE id = ?",
            [(message_id[:300], stamp, stamp, delivery_id) for delivery_id, message_id in sent],
        )
        if clear_bounces_of:
            # A delivered message ends a streak of bounces: only consecutive ones flag an address.
            await conn.executemany(
                "DELETE FROM member_mail_health WHERE member_id = ? AND flagged_at IS NULL",
                [(member_id,) for member_id in clear_bounces_of],
            )


async def mark_retry(
    db: Database,
    queue: DeliveryTable,
    delivery_id: int,
    *,
    error: str,
    next_attempt_at: datetime,
    now: datetime,
) -> None:
    q = _checked(queue)
    await db.execute(
        f"UPDATE {q.table} SET status = 'pending', last_error = ?, next_attempt_at = ?, updated_at = ? "  # noqa: S608
        "WHERE id = ?",
        (error[:500], to_db(next_attempt_at), to_db(now), delivery_id),
    )


async def mark_failed(
    db: Database, queue: DeliveryTable, delivery_id: int, *, error: str, now: datetime
) -> None:
    q = _checked(queue)
    await db.execute(
        f"UPDATE {q.table} SET status = 'failed', last_error = ?, next_attempt_at = NULL, updated_at = ? "  # noqa: S608
        "WHERE id = ?",
        (error[:500], to_db(now), delivery_id),
    )


async def mark_skipped(
    db: Database, queue: DeliveryTable, skipped: Sequence[tuple[int, str]], *, now: datetime
) -> None:
    q = _checked(queue)
    if not skipped:
        return
    stamp = to_db(now)
    async with db.write() as conn:
        await conn.executemany(
            f"UPDATE {q.table} SET status = 'skipped', last_error = ?, updated_at = ? WHERE id = ?",  # noqa: S608
            [(reason[:500], stamp, delivery_id) for delivery_id, reason in skipped],
        )


async def expire_open(
    db: Database, queue: DeliveryTable, batch_id: int, *, reason: str, now: datetime
) -> int:
    """What was not sent is no longer wanted (a stale digest, a removed announcement)."""
    q = _checked(queue)
    async with db.write() as conn:
        cursor = await conn.execute(
            f"UPDATE {q.table} SET status = 'skipped', last_error = ?, updated_at = ? "  # noqa: S608
            f"WHERE {q.batch_column} = ? AND status IN ('pending', 'sending')",
            (reason, to_db(now), batch_id),
        )
        return int(cursor.rowcount)
