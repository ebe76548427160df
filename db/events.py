"""Queries on event registration: each event's settings, registrations and the waitlist, calendar feeds.

Every rule that limits seats is one SQL statement (the seat count is read inside the statement that
writes), so two members taking the last seat at once cannot both get it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import aiosqlite

from db.database import Database
from db.timestamps import to_db

# The seats taken: registered members whose account is open (a closed account's seat is not counted).
_TAKEN = (
    "(SELECT count(*) FROM event_registrations t JOIN members tm ON tm.id = t.member_id "
    "WHERE t.article_id = :event AND t.status = 'registered' AND tm.status = 'active')"
)

_EVENT_SELECT = (
    "SELECT a.id, a.kind, a.status, a.title, a.summary, a.body_html, a.published_at, a.members_only, "
    "a.event_date, a.event_place, a.application_url, a.external_url, a.updated_at, "
    "s.capacity, s.deadline, s.ends_at, s.fee_amount, s.fee_item_id, s.closed, "
    "s.article_id IS NOT NULL AS takes_registrations, "
    "(SELECT count(*) FROM event_registrations r JOIN members m ON m.id = r.member_id "
    " WHERE r.article_id = a.id AND r.status = 'registered' AND m.status = 'active') AS taken, "
    "(SELECT count(*) FROM event_registrations r JOIN members m ON m.id = r.member_id "
    " WHERE r.article_id = a.id AND r.status = 'waitlisted' AND m.status = 'active') AS waiting "
    "FROM articles a LEFT JOIN event_settings s ON s.article_id = a.id "
)

_REGISTRATION_SELECT = (
    "SELECT r.*, a.title, a.event_date, a.event_place, a.summary, a.updated_at AS event_updated_at, "
    "s.deadline, s.ends_at, s.fee_amount, s.fee_item_id, s.closed, s.capacity, "
    "f.id AS fee_id, f.status AS fee_status, f.amount AS fee_charged "
    "FROM event_registrations r JOIN articles a ON a.id = r.article_id "
    "LEFT JOIN event_settings s ON s.article_id = r.article_id "
    "LEFT JOIN fees f ON f.member_id = r.member_id AND f.fee_item_id = s.fee_item_id "
)


# ---------------------------------------------------------------- events


async def upcoming_events(db: Database, *, now: datetime, viewer: int, limit: int = 100) -> list[sqlite3.Row]:
    """Published events that have not ended, soonest first, with the viewer's registration (if any)."""
    return await db.fetchall(
        "SELECT e.*, r.id AS my_registration_id, r.status AS my_status FROM ("  # noqa: S608  # nosec B608 - constant SQL
        + _EVENT_SELECT
        + "WHERE a.kind = 'event' AND a.status = 'published' AND a.published_at <= :now "
        "AND a.event_date IS NOT NULL AND coalesce(s.ends_at, a.event_date) >= :now) e "
        "LEFT JOIN event_registrations r ON r.article_id = e.id AND r.member_id = :viewer "
        "AND r.status != 'cancelled' ORDER BY e.event_date, e.id LIMIT :limit",
        {"now": to_db(now), "viewer": viewer, "limit": limit},
    )


async def event(db: Database, event_id: int) -> sqlite3.Row | None:
    return await db.fetchone(_EVENT_SELECT + "WHERE a.id = :id AND a.kind = 'event'", {"id": event_id})


@dataclass(frozen=True)
class EventSettings:
    capacity: int
    deadline: datetime
    ends_at: datetime
    fee_amount: int
    closed: bool


