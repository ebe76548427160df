"""Queries on fee items, fees, payment attempts, gateway notifications and receipts."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from db.database import Database
from db.timestamps import to_db

# Where a fee stands once one of its attempts reaches a state (a paid fee never goes back).
FEE_STATUS_FOR_ATTEMPT: dict[str, str] = {
    "pending": "unpaid",
    "awaiting_konbini": "awaiting_konbini",
    "paid": "paid",
    "declined": "unpaid",
    "expired": "expired",
    "cancelled": "cancelled",
}

LIVE_STATES = ("pending", "awaiting_konbini")

_FEE_SELECT = (
    "SELECT f.*, i.fiscal_year, i.name AS item_name, i.membership_type, i.due_on, "
    "a.id AS attempt_id, a.method AS attempt_method, a.state AS attempt_state, "
    "a.konbini_store, a.konbini_number, a.konbini_confirmation, a.konbini_deadline, a.konbini_voucher_url, "
    "r.receipt_number, r.issue_count AS receipt_issue_count "
    "FROM fees f JOIN fee_items i ON i.id = f.fee_item_id "
    "LEFT JOIN payment_attempts a ON a.id = "
    "(SELECT max(x.id) FROM payment_attempts x WHERE x.fee_id = f.id) "
    "LEFT JOIN receipts r ON r.fee_id = f.id "
)


# ---------------------------------------------------------------- fee items


async def create_fee_item(
    db: Database,
    *,
    fiscal_year: int,
    membership_type: str,
    name: str,
    amount: int,
    due_on: date,
    now: datetime,
) -> int | None:
    """The new item's id, or None when the same year, type and name already exist."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO fee_items (fiscal_year, membership_type, name, amount, due_on, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fiscal_year, membership_type, name) DO NOTHING "
            "RETURNING id",
            (fiscal_year, membership_type, name, amount, due_on.isoformat(), to_db(now), to_db(now)),
        )
        row = await cursor.fetchone()
    db.query_count += 1
    return None if row is None else int(row[0])


async def get_fee_item(db: Database, item_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM fee_items WHERE id = ?", (item_id,))


async def find_fee_item(
    db: Database, fiscal_year: int, membership_type: str, name: str
) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT * FROM fee_items WHERE fiscal_year = ? AND membership_type = ? AND name = ?",
        (fiscal_year, membership_type, name),
    )


async def fee_items_with_counts(db: Database) -> list[sqlite3.Row]:
    """Every item with how many fees were issued and paid, and the eligible members not yet issued."""
    return await db.fetchall(
        "SELECT i.*, "
        "(SELECT count(*) FROM fees f WHERE f.fee_item_id = i.id) AS issued, "
        "(SELECT count(*) FROM fees f WHERE f.fee_item_id = i.id AND f.status = 'paid') AS paid, "
        "(SELECT coalesce(sum(f.amount), 0) FROM fees f WHERE f.fee_item_id = i.id AND f.status = 'paid') "
        "AS paid_total, "
        "(SELECT count(*) FROM members m WHERE m.status = 'active' AND m.membership_type = i.membership_type "
        "AND NOT EXISTS (SELECT 1 FROM fees f WHERE f.fee_item_id = i.id AND f.member_id = m.id)) AS not_issued "
        "FROM fee_items i ORDER BY i.fiscal_year DESC, i.membership_type, i.id DESC"
    )


async def membership_types(db: Database) -> list[str]:
    rows = await db.fetchall(
        "SELECT DISTINCT membership_type FROM members WHERE membership_type != '' AND status = 'active' "
        "ORDER BY membership_type"
    )
    return [str(row[0]) for row in rows]


async def fiscal_years(db: Database) -> list[int]:
    rows = await db.fetchall("SELECT DISTINCT fiscal_year FROM fee_items ORDER BY fiscal_year DESC")
    return [int(row[0]) for row in rows]


