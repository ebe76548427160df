"""Digest runs: windows, matching and tier gates, exactly-once sending, crash recovery, catch-up, bounces."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from db import digests as digests_db
from services import digests
from services.clock import FrozenClock
from services.context import AppContext
from services.digest_windows import weekly_window
from services.mailer import MailError
from tests.digest_helpers import add_article, add_condition, add_term, digest_member, fast_sending
from tests.helpers import body_text, outbox

JST = ZoneInfo("Asia/Tokyo")


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=JST)  # type: ignore[misc]


def recipients(messages: list[EmailMessage]) -> Counter[str]:
    return Counter(str(message["To"]) for message in messages)


def digest_mails(app: AppContext) -> list[EmailMessage]:
    return [m for m in outbox(app.settings) if "新着お知らせ" in str(m["Subject"])]


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the app may swallow it."""


class CrashAfter:
    def __init__(self, inner: object, sends: int) -> None:
        self.inner = inner
        self.left = sends

    async def deliver(self, message: EmailMessage) -> None:
        if self.left <= 0:
            raise SimulatedCrash()
        self.left -= 1
        await self.inner.deliver(message)  # type: ignore[attr-defined]


class Refusing:
    def __init__(self, *, permanent: bool) -> None:
        self.permanent = permanent
        self.calls = 0

    async def deliver(self, message: EmailMessage) -> None:
        self.calls += 1
        raise MailError(
            "SMTP 550: 5.1.1 No such user" if self.permanent else "SMTP 451: try later",
            permanent=self.permanent,
        )


@pytest.fixture
async def world(app_ctx: AppContext) -> dict[str, int]:
    await fast_sending(app_ctx)
    asia = await add_term(app_ctx, "region", "アジア")
    china = await add_term(app_ctx, "region", "中国", parent=asia)
    europe = await add_term(app_ctx, "region", "ヨーロッパ")
    trade = await add_term(app_ctx, "topic", "貿易")
    return {"asia": asia, "china": china, "europe": europe, "trade": trade}


async def test_article_exactly_at_the_boundary_is_in_exactly_one_weekly_digest(
    app_ctx: AppContext, clock: FrozenClock, world: dict[str, int]
) -> None:
    member = await digest_member(app_ctx, "100001")
    await add_condition(app_ctx, member, "アジアの話題", [world["asia"]])
    await add_article(app_ctx, "水曜0時ちょうどの記事", jst(2026, 11, 25, 0, 0), [world["china"]])
    await add_article(app_ctx, "火曜深夜の記事", jst(2026, 11, 24, 23, 59, 59), [world["china"]])
    await add_article(app_ctx, "前の週の最後の記事", jst(2026, 11, 17, 23, 59, 59), [world["china"]])

    clock.set(jst(2026, 11, 25, 7, 0).astimezone(UTC))
    first = await digests.run_due(app_ctx, "weekly")
    clock.set(jst(2026, 12, 2, 7, 0).astimezone(UTC))
    second = await digests.run_due(app_ctx, "weekly")

    assert [r.window_key for r in first] == ["weekly:2026-11-18"]
    assert [r.window_key for r in second] == ["weekly:2026-11-25"]
    mails = digest_mails(app_ctx)
    assert len(mails) == 2
    texts = sorted((body_text(m) for m in mails), key=lambda t: "火曜深夜" not in t)
    assert "火曜深夜の記事" in texts[0] and "水曜0時ちょうどの記事" not in texts[0]
    assert "水曜0時ちょうどの記事" in texts[1] and "火曜深夜の記事" not in texts[1]
    assert all("前の週の最後の記事" not in t for t in texts)


async def test_member_without_matching_article_gets_no_mail(
    app_ctx: AppContext, clock: FrozenClock, world: dict[str, int]
) -> None:
    europe_fan = await digest_member(app_ctx, "100002")
    await add_condition(app_ctx, europe_fan, "欧州", [world["europe"]])
    no_conditions = await digest_member(app_ctx, "100003")
    await add_article(app_ctx, "中国の貿易統計", jst(2026, 11, 20, 10), [world["china"], world["trade"]])

    clock.set(jst(2026, 11, 25, 7, 5).astimezone(UTC))
    [report] = await digests.run_due(app_ctx, "weekly")

    assert digest_mails(app_ctx) == []
    assert report.counts.skipped == 2 and report.counts.matched == 0 and report.status == "done"
    rows = await digests_db.deliveries_for_run(app_ctx.db, report.run_id, status=None, limit=10, offset=0)
    assert {row["member_id"] for row in rows} == {europe_fan, no_conditions}
    assert {row["last_error"] for row in rows} == {digests.SKIP_NO_MATCH}


