"""Queries on contact inquiries, their attachments and the admin's replies (the thread)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from db.database import Database
from db.timestamps import to_db

STATUSES = ("new", "in_progress", "done")
PAGE_SIZE = 50


@dataclass(frozen=True)
class NewAttachment:
    stored_name: str
    original_name: str
    content_type: str
    size: int
    width: int
    height: int
    sha256: str


async def create(
    db: Database,
    *,
    now: datetime,
    values: dict[str, str],
    member_id: int | None,
    ip: str,
    user_agent: str,
    attachment: NewAttachment | None,
    pending_form_id: str | None = None,
) -> int:
    """The inquiry and its attachment row in one transaction: both or neither (and the form's pending
    upload row, whose file became the attachment, goes in the same transaction)."""
    stamp = to_db(now)
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO inquiries (created_at, updated_at, category, name, email, member_number, member_id, "
            "subject, message, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                stamp,
                stamp,
                values["category"],
                values["name"],
                values["email"],
                values["member_number"],
                member_id,
                values["subject"],
                values["message"],
                ip,
                user_agent[:300],
            ),
        )
        inquiry_id = int(cursor.lastrowid or 0)
        if attachment is not None:
            await conn.execute(
                "INSERT INTO inquiry_attachments (inquiry_id, stored_name, original_name, content_type, size, "
                "width, height, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    inquiry_id,
                    attachment.stored_name,
                    attachment.original_name,
                    attachment.content_type,
                    attachment.size,
                    attachment.width,
                    attachment.height,
                    attachment.sha256,
                    stamp,
                ),
            )
        if pending_form_id:
            await conn.execute("DELETE FROM contact_pending_uploads WHERE form_id = ?", (pending_form_id,))
    db.query_count += 1
    return inquiry_id


async def set_mail_status(db: Database, inquiry_id: int, *, admin: str, auto_reply: str) -> None:
    await db.execute(
        "UPDATE inquiries SET admin_mail_status = ?, auto_reply_status = ? WHERE id = ?",
        (admin, auto_reply, inquiry_id),
    )


async def get(db: Database, inquiry_id: int) -> sqlite3.Row | None:
    """The inquiry with the member it came from: the logged-in sender, or the member whose number was typed."""
    return await db.fetchone(
        "SELECT i.*, m.id AS linked_member_id, m.family_name AS member_family_name, "
        "m.given_name AS member_given_name, m.status AS member_status, m.member_number AS linked_member_number "
        "FROM inquiries i LEFT JOIN members m "
        "ON m.id = COALESCE(i.member_id, (SELECT id FROM members WHERE member_number = i.member_number "
        "AND i.member_number != '')) "
        "WHERE i.id = ?",
        (inquiry_id,),
    )


async def attachments_for(db: Database, inquiry_id: int) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT * FROM inquiry_attachments WHERE inquiry_id = ? ORDER BY id", (inquiry_id,)
    )


async def attachment(db: Database, inquiry_id: int, attachment_id: int) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT * FROM inquiry_attachments WHERE id = ? AND inquiry_id = ?", (attachment_id, inquiry_id)
    )


async def replies_for(db: Database, inquiry_id: int) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT r.*, m.family_name AS author_family_name, m.given_name AS author_given_name "
        "FROM inquiry_replies r LEFT JOIN members m ON m.id = r.author_member_id "
        "WHERE r.inquiry_id = ? ORDER BY r.id",
        (inquiry_id,),
    )


async def reply(db: Database, inquiry_id: int, reply_id: int) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT * FROM inquiry_replies WHERE id = ? AND inquiry_id = ?", (reply_id, inquiry_id)
    )


async def add_reply(
    db: Database, inquiry_id: int, *, author_member_id: int, body: str, status: str, now: datetime
) -> int:
    """Keep the reply in the thread (before it is mailed) and move the inquiry to `status`."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "INSERT INTO inquiry_replies (inquiry_id, author_member_id, body, created_at) VALUES (?, ?, ?, ?)",
            (inquiry_id, author_member_id, body, to_db(now)),
        )
        await conn.execute(
            "UPDATE inquiries SET status = ?, updated_at = ? WHERE id = ?", (status, to_db(now), inquiry_id)
        )
    db.query_count += 1
    return int(cursor.lastrowid or 0)


