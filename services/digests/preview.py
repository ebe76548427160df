"""What the admin sees before sending: the dry run, one member's preview and a test mail; the CLI."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from db import digests as digests_db
from db import mail_log
from services.context import AppContext
from services.delivery import classify_failure
from services.digest_windows import DigestKind, Window, next_run, window_at
from services.digests.compose import compose_digest, period_label
from services.digests.options import KIND_LABELS, effective_frequency, send_hour
from services.digests.recipients import (
    ArticleIndex,
    Section,
    group_conditions,
    iterate_plans,
    load_index,
    select_sections,
)
from services.digests.sending import run_window, window_for
from services.mailer import MailError, OutgoingMail
from services.perks import MemberTier, Perk, tiers_for

# -------------------------------------------------------------------------------------- dry run


@dataclass(frozen=True)
class DryRunEntry:
    member_number: str
    name: str
    email: str
    status: str
    reason: str
    article_count: int
    sections: list[tuple[str, list[str], int]]


async def dry_run_entries(app: AppContext, window: Window) -> AsyncIterator[DryRunEntry]:
    """Who would get what for this window, without writing or sending anything."""
    index = await load_index(app, window.start_utc, window.end_utc)
    async for _, plans in iterate_plans(app, window.kind, index, tier_at=window.end_utc):
        for member, plan, sections in plans:
            yield DryRunEntry(
                member_number=str(member["member_number"]),
                name=f"{member['family_name']} {member['given_name']}".strip(),
                email=str(member["email"]),
                status=plan.status,
                reason=plan.note,
                article_count=plan.article_count,
                sections=[
                    (s.name, [index.articles[a].title for a in s.article_ids], s.more) for s in sections
                ],
            )


# -------------------------------------------------------------------------------------- preview


@dataclass
class DigestPreview:
    member: sqlite3.Row
    tier: MemberTier
    frequency: str  # what the member chose
    kind: str  # what the member gets ('none', 'weekly', 'daily')
    daily_allowed: bool
    next_run_at: datetime | None
    start: datetime | None
    end: datetime | None
    sections: list[Section]
    article_count: int
    index: ArticleIndex | None

    def items(self, app: AppContext) -> list[dict[str, Any]]:
        """Sections ready for a page: name, items (title, url, date…) and the count not listed."""
        if self.index is None:
            return []
        index = self.index
        return [
            {
                "name": s.name,
                "items": [index.item(a, "", app.settings.tz) for a in s.article_ids],
                "more": s.more,
            }
            for s in self.sections
        ]


async def preview(app: AppContext, member_id: int, *, kind: str | None = None) -> DigestPreview | None:
    """What the member's next digest would contain if it went out now: the articles published since
    the start of the upcoming window, with the same matching, gating and limits as the real run."""
    member = await digests_db.member_for_preview(app.db, member_id)
    if member is None:
        return None
    now = app.clock.now()
    tier = (await tiers_for(app.db, [member_id], now=now, tz=app.settings.tz))[member_id]
    frequency = str(member["digest_frequency"])
    effective = effective_frequency(frequency, tier)
    chosen = kind or effective
    result = DigestPreview(
        member=member,
        tier=tier,
        frequency=frequency,
        kind=effective,
        daily_allowed=tier.may(Perk.DAILY_DIGEST),
        next_run_at=None,
        start=None,
        end=None,
        sections=[],
        article_count=0,
        index=None,
    )
    if chosen not in ("weekly", "daily"):
        return result
    digest_kind: DigestKind = "weekly" if chosen == "weekly" else "daily"
    hour = send_hour(app, digest_kind)
    upcoming = next_run(digest_kind, now, app.settings.tz, hour)
    window = window_at(digest_kind, upcoming, app.settings.tz, hour)
    end = min(window.end_utc, now)
    index = await load_index(app, window.start_utc, end)
    conditions = group_conditions(await digests_db.conditions_for(app.db, [member_id]))
    sections, count = select_sections(index, conditions.get(member_id, []), tier)
    result.next_run_at = upcoming
    result.start, result.end = window.start_utc, window.end_utc
    result.sections, result.article_count, result.index = sections, count, index
    return result


def preview_mail(app: AppContext, result: DigestPreview, *, subject_prefix: str = "") -> OutgoingMail | None:
    if result.index is None or result.start is None or result.end is None or not result.sections:
        return None
    return compose_digest(
        app,
        member=result.member,
        kind=result.kind if result.kind in ("weekly", "daily") else "weekly",
        start=result.start,
        end=result.end,
        sections=result.sections,
        index=result.index,
        article_count=result.article_count,
        subject_prefix=subject_prefix,
    )


async def send_test(app: AppContext, member_id: int, *, kind: str, to: str) -> str | None:
    """Send `member_id`'s upcoming digest to the admin's own address; an error message, or None."""
    result = await preview(app, member_id, kind=kind)
    if result is None:
        return "会員が見つかりません。"
    if not to:
        return "管理者のメールアドレスが登録されていないため、テスト送信できません。"
    if result.index is not None:
        result.kind = kind
    mail = preview_mail(app, result, subject_prefix="[テスト送信] ")
    if mail is None:
        return "この会員には、今の時点で該当する新着記事がないため送信しませんでした。"
    mail.to = to
    now = app.clock.now()
    try:
        message_id = await app.mailer.send(mail, now=now)
    except (MailError, ValueError) as error:
        _, message = classify_failure(error)
        await mail_log.record(
            app.db,
            now=now,
            kind="digest_test",
            recipient=to,
            subject=mail.subject,
            message_id="",
            error=message,
        )
        return f"送信できませんでした（{message}）。"
    await mail_log.record(
        app.db, now=now, kind="digest_test", recipient=to, subject=mail.subject, message_id=message_id
    )
    return None


# ------------------------------------------------------------------------------------------ CLI


def parse_at(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    """--at: ISO 8601; without an offset it is read in the organization's time zone."""
    if not text:
        return now
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