async def test_conditions_group_items_once_and_follow_the_region_hierarchy(
    app_ctx: AppContext, clock: FrozenClock, world: dict[str, int]
) -> None:
    member = await digest_member(app_ctx, "100004")
    await add_condition(app_ctx, member, "アジア", [world["asia"]])
    await add_condition(app_ctx, member, "中国の貿易", [world["china"], world["trade"]])
    await add_condition(app_ctx, member, "欧州の貿易", [world["europe"], world["trade"]])
    await add_article(app_ctx, "上海の港湾ニュース", jst(2026, 11, 19, 9), [world["china"]])
    await add_article(app_ctx, "中国向け輸出の動向", jst(2026, 11, 20, 9), [world["china"], world["trade"]])
    await add_article(app_ctx, "欧州の観光", jst(2026, 11, 21, 9), [world["europe"]])
    await add_article(app_ctx, "下書きの記事", jst(2026, 11, 21, 9), [world["china"]], status="draft")

    clock.set(jst(2026, 11, 25, 7).astimezone(UTC))
    await digests.run_due(app_ctx, "weekly")

    [mail] = digest_mails(app_ctx)
    text = body_text(mail)
    assert text.count("中国向け輸出の動向") == 1  # under its first condition only
    assert text.index("■ アジア") < text.index("中国向け輸出の動向") < text.index("上海の港湾ニュース")
    assert "■ 中国の貿易" not in text  # nothing left for it once each item is shown once
    assert "欧州の観光" not in text and "下書きの記事" not in text


async def test_events_and_members_only_articles_go_only_to_the_members_tier(
    app_ctx: AppContext, clock: FrozenClock, world: dict[str, int]
) -> None:
    free = await digest_member(app_ctx, "100005", email="free@example.jp")
    paid = await digest_member(app_ctx, "100006", members_tier=True, email="paid@example.jp")
    for member in (free, paid):
        await add_condition(app_ctx, member, "すべて")
    await add_article(app_ctx, "公開記事", jst(2026, 11, 19, 9))
    await add_article(app_ctx, "会員限定レポート", jst(2026, 11, 19, 10), members_only=True)
    await add_article(app_ctx, "勉強会のご案内", jst(2026, 11, 19, 11), kind="event", event_date="2026-12-10")

    clock.set(jst(2026, 11, 25, 7).astimezone(UTC))
    await digests.run_due(app_ctx, "weekly")

    mails = {str(m["To"]): body_text(m) for m in digest_mails(app_ctx)}
    assert "公開記事" in mails["free@example.jp"]
    assert (
        "会員限定レポート" not in mails["free@example.jp"]
        and "勉強会のご案内" not in mails["free@example.jp"]
    )
    assert all(
        title in mails["paid@example.jp"] for title in ("公開記事", "会員限定レポート", "勉強会のご案内")
    )


async def test_daily_without_the_perk_falls_back_to_weekly(
    app_ctx: AppContext, clock: FrozenClock, world: dict[str, int]
) -> None:
    free_daily = await digest_member(app_ctx, "100007", frequency="daily", email="free-daily@example.jp")
    paid_daily = await digest_member(
        app_ctx, "100008", frequency="daily", members_tier=True, email="paid-daily@example.jp"
    )
    for member in (free_daily, paid_daily):
        await add_condition(app_ctx, member, "すべて")
    await add_article(app_ctx, "火曜日の記事", jst(2026, 11, 24, 9))

    clock.set(jst(2026, 11, 25, 7).astimezone(UTC))
    await digests.run_due(app_ctx, "daily")
    assert recipients(digest_mails(app_ctx)) == Counter({"paid-daily@example.jp": 1})
    await digests.run_due(app_ctx, "weekly")
    assert recipients(digest_mails(app_ctx)) == Counter(
        {"paid-daily@example.jp": 1, "free-daily@example.jp": 1}
    )