async def set_reply_mail_status(db: Database, reply_id: int, *, sent: bool, now: datetime) -> None:
    await db.execute(
        "UPDATE inquiry_replies SET mail_status = ?, sent_at = ? WHERE id = ?",
        ("sent" if sent else "failed", to_db(now) if sent else None, reply_id),
    )


async def set_status(db: Database, inquiry_id: int, status: str, *, now: datetime) -> None:
    await db.execute(
        "UPDATE inquiries SET status = ?, updated_at = ? WHERE id = ?", (status, to_db(now), inquiry_id)
    )


async def status_counts(db: Database) -> dict[str, int]:
    rows = await db.fetchall("SELECT status, count(*) AS n FROM inquiries GROUP BY status")
    counts = dict.fromkeys(STATUSES, 0)
    for row in rows:
        counts[str(row["status"])] = int(row["n"])
    return counts


async def count_new(db: Database) -> int:
    """For the admin dashboard: inquiries nobody has looked at yet."""
    return int(await db.fetchval("SELECT count(*) FROM inquiries WHERE status = 'new'"))


async def listing(
    db: Database, *, status: str | None, category: str | None, page: int = 1
) -> list[sqlite3.Row]:
    """One page of the inbox, newest first, in one query (attachment and reply counts included)."""
    return await db.fetchall(
        "SELECT i.id, i.created_at, i.status, i.category, i.name, i.email, i.member_number, i.member_id, "
        "i.subject, i.admin_mail_status, "
        "(SELECT count(*) FROM inquiry_attachments a WHERE a.inquiry_id = i.id) AS attachment_count, "
        "(SELECT count(*) FROM inquiry_replies r WHERE r.inquiry_id = i.id) AS reply_count "
        "FROM inquiries i WHERE (:status IS NULL OR i.status = :status) "
        "AND (:category IS NULL OR i.category = :category) "
        "ORDER BY i.id DESC LIMIT :limit OFFSET :offset",
        {
            "status": status or None,
            "category": category or None,
            "limit": PAGE_SIZE + 1,
            "offset": (max(page, 1) - 1) * PAGE_SIZE,
        },
    )


# ---------------------------------------------------------------- the member's side (/inquiries)


async def member_listing(db: Database, member_id: int) -> list[sqlite3.Row]:
    """The member's own inquiries (sent while logged in), newest first, with the reply count and whether
    an office reply is unread, in one query."""
    return await db.fetchall(
        "SELECT i.id, i.created_at, i.updated_at, i.status, i.category, i.subject, "
        "(SELECT count(*) FROM inquiry_replies r WHERE r.inquiry_id = i.id) AS reply_count, "
        "(SELECT max(r.created_at) FROM inquiry_replies r WHERE r.inquiry_id = i.id AND r.from_member = 0) "
        "AS last_office_reply_at, "
        "EXISTS (SELECT 1 FROM inquiry_replies r WHERE r.inquiry_id = i.id AND r.from_member = 0 "
        "AND r.id > i.member_seen_reply_id) AS unread "
        "FROM inquiries i WHERE i.member_id = ? ORDER BY i.id DESC LIMIT 200",
        (member_id,),
    )


async def get_for_member(db: Database, member_id: int, inquiry_id: int) -> sqlite3.Row | None:
    """One inquiry, only when it is the member's own (another member's id reads as missing)."""
    return await db.fetchone(
        "SELECT * FROM inquiries WHERE id = ? AND member_id = ?", (inquiry_id, member_id)
    )


