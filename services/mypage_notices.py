"""My Page's ご確認ください list: what the organization needs from the member, most urgent first.

Each kind of notice is one small function from data already loaded to `Notice | None` (or a list);
`collect` runs them and sorts. A new kind (say, an unread reply to an inquiry) is one more function and
one more entry in the list `collect` builds, with its own urgency.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from db import inquiries as inquiry_queries
from db import payments as payment_queries
from db.timestamps import from_db
from services import password_flow
from services.context import AppContext
from services.fees import current_fiscal_year, fiscal_year_of
from services.templates import WEEKDAYS_JA

# Higher is more urgent. Money the organization is waiting for comes first; a password that still
# works and a yearly profile check come last.
URGENCY_FEE_OVERDUE: Final = 90
URGENCY_KONBINI_WAITING: Final = 80
URGENCY_FEE_UNPAID: Final = 70
URGENCY_PASSWORD_EXPIRED: Final = 60
URGENCY_INQUIRY_REPLY: Final = 50  # for the inquiry notice (an answer from the office waits to be read)
URGENCY_PASSWORD_EXPIRING: Final = 40
URGENCY_PROFILE_CHECK: Final = 20

# The guide asks for a change before the password expires; this is how early My Page says so.
PASSWORD_WARNING_DAYS: Final = 14


@dataclass(frozen=True)
class NoticeLine:
    """One line of a notice's details; `alert` lines are shown in red (an overdue fee)."""

    text: str
    alert: bool = False


@dataclass(frozen=True)
class Notice:
    kind: str
    urgency: int
    title: str
    lines: tuple[NoticeLine, ...]
    button_label: str
    button_url: str
    # Among notices of equal urgency, the earlier deadline first.
    sort_key: str = ""
    alert: bool = False


def ja_day(day: date) -> str:
    """2026年6月30日(火): the one date format (the same as the `ja_date` filter)."""
    return f"{day.year}年{day.month}月{day.day}日({WEEKDAYS_JA[day.weekday()]})"