async def issue_fee_item(db: Database, item_id: int, *, now: datetime) -> tuple[int, int]:
    """Issue the item to every active member of its type who has not got it: (newly issued, eligible)."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO fees (fee_item_id, member_id, member_number, amount, status, issued_at, updated_at) "
            "SELECT i.id, m.id, m.member_number, i.amount, 'unpaid', ?, ? "
            "FROM fee_items i JOIN members m ON m.membership_type = i.membership_type AND m.status = 'active' "
            "WHERE i.id = ? ON CONFLICT (member_id, fee_item_id) DO NOTHING",
            (to_db(now), to_db(now), item_id),
        )
        issued = cursor.rowcount
        cursor = await conn.execute(
            "SELECT count(*) FROM fee_items i JOIN members m "
            "ON m.membership_type = i.membership_type AND m.status = 'active' WHERE i.id = ?",
            (item_id,),
        )
        row = await cursor.fetchone()
    db.query_count += 2
    return max(issued, 0), int(row[0]) if row else 0


async def issue_fee_item_to(db: Database, item_id: int, member_id: int, *, now: datetime) -> bool:
    """Issue one item to one member (whatever the type); False when it was already issued."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO fees (fee_item_id, member_id, member_number, amount, status, issued_at, updated_at) "
            "SELECT i.id, m.id, m.member_number, i.amount, 'unpaid', ?, ? FROM fee_items i, members m "
            "WHERE i.id = ? AND m.id = ? ON CONFLICT (member_id, fee_item_id) DO NOTHING",
            (to_db(now), to_db(now), item_id, member_id),
        )
        added = cursor.rowcount > 0
    db.query_count += 1
    return added


# ---------------------------------------------------------------- fees (member side)


async def member_fees(db: Database, member_id: int) -> list[sqlite3.Row]:
    """The member's fees, newest year first, each with its latest attempt and receipt (one query)."""
    return await db.fetchall(
        _FEE_SELECT + "WHERE f.member_id = ? ORDER BY i.fiscal_year DESC, i.due_on DESC, f.id DESC",
        (member_id,),
    )


async def member_open_fees(db: Database, member_id: int) -> list[sqlite3.Row]:
    """The member's fees not yet paid, earliest due first, each with its latest attempt (one query)."""
    return await db.fetchall(
        _FEE_SELECT + "WHERE f.member_id = ? AND f.status != 'paid' ORDER BY i.due_on, f.id",
        (member_id,),
    )


async def member_fee(db: Database, member_id: int, fee_id: int) -> sqlite3.Row | None:
    """One fee of this member (None for another member's fee, so the route answers 404)."""
    return await db.fetchone(_FEE_SELECT + "WHERE f.id = ? AND f.member_id = ?", (fee_id, member_id))


async def fee(db: Database, fee_id: int) -> sqlite3.Row | None:
    return await db.fetchone(_FEE_SELECT + "WHERE f.id = ?", (fee_id,))


async def unpaid_count(db: Database, member_id: int) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM fees WHERE member_id = ? AND status != 'paid'",
            (member_id,),
        )
    )


# ---------------------------------------------------------------- attempts


async def live_attempt(db: Database, fee_id: int) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT * FROM payment_attempts WHERE fee_id = ? AND state IN ('pending', 'awaiting_konbini')",
        (fee_id,),
    )