async def save_settings(
    db: Database,
    event_id: int,
    values: EventSettings,
    *,
    fee_item: tuple[int, str, date] | None,
    now: datetime,
) -> list[int]:
    """Create or update an event's registration settings; `fee_item` (fiscal year, name, due date) makes or
    updates the fee item members pay through the pay flow. Returns the registrations a larger capacity
    moved up from the waitlist."""
    async with db.write() as conn:
        fee_item_id: int | None = None
        cursor = await conn.execute(
            "SELECT fee_item_id FROM event_settings WHERE article_id = ?", (event_id,)
        )
        existing = await cursor.fetchone()
        if (
            existing is not None
            and existing[0] is not None
            and values.fee_amount > 0
            and fee_item is not None
        ):
            # The event's one fee item: a renamed event keeps it, so fees already issued stay linked.
            fee_item_id = int(existing[0])
            await conn.execute(
                "UPDATE fee_items SET amount = ?, due_on = ?, updated_at = ? WHERE id = ?",
                (values.fee_amount, fee_item[2].isoformat(), to_db(now), fee_item_id),
            )
        elif fee_item is not None and values.fee_amount > 0:
            year, name, due_on = fee_item
            cursor = await conn.execute(
                "INSERT INTO fee_items (fiscal_year, membership_type, name, amount, due_on, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (fiscal_year, membership_type, name) DO UPDATE SET amount = excluded.amount, "
                "due_on = excluded.due_on, updated_at = excluded.updated_at RETURNING id",
                (year, EVENT_FEE_TYPE, name, values.fee_amount, due_on.isoformat(), to_db(now), to_db(now)),
            )
            row = await cursor.fetchone()
            fee_item_id = int(row[0]) if row else None
        await conn.execute(
            "INSERT INTO event_settings (article_id, capacity, deadline, ends_at, fee_amount, fee_item_id, "
            "closed, created_at, updated_at) VALUES (:event, :capacity, :deadline, :ends_at, :fee, :item, "
            ":closed, :now, :now) ON CONFLICT (article_id) DO UPDATE SET capacity = excluded.capacity, "
            "deadline = excluded.deadline, ends_at = excluded.ends_at, fee_amount = excluded.fee_amount, "
            "fee_item_id = coalesce(excluded.fee_item_id, event_settings.fee_item_id), "
            "closed = excluded.closed, updated_at = excluded.updated_at",
            {
                "event": event_id,
                "capacity": values.capacity,
                "deadline": to_db(values.deadline),
                "ends_at": to_db(values.ends_at),
                "fee": values.fee_amount,
                "item": fee_item_id,
                "closed": 1 if values.closed else 0,
                "now": to_db(now),
            },
        )
        # A larger capacity gives seats to the waitlist at once.
        promoted = await _promote(conn, event_id, now=now)
    db.query_count += 2 + len(promoted)
    return promoted


async def set_closed(db: Database, event_id: int, closed: bool, *, now: datetime) -> bool:
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE event_settings SET closed = ?, updated_at = ? WHERE article_id = ?",
            (1 if closed else 0, to_db(now), event_id),
        )
        changed = cursor.rowcount > 0
    db.query_count += 1
    return changed


# The membership type written on event fee items: no member has it, so "issue to everyone" reaches nobody.
EVENT_FEE_TYPE = "イベント参加費"


# ---------------------------------------------------------------- registering


@dataclass(frozen=True)
class Registered:
    registration_id: int
    status: str  # 'registered' or 'waitlisted'
    created: bool  # False: the member was already signed up (a double click) and nothing changed


# TAKEN_SEATS stands for the constant _TAKEN subquery.
_REGISTER = """
INSERT INTO event_registrations (article_id, member_id, status, checkin_code, queued_at, created_at, updated_at)
SELECT :event, :member,
  CASE WHEN TAKEN_SEATS < s.capacity THEN 'registered' ELSE 'waitlisted' END, :code, :now, :now, :now
FROM event_settings s JOIN members m ON m.id = :member AND m.status = 'active'
WHERE s.article_id = :event AND s.closed = 0 AND s.deadline > :now
ON CONFLICT (article_id, member_id) DO UPDATE SET
  status = CASE WHEN TAKEN_SEATS < (SELECT capacity FROM event_settings WHERE article_id = :event)
    THEN 'registered' ELSE 'waitlisted' END,
  queued_at = :now, updated_at = :now, cancelled_at = NULL, promoted_at = NULL, attended_at = NULL,
  reminder_sent_at = NULL
WHERE event_registrations.status = 'cancelled'
RETURNING id, status
""".replace("TAKEN_SEATS", _TAKEN)

