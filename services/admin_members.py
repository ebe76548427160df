"""What the admin does to members: create, edit, unlock, export (the import lives in member_import)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from db import admin_members as queries
from db import audit
from db import members as member_queries
from db.timestamps import from_db
from services.context import AppContext
from services.fees import FEE_STATUS_LABELS, PAID_METHOD_LABELS, current_fiscal_year
from services.japanese import normalize_member_number
from services.member_import import COLUMNS, JAPANESE_HEADERS, NUMBER_ERROR
from services.perks import MemberTier, tiers_for
from services.profile import PROFILE_FIELDS, REQUIRED_FIELDS, validate_profile
from services.spreadsheet import csv_bytes, xlsx_bytes

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


# The member's state after the import's columns (the import lists them as unknown and ignores them).
STATE_HEADER: tuple[str, ...] = (
    "会員プラン",
    "プランの期限",
    "状態",
    "入会日",
    "最終ログイン",
    "今年度の会費",
)
STATUS_LABELS = {"active": "有効", "closed": "退会済み"}
# The .xlsx export's headers: the Japanese names the import accepts as aliases of COLUMNS.
JAPANESE_COLUMNS: tuple[str, ...] = tuple(
    {name: japanese for japanese, name in JAPANESE_HEADERS.items()}[name] for name in COLUMNS
)


@dataclass(frozen=True)
class ExportTable:
    rows: list[list[str]]

    def csv(self) -> bytes:
        """The import's column names, then the state: UTF-8 with a BOM so Excel reads the Japanese."""
        return csv_bytes([*COLUMNS, *STATE_HEADER], self.rows)

    def xlsx(self) -> bytes:
        """Japanese headers; every value a text cell so 001001 and 09011112222 keep their zeros."""
        return xlsx_bytes([*JAPANESE_COLUMNS, *STATE_HEADER], self.rows)


def _fee_text(fees: Sequence[sqlite3.Row]) -> str:
    parts = []
    for fee in fees:
        state = FEE_STATUS_LABELS.get(fee["status"], fee["status"])
        method = PAID_METHOD_LABELS.get(fee["paid_method"] or "", "")
        parts.append(f"{fee['name']} {fee['amount']:,}円 {state}" + (f"（{method}）" if method else ""))
    return "、".join(parts) if parts else "なし"


async def export_table(app: AppContext, rows: Sequence[sqlite3.Row]) -> ExportTable:
    """The members as the import reads them, with their state today: tier and until when, status,
    joined, last login, and the fee of the current fiscal year."""
    now = app.clock.now()
    tz = app.settings.tz
    ids = [int(row["id"]) for row in rows]
    tiers: dict[int, MemberTier] = {}
    for start in range(0, len(ids), 500):
        tiers.update(await tiers_for(app.db, ids[start : start + 500], now=now, tz=tz))
    logins = await queries.last_logins(app.db)
    fees: dict[int, list[sqlite3.Row]] = {}
    for fee in await queries.fees_of_year(app.db, current_fiscal_year(now, tz)):
        fees.setdefault(int(fee["member_id"]), []).append(fee)

    def local(stamp: str | None, with_time: bool) -> str:
        moment = from_db(stamp)
        if moment is None:
            return ""
        moment = moment.astimezone(tz)
        return f"{moment:%Y-%m-%d %H:%M}" if with_time else moment.date().isoformat()

    table = []
    for row in rows:
        member_id = int(row["id"])
        tier = tiers.get(member_id)
        table.append(
            [
                *(str(row[name] or "") for name in COLUMNS),
                tier.name if tier else "",
                tier.ends_on.isoformat()
                if tier and tier.ends_on
                else ("" if tier and not tier.is_paid else "期限なし"),
                STATUS_LABELS.get(row["status"], row["status"]),
                local(row["created_at"], with_time=False),
                local(logins.get(member_id), with_time=True) or "なし",
                _fee_text(fees.get(member_id, [])),
            ]
        )
    return ExportTable(table)