async def attempt(db: Database, attempt_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM payment_attempts WHERE id = ?", (attempt_id,))


async def attempt_by_order(db: Database, order_id: str) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM payment_attempts WHERE order_id = ?", (order_id,))


async def attempt_method(db: Database, gateway: str, reference: str, order_id: str) -> str | None:
    """The method (card/konbini) of the attempt a gateway report names, if we have it."""
    row = await db.fetchone(
        "SELECT method FROM payment_attempts WHERE gateway = ? AND (reference = ? OR order_id = ?) "
        "ORDER BY (reference = ?) DESC LIMIT 1",
        (gateway, reference, order_id, reference),
    )
    return str(row["method"]) if row is not None else None


async def attempts_for_fee(db: Database, fee_id: int) -> list[sqlite3.Row]:
    return await db.fetchall("SELECT * FROM payment_attempts WHERE fee_id = ? ORDER BY id DESC", (fee_id,))


async def count_attempts(db: Database, fee_id: int) -> int:
    return int(await db.fetchval("SELECT count(*) FROM payment_attempts WHERE fee_id = ?", (fee_id,)))


@dataclass(frozen=True)
class AttemptChoice:
    """The fee's live attempt after 決定: the one just made, or the one that already existed."""

    attempt: sqlite3.Row | None
    created: bool
    refused: str | None = None  # "paid" or "missing": nothing was created


async def create_attempt(
    db: Database,
    *,
    fee_id: int,
    member_id: int,
    method: str,
    gateway: str,
    order_id: str,
    idempotency_key: str,
    now: datetime,
) -> AttemptChoice:
    """Make the fee's attempt unless one is live (then that one is returned, never a second)."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "SELECT id, status, amount, member_number FROM fees WHERE id = ? AND member_id = ?",
            (fee_id, member_id),
        )
        fee_row = await cursor.fetchone()
        if fee_row is None:
            return AttemptChoice(None, False, "missing")
        if fee_row["status"] == "paid":
            return AttemptChoice(None, False, "paid")
        cursor = await conn.execute(
            "SELECT * FROM payment_attempts WHERE fee_id = ? AND state IN ('pending', 'awaiting_konbini')",
            (fee_id,),
        )
        existing = await cursor.fetchone()
        if existing is not None:
            return AttemptChoice(existing, False)
        cursor = await conn.execute(
            "INSERT INTO payment_attempts (fee_id, member_number, method, state, gateway, order_id, amount, "
            "idempotency_key, created_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?) RETURNING *",
            (
                fee_id,
                fee_row["member_number"],
                method,
                gateway,
                order_id,
                fee_row["amount"],
                idempotency_key,
                to_db(now),
                to_db(now),
            ),
        )
        created = await cursor.fetchone()
        await conn.execute(
            "UPDATE fees SET status = 'unpaid', updated_at = ? WHERE id = ?", (to_db(now), fee_id)
        )
    db.query_count += 4
    return AttemptChoice(created, True)


async def set_checkout(
    db: Database,
    attempt_id: int,
    *,
    reference: str,
    redirect_url: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> None:
    await db.execute(
        "UPDATE payment_attempts SET reference = ?, redirect_url = ?, checkout_started_at = ?, "
        "link_expires_at = ?, updated_at = ? WHERE id = ?",
        (
            reference,
            redirect_url,
            to_db(now),
            to_db(expires_at) if expires_at is not None else None,
            to_db(now),
            attempt_id,
        ),
    )


async def expire_dead_link(db: Database, attempt_id: int, *, dead_before: datetime, now: datetime) -> bool:
    """Expire an attempt whose hosted page stopped taking payments before `dead_before` and that
    never got further than pending; False when it had moved on (or was expired by someone else)."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE payment_attempts SET state = 'expired', updated_at = ? WHERE id = ? AND state = 'pending' "
            "AND link_expires_at IS NOT NULL AND link_expires_at < ? RETURNING fee_id",
            (to_db(now), attempt_id, to_db(dead_before)),
        )
        row = await cursor.fetchone()
        if row is not None:
            await conn.execute(
                "UPDATE fees SET status = 'expired', updated_at = ? WHERE id = ? AND status != 'paid'",
                (to_db(now), row["fee_id"]),
            )
    db.query_count += 2
    return row is not None


async def renew_order_id(db: Database, attempt_id: int, order_id: str) -> None:
    """A new gateway order ID for an attempt that never reached the gateway's page."""
    await db.execute(
        "UPDATE payment_attempts SET order_id = ? WHERE id = ? AND reference IS NULL AND state = 'pending'",
        (order_id, attempt_id),
    )


@dataclass(frozen=True)
class Decision:
    """What a notification does to its attempt, decided by the payment rules."""

    outcome: str  # applied, replay (same state), ignored (out of order), mismatch, unknown
    new_state: str | None = None
    attention: str = ""


@dataclass(frozen=True)
class Applied:
    """The result of storing one notification."""

    duplicate: bool
    decision: Decision | None
    attempt: sqlite3.Row | None
    previous_state: str | None


