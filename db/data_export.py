"""What a member's data download reads: one query per kind of record, each limited to that member."""

from __future__ import annotations

from typing import Any

from db.database import Database

Rows = list[dict[str, Any]]


async def _rows(db: Database, sql: str, params: tuple[Any, ...]) -> Rows:
    return [dict(row) for row in await db.fetchall(sql, params)]


async def profile(db: Database, member_id: int) -> Rows:
    return await _rows(
        db,
        "SELECT member_number, family_name, given_name, family_kana, given_kana, email, phone, postal_code, "
        "prefecture, address1, address2, affiliation, membership_type, digest_frequency, role, status, "
        "password_changed_at, profile_checked_at, created_at, updated_at FROM members WHERE id = ?",
        (member_id,),
    )


async def plans(db: Database, member_id: int) -> Rows:
    return await _rows(
        db,
        "SELECT t.name AS plan, mt.starts_on, mt.ends_on, mt.source, mt.created_at FROM member_tiers mt "
        "JOIN tiers t ON t.id = mt.tier_id WHERE mt.member_id = ? ORDER BY mt.id",
        (member_id,),
    )


async def conditions(db: Database, member_id: int) -> Rows:
    return await _rows(
        db,
        "SELECT c.name, c.created_at, c.updated_at, "
        "(SELECT group_concat(t.name, '、') FROM condition_terms ct JOIN terms t ON t.id = ct.term_id "
        " WHERE ct.condition_id = c.id) AS terms "
        "FROM conditions c WHERE c.member_id = ? ORDER BY c.id",
        (member_id,),
    )


async def bookmarks(db: Database, member_id: int) -> Rows:
    return await _rows(
        db,
        "SELECT a.id AS article_id, a.title, b.created_at FROM bookmarks b JOIN articles a ON a.id = b.article_id "
        "WHERE b.member_id = ? ORDER BY b.created_at",
        (member_id,),
    )


async def history(db: Database, member_id: int) -> Rows:
    return await _rows(
        db,
        "SELECT a.id AS article_id, a.title, h.viewed_at FROM view_history h JOIN articles a ON a.id = h.article_id "
        "WHERE h.member_id = ? ORDER BY h.viewed_at",
        (member_id,),
    )


async def fees(db: Database, member_id: int) -> Rows:
    return await _rows(
        db,
        "SELECT fi.name AS fee, fi.fiscal_year, f.amount, fi.due_on, f.status, f.paid_at, f.paid_method, "
        "f.issued_at FROM fees f JOIN fee_items fi ON fi.id = f.fee_item_id WHERE f.member_id = ? ORDER BY f.id",
        (member_id,),
    )


async def payments(db: Database, member_id: int) -> Rows:
    return await _rows(
        db,
        "SELECT pa.order_id, pa.method, pa.state, pa.amount, pa.gateway, pa.konbini_store, pa.konbini_deadline, "
        "pa.created_at, pa.updated_at FROM payment_attempts pa JOIN fees f ON f.id = pa.fee_id "
        "WHERE f.member_id = ? ORDER BY pa.id",
        (member_id,),
    )


async def receipts(db: Database, member_id: int) -> Rows:
    return await _rows(
        db,
        "SELECT r.receipt_number, r.payer_name, r.amount, r.purpose, r.payment_method, r.paid_on, r.issued_on, "
        "r.issue_count FROM receipts r JOIN fees f ON f.id = r.fee_id WHERE f.member_id = ? ORDER BY r.id",
        (member_id,),
    )


async def inquiries(db: Database, member_id: int) -> Rows:
    return await _rows(
        db,
        "SELECT i.id, i.created_at, i.status, i.category, i.name, i.email, i.subject, i.message, "
        "(SELECT group_concat(r.created_at || ' ' || r.body, char(10) || '---' || char(10)) FROM inquiry_replies r "
        " WHERE r.inquiry_id = i.id AND r.mail_status = 'sent') AS replies "
        "FROM inquiries i WHERE i.member_id = ? ORDER BY i.id",
        (member_id,),
    )


async def passkeys(db: Database, member_id: int) -> Rows:
    return await _rows(
        db,
        "SELECT name, created_at, last_used_at FROM passkeys WHERE member_id = ? ORDER BY id",
        (member_id,),
    )


async def sign_ins(db: Database, member_id: int) -> Rows:
    return await _rows(
        db,
        "SELECT at, succeeded, method, ip, user_agent FROM sign_in_attempts WHERE member_id = ? ORDER BY id",
        (member_id,),
    )


async def has_table(db: Database, table: str) -> bool:
    return bool(await db.fetchval("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)))


async def rows_of_table(db: Database, table: str, member_id: int) -> Rows:
    """Every row of a table with a member_id column that belongs to the member (tables other features add)."""
    columns = [str(row[1]) for row in await db.fetchall(f"PRAGMA table_info({_quoted(table)})")]
    if "member_id" not in columns:
        return []
    rows = await _rows(db, f"SELECT * FROM {_quoted(table)} WHERE member_id = ? ORDER BY rowid", (member_id,))  # noqa: S608
    return rows


def _quoted(table: str) -> str:
    if not table.replace("_", "").isalnum():
        raise ValueError(f"not a table name: {table!r}")
    return f'"{table}"'