async def test_a_crash_mid_run_then_a_restart_sends_everyone_exactly_one_mail(
    app_ctx: AppContext, clock: FrozenClock, world: dict[str, int]
) -> None:
    for number in range(12):
        member = await digest_member(app_ctx, f"2000{number:02d}")
        await add_condition(app_ctx, member, "アジア", [world["asia"]])
    await add_article(app_ctx, "中国の記事", jst(2026, 11, 20, 9), [world["china"]])
    real = app_ctx.mailer.transport
    app_ctx.mailer.transport = CrashAfter(real, sends=5)
    clock.set(jst(2026, 11, 25, 7).astimezone(UTC))

    with pytest.raises(BaseException) as crashed:
        await digests.run_due(app_ctx, "weekly")
    assert (
        crashed.group_contains(SimulatedCrash)
        if isinstance(crashed.value, BaseExceptionGroup)
        else isinstance(crashed.value, SimulatedCrash)
    )
    assert len(digest_mails(app_ctx)) == 5

    # The process comes back (a new sender, the locks of the dead one gone) a little later.
    app_ctx.mailer.transport = real
    await app_ctx.db.execute("DELETE FROM leases")  # a dead process's leases run out (services/leases.py)
    clock.advance(digests.CLAIM_LEASE + timedelta(seconds=1))
    await digests.run_due(app_ctx, "weekly")
    await digests.run_due(app_ctx, "weekly")

    counts = recipients(digest_mails(app_ctx))
    assert len(counts) == 12 and set(counts.values()) == {1}
    run = await digests_db.get_run_by_key(app_ctx.db, "weekly", "weekly:2026-11-18")
    assert run is not None and run["status"] == "done"


async def test_a_missed_wednesday_is_caught_up_once(
    app_ctx: AppContext, clock: FrozenClock, world: dict[str, int]
) -> None:
    member = await digest_member(app_ctx, "100009")
    await add_condition(app_ctx, member, "すべて")
    await add_article(app_ctx, "11月第2週の記事", jst(2026, 11, 12, 9))
    await add_article(app_ctx, "11月第3週の記事", jst(2026, 11, 19, 9))
    clock.set(jst(2026, 11, 18, 7, 1).astimezone(UTC))
    await digests.run_due(app_ctx, "weekly")
    assert len(digest_mails(app_ctx)) == 1

    # Down all Wednesday 11/25; back on Thursday morning.
    clock.set(jst(2026, 11, 26, 9, 30).astimezone(UTC))
    [report] = await digests.run_due(app_ctx, "weekly")
    assert report.window_key == "weekly:2026-11-18" and report.created
    run = await digests_db.get_run(app_ctx.db, report.run_id)
    assert run is not None and run["trigger"] == "catch_up"
    clock.advance(timedelta(minutes=1))
    assert await digests.run_due(app_ctx, "weekly") == []
    texts = [body_text(m) for m in digest_mails(app_ctx)]
    assert len(texts) == 2 and sum("11月第3週の記事" in text for text in texts) == 1


async def test_a_window_older_than_the_catch_up_limit_is_not_sent(
    app_ctx: AppContext, clock: FrozenClock, world: dict[str, int]
) -> None:
    member = await digest_member(app_ctx, "100010")
    await add_condition(app_ctx, member, "すべて")
    await add_article(app_ctx, "古い記事", jst(2026, 11, 19, 9))
    clock.set(jst(2026, 11, 18, 7, 1).astimezone(UTC))
    await digests.run_due(app_ctx, "weekly")
    clock.set(jst(2026, 11, 28, 7, 1).astimezone(UTC))  # more than 3 days after Wednesday 07:00
    assert await digests.run_due(app_ctx, "weekly") == []
    assert len(digest_mails(app_ctx)) == 0  # the first run had nothing to send either


async def test_transient_failure_is_retried_with_backoff(
    app_ctx: AppContext, clock: FrozenClock, world: dict[str, int]
) -> None:
    member = await digest_member(app_ctx, "100011")
    await add_condition(app_ctx, member, "すべて")
    await add_article(app_ctx, "記事", jst(2026, 11, 20, 9))
    real = app_ctx.mailer.transport
    app_ctx.mailer.transport = Refusing(permanent=False)
    clock.set(jst(2026, 11, 25, 7).astimezone(UTC))
    [report] = await digests.run_due(app_ctx, "weekly")
    assert report.status == "sending" and report.counts.pending == 1

    app_ctx.mailer.transport = real
    await digests.run_due(app_ctx, "weekly")  # not yet: the retry waits a minute
    assert digest_mails(app_ctx) == []
    clock.advance(timedelta(minutes=1))
    [report] = await digests.run_due(app_ctx, "weekly")
    assert report.status == "done" and report.counts.sent == 1
    assert len(digest_mails(app_ctx)) == 1


