"""What the admin does to members: create, edit, unlock, export (the import lives in member_import)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from db import admin_members as queries
from db import audit
from db import members as member_queries
from services.context import AppContext
from services.japanese import normalize_member_number
from services.member_import import COLUMNS, NUMBER_ERROR
from services.profile import PROFILE_FIELDS, REQUIRED_FIELDS, validate_profile
from services.spreadsheet import csv_bytes

Errors = dict[str, str]


async def _email_taken(app: AppContext, email: str, except_member_id: int = 0) -> str | None:
    if not email:
        return None
    taken = await queries.existing_emails(app.db, [email], except_member_id=except_member_id)
    number = taken.get(email.lower())
    return f"このメールアドレスは会員番号 {number} で登録されています。" if number else None


async def validate_new_member(app: AppContext, values: Mapping[str, str]) -> tuple[dict[str, str], Errors]:
    clean, errors = validate_profile(
        {name: values.get(name, "") for name in PROFILE_FIELDS},
        required=REQUIRED_FIELDS - {"email"},
        charset=app.org.name_charset,
    )
    raw_number = values.get("member_number", "")
    number = normalize_member_number(raw_number)
    if number is None:
        errors = {
            "member_number": NUMBER_ERROR if raw_number.strip() else "会員番号を入力してください。",
            **errors,
        }
    elif await member_queries.get_by_number(app.db, number) is not None:
        errors = {"member_number": f"会員番号 {number} はすでに使われています。", **errors}
    else:
        clean["member_number"] = number
    if "email" not in errors:
        taken = await _email_taken(app, clean.get("email", ""))
        if taken:
            errors["email"] = taken
    return clean, errors


async def update_member(
    app: AppContext, member: sqlite3.Row, values: Mapping[str, str], *, actor_id: int, ip: str = ""
) -> tuple[dict[str, str], Errors]:
    """Save the admin's edit of a member's profile; returns (clean, errors), saving only without errors."""
    clean, errors = validate_profile(
        {name: values.get(name, "") for name in PROFILE_FIELDS},
        required=REQUIRED_FIELDS - {"email"},
        charset=app.org.name_charset,
    )
    member_id = int(member["id"])
    if "email" not in errors:
        taken = await _email_taken(app, clean.get("email", ""), except_member_id=member_id)
        if taken:
            errors["email"] = taken
    if errors:
        return clean, errors
    changed = [name for name in PROFILE_FIELDS if str(member[name] or "") != clean.get(name, "")]
    if changed:
        await queries.update_profile(app.db, member_id, clean, now=app.clock.now())
        # Field names only: the audit log is not a second copy of personal data.
        await audit.record(
            app.db,
            "member.updated",
            now=app.clock.now(),
            actor_member_id=actor_id,
            subject_member_id=member_id,
            ip=ip,
            detail={"fields": changed},
        )
    return clean, {}


async def unlock(app: AppContext, member_id: int, *, actor_id: int, ip: str = "") -> None:
    await member_queries.reset_failed_logins(app.db, member_id)
    await audit.record(
        app.db,
        "account.unlocked",
        now=app.clock.now(),
        actor_member_id=actor_id,
        subject_member_id=member_id,
        ip=ip,
    )


def export_csv(rows: Sequence[sqlite3.Row]) -> bytes:
    """Members as the import expects them, UTF-8 with a BOM so Excel opens the Japanese correctly."""
    return csv_bytes(COLUMNS, ([row[name] for name in COLUMNS] for row in rows))