async def apply_notification(
    db: Database,
    *,
    gateway: str,
    key: str,
    reference: str,
    order_id: str | None,
    reported_state: str,
    reported_amount: int | None,
    raw: str,
    konbini: dict[str, str | None] | None,
    now: datetime,
    decide: Callable[[sqlite3.Row | None, sqlite3.Row | None], Decision],
) -> Applied:
    """Store a notification under its unique key and apply `decide`'s move, in one transaction.

    A key seen before changes nothing (duplicate=True); the attempt's state is only written
    when it still is the state `decide` looked at.
    """
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO payment_notifications (gateway, notification_key, reported_state, reported_amount, "
            "raw, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (gateway, notification_key) DO NOTHING "
            "RETURNING id",
            (gateway, key, reported_state, reported_amount, raw, to_db(now)),
        )
        inserted = await cursor.fetchone()
        if inserted is None:
            return Applied(True, None, None, None)
        cursor = await conn.execute(
            "SELECT * FROM payment_attempts WHERE gateway = ? AND (reference = ? OR order_id = ?) "
            "ORDER BY (reference = ?) DESC LIMIT 1",
            (gateway, reference, order_id or reference, reference),
        )
        found = await cursor.fetchone()
        fee_row = None
        if found is not None:
            cursor = await conn.execute("SELECT * FROM fees WHERE id = ?", (found["fee_id"],))
            fee_row = await cursor.fetchone()
        decision = decide(found, fee_row)
        await conn.execute(
            "UPDATE payment_notifications SET attempt_id = ?, outcome = ? WHERE id = ?",
            (found["id"] if found is not None else None, decision.outcome, inserted[0]),
        )
        if found is None:
            return Applied(False, decision, None, None)
        changes: dict[str, Any] = {"updated_at": to_db(now)}
        if found["reference"] is None:
            changes["reference"] = reference
        if decision.attention:
            changes["needs_attention"] = 1
            changes["attention_reason"] = decision.attention
        if decision.new_state is not None:
            changes["state"] = decision.new_state
            if decision.new_state == "paid":
                changes["paid_at"] = to_db(now)
        if konbini is not None and (
            decision.new_state == "awaiting_konbini"
            or (
                decision.new_state is None
                and found["state"] == "awaiting_konbini"
                and not found["konbini_number"]
            )
        ):
            # Details come with the move, or (when the gateway was slow to give them) on a later report.
            changes.update({f"konbini_{name}": value for name, value in konbini.items()})
        sets = ", ".join(f"{column} = ?" for column in changes)
        await conn.execute(
            f"UPDATE payment_attempts SET {sets} WHERE id = ? AND state = ?",  # noqa: S608 - fixed column names
            (*changes.values(), found["id"], found["state"]),
        )
        if decision.new_state is not None and fee_row is not None and fee_row["status"] != "paid":
            fee_status = FEE_STATUS_FOR_ATTEMPT[decision.new_state]
            if decision.new_state == "paid":
                await conn.execute(
                    "UPDATE fees SET status = 'paid', paid_at = ?, paid_method = ?, updated_at = ? WHERE id = ?",
                    (to_db(now), found["method"], to_db(now), fee_row["id"]),
                )
            else:
                await conn.execute(
                    "UPDATE fees SET status = ?, updated_at = ? WHERE id = ?",
                    (fee_status, to_db(now), fee_row["id"]),
                )
        cursor = await conn.execute("SELECT * FROM payment_attempts WHERE id = ?", (found["id"],))
        updated = await cursor.fetchone()
    db.query_count += 6
    return Applied(False, decision, updated, str(found["state"]))


async def notifications_for_fee(db: Database, fee_id: int) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT n.* FROM payment_notifications n JOIN payment_attempts a ON a.id = n.attempt_id "
        "WHERE a.fee_id = ? ORDER BY n.id DESC LIMIT 100",
        (fee_id,),
    )


