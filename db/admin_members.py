"""Queries behind the admin's member screens: search, a member's page, bulk creation, letters."""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from db.database import Database
from db.members import PROFILE_COLUMNS
from db.timestamps import to_db

PAGE_SIZE = 50
_CHUNK = 500


class DuplicateMember(Exception):
    """A member number or e-mail address was taken between the check and the write."""


@dataclass(frozen=True)
class MemberFilter:
    q: str = ""
    membership_type: str = ""
    tier: str = ""  # a tier code; "free" means no paid tier today
    locked: bool = False
    status: str = "active"  # active, closed, all
    role: str = ""  # "", member, admin
    fee: str = ""  # "", unpaid (an unpaid fee), clear (none unpaid); only when the fees table exists


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(text: str) -> str:
    return f"%{_escape(text)}%"


def _where(f: MemberFilter, *, now: datetime, today: date) -> tuple[str, list[Any]]:
    """WHERE clause from fixed fragments; every value typed by the admin is a parameter."""
    parts: list[str] = []
    params: list[Any] = []
    if f.fee in ("unpaid", "clear"):
        unpaid = "EXISTS (SELECT 1 FROM fees f WHERE f.member_id = m.id AND f.status IN ('unpaid', 'awaiting_konbini'))"
        parts.append(unpaid if f.fee == "unpaid" else f"NOT {unpaid}")
    if f.status in ("active", "closed"):
        parts.append("m.status = ?")
        params.append(f.status)
    if f.role in ("member", "admin"):
        parts.append("m.role = ?")
        params.append(f.role)
    if f.membership_type:
        parts.append("m.membership_type = ?")
        params.append(f.membership_type)
    if f.locked:
        parts.append("m.locked_until > ?")
        params.append(to_db(now))
    if f.tier:
        current_tier = (
            "SELECT 1 FROM member_tiers mt JOIN tiers t ON t.id = mt.tier_id WHERE mt.member_id = m.id "
            "AND mt.starts_on <= ? AND (mt.ends_on IS NULL OR mt.ends_on >= ?)"
        )
        if f.tier == "free":
            parts.append(f"NOT EXISTS ({current_tier} AND t.code <> 'free')")
            params += [today.isoformat(), today.isoformat()]
        else:
            parts.append(f"EXISTS ({current_tier} AND t.code = ?)")
            params += [today.isoformat(), today.isoformat(), f.tier]
    q = unicodedata.normalize("NFKC", f.q).strip()
    if q:
        compact = "".join(q.split())
        clauses = [
            "m.member_number = ?",
            "m.member_number LIKE ? ESCAPE '\\'",
            "(m.family_name || m.given_name) LIKE ? ESCAPE '\\'",
            "(m.family_kana || m.given_kana) LIKE ? ESCAPE '\\'",
            "m.email LIKE ? ESCAPE '\\'",
        ]
        params += [compact, _escape(compact) + "%", _like(compact), _like(_katakana(compact)), _like(compact)]
        digits = "".join(ch for ch in compact if ch.isascii() and ch.isdigit())
        if len(digits) >= 4 and len(digits) == len(
            compact.replace("-", "").replace("(", "").replace(")", "")
        ):
            # A phone number typed with or without hyphens: phones are stored as digits only.
            clauses.append("m.phone LIKE ? ESCAPE '\\'")
            params.append(_like(digits))
        parts.append("(" + " OR ".join(clauses) + ")")
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


def _katakana(text: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)


async def search(
    db: Database, f: MemberFilter, *, now: datetime, today: date, page: int = 1
) -> tuple[list[sqlite3.Row], int]:
    where, params = _where(f, now=now, today=today)
    total = int(await db.fetchval(f"SELECT count(*) FROM members m{where}", params))  # noqa: S608
    rows = await db.fetchall(
        "SELECT m.id, m.member_number, m.role, m.status, m.family_name, m.given_name, m.family_kana, "  # noqa: S608
        "m.given_kana, m.email, m.membership_type, m.locked_until, m.must_change_password "
        f"FROM members m{where} ORDER BY m.member_number LIMIT ? OFFSET ?",
        [*params, PAGE_SIZE, (max(page, 1) - 1) * PAGE_SIZE],
    )
    return rows, total


async def export_rows(db: Database, f: MemberFilter, *, now: datetime, today: date) -> list[sqlite3.Row]:
    where, params = _where(f, now=now, today=today)
    columns = ", ".join(
        f"m.{name}" for name in ("id", "member_number", *PROFILE_COLUMNS, "status", "created_at")
    )
    return await db.fetchall(f"SELECT {columns} FROM members m{where} ORDER BY m.member_number", params)  # noqa: S608


