"""Queries on membership: tiers as the admin edits them, codes, sign-ups, member numbers, closures."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import aiosqlite

from db.database import Database
from db.members import PROFILE_COLUMNS
from db.timestamps import to_db

# --- tiers -------------------------------------------------------------------------------------

PERK_COLUMNS = ("perk_daily_digest", "perk_events", "perk_members_only")


async def get_tier(db: Database, tier_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM tiers WHERE id = ?", (tier_id,))


async def get_tier_by_code(db: Database, code: str) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM tiers WHERE code = ?", (code,))


async def update_tier(
    db: Database, tier_id: int, *, name: str, perks: dict[str, bool], annual_fee: int = 0
) -> None:
    """Name and perks; the price per year only for a paid tier (the free plan stays free)."""
    await db.execute(
        "UPDATE tiers SET name = ?, perk_daily_digest = ?, perk_events = ?, perk_members_only = ?, "
        "annual_fee = CASE WHEN is_paid = 1 THEN ? ELSE 0 END WHERE id = ?",
        (name, *(1 if perks.get(column) else 0 for column in PERK_COLUMNS), annual_fee, tier_id),
    )


async def member_counts_by_tier(db: Database, today: date) -> dict[int, int]:
    """How many active members are in each paid tier today (the rest are on the free plan)."""
    rows = await db.fetchall(
        "SELECT mt.tier_id, count(DISTINCT mt.member_id) AS n FROM member_tiers mt "
        "JOIN members m ON m.id = mt.member_id AND m.status = 'active' "
        "WHERE mt.starts_on <= ? AND (mt.ends_on IS NULL OR mt.ends_on >= ?) GROUP BY mt.tier_id",
        (today.isoformat(), today.isoformat()),
    )
    return {int(row["tier_id"]): int(row["n"]) for row in rows}


async def tier_history(db: Database, member_id: int, limit: int = 10) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT mt.*, t.name AS tier_name, t.code AS tier_code FROM member_tiers mt "
        "JOIN tiers t ON t.id = mt.tier_id WHERE mt.member_id = ? ORDER BY mt.starts_on DESC, mt.id DESC LIMIT ?",
        (member_id, limit),
    )


async def _replace_current_tier(
    conn: aiosqlite.Connection,
    *,
    member_id: int,
    tier_id: int,
    today: date,
    ends_on: date | None,
    source: str,
    now: datetime,
) -> int:
    """Join a tier from today on, in place: whatever tier covers today ends yesterday (or is
    dropped when it began today), so the member never has to cancel and re-apply."""
    yesterday = (today - timedelta(days=1)).isoformat()
    await conn.execute(
        "DELETE FROM member_tiers WHERE member_id = ? AND starts_on >= ? AND (ends_on IS NULL OR ends_on >= ?)",
        (member_id, today.isoformat(), today.isoformat()),
    )
    await conn.execute(
        "UPDATE member_tiers SET ends_on = ?, end_processed_at = ? WHERE member_id = ? AND starts_on < ? "
        "AND (ends_on IS NULL OR ends_on >= ?)",
        (yesterday, to_db(now), member_id, today.isoformat(), today.isoformat()),
    )
    cursor = await conn.execute(
        "INSERT INTO member_tiers (member_id, tier_id, starts_on, ends_on, source, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (member_id, tier_id, today.isoformat(), ends_on.isoformat() if ends_on else None, source, to_db(now)),
    )
    return cursor.lastrowid or 0


async def grant_tier(
    db: Database,
    *,
    member_id: int,
    tier_id: int,
    today: date,
    ends_on: date | None,
    source: str,
    now: datetime,
) -> int:
    async with db.write() as conn:
        return await _replace_current_tier(
            conn, member_id=member_id, tier_id=tier_id, today=today, ends_on=ends_on, source=source, now=now
        )


async def add_tier_period(
    db: Database,
    *,
    member_id: int,
    tier_id: int,
    starts_on: date,
    ends_on: date | None,
    source: str,
    now: datetime,
) -> int:
    """A period with its own start (the demo's fiscal year); overlapping periods are left as they are."""
    return await db.execute(
        "INSERT INTO member_tiers (member_id, tier_id, starts_on, ends_on, source, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            member_id,
            tier_id,
            starts_on.isoformat(),
            ends_on.isoformat() if ends_on else None,
            source,
            to_db(now),
        ),
    )


