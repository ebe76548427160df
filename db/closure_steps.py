"""What account closure does to other features' records: payments kept but anonymized to the member
number, inquiries emptied of personal data, a pending e-mail change and queued mails forgotten."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

REMOVED_TEXT = "（退会により削除されました）"


async def _member_number(conn: aiosqlite.Connection, member_id: int) -> str:
    cursor = await conn.execute("SELECT member_number FROM members WHERE id = ?", (member_id,))
    row = await cursor.fetchone()
    return str(row[0]) if row else ""


async def anonymize_payments(conn: aiosqlite.Connection, member_id: int) -> None:
    """Payment records stay (the law keeps them), tied only to the member number."""
    number = await _member_number(conn, member_id)
    await conn.execute(
        "UPDATE receipts SET payer_name = ? WHERE fee_id IN (SELECT id FROM fees WHERE member_id = ?)",
        (f"会員番号 {number}", member_id),
    )
    # Gateway messages can carry the payer's name and e-mail; the state they caused stays in the attempts.
    await conn.execute(
        "UPDATE payment_notifications SET raw = '{}' WHERE attempt_id IN (SELECT pa.id FROM payment_attempts pa "
        "JOIN fees f ON f.id = pa.fee_id WHERE f.member_id = ?)",
        (member_id,),
    )


async def anonymize_inquiries(conn: aiosqlite.Connection, member_id: int) -> None:
    cursor = await conn.execute(
        "SELECT a.stored_name FROM inquiry_attachments a JOIN inquiries i ON i.id = a.inquiry_id WHERE i.member_id = ?",
        (member_id,),
    )
    stored_names = [str(row[0]) for row in await cursor.fetchall()]
    await conn.execute(
        "DELETE FROM inquiry_attachments WHERE inquiry_id IN (SELECT id FROM inquiries WHERE member_id = ?)",
        (member_id,),
    )
    await conn.execute(
        "UPDATE inquiries SET name = '', email = '', ip = '', user_agent = '', subject = ?, message = ? "
        "WHERE member_id = ?",
        (REMOVED_TEXT, REMOVED_TEXT, member_id),
    )
    await conn.execute(
        "UPDATE inquiry_replies SET body = ? WHERE inquiry_id IN (SELECT id FROM inquiries WHERE member_id = ?)",
        (REMOVED_TEXT, member_id),
    )
    # The screenshots live beside the database, in <data folder>/attachments.
    cursor = await conn.execute("PRAGMA database_list")
    main_file = next((str(row[2]) for row in await cursor.fetchall() if row[1] == "main"), "")
    if main_file:
        folder = Path(main_file).parent / "attachments"
        for name in stored_names:
            (folder / Path(name).name).unlink(missing_ok=True)


async def forget_pending_mail(conn: aiosqlite.Connection, member_id: int) -> None:
    await conn.execute(
        "UPDATE members SET pending_email = '', pending_email_requested_at = NULL WHERE id = ?", (member_id,)
    )