async def mark_seen(db: Database, member_id: int, inquiry_id: int) -> None:
    """The member opened the thread: every office reply so far counts as read (the mark never goes back)."""
    await db.execute(
        "UPDATE inquiries SET member_seen_reply_id = max(member_seen_reply_id, COALESCE(("
        "SELECT max(r.id) FROM inquiry_replies r WHERE r.inquiry_id = inquiries.id AND r.from_member = 0), 0)) "
        "WHERE id = ? AND member_id = ?",
        (inquiry_id, member_id),
    )


async def add_member_answer(
    db: Database, member_id: int, inquiry_id: int, *, body: str, now: datetime
) -> int:
    """The member's answer in the thread; the inquiry goes back to the office's 'new' pile. 0 when the
    inquiry is not the member's."""
    stamp = to_db(now)
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE inquiries SET status = 'new', updated_at = ? WHERE id = ? AND member_id = ? RETURNING id",
            (stamp, inquiry_id, member_id),
        )
        if await cursor.fetchone() is None:
            return 0
        # Nothing is mailed for the member's own words: the office reads them in the inbox.
        cursor = await conn.execute(
            "INSERT INTO inquiry_replies (inquiry_id, author_member_id, body, created_at, from_member) "
            "VALUES (?, ?, ?, ?, 1)",
            (inquiry_id, member_id, body, stamp),
        )
    db.query_count += 1
    return int(cursor.lastrowid or 0)


async def unread_replies(db: Database, member_id: int) -> list[sqlite3.Row]:
    """The member's inquiries with an office reply they have not opened yet (id, subject, latest reply
    time), newest reply first, in one query (for My Page's notices)."""
    return await db.fetchall(
        "SELECT i.id, i.subject, max(r.created_at) AS replied_at FROM inquiries i "
        "JOIN inquiry_replies r ON r.inquiry_id = i.id AND r.from_member = 0 AND r.id > i.member_seen_reply_id "
        "WHERE i.member_id = ? GROUP BY i.id ORDER BY replied_at DESC, i.id DESC",
        (member_id,),
    )


# ---------------------------------------------------------------- the contact form's pending screenshots


async def put_pending_upload(
    db: Database, form_id: str, upload: NewAttachment, *, now: datetime
) -> str | None:
    """Keep the form's checked screenshot; returns the stored name of the one it replaced, if any."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "SELECT stored_name FROM contact_pending_uploads WHERE form_id = ?", (form_id,)
        )
        previous = await cursor.fetchone()
        await conn.execute(
            "INSERT INTO contact_pending_uploads (form_id, stored_name, original_name, content_type, size, width, "
            "height, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (form_id) DO UPDATE SET stored_name = excluded.stored_name, "
            "original_name = excluded.original_name, content_type = excluded.content_type, size = excluded.size, "
            "width = excluded.width, height = excluded.height, sha256 = excluded.sha256, "
            "created_at = excluded.created_at",
            (
                form_id,
                upload.stored_name,
                upload.original_name,
                upload.content_type,
                upload.size,
                upload.width,
                upload.height,
                upload.sha256,
                to_db(now),
            ),
        )
    db.query_count += 2
    return str(previous[0]) if previous else None


async def pending_upload(db: Database, form_id: str) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM contact_pending_uploads WHERE form_id = ?", (form_id,))


async def delete_pending_upload(db: Database, form_id: str) -> str | None:
    async with db.write() as conn:
        cursor = await conn.execute(
            "DELETE FROM contact_pending_uploads WHERE form_id = ? RETURNING stored_name", (form_id,)
        )
        row = await cursor.fetchone()
    db.query_count += 1
    return str(row[0]) if row else None


async def delete_pending_uploads_before(db: Database, before: datetime) -> list[str]:
    """The pending screenshots of forms left unsent since `before`: rows removed, stored names returned."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "DELETE FROM contact_pending_uploads WHERE created_at < ? RETURNING stored_name", (to_db(before),)
        )
        rows = await cursor.fetchall()
    db.query_count += 1
    return [str(row[0]) for row in rows]