# The fee of a seat: issued with the seat, or brought back when the member signs up again after cancelling.
_ISSUE_FEE = """
INSERT INTO fees (fee_item_id, member_id, member_number, amount, status, issued_at, updated_at)
SELECT i.id, m.id, m.member_number, i.amount, 'unpaid', :now, :now
FROM event_settings s JOIN fee_items i ON i.id = s.fee_item_id JOIN members m ON m.id = :member
WHERE s.article_id = :event AND s.fee_amount > 0
ON CONFLICT (member_id, fee_item_id) DO UPDATE SET status = 'unpaid', amount = excluded.amount,
  issued_at = excluded.issued_at, updated_at = excluded.updated_at
WHERE fees.status IN ('cancelled', 'expired')
"""


async def register(
    db: Database, event_id: int, member_id: int, *, code: str, now: datetime
) -> Registered | None:
    """Take a seat, or a place on the waitlist when the seats are gone, in one statement. None when the
    event takes no registrations now (closed, past its deadline, no settings) or the account is closed.
    A member already signed up gets their registration back with created=False."""
    params = {"event": event_id, "member": member_id, "code": code, "now": to_db(now)}
    async with db.write() as conn:
        cursor = await conn.execute(_REGISTER, params)
        row = await cursor.fetchone()
        if row is not None and row["status"] == "registered":
            await conn.execute(_ISSUE_FEE, params)
        if row is None:
            cursor = await conn.execute(
                "SELECT id, status FROM event_registrations WHERE article_id = ? AND member_id = ? "
                "AND status != 'cancelled'",
                (event_id, member_id),
            )
            existing = await cursor.fetchone()
    db.query_count += 2
    if row is not None:
        return Registered(int(row["id"]), str(row["status"]), True)
    if existing is not None:
        return Registered(int(existing["id"]), str(existing["status"]), False)
    return None


@dataclass(frozen=True)
class Cancelled:
    previous: str
    promoted: list[int]  # registration ids moved up from the waitlist


async def _promote(conn: aiosqlite.Connection, event_id: int, *, now: datetime) -> list[int]:
    """Move the first on the waitlist up while seats are free, one statement per seat."""
    promoted: list[int] = []
    while True:
        cursor = await conn.execute(
            "UPDATE event_registrations SET status = 'registered', promoted_at = :now, updated_at = :now "  # noqa: S608  # nosec B608
            "WHERE id = (SELECT r.id FROM event_registrations r JOIN members m ON m.id = r.member_id "
            "  WHERE r.article_id = :event AND r.status = 'waitlisted' AND m.status = 'active' "
            "  ORDER BY r.queued_at, r.id LIMIT 1) "
            f"AND {_TAKEN} < (SELECT capacity FROM event_settings WHERE article_id = :event) "
            "RETURNING id, member_id",
            {"event": event_id, "now": to_db(now)},
        )
        row = await cursor.fetchone()
        if row is None:
            return promoted
        await conn.execute(
            _ISSUE_FEE, {"event": event_id, "member": int(row["member_id"]), "now": to_db(now)}
        )
        promoted.append(int(row["id"]))


