"""Fee reminders: N days before 会費の支払期限, on it, M days after, and the day before a convenience-store
payment's deadline (the schedule is in the settings); the console's 督促メールを送る for chosen members.

Each (fee, step) is claimed by one INSERT that also checks the fee is still unpaid, so a reminder goes at
most once and never after payment, whoever runs it (the scheduler, the CLI, two at once)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from db import audit
from db import fee_reminders as reminder_db
from db.timestamps import from_db
from services.context import AppContext
from services.mailer import MailError, OutgoingMail

log = logging.getLogger("tsudoi.fee_reminders")

# A step missed while the server was down is still sent within this many days of its day; after that
# the next step (or nothing) is what applies.
CATCH_UP_DAYS: Final = 7


@dataclass(frozen=True)
class Reminder:
    fee: sqlite3.Row
    step: str  # 'before', 'due', 'after', 'konbini:<attempt id>', 'manual:<date>'
    label: str

    @property
    def fee_id(self) -> int:
        return int(self.fee["fee_id"])


@dataclass
class ReminderReport:
    sent: list[Reminder] = field(default_factory=list)
    failed: list[tuple[Reminder, str]] = field(default_factory=list)
    skipped: int = 0  # taken already, or paid meanwhile


def _steps(app: AppContext, due_on: date) -> list[tuple[date, str, str]]:
    org = app.org
    steps: list[tuple[date, str, str]] = []
    if org.reminder_days_before > 0:
        steps.append(
            (
                due_on - timedelta(days=org.reminder_days_before),
                "before",
                f"会費の支払期限の{org.reminder_days_before}日前",
            )
        )
    if org.reminder_on_due_date:
        steps.append((due_on, "due", "会費の支払期限の当日"))
    if org.reminder_days_after > 0:
        steps.append(
            (
                due_on + timedelta(days=org.reminder_days_after),
                "after",
                f"会費の支払期限の{org.reminder_days_after}日後",
            )
        )
    return steps


def reminder_for(app: AppContext, fee: sqlite3.Row, at: datetime) -> Reminder | None:
    """The reminder this fee is due for at `at`, if any and not sent yet."""
    tz = app.settings.tz
    today = at.astimezone(tz).date()
    taken = set(str(fee["steps_taken"] or "").split())
    if fee["status"] == "awaiting_konbini":
        deadline = from_db(fee["konbini_deadline"]) if fee["konbini_deadline"] else None
        if not app.org.reminder_konbini or deadline is None or fee["attempt_id"] is None:
            return None
        step = f"konbini:{fee['attempt_id']}"
        day = deadline.astimezone(tz).date() - timedelta(days=1)
        if day <= today and at < deadline and step not in taken:
            return Reminder(fee, step, "コンビニでのお支払い期限の前日")
        return None
    due_on = date.fromisoformat(str(fee["due_on"]))
    applicable = [step for step in _steps(app, due_on) if step[0] <= today]
    if not applicable:
        return None
    day, step, label = applicable[-1]
    if (today - day).days > CATCH_UP_DAYS or step in taken:
        return None
    if step == "before" and today >= due_on:
        return None
    return Reminder(fee, step, label)


async def due_reminders(app: AppContext, at: datetime) -> list[Reminder]:
    return [
        reminder
        for fee in await reminder_db.open_fees(app.db)
        if str(fee["email"] or "").strip() and (reminder := reminder_for(app, fee, at)) is not None
    ]


def compose(app: AppContext, reminder: Reminder, *, subject_prefix: str = "") -> OutgoingMail:
    fee = reminder.fee
    base_url = app.settings.base_url
    konbini = reminder.step.startswith("konbini:")
    subject = (
        f"{subject_prefix}【{app.org.short_name}】コンビニでのお支払い期限が近づいています（{fee['item_name']}）"
        if konbini
        else f"{subject_prefix}【{app.org.short_name}】会費のお支払いのお願い（{fee['item_name']}）"
    )
    return app.mailer.compose(
        "fee_reminder",
        to=str(fee["email"]),
        subject=subject,
        context={
            "org": app.org,
            "member": fee,
            "fee": fee,
            "konbini": konbini,
            "konbini_deadline": from_db(fee["konbini_deadline"]) if konbini else None,
            "overdue": reminder.step == "after"
            or (
                reminder.step.startswith("manual:")
                and date.fromisoformat(str(fee["due_on"]))
                < app.clock.now().astimezone(app.settings.tz).date()
            ),
            "pay_url": f"{base_url}/payments/{fee['fee_id']}/start",
        },
    )


async def _send(app: AppContext, reminder: Reminder, *, sent_by: int | None, report: ReminderReport) -> None:
    claim = await reminder_db.claim(
        app.db, reminder.fee_id, reminder.step, sent_by=sent_by, now=app.clock.now()
    )
    if claim is None:
        report.skipped += 1
        return
    try:
        message_id = await app.mailer.send(compose(app, reminder), now=app.clock.now())
    except (MailError, ValueError) as error:
        permanent = isinstance(error, ValueError) or getattr(error, "permanent", False)
        if permanent:
            await reminder_db.mark_failed(app.db, claim, error=str(error))
        else:
            await reminder_db.release(app.db, claim)
        report.failed.append((reminder, str(error)))
        log.warning("fee reminder %s/%s failed: %s", reminder.fee_id, reminder.step, error)
        return
    await reminder_db.mark_sent(app.db, claim, message_id=message_id, now=app.clock.now())
    report.sent.append(reminder)


async def send_due(app: AppContext, at: datetime | None = None) -> ReminderReport:
    """The scheduler's job (and the CLI's): every reminder due at `at` (default now), each once."""
    report = ReminderReport()
    for reminder in await due_reminders(app, at or app.clock.now()):
        await _send(app, reminder, sent_by=None, report=report)
    if report.sent or report.failed:
        await audit.record(
            app.db,
            "fee.reminders_sent",
            now=app.clock.now(),
            detail={"sent": len(report.sent), "failed": len(report.failed), "by": "schedule"},
        )
    return report


async def run_reminder_job(app: AppContext) -> ReminderReport:
    return await send_due(app)


# ------------------------------------------------------------------------------------- the console


def manual_step(app: AppContext) -> str:
    """The console's reminder is one per fee a day: a double click or a second tab sends nothing more."""
    return f"manual:{app.clock.now().astimezone(app.settings.tz).date().isoformat()}"