async def label_rows(
    db: Database, f: MemberFilter, *, now: datetime, today: date, member_ids: Sequence[int] | None = None
) -> list[sqlite3.Row]:
    """Name, number and postal address of the members matching the filter (and, when given, among the ids),
    in member-number order, for address labels."""
    where, params = _where(f, now=now, today=today)
    if member_ids is not None:
        ids = list(member_ids)[:_CHUNK] or [0]
        where += (" AND " if where else " WHERE ") + "m.id IN (" + ",".join("?" for _ in ids) + ")"
        params = [*params, *ids]
    return await db.fetchall(
        "SELECT m.id, m.member_number, m.family_name, m.given_name, m.postal_code, m.prefecture, m.address1, "  # noqa: S608
        f"m.address2 FROM members m{where} ORDER BY m.member_number",
        params,
    )


async def membership_types(db: Database) -> list[str]:
    rows = await db.fetchall(
        "SELECT DISTINCT membership_type FROM members WHERE membership_type <> '' ORDER BY membership_type"
    )
    return [str(row[0]) for row in rows]


async def existing_numbers(db: Database, numbers: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(numbers), _CHUNK):
        chunk = list(numbers[start : start + _CHUNK])
        marks = ",".join("?" for _ in chunk)
        rows = await db.fetchall(f"SELECT member_number FROM members WHERE member_number IN ({marks})", chunk)  # noqa: S608
        found.update(str(row[0]) for row in rows)
    return found


async def existing_emails(
    db: Database, emails: Sequence[str], *, except_member_id: int = 0
) -> dict[str, str]:
    """Lower-cased e-mail → member number, among members who are not closed."""
    found: dict[str, str] = {}
    for start in range(0, len(emails), _CHUNK):
        chunk = [email.lower() for email in emails[start : start + _CHUNK]]
        marks = ",".join("?" for _ in chunk)
        rows = await db.fetchall(
            f"SELECT lower(email), member_number FROM members WHERE lower(email) IN ({marks}) "  # noqa: S608
            "AND status = 'active' AND id <> ?",
            [*chunk, except_member_id],
        )
        found.update({str(row[0]): str(row[1]) for row in rows})
    return found


async def suggested_number(db: Database, width: int) -> str:
    """The next member number after the highest numeric one, padded to the organization's width."""
    value = await db.fetchval(
        "SELECT max(CAST(member_number AS INTEGER)) FROM members WHERE role = 'member' AND length(member_number) <= 18"
    )
    return str(int(value or 0) + 1).zfill(max(1, min(width, 20)))


@dataclass(frozen=True)
class NewMemberRow:
    member_number: str
    password_hash: str
    password_sealed: str
    profile: dict[str, str]


async def create_many(
    db: Database,
    rows: Sequence[NewMemberRow],
    *,
    now: datetime,
    actor_id: int | None,
    source: str,
    ip: str = "",
) -> list[int]:
    """Create every member, its password history, its waiting letter and an audit entry in ONE
    transaction: any failure leaves the database as it was."""
    stamp = to_db(now)
    columns = ", ".join(PROFILE_COLUMNS)
    marks = ", ".join("?" for _ in PROFILE_COLUMNS)
    ids: list[int] = []
    async with db.write() as conn:
        # Checked again under the write lock: nobody can register the same address meanwhile.
        emails = [row.profile.get("email", "").lower() for row in rows if row.profile.get("email")]
        for start in range(0, len(emails), _CHUNK):
            chunk = emails[start : start + _CHUNK]
            chunk_marks = ",".join("?" for _ in chunk)
            cursor = await conn.execute(
                f"SELECT lower(email) FROM members WHERE status = 'active' AND lower(email) IN ({chunk_marks}) LIMIT 1",  # noqa: S608
                chunk,
            )
            clash = await cursor.fetchone()
            if clash is not None:
                raise DuplicateMember(f"メールアドレス {clash[0]}")
        for row in rows:
            try:
                cursor = await conn.execute(
                    f"INSERT INTO members (member_number, role, password_hash, password_changed_at, "  # noqa: S608
                    f"must_change_password, created_at, updated_at, {columns}) VALUES (?, 'member', ?, ?, 1, ?, ?, {marks})",
                    (
                        row.member_number,
                        row.password_hash,
                        stamp,
                        stamp,
                        stamp,
                        *(row.profile.get(name, "") or "" for name in PROFILE_COLUMNS),
                    ),
                )
            except sqlite3.IntegrityError as error:
                raise DuplicateMember(f"会員番号 {row.member_number}") from error
            member_id = int(cursor.lastrowid or 0)
            ids.append(member_id)
            await conn.execute(
                "INSERT INTO password_history (member_id, password_hash, created_at) VALUES (?, ?, ?)",
                (member_id, row.password_hash, stamp),
            )
            await conn.execute(
                "INSERT INTO initial_password_letters (member_id, password_sealed, issued_at, issued_by, source) "
                "VALUES (?, ?, ?, ?, ?)",
                (member_id, row.password_sealed, stamp, actor_id, source),
            )
            await conn.execute(
                "INSERT INTO audit_log (at, event, actor_member_id, subject_member_id, ip, detail) "
                "VALUES (?, 'member.created', ?, ?, ?, ?)",
                (stamp, actor_id, member_id, ip, f'{{"source": "{source}"}}'),
            )
        # Keep self sign-up's member-number counter ahead of imported numbers, when that feature is installed.
        cursor = await conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'member_number_sequence'"
        )
        if await cursor.fetchone() is not None and rows:
            highest = max((int(r.member_number) for r in rows if len(r.member_number) <= 18), default=0)
            await conn.execute(
                "UPDATE member_number_sequence SET last_value = max(last_value, ?) WHERE id = 1", (highest,)
            )
    return ids


