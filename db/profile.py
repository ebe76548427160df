"""Queries for the member's own profile: optimistic-concurrency saves and the pending e-mail change."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from db.database import Database
from db.timestamps import to_db

# The columns a member edits on /profile (e-mail goes through the confirmation link instead).
SAVED_COLUMNS = (
    "family_name",
    "given_name",
    "family_kana",
    "given_kana",
    "phone",
    "postal_code",
    "prefecture",
    "address1",
    "address2",
    "affiliation",
)


async def save_profile(
    db: Database,
    member_id: int,
    values: Mapping[str, str],
    *,
    expected_version: int,
    pending_email: str | None,
    now: datetime,
) -> bool:
    """Write the profile only if nobody saved since the form was loaded; False when the form was stale.

    pending_email None keeps any pending e-mail change as it is.
    """
    assignments = [f"{column} = ?" for column in SAVED_COLUMNS]
    params: list[object] = [values.get(column, "") for column in SAVED_COLUMNS]
    if pending_email is not None:
        assignments += ["pending_email = ?", "pending_email_requested_at = ?"]
        params += [pending_email, to_db(now) if pending_email else None]
    assignments += ["profile_checked_at = ?", "updated_at = ?", "profile_version = profile_version + 1"]
    params += [to_db(now), to_db(now), member_id, expected_version]
    # Column names come from SAVED_COLUMNS above, never from the request.
    sql = (
        "UPDATE members SET "  # noqa: S608
        + ", ".join(assignments)
        + " WHERE id = ? AND profile_version = ? AND status = 'active'"
    )
    async with db.write() as conn:
        cursor = await conn.execute(sql, params)
        return cursor.rowcount == 1


async def clear_pending_email(db: Database, member_id: int) -> bool:
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE members SET pending_email = '', pending_email_requested_at = NULL "
            "WHERE id = ? AND pending_email != ''",
            (member_id,),
        )
        return cursor.rowcount == 1


async def confirm_email(db: Database, member_id: int, email: str, *, now: datetime) -> bool:
    """Make the pending address the member's address, if it is still the one the link was sent for."""
    async with db.write() as conn:
        cursor = await conn.execute(
            "UPDATE members SET email = pending_email, pending_email = '', pending_email_requested_at = NULL, "
            "profile_version = profile_version + 1, updated_at = ? "
            "WHERE id = ? AND pending_email = ? AND status = 'active'",
            (to_db(now), member_id, email),
        )
        return cursor.rowcount == 1