async def chosen(app: AppContext, fee_ids: Sequence[int]) -> list[Reminder]:
    step = manual_step(app)
    return [
        Reminder(fee, step, "事務局から")
        for fee in await reminder_db.open_fees_by_id(app.db, fee_ids)
        if str(fee["email"] or "").strip()
    ]


async def send_chosen(
    app: AppContext, fee_ids: Sequence[int], *, actor_id: int, ip: str = ""
) -> ReminderReport:
    report = ReminderReport()
    for reminder in await chosen(app, fee_ids):
        await _send(app, reminder, sent_by=actor_id, report=report)
    await audit.record(
        app.db,
        "fee.reminders_sent",
        now=app.clock.now(),
        actor_member_id=actor_id,
        ip=ip,
        detail={
            "by": "admin",
            "sent": [f"{r.fee['member_number']}:{r.fee['item_name']}" for r in report.sent][:200],
            "failed": len(report.failed),
            "already_sent_today": report.skipped,
        },
    )
    return report


# ------------------------------------------------------------------------------------------- CLI


async def cli_send_reminders(
    app: AppContext, at_text: str, *, dry_run: bool, echo: Callable[[str], None]
) -> int:
    """`litestar tsudoi send-reminders`: what the scheduler does at --at; --dry-run only prints it."""
    from services.digests.preview import parse_at

    try:
        at = parse_at(at_text, app.settings.tz, app.clock.now())
    except ValueError:
        echo(f"--at の日時「{at_text}」を読み取れません。例：2026-06-16T09:00")
        return 2
    due = await due_reminders(app, at)
    if dry_run:
        for reminder in due:
            echo(_line(reminder))
        echo(f"送信予定 {len(due)} 件（--dry-run: 何も送信していません）")
        return 0
    report = await send_due(app, at)
    for reminder in report.sent:
        echo(_line(reminder))
    for reminder, error in report.failed:
        echo(f"失敗: {_line(reminder)}: {error}")
    echo(f"送信 {len(report.sent)} 件／失敗 {len(report.failed)} 件")
    return 1 if report.failed else 0


def _line(reminder: Reminder) -> str:
    fee: Any = reminder.fee
    return (
        f"{fee['member_number']} {fee['family_name']} {fee['given_name']} <{fee['email']}>: "
        f"{fee['item_name']} {int(fee['amount']):,}円（{reminder.label}）"
    )