async def cancel(db: Database, registration_id: int, member_id: int, *, now: datetime) -> Cancelled | None:
    """The member cancels before the deadline; a freed seat goes to the first on the waitlist in the same
    transaction. None when it is not theirs, already cancelled, or the deadline has passed."""
    async with db.write() as conn:
        # Read and written inside one write transaction (BEGIN IMMEDIATE): nothing can change in between.
        cursor = await conn.execute("SELECT status FROM event_registrations WHERE id = ?", (registration_id,))
        before = await cursor.fetchone()
        cursor = await conn.execute(
            "UPDATE event_registrations SET status = 'cancelled', cancelled_at = :now, updated_at = :now "
            "WHERE id = :id AND member_id = :member AND status IN ('registered', 'waitlisted') "
            "AND EXISTS (SELECT 1 FROM event_settings s WHERE s.article_id = event_registrations.article_id "
            "  AND s.deadline > :now) "
            "RETURNING article_id",
            {"id": registration_id, "member": member_id, "now": to_db(now)},
        )
        row = await cursor.fetchone()
        if row is None:
            return None
        event_id = int(row["article_id"])
        # An unpaid seat fee goes with the seat. A fee with a payment attempt stays (it belongs to the
        # accounting records); the admin's list shows it beside the cancelled registration.
        await conn.execute(
            "DELETE FROM fees WHERE member_id = :member AND status != 'paid' "
            "AND fee_item_id = (SELECT fee_item_id FROM event_settings WHERE article_id = :event) "
            "AND NOT EXISTS (SELECT 1 FROM payment_attempts p WHERE p.fee_id = fees.id)",
            {"member": member_id, "event": event_id},
        )
        promoted = await _promote(conn, event_id, now=now)
    db.query_count += 2 + len(promoted)
    return Cancelled(str(before["status"]) if before else "", promoted)


# ---------------------------------------------------------------- reading registrations


async def registration(db: Database, registration_id: int) -> sqlite3.Row | None:
    return await db.fetchone(_REGISTRATION_SELECT + "WHERE r.id = ?", (registration_id,))


async def member_registration(db: Database, registration_id: int, member_id: int) -> sqlite3.Row | None:
    """One registration of this member (None for another member's, so the route answers 404)."""
    return await db.fetchone(
        _REGISTRATION_SELECT + "WHERE r.id = ? AND r.member_id = ?", (registration_id, member_id)
    )


async def registration_for(db: Database, event_id: int, member_id: int) -> sqlite3.Row | None:
    return await db.fetchone(
        _REGISTRATION_SELECT + "WHERE r.article_id = ? AND r.member_id = ? AND r.status != 'cancelled'",
        (event_id, member_id),
    )


async def member_registrations(db: Database, member_id: int) -> list[sqlite3.Row]:
    """The member's live registrations (for the calendar feed), soonest first."""
    return await db.fetchall(
        _REGISTRATION_SELECT + "WHERE r.member_id = ? AND r.status IN ('registered', 'waitlisted') "
        "AND a.status = 'published' ORDER BY a.event_date, r.id",
        (member_id,),
    )


async def event_registrations(db: Database, event_id: int) -> list[sqlite3.Row]:
    """Everyone signed up for an event: seats first, then the waitlist in order, then cancellations."""
    return await db.fetchall(
        "SELECT r.*, m.member_number, m.family_name, m.given_name, m.family_kana, m.given_kana, m.email, "
        "m.status AS member_status, f.status AS fee_status "
        "FROM event_registrations r JOIN members m ON m.id = r.member_id "
        "LEFT JOIN event_settings s ON s.article_id = r.article_id "
        "LEFT JOIN fees f ON f.member_id = r.member_id AND f.fee_item_id = s.fee_item_id "
        "WHERE r.article_id = ? ORDER BY CASE r.status WHEN 'registered' THEN 0 WHEN 'waitlisted' THEN 1 "
        "ELSE 2 END, r.queued_at, r.id",
        (event_id,),
    )


async def by_checkin_code(db: Database, code: str) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT r.*, a.title, a.event_date, m.member_number, m.family_name, m.given_name "
        "FROM event_registrations r JOIN articles a ON a.id = r.article_id JOIN members m ON m.id = r.member_id "
        "WHERE r.checkin_code = ?",
        (code,),
    )


