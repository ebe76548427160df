"""Events members sign up for (イベント申込): the registration rules, the mails, the .ics files and the
private calendar feed, the day-before reminder, check-in codes and the admin's export."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar

from db import events as event_queries
from db import members as member_queries
from db.timestamps import from_db
from services import card as member_card
from services import fees as fee_service
from services.articles import Access, access_for, is_visible, may_read, parse_local_datetime
from services.context import AppContext
from services.mailer import Attachment
from services.notify import send_mail
from services.perks import org_today

log = logging.getLogger("tsudoi.events")

DEFAULT_LENGTH = timedelta(hours=2)
MAX_CAPACITY = 100_000
# The reminder goes out on the day before the event, from this local hour on.
REMINDER_FROM = time(9, 0)
# Check-in codes: 8 letters without look-alikes (0/O, 1/I/L), read aloud or typed from the phone.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8

STATUS_LABELS = {"registered": "参加確定", "waitlisted": "キャンセル待ち", "cancelled": "取り消し済み"}


# ---------------------------------------------------------------- what a member may do


class Openness(StrEnum):
    OPEN = "open"  # seats left
    FULL = "full"  # only the waitlist
    CLOSED = "closed"  # closed by the admin
    PAST_DEADLINE = "past_deadline"
    OUTSIDE = "outside"  # run elsewhere (application_url) or no sign-up here


OPENNESS_LABELS = {
    Openness.OPEN: "受付中",
    Openness.FULL: "満席（キャンセル待ち受付中）",
    Openness.CLOSED: "受付終了",
    Openness.PAST_DEADLINE: "締め切りました",
    Openness.OUTSIDE: "",
}


def openness(event: sqlite3.Row, now: datetime) -> Openness:
    if not event["takes_registrations"]:
        return Openness.OUTSIDE
    if event["closed"]:
        return Openness.CLOSED
    deadline = from_db(event["deadline"])
    if deadline is None or deadline <= now:
        return Openness.PAST_DEADLINE
    return Openness.OPEN if int(event["taken"]) < int(event["capacity"]) else Openness.FULL


def seats_left(event: sqlite3.Row) -> int:
    return max(0, int(event["capacity"] or 0) - int(event["taken"] or 0))


def can_cancel(registration: sqlite3.Row, now: datetime) -> bool:
    deadline = from_db(registration["deadline"])
    return registration["status"] in ("registered", "waitlisted") and deadline is not None and now < deadline


async def viewable_event(
    app: AppContext, event_id: int, member_id: int | None
) -> tuple[sqlite3.Row, Access] | None:
    """A published event and the viewer's access; None when there is no such event to show."""
    event = await event_queries.event(app.db, event_id)
    if event is None or not is_visible(event, app.clock.now()):
        return None
    return event, await access_for(app, member_id)


# ---------------------------------------------------------------- registering and cancelling


class Outcome(StrEnum):
    REGISTERED = "registered"
    WAITLISTED = "waitlisted"
    ALREADY = "already"
    NOT_ALLOWED = "not_allowed"  # the tier does not include events (or members-only ones)
    CLOSED = "closed"  # closed, past the deadline, or not taking registrations here


@dataclass(frozen=True)
class RegisterResult:
    outcome: Outcome
    registration_id: int | None = None
    status: str = ""

    def message(self) -> str:
        return {
            Outcome.REGISTERED: "お申し込みを受け付けました。確認のメールをお送りしました。",
            Outcome.WAITLISTED: (
                "満席のため、キャンセル待ちに登録しました。お席が空いた場合は自動で参加が確定し、メールでお知らせします。"
            ),
            Outcome.ALREADY: "このイベントにはすでにお申し込み済みです。",
            Outcome.NOT_ALLOWED: "このイベントへのお申し込みは、ご利用中のプランでは受け付けておりません。",
            Outcome.CLOSED: "このイベントのお申し込みは締め切りました。",
        }[self.outcome]


def new_checkin_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str) -> str:
    """What an admin typed or scanned: full-width letters, lower case, spaces and hyphens are forgiven."""
    text = unicodedata.normalize("NFKC", raw).upper()
    return "".join(ch for ch in text if ch in CODE_ALPHABET)[: CODE_LENGTH + 1]


def display_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}" if len(code) == CODE_LENGTH else code