async def cli_send_digests(
    app: AppContext, kind: str, at_text: str, *, dry_run: bool, echo: Callable[[str], None]
) -> int:
    """`litestar tsudoi send-digests`: the same run as the scheduler's, for the window due at --at."""
    if kind not in ("weekly", "daily"):
        echo("--kind には weekly か daily を指定してください。")
        return 2
    digest_kind: DigestKind = "weekly" if kind == "weekly" else "daily"
    try:
        at = parse_at(at_text, app.settings.tz, app.clock.now())
    except ValueError:
        echo(f"--at の日時「{at_text}」を読み取れません。例：2026-11-25T07:00")
        return 2
    window = window_for(app, digest_kind, at)
    period = period_label(kind, window.start_utc, window.end_utc, app.settings.tz)
    echo(f"{KIND_LABELS[kind]}の配信 {window.key}（{period}）")
    if dry_run:
        would_send = skipped = 0
        async for entry in dry_run_entries(app, window):
            if entry.status != "pending":
                skipped += 1
                continue
            would_send += 1
            echo(f"{entry.member_number} {entry.name} <{entry.email}>: {entry.article_count}件")
            for name, titles, more in entry.sections:
                echo(f"  ■ {name}")
                for title in titles:
                    echo(f"    ・{title}")
                if more:
                    echo(f"    ほか {more} 件")
        echo(f"送信予定 {would_send} 名／対象外 {skipped} 名（--dry-run: 何も送信していません）")
        return 0
    existing = await digests_db.get_run_by_key(app.db, kind, window.key)
    if existing is not None and existing["status"] == "done":
        counts = (await digests_db.run_counts(app.db, [int(existing["id"])]))[int(existing["id"])]
        echo(f"この回はすでに送信済みです（送信 {counts.sent}／失敗 {counts.failed}）。二重には送りません。")
        return 0
    report = await run_window(app, window, trigger="cli")
    counts = report.counts
    echo(
        f"該当 {counts.matched} 名／送信 {counts.sent}／対象外 {counts.skipped}／失敗 {counts.failed}"
        + (f"／再試行待ち {counts.open}（自動配信が有効なら後で再送します）" if counts.open else "")
    )
    return 0 if not counts.failed else 1
