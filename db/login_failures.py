"""Login failures per normalized login ID: the reservation before a password is checked, and the lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.database import Database
from db.timestamps import from_db, to_db


@dataclass(frozen=True)
class Reservation:
    attempts: int
    locked_until: datetime | None  # set when the ID is locked: no password may be checked
    newly_locked: bool  # this try went over the limit and set the lock


async def reserve(
    db: Database, login_id: str, *, threshold: int, now: datetime, lock_until: datetime
) -> Reservation:
    """Count one try before its password is checked, in one statement. A running lock refuses it without
    counting; a lock that ran out starts a fresh streak; the try after `threshold` ones that have not
    resolved locks the ID (a burst of parallel tries is treated as an attack)."""
    # In an UPSERT's SET every column reference is the row's value before this statement.
    sql = (
        "INSERT INTO login_failures (login_id, attempts, locked_until, updated_at) "
        "VALUES (:id, 1, CASE WHEN 1 > :threshold THEN :lock_until END, :now) "
        "ON CONFLICT (login_id) DO UPDATE SET "
        "attempts = CASE WHEN locked_until > :now THEN attempts "
        "  WHEN locked_until IS NOT NULL THEN 1 ELSE attempts + 1 END, "
        "refused = CASE WHEN locked_until > :now THEN refused + 1 ELSE 0 END, "
        "locked_until = CASE WHEN locked_until > :now THEN locked_until "
        "  WHEN locked_until IS NOT NULL THEN CASE WHEN 1 > :threshold THEN :lock_until END "
        "  WHEN attempts + 1 > :threshold THEN :lock_until END, "
        "updated_at = :now "
        "RETURNING attempts, locked_until, refused"
    )
    params = {"id": login_id, "threshold": threshold, "now": to_db(now), "lock_until": to_db(lock_until)}
    async with db.write() as conn:
        cursor = await conn.execute(sql, params)
        row = await cursor.fetchone()
    assert row is not None
    attempts, locked_until, refused = int(row[0]), from_db(row[1]), int(row[2])
    return Reservation(attempts, locked_until, locked_until is not None and refused == 0)


async def record_wrong_password(
    db: Database, login_id: str, *, threshold: int, now: datetime, lock_until: datetime, member_id: int | None
) -> tuple[datetime | None, bool, int]:
    """After a wrong password: lock once `threshold` tries are counted. Returns (the running lock or None,
    whether this call set it, the tries counted). A known member's row mirrors a new lock for the admin."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE login_failures SET locked_until = :lock_until, updated_at = :now "
            "WHERE login_id = :id AND attempts >= :threshold "
            "AND (locked_until IS NULL OR locked_until <= :now) RETURNING attempts",
            {"id": login_id, "threshold": threshold, "now": to_db(now), "lock_until": to_db(lock_until)},
        )
        newly = await cursor.fetchone() is not None
        cursor = await conn.execute(
            "SELECT attempts, locked_until FROM login_failures WHERE login_id = ?", (login_id,)
        )
        row = await cursor.fetchone()
        attempts = int(row[0]) if row else 0
        locked_until = from_db(row[1]) if row else None
        if locked_until is not None and locked_until <= now:
            locked_until = None
        if newly and member_id is not None:
            await conn.execute(
                "UPDATE members SET failed_logins = ?, locked_until = ? WHERE id = ?",
                (attempts, to_db(lock_until), member_id),
            )
    return locked_until, newly, attempts


async def mirror_lock(db: Database, member_id: int, *, attempts: int, locked_until: datetime) -> None:
    """Show a lock set at reservation time on the member's row (the admin's list and dashboard read it)."""
    await db.execute(
        "UPDATE members SET failed_logins = ?, locked_until = ? WHERE id = ?",
        (attempts, to_db(locked_until), member_id),
    )


async def clear_unless_locked(
    db: Database, login_id: str, *, now: datetime, member_id: int
) -> datetime | None:
    """After a right password: end the streak, unless a lock was set while the password was checked.
    Returns that lock (the login must be refused), or None when the login may go ahead."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "DELETE FROM login_failures WHERE login_id = ? AND (locked_until IS NULL OR locked_until <= ?) "
            "RETURNING attempts",
            (login_id, to_db(now)),
        )
        if await cursor.fetchone() is None:
            cursor = await conn.execute(
                "SELECT locked_until FROM login_failures WHERE login_id = ?", (login_id,)
            )
            row = await cursor.fetchone()
            locked_until = from_db(row[0]) if row else None
            if locked_until is not None and locked_until > now:
                return locked_until
        await conn.execute(
            "UPDATE members SET failed_logins = 0, locked_until = NULL "
            "WHERE id = ? AND (failed_logins != 0 OR locked_until IS NOT NULL)",
            (member_id,),
        )
    return None


async def delete_stale(db: Database, *, before: datetime, now: datetime) -> int:
    """Forget streaks nobody has added to since `before`, keeping running locks."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "DELETE FROM login_failures WHERE updated_at < ? AND (locked_until IS NULL OR locked_until <= ?)",
            (to_db(before), to_db(now)),
        )
        return int(cursor.rowcount)