async def has_tier_source(db: Database, member_id: int, source: str) -> bool:
    return (
        await db.fetchval(
            "SELECT 1 FROM member_tiers WHERE member_id = ? AND source = ?", (member_id, source)
        )
        is not None
    )


# --- codes -------------------------------------------------------------------------------------


async def create_code(
    db: Database,
    *,
    code: str,
    tier_id: int,
    use_limit: int | None,
    expires_on: date | None,
    tier_ends_on: date | None,
    note: str,
    now: datetime,
) -> int | None:
    """The new code's id, or None when the code already exists."""
    try:
        return await db.execute(
            "INSERT INTO tier_codes (code, tier_id, use_limit, expires_on, tier_ends_on, note, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                code,
                tier_id,
                use_limit,
                expires_on.isoformat() if expires_on else None,
                tier_ends_on.isoformat() if tier_ends_on else None,
                note,
                to_db(now),
            ),
        )
    except sqlite3.IntegrityError:
        return None


async def list_codes(db: Database) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT c.*, t.name AS tier_name FROM tier_codes c JOIN tiers t ON t.id = c.tier_id "
        "ORDER BY c.active DESC, c.created_at DESC, c.id DESC"
    )


async def get_code(db: Database, code_id: int) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT c.*, t.name AS tier_name FROM tier_codes c JOIN tiers t ON t.id = c.tier_id WHERE c.id = ?",
        (code_id,),
    )


async def get_code_by_text(db: Database, code: str) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT c.*, t.name AS tier_name FROM tier_codes c JOIN tiers t ON t.id = c.tier_id WHERE c.code = ?",
        (code,),
    )


async def set_code_active(db: Database, code_id: int, active: bool) -> None:
    await db.execute("UPDATE tier_codes SET active = ? WHERE id = ?", (1 if active else 0, code_id))


RedeemStatus = Literal[
    "ok", "unknown", "inactive", "expired", "used_up", "already_redeemed", "already_in_tier"
]


@dataclass(frozen=True)
class Redemption:
    status: RedeemStatus
    code: sqlite3.Row | None = None
    current_ends_on: str | None = None


async def _code_problem(
    conn: aiosqlite.Connection, code: sqlite3.Row | None, member_id: int | None, today: date
) -> Redemption | None:
    if code is None:
        return Redemption("unknown")
    if not code["active"]:
        return Redemption("inactive", code)
    if code["expires_on"] and code["expires_on"] < today.isoformat():
        return Redemption("expired", code)
    if code["use_limit"] is not None and code["uses"] >= code["use_limit"]:
        return Redemption("used_up", code)
    if member_id is None:
        return None
    cursor = await conn.execute(
        "SELECT 1 FROM code_redemptions WHERE code_id = ? AND member_id = ?", (code["id"], member_id)
    )
    if await cursor.fetchone() is not None:
        return Redemption("already_redeemed", code)
    # Already in this tier for at least as long: entering the code would shorten or waste it.
    cursor = await conn.execute(
        "SELECT ends_on FROM member_tiers WHERE member_id = ? AND tier_id = ? AND starts_on <= ? "
        "AND (ends_on IS NULL OR ends_on >= ?) ORDER BY ends_on IS NULL DESC, ends_on DESC LIMIT 1",
        (member_id, code["tier_id"], today.isoformat(), today.isoformat()),
    )
    current = await cursor.fetchone()
    if current is not None and (
        current["ends_on"] is None
        or (code["tier_ends_on"] is not None and current["ends_on"] >= code["tier_ends_on"])
    ):
        return Redemption("already_in_tier", code, current["ends_on"])
    return None


_CODE_SELECT = (
    "SELECT c.*, t.name AS tier_name FROM tier_codes c JOIN tiers t ON t.id = c.tier_id WHERE c.code = ?"
)