async def register(
    app: AppContext, event: sqlite3.Row, member: sqlite3.Row, access: Access
) -> RegisterResult:
    if not may_read(event, access):
        return RegisterResult(Outcome.NOT_ALLOWED)
    now = app.clock.now()
    if openness(event, now) in (Openness.CLOSED, Openness.PAST_DEADLINE, Openness.OUTSIDE):
        existing = await event_queries.registration_for(app.db, int(event["id"]), int(member["id"]))
        if existing is not None:
            return RegisterResult(Outcome.ALREADY, int(existing["id"]), str(existing["status"]))
        return RegisterResult(Outcome.CLOSED)
    result = await event_queries.register(
        app.db, int(event["id"]), int(member["id"]), code=new_checkin_code(), now=now
    )
    if result is None:
        return RegisterResult(Outcome.CLOSED)
    if not result.created:
        return RegisterResult(Outcome.ALREADY, result.registration_id, result.status)
    await _mail_registration(
        app,
        result.registration_id,
        "event_registered" if result.status == "registered" else "event_waitlisted",
    )
    outcome = Outcome.REGISTERED if result.status == "registered" else Outcome.WAITLISTED
    return RegisterResult(outcome, result.registration_id, result.status)


@dataclass(frozen=True)
class CancelResult:
    ok: bool
    message: str


async def cancel(app: AppContext, registration: sqlite3.Row, member_id: int) -> CancelResult:
    now = app.clock.now()
    if not can_cancel(registration, now):
        if registration["status"] == "cancelled":
            return CancelResult(False, "このお申し込みはすでに取り消されています。")
        return CancelResult(
            False, "申込締切を過ぎたため、ここからは取り消せません。事務局までお問い合わせください。"
        )
    result = await event_queries.cancel(app.db, int(registration["id"]), member_id, now=now)
    if result is None:
        return CancelResult(
            False, "申込締切を過ぎたため、ここからは取り消せません。事務局までお問い合わせください。"
        )
    for promoted_id in result.promoted:
        await _mail_registration(app, promoted_id, "event_promoted")
    note = ""
    if registration["fee_status"] == "paid":
        note = "お支払い済みの参加費の返金については、事務局からご連絡いたします。"
    return CancelResult(True, "お申し込みを取り消しました。" + note)


async def mail_promotions(app: AppContext, registration_ids: Sequence[int]) -> None:
    for registration_id in registration_ids:
        await _mail_registration(app, registration_id, "event_promoted")


MAIL_SUBJECTS = {
    "event_registered": "イベントのお申し込みを受け付けました",
    "event_waitlisted": "イベントのキャンセル待ちに登録しました",
    "event_promoted": "キャンセル待ちのイベントの参加が確定しました",
    "event_reminder": "明日のイベントのご案内",
}


async def _mail_registration(app: AppContext, registration_id: int, kind: str) -> bool:
    registration = await event_queries.registration(app.db, registration_id)
    if registration is None:
        return False
    member = await member_queries.get_by_id(app.db, int(registration["member_id"]))
    if member is None or member["status"] != "active":
        return False
    event = await event_queries.event(app.db, int(registration["article_id"]))
    if event is None:
        return False
    base = app.settings.base_url
    attachments: list[Attachment] = []
    if registration["status"] == "registered":
        attachments.append(Attachment(f"event-{event['id']}.ics", event_ics(app, event), "text/calendar"))
    return await send_mail(
        app.db,
        app.mailer,
        kind=kind,
        to=str(member["email"]),
        subject=f"【{app.org.short_name}】{MAIL_SUBJECTS[kind]}",
        context={
            "member": member,
            "event": event,
            "registration": registration,
            "org": app.org,
            "code": display_code(str(registration["checkin_code"])),
            "registration_url": f"{base}/events/registrations/{registration['id']}",
            "event_url": f"{base}/events/{event['id']}",
            "pay_url": f"{base}/payments/{registration['fee_id']}/start" if registration["fee_id"] else "",
        },
        now=app.clock.now(),
        attachments=attachments,
    )


# ---------------------------------------------------------------- the admin's settings form


@dataclass
class SettingsForm:
    values: dict[str, str]
    errors: dict[str, str]
    settings: event_queries.EventSettings | None = None


def _moment(raw: str, tz: ZoneInfo) -> datetime | None:
    """A datetime-local value as UTC; None for anything else (year 1 in Tokyo is out of range in UTC)."""
    try:
        return parse_local_datetime(raw, tz)
    except OverflowError:
        return None


def _number(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).replace(",", "").replace("円", "").replace("名", "").strip()


