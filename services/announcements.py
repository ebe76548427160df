"""事務局からのお知らせ: the admin writes one, picks who gets it, previews, tests, sends now or at a set
time; delivery runs on the digest's exactly-once engine (services/delivery.py); members read them at
/announcements and choose in /settings/mail whether optional ones come by mail."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from db import announcements as announcement_db
from db import audit, deliveries, taxonomy, tiers
from db import payments as payment_queries
from db.announcements import Audience
from db.deliveries import ANNOUNCEMENT_DELIVERIES, DeliveryCounts
from db.timestamps import from_db
from services.charset import check_text
from services.context import AppContext
from services.delivery import CLAIM_LEASE, DeliverySender, SendReport
from services.digests.options import ANNOUNCEMENT_LIST, SKIP_CLOSED, DigestOptions, load_options
from services.digests.preferences import unsubscribe_token
from services.digests.recipients import unsendable_reason
from services.japanese import PREFECTURES
from services.mail_skeleton import SkeletonTemplate, Slots, render_parts
from services.mailer import MailError, OutgoingMail
from services.markdown import render_markdown, render_plain

log = logging.getLogger("tsudoi.announcements")

NAME: Final = "事務局からのお知らせ"
MAX_TITLE: Final = 100
MAX_BODY: Final = 20_000
BUILD_BATCH: Final = 1000
# A scheduled send must be at least this far ahead (a time "now" has already passed by the time it is saved).
MIN_LEAD: Final = timedelta(minutes=1)
MAX_LEAD: Final = timedelta(days=366)

AUDIENCE_LABELS: Final[dict[str, str]] = {
    "all": "全員",
    "tier": "プランで選ぶ",
    "membership_type": "会員種別で選ぶ",
    "unpaid": "会費が未払いの会員",
    "prefecture": "都道府県で選ぶ",
    "topic": "新着条件のテーマで選ぶ",
}
CATEGORY_LABELS: Final[dict[str, str]] = {
    "optional": "事務局からのお知らせ（受け取らない設定の会員には送りません）",
    "required": "会費・アカウントに関する大切なお知らせ（配信設定にかかわらず送ります）",
}
STATUS_LABELS: Final[dict[str, str]] = {
    "draft": "下書き",
    "scheduled": "送信予約中",
    "building": "送信準備中",
    "sending": "送信中",
    "done": "送信済み",
}
SKIP_OPTED_OUT: Final = "事務局からのお知らせを受け取らない設定です"


# ------------------------------------------------------------------------------------------ the form


@dataclass
class AnnouncementForm:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def record(self) -> dict[str, Any]:
        """The row's values (the body rendered once here, through the help pages' sanitizer)."""
        body = self.values["body_md"]
        return {
            "title": self.values["title"],
            "body_md": body,
            "body_html": render_markdown(body),
            "body_text": render_plain(body),
            "category": self.values["category"],
            "members_only": self.values["members_only"] == "1",
            "audience": self.values["audience"],
            "audience_value": self.audience.value,
        }

    @property
    def audience(self) -> Audience:
        kind = self.values["audience"]
        value = self.values.get(f"audience_{kind}", "") if kind not in ("all", "unpaid") else ""
        return Audience(kind, value, required=self.values["category"] == "required")


@dataclass(frozen=True)
class AudienceChoices:
    tiers: list[tuple[str, str]]
    membership_types: list[str]
    prefectures: tuple[str, ...]
    topics: list[tuple[str, str]]  # (term id, name with its parents)

    def label(self, audience: Audience) -> str:
        if audience.kind == "tier":
            return f"プラン「{dict(self.tiers).get(audience.value, audience.value)}」の会員"
        if audience.kind == "membership_type":
            return f"会員種別「{audience.value}」の会員"
        if audience.kind == "prefecture":
            return f"{audience.value}の会員"
        if audience.kind == "topic":
            return f"新着条件にテーマ「{dict(self.topics).get(audience.value, '—')}」を含む会員"
        if audience.kind == "unpaid":
            return "会費が未払いの会員"
        return "全員"


async def audience_choices(app: AppContext) -> AudienceChoices:
    terms = [row for row in await taxonomy.all_terms(app.db) if row["taxonomy"] == "topic"]
    names = {int(row["id"]): str(row["name"]) for row in terms}
    parents = {int(row["id"]): row["parent_id"] for row in terms}

    def path(term_id: int) -> str:
        parent = parents.get(term_id)
        return (
            f"{path(int(parent))} › {names[term_id]}" if parent and int(parent) in names else names[term_id]
        )

    return AudienceChoices(
        tiers=[(str(row["code"]), str(row["name"])) for row in await tiers.all_tiers(app.db)],
        membership_types=await payment_queries.membership_types(app.db),
        prefectures=PREFECTURES,
        topics=sorted(((str(i), path(i)) for i in names), key=lambda pair: pair[1]),
    )


FORM_FIELDS: Final = (
    "title",
    "body_md",
    "category",
    "members_only",
    "audience",
    "audience_tier",
    "audience_membership_type",
    "audience_prefecture",
    "audience_topic",
)


def empty_values() -> dict[str, str]:
    return {name: "" for name in FORM_FIELDS} | {"category": "optional", "audience": "all"}


def values_of(row: sqlite3.Row) -> dict[str, str]:
    values = empty_values() | {
        "title": str(row["title"]),
        "body_md": str(row["body_md"]),
        "category": str(row["category"]),
        "members_only": "1" if row["members_only"] else "",
        "audience": str(row["audience"]),
    }
    if row["audience"] not in ("all", "unpaid"):
        values[f"audience_{row['audience']}"] = str(row["audience_value"])
    return values


def check_form(raw: Mapping[str, str], choices: AudienceChoices) -> AnnouncementForm:
    values = empty_values() | {name: raw.get(name, "") for name in FORM_FIELDS}
    values["title"] = unicodedata.normalize("NFKC", values["title"]).replace("\x00", "").strip()
    values["body_md"] = values["body_md"].replace("\x00", "").replace("\r\n", "\n").strip("\n")
    values["members_only"] = "1" if values["members_only"] in ("1", "on") else ""
    form = AnnouncementForm(values)
    errors = form.errors
    if not values["title"]:
        errors["title"] = "件名を入力してください。"
    elif len(values["title"]) > MAX_TITLE:
        errors["title"] = f"件名は{MAX_TITLE}文字以内で入力してください。"
    elif problem := check_text(values["title"]):
        errors["title"] = problem
    if not values["body_md"].strip():
        errors["body_md"] = "本文を入力してください。"
    elif len(values["body_md"]) > MAX_BODY:
        errors["body_md"] = f"本文は{MAX_BODY:,}文字以内で入力してください。"
    if values["category"] not in CATEGORY_LABELS:
        errors["category"] = "お知らせの種類を選んでください。"
        values["category"] = "optional"
    kind = values["audience"]
    if kind not in AUDIENCE_LABELS:
        errors["audience"] = "送り先を選んでください。"
        values["audience"] = "all"
    elif kind != "all" and kind != "unpaid":
        value = values[f"audience_{kind}"]
        allowed = {
            "tier": [code for code, _ in choices.tiers],
            "membership_type": choices.membership_types,
            "prefecture": list(choices.prefectures),
            "topic": [term_id for term_id, _ in choices.topics],
        }[kind]
        if value not in allowed:
            errors["audience"] = f"{AUDIENCE_LABELS[kind].removesuffix('で選ぶ')}を選んでください。"
    return form


def parse_send_at(raw: str, app: AppContext) -> tuple[datetime | None, str | None]:
    """The datetime-local field, read in the organization's time zone; it must lie ahead."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        return None, "送信する日時を入力してください（例：2026-12-01 09:00）。"
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        return None, "送信する日時を読み取れません。例：2026-12-01 09:00"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=app.settings.tz)
    now = app.clock.now()
    if moment < now + MIN_LEAD:
        return None, "送信する日時には、これから先の日時を入力してください。"
    if moment > now + MAX_LEAD:
        return None, "送信する日時は1年以内にしてください。"
    return moment, None