async def check_code(db: Database, code: str, today: date) -> Redemption:
    """Whether a code could be used today (the sign-up form's early answer); nothing is written."""
    async with db.read() as conn:
        cursor = await conn.execute(_CODE_SELECT, (code,))
        row = await cursor.fetchone()
        return await _code_problem(conn, row, None, today) or Redemption("ok", row)


async def redeem_code(db: Database, *, code: str, member_id: int, today: date, now: datetime) -> Redemption:
    """Check and use a code in one write transaction, so concurrent members can never pass its limit."""
    async with db.write() as conn:
        return await redeem_code_in(conn, code=code, member_id=member_id, today=today, now=now)


async def redeem_code_in(
    conn: aiosqlite.Connection, *, code: str, member_id: int, today: date, now: datetime
) -> Redemption:
    cursor = await conn.execute(_CODE_SELECT, (code,))
    row = await cursor.fetchone()
    problem = await _code_problem(conn, row, member_id, today)
    if problem is not None:
        return problem
    assert row is not None
    cursor = await conn.execute(
        "UPDATE tier_codes SET uses = uses + 1 WHERE id = ? AND (use_limit IS NULL OR uses < use_limit)",
        (row["id"],),
    )
    if cursor.rowcount != 1:
        return Redemption("used_up", row)
    ends_on = date.fromisoformat(row["tier_ends_on"]) if row["tier_ends_on"] else None
    member_tier_id = await _replace_current_tier(
        conn,
        member_id=member_id,
        tier_id=int(row["tier_id"]),
        today=today,
        ends_on=ends_on,
        source=f"code:{row['code']}",
        now=now,
    )
    await conn.execute(
        "INSERT INTO code_redemptions (code_id, member_id, member_tier_id, redeemed_at) VALUES (?, ?, ?, ?)",
        (row["id"], member_id, member_tier_id, to_db(now)),
    )
    return Redemption("ok", row)


# --- sign-up -----------------------------------------------------------------------------------


async def create_signup_request(
    db: Database,
    *,
    email: str,
    profile: dict[str, str],
    interests: Sequence[int],
    code: str,
    ip: str,
    now: datetime,
) -> int:
    return await db.execute(
        "INSERT INTO signup_requests (email, profile, interests, code, ip, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (email, json.dumps(profile, ensure_ascii=False), json.dumps(list(interests)), code, ip, to_db(now)),
    )