async def notification_count(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM payment_notifications"))


async def cancel_attempt(db: Database, attempt_id: int, *, now: datetime) -> sqlite3.Row | None:
    """Cancel a live attempt (admin); None when it was no longer live."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE payment_attempts SET state = 'cancelled', updated_at = ? "
            "WHERE id = ? AND state IN ('pending', 'awaiting_konbini') RETURNING *",
            (to_db(now), attempt_id),
        )
        row = await cursor.fetchone()
        if row is not None:
            await conn.execute(
                "UPDATE fees SET status = 'cancelled', updated_at = ? WHERE id = ? AND status != 'paid'",
                (to_db(now), row["fee_id"]),
            )
    db.query_count += 2
    return row


async def flag_attempt(db: Database, attempt_id: int, reason: str, *, now: datetime) -> None:
    await db.execute(
        "UPDATE payment_attempts SET needs_attention = 1, attention_reason = ?, updated_at = ? WHERE id = ?",
        (reason, to_db(now), attempt_id),
    )


async def clear_attention(db: Database, fee_id: int, *, now: datetime) -> None:
    await db.execute(
        "UPDATE payment_attempts SET needs_attention = 0, updated_at = ? WHERE fee_id = ?",
        (to_db(now), fee_id),
    )


async def mark_paid_by_transfer(
    db: Database, fee_id: int, *, note: str, paid_at: datetime, now: datetime
) -> tuple[bool, sqlite3.Row | None]:
    """Mark an unpaid fee paid by bank transfer and cancel its live attempt: (done, cancelled attempt)."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE fees SET status = 'paid', paid_at = ?, paid_method = 'bank_transfer', paid_note = ?, "
            "updated_at = ? WHERE id = ? AND status != 'paid' RETURNING id",
            (to_db(paid_at), note, to_db(now), fee_id),
        )
        if await cursor.fetchone() is None:
            return False, None
        cursor = await conn.execute(
            "UPDATE payment_attempts SET state = 'cancelled', updated_at = ? "
            "WHERE fee_id = ? AND state IN ('pending', 'awaiting_konbini') RETURNING *",
            (to_db(now), fee_id),
        )
        cancelled = await cursor.fetchone()
    db.query_count += 2
    return True, cancelled