async def update_profile(db: Database, member_id: int, values: dict[str, str], *, now: datetime) -> None:
    names = [name for name in PROFILE_COLUMNS if name in values]
    if not names:
        return
    assignments = ", ".join(f"{name} = ?" for name in names)
    await db.execute(
        f"UPDATE members SET {assignments}, updated_at = ?, profile_version = profile_version + 1 WHERE id = ?",  # noqa: S608
        [*(values[name] for name in names), to_db(now), member_id],
    )


async def recent_logins(db: Database, member_id: int, limit: int = 20) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT at, event, ip, detail FROM audit_log WHERE subject_member_id = ? "
        "AND (event LIKE 'login.%' OR event LIKE 'admin.mfa%' OR event = 'logout') ORDER BY id DESC LIMIT ?",
        (member_id, limit),
    )


async def audit_for_member(db: Database, member_id: int, limit: int = 50) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT a.at, a.event, a.ip, a.detail, actor.member_number AS actor_number, "
        "actor.family_name AS actor_family_name, actor.given_name AS actor_given_name "
        "FROM audit_log a LEFT JOIN members actor ON actor.id = a.actor_member_id "
        "WHERE (a.subject_member_id = ? OR a.actor_member_id = ?) "
        "AND a.event NOT LIKE 'login.%' AND a.event <> 'logout' ORDER BY a.id DESC LIMIT ?",
        (member_id, member_id, limit),
    )


async def session_count(db: Database, member_id: int, *, now: datetime) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM sessions WHERE member_id = ? AND expires_at > ?", (member_id, to_db(now))
        )
    )


async def fees_for_member(db: Database, member_id: int) -> list[sqlite3.Row]:
    """The member's fees, newest first."""
    return await db.fetchall(
        "SELECT f.id, f.amount, f.status, f.paid_at, f.paid_method, fi.fiscal_year, fi.name, fi.due_on "
        "FROM fees f JOIN fee_items fi ON fi.id = f.fee_item_id WHERE f.member_id = ? ORDER BY f.id DESC LIMIT 20",
        (member_id,),
    )


async def member_number_lengths(db: Database) -> set[int]:
    """The lengths of the members' all-digit member numbers (admins' login IDs left out)."""
    rows = await db.fetchall(
        "SELECT DISTINCT length(member_number) AS n FROM members "
        "WHERE role = 'member' AND member_number <> '' AND member_number NOT GLOB '*[^0-9]*'"
    )
    return {int(row["n"]) for row in rows}


async def last_logins(db: Database) -> dict[int, str]:
    """Each member's last successful login (stored UTC text), from the audit log."""
    rows = await db.fetchall(
        "SELECT subject_member_id AS member_id, max(at) AS at FROM audit_log "
        "WHERE event = 'login.ok' AND subject_member_id IS NOT NULL GROUP BY subject_member_id"
    )
    return {int(row["member_id"]): str(row["at"]) for row in rows}


async def fees_of_year(db: Database, fiscal_year: int) -> list[sqlite3.Row]:
    """Every member's fees of one fiscal year (name, amount, state, how it was paid)."""
    return await db.fetchall(
        "SELECT f.member_id, f.amount, f.status, f.paid_method, fi.name FROM fees f "
        "JOIN fee_items fi ON fi.id = f.fee_item_id WHERE fi.fiscal_year = ? AND f.member_id IS NOT NULL "
        "ORDER BY f.member_id, f.id",
        (fiscal_year,),
    )