async def get_signup_request(db: Database, request_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM signup_requests WHERE id = ?", (request_id,))


def _format_number(value: int, width: int) -> str:
    return str(value).zfill(width)


async def allocate_member_number(conn: aiosqlite.Connection, width: int) -> str:
    """The next member number, inside the caller's write transaction: the counter only grows, and a
    number an admin or an import already used is skipped, so no number is ever handed out twice."""
    cursor = await conn.execute("SELECT last_value FROM member_number_sequence WHERE id = 1")
    row = await cursor.fetchone()
    last = int(row[0]) if row else 0
    cursor = await conn.execute(
        "SELECT member_number FROM members WHERE length(member_number) >= ? AND member_number > ?",
        (width, _format_number(last, width)),
    )
    taken = {str(r[0]) for r in await cursor.fetchall()}
    value = last + 1
    while _format_number(value, width) in taken:
        value += 1
    await conn.execute(
        "INSERT INTO member_number_sequence (id, last_value) VALUES (1, ?) "
        "ON CONFLICT (id) DO UPDATE SET last_value = excluded.last_value",
        (value,),
    )
    return _format_number(value, width)


@dataclass(frozen=True)
class NewMember:
    member_id: int
    member_number: str


SignupRefusal = Literal["not_pending", "email_taken"]


async def complete_signup(
    db: Database,
    *,
    request_id: int,
    width: int,
    password_hash: str,
    now: datetime,
    after_create: Callable[[aiosqlite.Connection, int], Awaitable[None]] | None = None,
) -> NewMember | SignupRefusal:
    """Create the member of a pending sign-up with the next member number, all in one transaction.
    Refused when the request is no longer pending (a second click on the link) or when another
    sign-up with the same e-mail address finished first."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "SELECT * FROM signup_requests WHERE id = ? AND status = 'pending'", (request_id,)
        )
        request = await cursor.fetchone()
        if request is None:
            return "not_pending"
        cursor = await conn.execute(
            "SELECT 1 FROM members WHERE email = ? COLLATE NOCASE AND status = 'active' LIMIT 1",
            (request["email"],),
        )
        if await cursor.fetchone() is not None:
            return "email_taken"
        profile: dict[str, Any] = json.loads(request["profile"] or "{}")
        values = [str(profile.get(column, "") or "") for column in PROFILE_COLUMNS]
        number = await allocate_member_number(conn, width)
        columns = ", ".join(PROFILE_COLUMNS)
        marks = ", ".join("?" for _ in PROFILE_COLUMNS)
        cursor = await conn.execute(
            f"INSERT INTO members (member_number, role, password_hash, password_changed_at, "  # noqa: S608
            f"must_change_password, profile_checked_at, created_at, updated_at, {columns}) "
            f"VALUES (?, 'member', ?, ?, 0, ?, ?, ?, {marks})",
            (number, password_hash, to_db(now), to_db(now), to_db(now), to_db(now), *values),
        )
        member_id = cursor.lastrowid or 0
        await conn.execute(
            "INSERT INTO password_history (member_id, password_hash, created_at) VALUES (?, ?, ?)",
            (member_id, password_hash, to_db(now)),
        )
        # The profile now lives in members; the request keeps no copy of it.
        await conn.execute(
            "UPDATE signup_requests SET status = 'completed', completed_at = ?, member_id = ?, profile = '{}', "
            "ip = '' WHERE id = ?",
            (to_db(now), member_id, request_id),
        )
        if after_create is not None:
            await after_create(conn, member_id)
    return NewMember(member_id, number)


async def expire_signup_requests(db: Database, *, created_before: datetime) -> int:
    """Unconfirmed sign-ups past their link's life lose the personal data they held."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE signup_requests SET status = 'expired', profile = '{}', interests = '[]', email = '', ip = '' "
            "WHERE status = 'pending' AND created_at < ?",
            (to_db(created_before),),
        )
        return cursor.rowcount


async def interest_terms(db: Database) -> list[sqlite3.Row]:
    """The top-level regions and topics a new member can pick as interests."""
    return await db.fetchall(
        "SELECT id, taxonomy, name FROM terms WHERE parent_id IS NULL ORDER BY taxonomy DESC, sort_order, id"
    )


async def add_interest_condition(
    conn: aiosqlite.Connection, member_id: int, name: str, term_ids: Sequence[int], now: datetime
) -> None:
    """The interests chosen at sign-up become the member's first saved condition."""
    if not term_ids:
        return
    cursor = await conn.execute(
        "INSERT INTO conditions (member_id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
        (member_id, name, to_db(now), to_db(now)),
    )
    condition_id = cursor.lastrowid
    marks = ",".join("?" for _ in term_ids)
    await conn.execute(
        f"INSERT OR IGNORE INTO condition_terms (condition_id, term_id) SELECT ?, id FROM terms WHERE id IN ({marks})",  # noqa: S608
        (condition_id, *term_ids),
    )


# --- tier endings ------------------------------------------------------------------------------