def check_settings(values: dict[str, str], event: sqlite3.Row, *, tz: ZoneInfo) -> SettingsForm:
    form = SettingsForm(values=dict(values), errors={})
    start = from_db(event["event_date"])
    capacity_text = _number(values.get("capacity", ""))
    capacity = int(capacity_text) if capacity_text.isdigit() and len(capacity_text) < 7 else 0
    if not 1 <= capacity <= MAX_CAPACITY:
        form.errors["capacity"] = f"定員を1から{MAX_CAPACITY:,}までの整数で入力してください（例：30）。"
    raw_deadline = values.get("deadline", "").strip()
    deadline = _moment(raw_deadline, tz) if raw_deadline else start
    if deadline is None:
        form.errors["deadline"] = "申込締切は「2026-12-01 17:00」の形式で入力してください。"
    elif start is not None and deadline > start:
        form.errors["deadline"] = "申込締切は開催日時より前にしてください。"
    raw_end = values.get("ends_at", "").strip()
    ends_at = _moment(raw_end, tz) if raw_end else (start + DEFAULT_LENGTH if start else None)
    if ends_at is None:
        form.errors["ends_at"] = "終了日時は「2026-12-01 16:00」の形式で入力してください。"
    elif start is not None and ends_at <= start:
        form.errors["ends_at"] = "終了日時は開催日時より後にしてください。"
    fee_text = _number(values.get("fee_amount", "")) or "0"
    fee = int(fee_text) if fee_text.isdigit() and len(fee_text) < 9 else -1
    if not 0 <= fee <= fee_service.MAX_AMOUNT:
        form.errors["fee_amount"] = (
            f"参加費を0円から{fee_service.MAX_AMOUNT:,}円までの整数で入力してください（無料は0）。"
        )
    if start is None:
        form.errors["form"] = "先にイベントの開催日時を設定してください。"
    if form.errors or deadline is None or ends_at is None:
        return form
    form.settings = event_queries.EventSettings(
        capacity=capacity,
        deadline=deadline,
        ends_at=ends_at,
        fee_amount=fee,
        closed=values.get("closed", "") in {"1", "on"},
    )
    return form


async def save_settings(app: AppContext, event: sqlite3.Row, form: SettingsForm) -> None:
    assert form.settings is not None
    start = from_db(event["event_date"])
    assert start is not None
    day = start.astimezone(app.settings.tz).date()
    name = f"{event['title'][:80]}（イベント番号{event['id']}）"
    promoted = await event_queries.save_settings(
        app.db,
        int(event["id"]),
        form.settings,
        fee_item=(fee_service.fiscal_year_of(day), name, day),
        now=app.clock.now(),
    )
    await mail_promotions(app, promoted)


# ---------------------------------------------------------------- calendar files


def _domain(app: AppContext) -> str:
    return urlsplit(app.settings.base_url).hostname or "tsudoi.invalid"


def _calendar(app: AppContext, name: str) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Tsudoi//Events//JA")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", app.settings.timezone)
    return calendar


def _vevent(app: AppContext, event: Any, *, status: str = "CONFIRMED", prefix: str = "") -> icalendar.Event:
    tz = app.settings.tz
    start = from_db(event["event_date"])
    assert start is not None
    keys = event.keys()
    end = from_db(event["ends_at"]) if "ends_at" in keys and event["ends_at"] else None
    item = icalendar.Event()
    item.add("uid", f"event-{event['id']}@{_domain(app)}")
    item.add("dtstamp", app.clock.now().astimezone(UTC))
    item.add("dtstart", start.astimezone(tz))
    item.add("dtend", (end or start + DEFAULT_LENGTH).astimezone(tz))
    item.add("summary", prefix + str(event["title"]))
    if event["event_place"]:
        item.add("location", str(event["event_place"]))
    url = f"{app.settings.base_url}/events/{event['id']}"
    item.add("url", url)
    description = str(event["summary"] or "")
    item.add("description", (description + "\n\n" if description else "") + url)
    item.add("status", status)
    updated = from_db(event["updated_at"]) if "updated_at" in keys else None
    if updated is not None:
        item.add("last-modified", updated.astimezone(UTC))
    return item


def _finish(calendar: icalendar.Calendar) -> bytes:
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())


def event_ics(app: AppContext, event: sqlite3.Row) -> bytes:
    """One event as an .ics file (the confirmation mail's attachment, /events/{id}.ics)."""
    calendar = _calendar(app, str(event["title"]))
    calendar.add_component(_vevent(app, event))
    return _finish(calendar)