# ----------------------------------------------------------------------------------------- the mail


def _list_id(base_url: str) -> str:
    host = urlsplit(base_url).hostname or "localhost"
    return f"<announcements.{host}>"


class AnnouncementMail:
    """The mail of one announcement; the templates are loaded once for a whole send, as skeletons
    (services/mail_skeleton.py): a member's mail joins the rendered pieces with their name and link."""

    def __init__(self, app: AppContext, announcement: Mapping[str, Any]) -> None:
        self.app = app
        self.announcement = announcement
        self.text = SkeletonTemplate(app.templates.get_template("mail/announcement.txt"))
        self.html = SkeletonTemplate(app.templates.get_template("mail/announcement.html"))
        self.subject = f"【{app.org.short_name}】{announcement['title']}"

    def compose(self, member: Mapping[str, Any] | sqlite3.Row, *, subject_prefix: str = "") -> OutgoingMail:
        base_url = self.app.settings.base_url
        optional = self.announcement["category"] != "required"
        unsubscribe_url = ""
        headers: dict[str, str] = {"List-Id": _list_id(base_url), "X-Tsudoi-Kind": "announcement"}
        if optional:
            token = unsubscribe_token(self.app.settings.secret_key, int(member["id"]), ANNOUNCEMENT_LIST)
            unsubscribe_url = f"{base_url}/unsubscribe/{token}"
            # RFC 8058 one-click, for this category only (the digest has its own link).
            headers |= {
                "List-Unsubscribe": f"<{unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        announcement_id = self.announcement.get("id")
        read_url = (
            f"{base_url}/announcements/{announcement_id}" if announcement_id else f"{base_url}/announcements"
        )
        subject = subject_prefix + self.subject

        def context(slot: Slots) -> dict[str, Any]:
            """What the templates see; every per-member value passes through `slot`."""
            return {
                "subject": subject,
                "member": slot.pick(member, ("family_name", "given_name")),
                "org": self.app.org,
                "announcement": self.announcement,
                "body_text": self.announcement["body_text"],
                "body_html": self.announcement["body_html"],
                "read_url": read_url,
                "settings_url": f"{base_url}/settings/mail",
                "unsubscribe_url": slot(unsubscribe_url),
            }

        # The announcement is this object's; the rest that is not per member is named here.
        constants = (subject, read_url, base_url, self.app.org)
        text, html = render_parts(constants, context, self.text, self.html)
        return OutgoingMail(
            to=str(member["email"]),
            subject=subject,
            text=text,
            html=html,
            headers=headers,
        )


def preview(
    app: AppContext, announcement: Mapping[str, Any], member: Mapping[str, Any] | sqlite3.Row
) -> OutgoingMail:
    return AnnouncementMail(app, announcement).compose(member)


async def send_test(
    app: AppContext, announcement: Mapping[str, Any], admin: Mapping[str, Any] | sqlite3.Row, *, ip: str = ""
) -> tuple[bool, str]:
    """The mail as members will get it, to the admin alone (subject marked テスト送信)."""
    to = str(admin["email"] or "")
    if not to:
        return False, "ログイン中の管理者のメールアドレスが登録されていません。"
    mail = AnnouncementMail(app, announcement).compose(admin, subject_prefix="［テスト送信］")
    try:
        await app.mailer.send(mail, now=app.clock.now())
    except (MailError, ValueError) as error:
        return False, f"テスト送信できませんでした（{error}）。"
    await audit.record(
        app.db,
        "announcement.test_sent",
        now=app.clock.now(),
        actor_member_id=int(admin["id"]),
        ip=ip,
        detail={"announcement_id": announcement.get("id"), "title": str(announcement["title"])[:100]},
    )
    return True, f"テストメールを {to} に送りました。"


# ------------------------------------------------------------------------------------------- sending


class AnnouncementSender(DeliverySender[None]):
    queue = ANNOUNCEMENT_DELIVERIES
    label = "announcement"
    audit_event = "announcement.address_flagged"

    def __init__(
        self,
        app: AppContext,
        announcement: sqlite3.Row,
        options: DigestOptions,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        super().__init__(app, int(announcement["id"]), options, sleep)
        self.required = announcement["category"] == "required"
        self.mail = AnnouncementMail(app, dict(announcement))

    def plan(self, row: sqlite3.Row, member: sqlite3.Row | None) -> None | str:
        # The member as they are now: closed, opted out or bounced since the build means no mail.
        if member is None or member["status"] != "active":
            return SKIP_CLOSED
        if not self.required and not member["announcement_mail"]:
            return SKIP_OPTED_OUT
        return unsendable_reason(member) or None

    def compose(self, row: sqlite3.Row, member: sqlite3.Row, planned: None) -> OutgoingMail:
        return self.mail.compose(member)


async def build(app: AppContext, announcement_id: int) -> None:
    """Write a delivery row for every recipient (resuming after the last batch written)."""
    row = await announcement_db.get(app.db, announcement_id)
    if row is None or row["status"] != "building":
        return
    audience = Audience(
        str(row["audience"]), str(row["audience_value"]), required=row["category"] == "required"
    )
    started = from_db(row["started_at"]) or app.clock.now()
    today = started.astimezone(app.settings.tz).date()
    cursor = int(row["build_cursor"])
    while True:
        batch = await announcement_db.audience_batch(
            app.db, audience, today, after_id=cursor, limit=BUILD_BATCH
        )
        if not batch:
            break
        cursor = batch[-1]
        await announcement_db.write_deliveries(
            app.db, announcement_id, batch, cursor=cursor, now=app.clock.now()
        )
    await announcement_db.set_sending(app.db, announcement_id)


async def deliver(
    app: AppContext,
    announcement_id: int,
    *,
    options: DigestOptions | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> SendReport:
    """Build (or resume building), then send what is due; done once nothing is left to send."""
    options = options or await load_options(app)
    await build(app, announcement_id)
    row = await announcement_db.get(app.db, announcement_id)
    if row is None or row["status"] != "sending":
        return SendReport()
    now = app.clock.now()
    released = await deliveries.release_stale_claims(
        app.db, ANNOUNCEMENT_DELIVERIES, announcement_id, claimed_before=now - CLAIM_LEASE, now=now
    )
    if released:
        log.warning(
            "announcement %s: %s deliveries left by a stopped sender are sent again",
            announcement_id,
            released,
        )
    report = await AnnouncementSender(app, row, options, sleep).send_all()
    await announcement_db.finish_if_complete(app.db, announcement_id, now=app.clock.now())
    return report


async def run_due(app: AppContext, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> list[int]:
    """The scheduler's job: start scheduled ones whose time has come, resume unfinished ones (a crash,
    a restart, retries waiting). Returns the announcements it worked on."""
    await announcement_db.start_due(app.db, now=app.clock.now())
    worked: list[int] = []
    options = await load_options(app)
    for row in await announcement_db.unfinished(app.db):
        announcement_id = int(row["id"])
        await deliver(app, announcement_id, options=options, sleep=sleep)
        worked.append(announcement_id)
    return worked


async def counts(app: AppContext, ids: list[int]) -> dict[int, DeliveryCounts]:
    return await deliveries.counts(app.db, ANNOUNCEMENT_DELIVERIES, ids)


# ------------------------------------------------------------------------------------ admin actions


async def _audit(app: AppContext, event: str, *, actor_id: int, ip: str, **detail: Any) -> None:
    await audit.record(app.db, event, now=app.clock.now(), actor_member_id=actor_id, ip=ip, detail=detail)


async def create(app: AppContext, form: AnnouncementForm, *, actor_id: int, ip: str = "") -> int:
    announcement_id = await announcement_db.create(
        app.db, form.record(), created_by=actor_id, now=app.clock.now()
    )
    title = form.values["title"][:100]
    await _audit(
        app, "announcement.created", actor_id=actor_id, ip=ip, announcement_id=announcement_id, title=title
    )
    return announcement_id


async def update(
    app: AppContext, announcement_id: int, form: AnnouncementForm, *, actor_id: int, ip: str = ""
) -> bool:
    changed = await announcement_db.update_draft(app.db, announcement_id, form.record(), now=app.clock.now())
    if changed:
        title = form.values["title"][:100]
        await _audit(
            app, "announcement.edited", actor_id=actor_id, ip=ip, announcement_id=announcement_id, title=title
        )
    return changed


async def send_now(
    app: AppContext, announcement_id: int, *, actor_id: int, recipients: int, ip: str = ""
) -> bool:
    """draft -> building; False when it was already sent or scheduled (a second click does nothing)."""
    if not await announcement_db.start_sending(app.db, announcement_id, now=app.clock.now()):
        return False
    await _audit(
        app,
        "announcement.sent",
        actor_id=actor_id,
        ip=ip,
        announcement_id=announcement_id,
        recipients=recipients,
    )
    return True


async def schedule(
    app: AppContext, announcement_id: int, send_at: datetime, *, actor_id: int, recipients: int, ip: str = ""
) -> bool:
    if not await announcement_db.schedule(app.db, announcement_id, send_at=send_at, now=app.clock.now()):
        return False
    await _audit(
        app,
        "announcement.scheduled",
        actor_id=actor_id,
        ip=ip,
        announcement_id=announcement_id,
        send_at=send_at.isoformat(),
        recipients=recipients,
    )
    return True


async def unschedule(app: AppContext, announcement_id: int, *, actor_id: int, ip: str = "") -> bool:
    if not await announcement_db.unschedule(app.db, announcement_id, now=app.clock.now()):
        return False
    await _audit(app, "announcement.unscheduled", actor_id=actor_id, ip=ip, announcement_id=announcement_id)
    return True


async def recipient_count(app: AppContext, audience: Audience) -> int:
    today = app.clock.now().astimezone(app.settings.tz).date()
    return await announcement_db.count_audience(app.db, audience, today)


def audience_of(row: Mapping[str, Any]) -> Audience:
    return Audience(str(row["audience"]), str(row["audience_value"]), required=row["category"] == "required")


# ------------------------------------------------------------------------------------------ members


async def change_mail_choice(
    app: AppContext, member_id: int, wanted: bool, *, one_click: bool = False, ip: str = ""
) -> bool:
    changed = await announcement_db.set_mail_choice(app.db, member_id, wanted, now=app.clock.now())
    if changed:
        await audit.record(
            app.db,
            "announcement.mail_on" if wanted else "announcement.mail_off",
            now=app.clock.now(),
            actor_member_id=None if one_click else member_id,
            subject_member_id=member_id,
            ip=ip,
            detail={"one_click": one_click} if one_click else {},
        )
    return changed


# ---------------------------------------------------------------------------------------------- demo

DEMO_TITLE: Final = "2026年度 総会のご案内"
DEMO_BODY: Final = """2026年度の総会を、次のとおり開きます。会員の皆さまのご出席をお待ちしております。

- 日時：2026年12月12日(土) 14:00〜16:00
- 会場：本部 3階 大会議室（オンラインでも参加できます）
- 議題：2026年度の活動報告、2027年度の計画と予算

ご欠席の場合は、[お問い合わせ](/contact)から委任状の送付をご依頼ください。
"""


async def demo_announcement(app: AppContext) -> None:
    """Demo step: one announcement for everyone, shown at /announcements (published on the site, not mailed:
    loading the demo sends no mail)."""
    if await announcement_db.count_all(app.db) > 0:
        return
    form = AnnouncementForm(empty_values() | {"title": DEMO_TITLE, "body_md": DEMO_BODY})
    announcement_id = await announcement_db.create(
        app.db, form.record(), created_by=None, now=app.clock.now()
    )
    await announcement_db.publish_without_mail(app.db, announcement_id, now=app.clock.now())