async def claim_ended_tiers(
    db: Database, *, today: date, now: datetime, member_id: int | None = None
) -> list[sqlite3.Row]:
    """Tier periods whose last day has passed and that nobody handled yet, claimed so a second
    worker or a lazy check cannot handle them (and mail about them) again."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE member_tiers SET end_processed_at = ? WHERE end_processed_at IS NULL "
            "AND ends_on IS NOT NULL AND ends_on < ? AND (? IS NULL OR member_id = ?) "
            "RETURNING id, member_id, tier_id, ends_on",
            (to_db(now), today.isoformat(), member_id, member_id),
        )
        rows = list(await cursor.fetchall())
    return rows


async def has_unprocessed_ending(db: Database, member_id: int, today: date) -> bool:
    """A cheap read before the claiming write, so a page view only writes when there is work."""
    return (
        await db.fetchval(
            "SELECT 1 FROM member_tiers WHERE member_id = ? AND end_processed_at IS NULL "
            "AND ends_on IS NOT NULL AND ends_on < ? LIMIT 1",
            (member_id, today.isoformat()),
        )
        is not None
    )


async def daily_digest_member_ids(db: Database, member_id: int | None = None) -> list[int]:
    rows = await db.fetchall(
        "SELECT id FROM members WHERE digest_frequency = 'daily' AND status = 'active' AND (? IS NULL OR id = ?)",
        (member_id, member_id),
    )
    return [int(row["id"]) for row in rows]


async def members_by_ids(db: Database, member_ids: Sequence[int]) -> dict[int, sqlite3.Row]:
    if not member_ids:
        return {}
    marks = ",".join("?" for _ in member_ids)
    rows = await db.fetchall(f"SELECT * FROM members WHERE id IN ({marks})", tuple(member_ids))  # noqa: S608
    return {int(row["id"]): row for row in rows}


async def tiers_by_ids(db: Database) -> dict[int, sqlite3.Row]:
    return {int(row["id"]): row for row in await db.fetchall("SELECT * FROM tiers")}


async def fall_back_to_weekly(db: Database, member_id: int, *, now: datetime) -> bool:
    """Daily → weekly; False when the member had already changed it (nothing to tell them)."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE members SET digest_frequency = 'weekly', updated_at = ? "
            "WHERE id = ? AND digest_frequency = 'daily'",
            (to_db(now), member_id),
        )
        return cursor.rowcount == 1


# --- closures ----------------------------------------------------------------------------------


async def pending_closure(db: Database, member_id: int) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT * FROM closure_requests WHERE member_id = ? AND status = 'pending'", (member_id,)
    )


async def create_closure_request(
    db: Database, *, member_id: int, reason: str, source: str, now: datetime
) -> int | None:
    """The new request's id; None when one is already pending."""
    try:
        return await db.execute(
            "INSERT INTO closure_requests (member_id, source, reason, requested_at) VALUES (?, ?, ?, ?)",
            (member_id, source, reason, to_db(now)),
        )
    except sqlite3.IntegrityError:
        return None


async def withdraw_closure_request(db: Database, member_id: int, *, now: datetime) -> bool:
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE closure_requests SET status = 'withdrawn', decided_at = ? "
            "WHERE member_id = ? AND status = 'pending'",
            (to_db(now), member_id),
        )
        return cursor.rowcount == 1


_CLOSURE_SELECT = (
    "SELECT r.*, m.member_number, m.family_name, m.given_name, m.email, m.status AS member_status, "
    "a.member_number AS decided_by_number FROM closure_requests r JOIN members m ON m.id = r.member_id "
    "LEFT JOIN members a ON a.id = r.decided_by "
)


async def list_closures(db: Database, status: str, limit: int = 100) -> list[sqlite3.Row]:
    order = "r.requested_at" if status == "pending" else "r.decided_at DESC"
    return await db.fetchall(
        _CLOSURE_SELECT + f"WHERE r.status = ? ORDER BY {order} LIMIT ?",  # noqa: S608
        (status, limit),
    )


async def get_closure(db: Database, request_id: int) -> sqlite3.Row | None:
    return await db.fetchone(_CLOSURE_SELECT + "WHERE r.id = ?", (request_id,))  # noqa: S608


PERSONAL_COLUMNS = tuple(column for column in PROFILE_COLUMNS if column != "membership_type")