async def set_attended(
    db: Database, registration_id: int, attended: bool, *, now: datetime
) -> sqlite3.Row | None:
    """Mark (or unmark) attendance of a seat; the first check-in's time is kept when scanned twice."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE event_registrations SET attended_at = CASE WHEN :on THEN coalesce(attended_at, :now) "
            "ELSE NULL END, updated_at = :now WHERE id = :id AND status = 'registered' RETURNING id, attended_at",
            {"on": 1 if attended else 0, "now": to_db(now), "id": registration_id},
        )
        row = await cursor.fetchone()
    db.query_count += 1
    return row


# ---------------------------------------------------------------- reminders


async def claim_reminders(
    db: Database, *, start: datetime, end: datetime, now: datetime
) -> list[sqlite3.Row]:
    """Registrations for events starting in [start, end) not reminded yet, marked reminded in the same
    statement: each is returned once, however often or in how many processes the job runs."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE event_registrations SET reminder_sent_at = :now WHERE reminder_sent_at IS NULL "
            "AND status = 'registered' AND article_id IN (SELECT a.id FROM articles a "
            "  WHERE a.kind = 'event' AND a.status = 'published' AND a.event_date >= :start AND a.event_date < :end) "
            "AND member_id IN (SELECT id FROM members WHERE status = 'active') RETURNING id",
            {"now": to_db(now), "start": to_db(start), "end": to_db(end)},
        )
        ids = [int(row[0]) for row in await cursor.fetchall()]
    db.query_count += 1
    return await registrations_by_ids(db, ids)


async def registrations_by_ids(db: Database, ids: Sequence[int]) -> list[sqlite3.Row]:
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return await db.fetchall(_REGISTRATION_SELECT + f"WHERE r.id IN ({marks}) ORDER BY r.id", list(ids))  # nosec B608 - only ? marks are formatted in


# ---------------------------------------------------------------- calendar feeds


async def feed_id_of(db: Database, member_id: int) -> str | None:
    value = await db.fetchval("SELECT feed_id FROM calendar_feeds WHERE member_id = ?", (member_id,))
    return None if value is None else str(value)


async def set_feed_id(db: Database, member_id: int, feed_id: str, *, now: datetime, replace: bool) -> str:
    """The member's feed id: a new one is stored when there is none (or `replace`); returns the one in use."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO calendar_feeds (member_id, feed_id, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (member_id) DO UPDATE SET feed_id = excluded.feed_id, created_at = excluded.created_at "
            "WHERE ? RETURNING feed_id",
            (member_id, feed_id, to_db(now), 1 if replace else 0),
        )
        row = await cursor.fetchone()
        if row is None:
            cursor = await conn.execute(
                "SELECT feed_id FROM calendar_feeds WHERE member_id = ?", (member_id,)
            )
            row = await cursor.fetchone()
    db.query_count += 1
    assert row is not None
    return str(row[0])


async def member_by_feed_id(db: Database, feed_id: str) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT m.* FROM calendar_feeds c JOIN members m ON m.id = c.member_id "
        "WHERE c.feed_id = ? AND m.status = 'active'",
        (feed_id,),
    )


def row_dict(row: sqlite3.Row | None) -> dict[str, Any]:
    return {} if row is None else {key: row[key] for key in row.keys()}


async def member_registration_between(
    db: Database, member_id: int, start: datetime, end: datetime
) -> sqlite3.Row | None:
    """The member's registration for an event starting in [start, end) (a membership card at the door)."""
    return await db.fetchone(
        "SELECT r.*, a.title, a.event_date, m.member_number, m.family_name, m.given_name "
        "FROM event_registrations r JOIN articles a ON a.id = r.article_id JOIN members m ON m.id = r.member_id "
        "WHERE r.member_id = ? AND a.event_date >= ? AND a.event_date < ? AND r.status != 'cancelled' "
        "ORDER BY r.status = 'registered' DESC, a.event_date LIMIT 1",
        (member_id, to_db(start), to_db(end)),
    )