async def test_three_hard_bounces_flag_the_address_and_stop_its_digests(
    app_ctx: AppContext, clock: FrozenClock, world: dict[str, int]
) -> None:
    member = await digest_member(
        app_ctx, "100012", frequency="daily", members_tier=True, email="gone@example.jp"
    )
    await add_condition(app_ctx, member, "すべて")
    refusing = Refusing(permanent=True)
    app_ctx.mailer.transport = refusing
    for day in range(20, 24):
        await add_article(app_ctx, f"{day}日の記事", jst(2026, 11, day, 9))
        clock.set(jst(2026, 11, day + 1, 7).astimezone(UTC))
        [report] = await digests.run_due(app_ctx, "daily")
        assert report.status == "done"
    assert refusing.calls == 3  # the fourth day is skipped: the address is flagged
    rows = await digests_db.deliveries_for_member(app_ctx.db, member)
    assert [row["status"] for row in rows] == ["skipped", "failed", "failed", "failed"]
    assert rows[0]["last_error"] == digests.SKIP_FLAGGED
    assert "550" in rows[1]["last_error"]
    flagged = await digests_db.flagged_members(app_ctx.db)
    assert [row["member_id"] for row in flagged] == [member]


async def test_batch_build_runs_a_fixed_number_of_queries(
    app_ctx: AppContext, clock: FrozenClock, world: dict[str, int]
) -> None:
    async def queries_for(members: int) -> int:
        for number in range(members):
            member = await digest_member(app_ctx, f"3{members:02d}{number:03d}")
            await add_condition(app_ctx, member, "アジア", [world["asia"]])
        run_id, _ = await digests_db.create_run(
            app_ctx.db,
            kind="weekly",
            window_key=f"weekly:test-{members}",
            window_start=jst(2026, 11, 18).astimezone(UTC),
            window_end=jst(2026, 11, 25).astimezone(UTC),
            due_at=jst(2026, 11, 25, 7).astimezone(UTC),
            trigger="cli",
            now=clock.now(),
        )
        await app_ctx.db.execute("UPDATE members SET digest_frequency = 'none'")
        await app_ctx.db.execute(
            "UPDATE members SET digest_frequency = 'weekly' WHERE member_number LIKE ?", (f"3{members:02d}%",)
        )
        before = app_ctx.db.query_count
        await digests.build_run(app_ctx, run_id)
        return app_ctx.db.query_count - before

    assert await queries_for(3) == await queries_for(40)


def test_period_labels_in_org_time() -> None:
    window = weekly_window(jst(2026, 11, 25, 8), JST)
    assert (
        digests.period_label("weekly", window.start_utc, window.end_utc, JST) == "11月18日(水)〜11月24日(火)"
    )
    assert digests.period_label("daily", jst(2026, 11, 24), jst(2026, 11, 25), JST) == "11月24日(火)"


def test_unsubscribe_token_round_trip_and_tampering() -> None:
    token = digests.unsubscribe_token("secret-a", 42)
    assert digests.read_unsubscribe_token("secret-a", token) == 42
    with pytest.raises(digests.UnsubscribeTokenInvalid):
        digests.read_unsubscribe_token("secret-b", token)
    with pytest.raises(digests.UnsubscribeTokenInvalid):
        digests.read_unsubscribe_token(
            "secret-a", token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        )
    with pytest.raises(digests.UnsubscribeTokenInvalid):
        digests.read_unsubscribe_token("secret-a", "")


def test_failure_classification() -> None:
    assert digests.classify_failure(MailError("SMTP 550: no such user", permanent=True))[0] is True
    assert digests.classify_failure(MailError("SMTP 451: later"))[0] is False
    assert digests.classify_failure(ValueError("bad address"))[0] is True


def test_sections_round_trip_through_the_stored_content() -> None:
    sections = [digests.Section(3, '条件 "A"\\n', (5, 4), 0), digests.Section(9, "アジア", (1,), 12)]
    assert digests.decode_sections(digests.encode_sections(sections)) == sections
    assert digests.decode_sections("not json") == []