async def close_account(
    db: Database,
    *,
    member_id: int,
    closed_by: int | None,
    now: datetime,
    today: date,
    extra_steps: Sequence[Callable[[aiosqlite.Connection, int], Awaitable[None]]] = (),
) -> str | None:
    """Remove a member's personal data in one transaction and return the e-mail it had (for the
    last mail), or None when the account was already closed. The members row stays, blanked, so
    records that the law keeps (payments) still point at the member number, and the number is
    never given to anyone else. Only tables this code knows are touched; other features add
    their own steps."""
    async with db.write() as conn:
        cursor = await conn.execute("SELECT email, status FROM members WHERE id = ?", (member_id,))
        row = await cursor.fetchone()
        if row is None or row["status"] == "closed":
            return None
        email = str(row["email"])
        blanks = ", ".join(f"{column} = ''" for column in PERSONAL_COLUMNS)
        await conn.execute(
            f"UPDATE members SET {blanks}, status = 'closed', digest_frequency = 'none', "  # noqa: S608
            "password_hash = '', must_change_password = 0, failed_logins = 0, locked_until = NULL, "
            "profile_checked_at = NULL, updated_at = ? WHERE id = ?",
            (to_db(now), member_id),
        )
        for statement in (
            "DELETE FROM sessions WHERE member_id = ?",
            "DELETE FROM password_history WHERE member_id = ?",
            "DELETE FROM conditions WHERE member_id = ?",
            "DELETE FROM bookmarks WHERE member_id = ?",
            "DELETE FROM view_history WHERE member_id = ?",
            "DELETE FROM signup_requests WHERE member_id = ?",
        ):
            await conn.execute(statement, (member_id,))
        if email:
            await conn.execute(
                "UPDATE mail_log SET recipient = '' WHERE recipient = ? COLLATE NOCASE", (email,)
            )
            await conn.execute(
                "UPDATE signup_requests SET email = '', profile = '{}' WHERE email = ? COLLATE NOCASE",
                (email,),
            )
        # Perks end with the account: any open tier period ends yesterday (or goes, if it began today).
        yesterday = (today - timedelta(days=1)).isoformat()
        await conn.execute(
            "DELETE FROM member_tiers WHERE member_id = ? AND starts_on >= ?", (member_id, today.isoformat())
        )
        await conn.execute(
            "UPDATE member_tiers SET ends_on = ?, end_processed_at = ? WHERE member_id = ? "
            "AND (ends_on IS NULL OR ends_on >= ?)",
            (yesterday, to_db(now), member_id, today.isoformat()),
        )
        await conn.execute(
            "UPDATE closure_requests SET status = 'closed', reason = '', decided_at = ?, decided_by = ? "
            "WHERE member_id = ? AND status = 'pending'",
            (to_db(now), closed_by, member_id),
        )
        if closed_by is not None:
            cursor = await conn.execute(
                "SELECT 1 FROM closure_requests WHERE member_id = ? AND status = 'closed'", (member_id,)
            )
            if await cursor.fetchone() is None:
                await conn.execute(
                    "INSERT INTO closure_requests (member_id, source, status, requested_at, decided_at, decided_by) "
                    "VALUES (?, 'admin', 'closed', ?, ?, ?)",
                    (member_id, to_db(now), to_db(now), closed_by),
                )
        for step in extra_steps:
            await step(conn, member_id)
    return email


async def active_email_taken(db: Database, email: str) -> bool:
    return (
        await db.fetchval(
            "SELECT 1 FROM members WHERE email = ? COLLATE NOCASE AND status = 'active' LIMIT 1", (email,)
        )
        is not None
    )


async def forget_mail_recipient(db: Database, email: str) -> None:
    """The mail log keeps that a mail went out, not to which (now deleted) address."""
    await db.execute("UPDATE mail_log SET recipient = '' WHERE recipient = ? COLLATE NOCASE", (email,))


# --- joining the paid tier online ---------------------------------------------------------------


def tier_fee_type(tier_code: str) -> str:
    """The fee item's membership_type for a tier's fee: never a real 会員種別, so the annual-fee issue
    (which goes by membership_type) never sends it to anyone."""
    return f"tier:{tier_code}"


async def tier_fee_item(
    db: Database, tier: sqlite3.Row, fiscal_year: int, *, name: str, due_on: date, now: datetime
) -> int:
    """The tier's fee item for the year (made on first need, at the tier's price then), in one statement each."""
    async with db.write() as conn:
        await conn.execute(
            "INSERT INTO fee_items (fiscal_year, membership_type, name, amount, due_on, created_at, updated_at, "
            "tier_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fiscal_year, membership_type, name) DO NOTHING",
            (
                fiscal_year,
                tier_fee_type(str(tier["code"])),
                name,
                int(tier["annual_fee"]),
                due_on.isoformat(),
                to_db(now),
                to_db(now),
                int(tier["id"]),
            ),
        )
        cursor = await conn.execute(
            "SELECT id FROM fee_items WHERE fiscal_year = ? AND membership_type = ? AND name = ?",
            (fiscal_year, tier_fee_type(str(tier["code"])), name),
        )
        row = await cursor.fetchone()
    db.query_count += 2
    assert row is not None
    return int(row[0])