async def record_paid_attempt(
    db: Database, fee_id: int, *, method: str, gateway: str, order_id: str, paid_at: datetime
) -> None:
    """A finished payment (demo data and imports): a paid attempt, and the fee marked paid."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE fees SET status = 'paid', paid_at = ?, paid_method = ?, updated_at = ? "
            "WHERE id = ? AND status != 'paid' RETURNING member_number, amount",
            (to_db(paid_at), method, to_db(paid_at), fee_id),
        )
        row = await cursor.fetchone()
        if row is None:
            return
        await conn.execute(
            "INSERT INTO payment_attempts (fee_id, member_number, method, state, gateway, order_id, reference, "
            "amount, idempotency_key, created_at, updated_at, paid_at) "
            "VALUES (?, ?, ?, 'paid', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                fee_id,
                row["member_number"],
                method,
                gateway,
                order_id,
                order_id,
                row["amount"],
                order_id,
                to_db(paid_at),
                to_db(paid_at),
                to_db(paid_at),
            ),
        )
    db.query_count += 2


async def fee_for_member_item(db: Database, member_id: int, item_id: int) -> sqlite3.Row | None:
    return await db.fetchone(
        _FEE_SELECT + "WHERE f.member_id = ? AND f.fee_item_id = ?", (member_id, item_id)
    )


# ---------------------------------------------------------------- receipts


async def issue_receipt(
    db: Database,
    fee_id: int,
    *,
    year: int,
    member_number: str,
    payer_name: str,
    amount: int,
    purpose: str,
    payment_method: str,
    paid_on: date,
    issued_on: date,
    now: datetime,
    count: bool = True,
    issuer_name: str | None = None,
    issuer_address: str | None = None,
    registration_number: str | None = None,
    tax_mode: str | None = None,
) -> sqlite3.Row:
    """Count one more download of the fee's receipt, numbering it on the first; returns the receipt.

    What the first receipt said (payer, amount, purpose, issuer, registration number, tax mode, test
    payment) is kept, so a reissue repeats it exactly; issuer values are only stored where none are
    yet (a receipt numbered before they were kept, or by the demo without them).
    With count=False the receipt is only numbered (demo data), not counted as downloaded.
    """
    issuer = (issuer_name, issuer_address, registration_number, tax_mode)
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE receipts SET issue_count = issue_count + ?, last_issued_at = ?, "
            "issuer_name = coalesce(issuer_name, ?), issuer_address = coalesce(issuer_address, ?), "
            "registration_number = coalesce(registration_number, ?), tax_mode = coalesce(tax_mode, ?), "
            # Paid through the sandbox: the receipt is a sample (見本), whatever gateway runs later.
            "test_payment = coalesce(test_payment, EXISTS (SELECT 1 FROM payment_attempts "
            "WHERE fee_id = ? AND state = 'paid' AND gateway = 'sandbox')) "
            "WHERE fee_id = ? RETURNING *",
            (1 if count else 0, to_db(now), *issuer, fee_id, fee_id),
        )
        row = await cursor.fetchone()
        if row is None:
            cursor = await conn.execute(
                "SELECT coalesce(max(receipt_seq), 0) + 1 FROM receipts WHERE receipt_year = ?", (year,)
            )
            seq_row = await cursor.fetchone()
            seq = int(seq_row[0]) if seq_row else 1
            cursor = await conn.execute(
                "INSERT INTO receipts (fee_id, receipt_year, receipt_seq, receipt_number, member_number, "
                "payer_name, amount, purpose, payment_method, paid_on, issued_on, issue_count, last_issued_at, "
                "issuer_name, issuer_address, registration_number, tax_mode, test_payment) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, EXISTS (SELECT 1 FROM payment_attempts "
                "WHERE fee_id = ? AND state = 'paid' AND gateway = 'sandbox')) RETURNING *",
                (
                    fee_id,
                    year,
                    seq,
                    f"R{year}-{seq:06d}",
                    member_number,
                    payer_name,
                    amount,
                    purpose,
                    payment_method,
                    paid_on.isoformat(),
                    issued_on.isoformat(),
                    1 if count else 0,
                    to_db(now),
                    *issuer,
                    fee_id,
                ),
            )
            row = await cursor.fetchone()
    db.query_count += 3
    assert row is not None
    return row


# ---------------------------------------------------------------- admin list and export


@dataclass(frozen=True)
class FeeFilter:
    fiscal_year: int | None = None
    status: str = ""
    method: str = ""
    query: str = ""
    attention: bool = False


def _where(filters: FeeFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if filters.fiscal_year is not None:
        clauses.append("i.fiscal_year = ?")
        params.append(filters.fiscal_year)
    if filters.status:
        clauses.append("f.status = ?")
        params.append(filters.status)
    if filters.method:
        clauses.append("(f.paid_method = ? OR (f.status != 'paid' AND a.method = ?))")
        params.extend([filters.method, filters.method])
    if filters.query:
        clauses.append(
            "(f.member_number LIKE ? ESCAPE '\\' OR (m.family_name || m.given_name) LIKE ? ESCAPE '\\' "
            "OR (m.family_kana || m.given_kana) LIKE ? ESCAPE '\\')"
        )
        pattern = "%" + filters.query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params.extend([pattern, pattern, pattern])
    if filters.attention:
        clauses.append(
            "EXISTS (SELECT 1 FROM payment_attempts z WHERE z.fee_id = f.id AND z.needs_attention = 1)"
        )
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


_ADMIN_SELECT = (
    "SELECT f.*, i.fiscal_year, i.name AS item_name, i.membership_type, i.due_on, "
    "m.family_name, m.given_name, m.email, "
    "a.id AS attempt_id, a.method AS attempt_method, a.state AS attempt_state, a.order_id, a.gateway, "
    "a.reference, "
    "(SELECT count(*) FROM payment_attempts z WHERE z.fee_id = f.id AND z.needs_attention = 1) AS attention, "
    "r.receipt_number "
    "FROM fees f JOIN fee_items i ON i.id = f.fee_item_id "
    "LEFT JOIN members m ON m.id = f.member_id "
    "LEFT JOIN payment_attempts a ON a.id = (SELECT max(x.id) FROM payment_attempts x WHERE x.fee_id = f.id) "
    "LEFT JOIN receipts r ON r.fee_id = f.id "
)


_COUNT_SELECT = (
    "SELECT count(*) FROM fees f JOIN fee_items i ON i.id = f.fee_item_id "
    "LEFT JOIN members m ON m.id = f.member_id "
    "LEFT JOIN payment_attempts a ON a.id = (SELECT max(x.id) FROM payment_attempts x WHERE x.fee_id = f.id) "
)


async def admin_fees(db: Database, filters: FeeFilter, *, limit: int, offset: int) -> list[sqlite3.Row]:
    where, params = _where(filters)
    return await db.fetchall(
        _ADMIN_SELECT + where + " ORDER BY i.fiscal_year DESC, f.member_number, f.id LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )


async def admin_fee_count(db: Database, filters: FeeFilter) -> int:
    where, params = _where(filters)
    sql = _COUNT_SELECT + where
    return int(await db.fetchval(sql, params))


async def admin_fee(db: Database, fee_id: int) -> sqlite3.Row | None:
    return await db.fetchone(_ADMIN_SELECT + "WHERE f.id = ?", (fee_id,))