def ja_moment(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{ja_day(local.date())} {local:%H:%M}"


def fee_notices(fees: Iterable[sqlite3.Row], *, now: datetime, tz: ZoneInfo) -> list[Notice]:
    """An unpaid fee (red when past its due date) or a convenience-store number waiting to be paid."""
    today = now.astimezone(tz).date()
    notices = []
    for fee in fees:
        if fee["status"] == "paid":
            continue
        fee_id = int(fee["id"])
        due_on = date.fromisoformat(str(fee["due_on"]))
        if fee["attempt_state"] == "awaiting_konbini":
            deadline = from_db(fee["konbini_deadline"])
            lines = [
                NoticeLine(f"{fee['item_name']}（{int(fee['amount']):,}円）"),
                NoticeLine(f"コンビニ：{fee['konbini_store'] or '—'}"),
                NoticeLine(
                    f"お支払い番号：{fee['konbini_number'] or '（決済サービスからの通知をお待ちください）'}"
                ),
            ]
            if deadline is not None:
                lines.append(NoticeLine(f"コンビニでのお支払い期限：{ja_moment(deadline, tz)}"))
            notices.append(
                Notice(
                    kind="konbini_waiting",
                    urgency=URGENCY_KONBINI_WAITING,
                    title="コンビニでのお支払い待ちの会費があります",
                    lines=tuple(lines),
                    button_label="お支払い方法を見る",
                    button_url=f"/payments/{fee_id}/checkout",
                    sort_key=str(fee["konbini_deadline"] or ""),
                )
            )
            continue
        overdue = due_on < today
        lines = [
            NoticeLine(str(fee["item_name"])),
            NoticeLine(f"金額：{int(fee['amount']):,}円"),
            NoticeLine(f"会費の支払期限：{ja_day(due_on)}", alert=overdue),
        ]
        if overdue:
            lines.append(NoticeLine("会費の支払期限を過ぎています。お早めにお支払いください。", alert=True))
        notices.append(
            Notice(
                kind="fee_unpaid",
                urgency=URGENCY_FEE_OVERDUE if overdue else URGENCY_FEE_UNPAID,
                title="お支払い待ちの会費があります",
                lines=tuple(lines),
                button_label="支払手続きへ",
                button_url=f"/payments/{fee_id}/start",
                sort_key=due_on.isoformat(),
                alert=overdue,
            )
        )
    return notices


def password_notice(app: AppContext, member: sqlite3.Row, now: datetime) -> Notice | None:
    """The password expires within two weeks, or has expired and the member chose 後で変更する."""
    expiry = password_flow.password_expiry(app.org, member)
    if expiry is None or expiry - now > timedelta(days=PASSWORD_WARNING_DAYS):
        return None
    tz = app.settings.tz
    expired = expiry <= now
    if expired:
        title = "パスワードの有効期限が過ぎています"
        lines = (
            NoticeLine(f"有効期限：{ja_day(expiry.astimezone(tz).date())}", alert=True),
            NoticeLine("安全のため、パスワードの変更をお願いします。"),
        )
    else:
        days_left = (expiry.astimezone(tz).date() - now.astimezone(tz).date()).days
        title = "パスワードの有効期限が近づいています"
        lines = (
            NoticeLine(f"有効期限：{ja_day(expiry.astimezone(tz).date())}（あと{days_left}日）"),
            NoticeLine("期限までにパスワードの変更をお願いします。"),
        )
    return Notice(
        kind="password_expiry",
        urgency=URGENCY_PASSWORD_EXPIRED if expired else URGENCY_PASSWORD_EXPIRING,
        title=title,
        lines=lines,
        button_label="変更する",
        button_url="/password/change?next=/mypage",
        alert=expired,
    )


def profile_notice(member: sqlite3.Row, *, now: datetime, tz: ZoneInfo) -> Notice | None:
    """The guide asks members to check their registered details once every fiscal year."""
    year = current_fiscal_year(now, tz)
    checked_at = from_db(member["profile_checked_at"])
    if checked_at is not None and fiscal_year_of(checked_at.astimezone(tz).date()) >= year:
        return None
    return Notice(
        kind="profile_check",
        urgency=URGENCY_PROFILE_CHECK,
        title="会員情報のご確認をお願いします",
        lines=(
            NoticeLine(f"{year}年度の会員情報のご確認がまだです。"),
            NoticeLine("住所・電話番号・メールアドレスに変更がないかご確認ください。"),
        ),
        button_label="確認する",
        button_url="/profile?next=/mypage",
    )


def inquiry_notices(replies: Iterable[sqlite3.Row], *, tz: ZoneInfo) -> list[Notice]:
    """The office answered one of the member's inquiries and the member has not opened the answer yet."""
    notices = []
    for reply in replies:
        replied_at = from_db(reply["replied_at"])
        when = f"{ja_moment(replied_at, tz)} に回答がありました。" if replied_at else "回答がありました。"
        notices.append(
            Notice(
                kind="inquiry_reply",
                urgency=URGENCY_INQUIRY_REPLY,
                title="お問い合わせへの回答が届いています",
                lines=(NoticeLine(f"件名：{reply['subject']}"), NoticeLine(when)),
                button_label="回答を見る",
                button_url=f"/inquiries/{int(reply['id'])}",
                sort_key=str(reply["replied_at"] or ""),
            )
        )
    return notices


def ordered(notices: Iterable[Notice | None]) -> list[Notice]:
    """Most urgent first; equal urgency: the earlier deadline first."""
    present = [notice for notice in notices if notice is not None]
    return sorted(present, key=lambda notice: (-notice.urgency, notice.sort_key))


def member_notices(app: AppContext, member: sqlite3.Row, now: datetime) -> list[Notice]:
    """The notices that follow from the member's own row alone (password expiry, the yearly profile check):
    no query, so My Page works them out on every view, the cache never holds them."""
    present = [password_notice(app, member, now), profile_notice(member, now=now, tz=app.settings.tz)]
    return [notice for notice in present if notice is not None]


@dataclass(frozen=True)
class OfficeNotices:
    """The notices read from the database (fees, payment attempts, inquiry answers). They change only by
    a write (which bumps the member's page version), by the day (a fee becomes overdue) or at a konbini
    payment deadline (`valid_until`, the first one after now)."""

    notices: list[Notice]
    valid_until: datetime | None


async def office_notices(app: AppContext, member_id: int, now: datetime) -> OfficeNotices:
    """Two queries (open fees, unread inquiry answers: issue 15 allows 2)."""
    tz = app.settings.tz
    fees = await payment_queries.member_open_fees(app.db, member_id)
    replies = await inquiry_queries.unread_replies(app.db, member_id)
    deadlines = [
        deadline
        for fee in fees
        if fee["status"] != "paid"
        and (deadline := from_db(fee["konbini_deadline"])) is not None
        and deadline > now
    ]
    return OfficeNotices(
        [*fee_notices(fees, now=now, tz=tz), *inquiry_notices(replies, tz=tz)], min(deadlines, default=None)
    )


async def collect(app: AppContext, member: sqlite3.Row) -> list[Notice]:
    """Every notice for the member, most urgent first; two queries (open fees, unread inquiry answers)."""
    now = app.clock.now()
    office = await office_notices(app, int(member["id"]), now)
    return ordered([*office.notices, *member_notices(app, member, now)])


def notice_to_json(notice: Notice) -> dict[str, object]:
    return {**asdict(notice), "lines": [asdict(line) for line in notice.lines]}


def notice_from_json(value: dict[str, Any]) -> Notice:
    lines = tuple(NoticeLine(str(line["text"]), bool(line["alert"])) for line in value["lines"])
    return Notice(
        kind=str(value["kind"]),
        urgency=int(value["urgency"]),
        title=str(value["title"]),
        lines=lines,
        button_label=str(value["button_label"]),
        button_url=str(value["button_url"]),
        sort_key=str(value["sort_key"]),
        alert=bool(value["alert"]),
    )