async def open_tier_fee(db: Database, member_id: int, tier_id: int, fiscal_year: int) -> sqlite3.Row | None:
    """The member's fee for the tier and year, whatever its state."""
    return await db.fetchone(
        "SELECT f.* FROM fees f JOIN fee_items i ON i.id = f.fee_item_id "
        "WHERE f.member_id = ? AND i.tier_id = ? AND i.fiscal_year = ? ORDER BY f.id DESC LIMIT 1",
        (member_id, tier_id, fiscal_year),
    )


async def fee_tier(db: Database, fee_id: int) -> sqlite3.Row | None:
    """For a paid fee: the tier its item grants and the item's year (None for an ordinary annual fee)."""
    return await db.fetchone(
        "SELECT f.id AS fee_id, f.member_id, f.status, i.fiscal_year, t.id AS tier_id, t.code, t.name "
        "FROM fees f JOIN fee_items i ON i.id = f.fee_item_id JOIN tiers t ON t.id = i.tier_id WHERE f.id = ?",
        (fee_id,),
    )


async def grant_tier_for_fee(
    db: Database, *, fee_id: int, member_id: int, tier_id: int, starts_on: date, ends_on: date, now: datetime
) -> bool:
    """The period a paid tier fee buys, once per fee whatever the number of reports (one statement)."""
    source = f"fee:{fee_id}"
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO member_tiers (member_id, tier_id, starts_on, ends_on, source, created_at) "
            "SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS "
            "(SELECT 1 FROM member_tiers WHERE member_id = ? AND source = ?)",
            (
                member_id,
                tier_id,
                starts_on.isoformat(),
                ends_on.isoformat(),
                source,
                to_db(now),
                member_id,
                source,
            ),
        )
        changed = cursor.rowcount
    db.query_count += 1
    return changed > 0


async def issue_tier_renewals(
    db: Database, *, tier_id: int, item_id: int, year_end: date, grace_end: date, now: datetime
) -> int:
    """Next year's fee to each active member whose paid-for tier ends on `year_end`, and that period kept
    until `grace_end` while the fee is unpaid; a second run finds nobody (the periods were moved)."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO fees (fee_item_id, member_id, member_number, amount, status, issued_at, updated_at) "
            "SELECT i.id, m.id, m.member_number, i.amount, 'unpaid', ?, ? FROM fee_items i, members m "
            "WHERE i.id = ? AND m.status = 'active' AND EXISTS (SELECT 1 FROM member_tiers mt "
            "WHERE mt.member_id = m.id AND mt.tier_id = ? AND mt.source LIKE 'fee:%' AND mt.ends_on = ?) "
            "AND NOT EXISTS (SELECT 1 FROM member_tiers later WHERE later.member_id = m.id "
            "AND later.tier_id = ? AND later.starts_on > ?) "
            "ON CONFLICT (member_id, fee_item_id) DO NOTHING",
            (to_db(now), to_db(now), item_id, tier_id, year_end.isoformat(), tier_id, year_end.isoformat()),
        )
        issued = cursor.rowcount
        await conn.execute(
            "UPDATE member_tiers SET ends_on = ? WHERE tier_id = ? AND source LIKE 'fee:%' AND ends_on = ? "
            "AND member_id IN (SELECT f.member_id FROM fees f WHERE f.fee_item_id = ? AND f.status != 'paid')",
            (grace_end.isoformat(), tier_id, year_end.isoformat(), item_id),
        )
    db.query_count += 2
    return max(issued, 0)


async def paid_tiers_on_sale(db: Database) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT * FROM tiers WHERE is_paid = 1 AND annual_fee > 0 ORDER BY sort_order, id"
    )


async def set_demo_annual_fee(db: Database, tier_code: str, amount: int) -> None:
    """The demo's price for the paid tier, unless one was set already."""
    await db.execute("UPDATE tiers SET annual_fee = ? WHERE code = ? AND annual_fee = 0", (amount, tier_code))