async def feed_ics(app: AppContext, member_id: int) -> bytes:
    """The member's private feed: every event they signed up for (the waitlist marked tentative)."""
    calendar = _calendar(app, f"{app.org.short_name} 申し込んだイベント")
    calendar.add("refresh-interval", timedelta(hours=6), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT6H")
    for row in await event_queries.member_registrations(app.db, member_id):
        event = {
            **event_queries.row_dict(row),
            "id": row["article_id"],
            "updated_at": row["event_updated_at"],
        }
        waiting = row["status"] == "waitlisted"
        calendar.add_component(
            _vevent(
                app,
                event,
                status="TENTATIVE" if waiting else "CONFIRMED",
                prefix="【キャンセル待ち】" if waiting else "",
            )
        )
    return _finish(calendar)


# ---------------------------------------------------------------- the private feed's URL

FEED_ID_BYTES = 12
_SIGNATURE_LENGTH = 32


def _sign(app: AppContext, feed_id: str) -> str:
    key = hashlib.sha256(("calendar-feed:" + app.settings.secret_key).encode()).digest()
    return hmac.new(key, feed_id.encode(), hashlib.sha256).hexdigest()[:_SIGNATURE_LENGTH]


def feed_token(app: AppContext, feed_id: str) -> str:
    return f"{feed_id}.{_sign(app, feed_id)}"


def feed_id_from_token(app: AppContext, token: str) -> str | None:
    """The feed id a URL token names when its signature is right; None otherwise."""
    token = token.removesuffix(".ics")
    feed_id, _, signature = token.partition(".")
    if not feed_id or len(feed_id) > 40 or len(signature) != _SIGNATURE_LENGTH:
        return None
    return feed_id if hmac.compare_digest(signature, _sign(app, feed_id)) else None


async def feed_url(app: AppContext, member_id: int, *, regenerate: bool = False) -> str:
    """The member's feed URL (made on first use); `regenerate` replaces it, so the old URL stops working."""
    feed_id = await event_queries.set_feed_id(
        app.db, member_id, secrets.token_urlsafe(FEED_ID_BYTES), now=app.clock.now(), replace=regenerate
    )
    return f"{app.settings.base_url}/events/feed/{feed_token(app, feed_id)}.ics"


def webcal_url(url: str) -> str:
    """The subscribe link phones open in their calendar app."""
    return "webcal://" + url.split("://", 1)[1] if "://" in url else url


# ---------------------------------------------------------------- the day-before reminder


def tomorrow_bounds(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Tomorrow in the organization's time zone, as [start, end) in UTC."""
    today = now.astimezone(tz).date()
    start = datetime.combine(today + timedelta(days=1), time(0), tzinfo=tz)
    end = datetime.combine(today + timedelta(days=2), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


async def run_reminder_job(app: AppContext) -> int:
    """Mail every seat of tomorrow's events once. Each registration is claimed (marked reminded) in one
    statement before its mail is sent, so reruns, restarts and two processes never send it twice; a mail
    the server refuses for a while is queued and retried by the mail queue."""
    now = app.clock.now()
    if now.astimezone(app.settings.tz).time() < REMINDER_FROM:
        return 0
    start, end = tomorrow_bounds(now, app.settings.tz)
    sent = 0
    for row in await event_queries.claim_reminders(app.db, start=start, end=end, now=now):
        if await _mail_registration(app, int(row["id"]), "event_reminder"):
            sent += 1
    if sent:
        log.info("event reminders sent: %d", sent)
    return sent


# ---------------------------------------------------------------- the admin's export

EXPORT_HEADER = [
    "状態",
    "順番",
    "会員番号",
    "氏名",
    "フリガナ",
    "メールアドレス",
    "参加費",
    "出席",
    "申込日時",
    "受付コード",
]


def export_rows(rows: Sequence[sqlite3.Row], tz: ZoneInfo) -> list[list[object]]:
    found: list[list[object]] = []
    waiting = 0
    for row in rows:
        if row["status"] == "waitlisted":
            waiting += 1
        created = from_db(row["created_at"])
        attended = from_db(row["attended_at"])
        found.append(
            [
                STATUS_LABELS[str(row["status"])],
                waiting if row["status"] == "waitlisted" else "",
                str(row["member_number"]),
                f"{row['family_name']} {row['given_name']}",
                f"{row['family_kana']} {row['given_kana']}",
                str(row["email"]),
                fee_service.FEE_STATUS_LABELS.get(str(row["fee_status"] or ""), ""),
                attended.astimezone(tz).strftime("%Y-%m-%d %H:%M") if attended else "",
                created.astimezone(tz).strftime("%Y-%m-%d %H:%M") if created else "",
                display_code(str(row["checkin_code"])),
            ]
        )
    return found


def export_name(event: sqlite3.Row, suffix: str, today: date) -> str:
    return f"event-{event['id']}-registrations-{today:%Y%m%d}.{suffix}"


def card_token_in(raw: str) -> str | None:
    """The token of a membership card's QR code (…/verify/<token>) scanned or pasted at check-in."""
    text = raw.strip()
    if "/verify/" in text:
        return text.rsplit("/verify/", 1)[1].split("?", 1)[0].strip("/") or None
    return None


async def registration_from_card(app: AppContext, token: str) -> tuple[sqlite3.Row | None, str]:
    """Today's registration of the member whose card was scanned, or why there is none (Japanese)."""
    result = await member_card.verify(app, token)
    if not result.valid or result.member_id is None:
        return None, f"会員証が無効です：{result.reason}"
    day = org_today(app.clock.now(), app.settings.tz)
    start = datetime.combine(day, time.min, tzinfo=app.settings.tz)
    found = await event_queries.member_registration_between(
        app.db, result.member_id, start, start + timedelta(days=1)
    )
    if found is None:
        return None, f"{result.name} 様の本日のイベントのお申し込みは見つかりません。"
    return found, ""
