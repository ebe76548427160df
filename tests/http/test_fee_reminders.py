"""Fee reminders: each step on its day (clock moved), never after payment, never twice (two processes at
once), the CLI's dry run, the convenience-store deadline, and the console's 督促メールを送る."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from litestar.testing import AsyncTestClient

from db import payments as payment_queries
from db.timestamps import to_db
from services import fee_reminders
from services.clock import FrozenClock
from services.context import AppContext
from services.settings import Settings
from tests.helpers import body_text, login, login_admin, make_member, outbox, post_form, visible_text
from tests.http.test_cli import run_cli as run_cli_in_process

JST = ZoneInfo("Asia/Tokyo")
ROOT = Path(__file__).resolve().parents[2]


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=JST).astimezone(UTC)


async def unpaid_fee(app: AppContext, member_id: int, due_on: date = date(2026, 12, 7)) -> int:
    item = await payment_queries.create_fee_item(
        app.db,
        fiscal_year=2026,
        membership_type="正会員",
        name=f"2026年度 年会費 {due_on.isoformat()}",
        amount=10000,
        due_on=due_on,
        now=app.clock.now(),
    )
    assert item is not None
    assert await payment_queries.issue_fee_item_to(app.db, item, member_id, now=app.clock.now())
    return int(await app.db.fetchval("SELECT id FROM fees WHERE fee_item_id = ?", (item,)))


def reminder_mails(settings: Settings) -> list[Any]:
    return [
        m
        for m in outbox(settings)
        if "会費のお支払い" in str(m["Subject"]) or "コンビニ" in str(m["Subject"])
    ]


async def test_each_step_goes_once_on_its_day_and_not_after_payment(
    client: AsyncTestClient[Any], app_ctx: AppContext, clock: FrozenClock, settings: Settings
) -> None:
    member = await make_member(app_ctx, "001001", family_name="山田", given_name="花子")
    fee_id = await unpaid_fee(app_ctx, member)  # 会費の支払期限 2026-12-07: 14 days before is 11-23
    other = await make_member(app_ctx, "001002")
    paid_fee = await unpaid_fee(app_ctx, other, date(2026, 12, 8))

    expected = {"2026-11-22": 0, "2026-11-23": 1, "2026-11-24": 1, "2026-12-06": 1, "2026-12-07": 2}
    for day, count in expected.items():
        clock.set(at(day))
        await fee_reminders.send_due(app_ctx)
        assert (
            len([m for m in reminder_mails(settings) if str(m["To"]) == "member001001@example.jp"]) == count
        ), day
    first = next(m for m in reminder_mails(settings) if str(m["To"]) == "member001001@example.jp")
    text = body_text(first)
    assert "お願いいたします。\n\n■ 対象の会費" in text
    assert "山田 花子 様" in text and "10,000円" in text and "2026年12月7日(月)" in text
    assert f"http://testserver.local/payments/{fee_id}/start" in text
    assert str(first["Subject"]) == "【集い会員ポータル】会費のお支払いのお願い（2026年度 年会費 2026-12-07）"

    # The second member pays on 12-01: no reminder on the due date or after.
    await app_ctx.db.execute("UPDATE fees SET status = 'paid' WHERE id = ?", (paid_fee,))
    for day in ("2026-12-08", "2026-12-21", "2026-12-22"):
        clock.set(at(day))
        await fee_reminders.send_due(app_ctx)
    to_other = [m for m in reminder_mails(settings) if str(m["To"]) == "member001002@example.jp"]
    assert len(to_other) == 1  # only the 14-days-before one, sent before the payment
    # Overdue: the first member gets the 14-days-after one on 12-21, once.
    mine = [m for m in reminder_mails(settings) if str(m["To"]) == "member001001@example.jp"]
    assert len(mine) == 3 and sum("支払期限を過ぎました" in body_text(m) for m in mine) == 1
    steps = [
        row[0]
        for row in await app_ctx.db.fetchall("SELECT step FROM fee_reminders WHERE fee_id = ?", (fee_id,))
    ]
    assert sorted(steps) == ["after", "before", "due"]


async def test_the_schedule_follows_the_settings_and_a_konbini_deadline_gets_its_own_reminder(
    client: AsyncTestClient[Any], app_ctx: AppContext, clock: FrozenClock, settings: Settings
) -> None:
    await app_ctx.update_org(
        {"reminder_days_before": "0", "reminder_on_due_date": "0", "reminder_days_after": "3"}
    )
    member = await make_member(app_ctx, "001001")
    fee_id = await unpaid_fee(app_ctx, member)
    for day in ("2026-11-23", "2026-12-07", "2026-12-09"):
        clock.set(at(day))
        await fee_reminders.send_due(app_ctx)
    assert reminder_mails(settings) == []
    clock.set(at("2026-12-10"))
    await fee_reminders.send_due(app_ctx)
    assert len(reminder_mails(settings)) == 1

    # A convenience-store payment chosen, deadline 12-15 23:59: reminded on 12-14, not again.
    await app_ctx.db.execute("UPDATE fees SET status = 'awaiting_konbini' WHERE id = ?", (fee_id,))
    stamp = to_db(clock.now())
    await app_ctx.db.execute(
        "INSERT INTO payment_attempts (fee_id, member_number, method, state, gateway, order_id, amount, "
        "konbini_deadline, idempotency_key, created_at, updated_at) "
        "VALUES (?, '001001', 'konbini', 'awaiting_konbini', 'sandbox', 'order-1', 10000, ?, 'key-1', ?, ?)",
        (fee_id, to_db(datetime(2026, 12, 15, 23, 59, tzinfo=JST)), stamp, stamp),
    )
    for day in ("2026-12-13", "2026-12-14", "2026-12-15", "2026-12-16"):
        clock.set(at(day))
        await fee_reminders.send_due(app_ctx)
    konbini = [m for m in reminder_mails(settings) if "コンビニでのお支払い期限" in str(m["Subject"])]
    assert len(konbini) == 1 and "2026年12月15日(火) 23:59" in body_text(konbini[0])


CLI_SECRET_KEY = "cli-test-secret-" + "x" * 32


def run_cli(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """`litestar tsudoi send-reminders ARGS` as its own process (two of them run at once below)."""
    env = {
        **os.environ,
        "TSUDOI_DATABASE": str(tmp_path / "data" / "tsudoi.sqlite3"),
        "TSUDOI_SCHEDULER": "off",
        "TSUDOI_LOG_REQUESTS": "off",
        "TSUDOI_SECRET_KEY": CLI_SECRET_KEY,
    }
    litestar = Path(sys.executable).parent / "litestar"
    return subprocess.Popen(  # noqa: S603
        [str(litestar), "--app", "app:app", "tsudoi", "send-reminders", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def in_process(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """The same command in this process (Click's runner): a process start costs seconds, and only the two
    runs at once need processes of their own."""
    result = run_cli_in_process(tmp_path, "send-reminders", *args, env={"TSUDOI_SECRET_KEY": CLI_SECRET_KEY})
    return result.returncode, result.stdout, result.stderr


def test_cli_dry_run_then_two_processes_at_once_send_each_reminder_once(tmp_path: Path) -> None:
    code, out, err = in_process(tmp_path, "--dry-run")  # creates the database
    assert code == 0, err
    database = sqlite3.connect(tmp_path / "data" / "tsudoi.sqlite3")
    stamp = "2026-01-01T00:00:00.000000Z"
    for number in range(1, 6):
        database.execute(
            "INSERT INTO members (member_number, family_name, given_name, email, created_at, updated_at) "
            "VALUES (?, '田中', '一郎', ?, ?, ?)",
            (f"00432{number}", f"tanaka{number}@example.jp", stamp, stamp),
        )
    database.execute(
        "INSERT INTO fee_items (fiscal_year, membership_type, name, amount, due_on, created_at, updated_at) "
        "VALUES (2026, '正会員', '2026年度 年会費', 8000, '2026-06-30', ?, ?)",
        (stamp, stamp),
    )
    database.execute(
        "INSERT INTO fees (fee_item_id, member_id, member_number, amount, issued_at, updated_at) "
        "SELECT 1, id, member_number, 8000, ?, ? FROM members",
        (stamp, stamp),
    )
    database.commit()
    database.close()
    outbox_dir = tmp_path / "data" / "outbox"

    code, out, err = in_process(tmp_path, "--at", "2026-06-30T09:00", "--dry-run")
    assert code == 0, err
    assert "004321 田中 一郎 <tanaka1@example.jp>: 2026年度 年会費 8,000円（会費の支払期限の当日）" in out
    assert "送信予定 5 件" in out
    assert not outbox_dir.exists() or not list(outbox_dir.glob("*.eml"))

    both = [run_cli(tmp_path, "--at", "2026-06-30T09:00") for _ in range(2)]
    results = [finished(process) for process in both]
    assert all(code == 0 for code, _, _ in results), results
    assert len(list(outbox_dir.glob("*.eml"))) == 5
    sent = sum(int(re.search(r"送信 (\d+) 件", out).group(1)) for _, out, _ in results)  # type: ignore[union-attr]
    assert sent == 5

    code, out, err = in_process(tmp_path, "--at", "2026-06-30T18:00")
    assert code == 0 and "送信 0 件" in out
    code, out, _ = in_process(tmp_path, "--at", "来週の水曜日")
    assert code == 2 and "読み取れません" in out


async def test_admin_selects_unpaid_members_previews_and_sends_once_a_day(
    client: AsyncTestClient[Any], app_ctx: AppContext, settings: Settings
) -> None:
    first = await make_member(app_ctx, "001001")
    second = await make_member(app_ctx, "001002")
    fee_a = await unpaid_fee(app_ctx, first)
    fee_b = await unpaid_fee(app_ctx, second, date(2026, 12, 8))
    admin = await login_admin(client, app_ctx)

    page = await client.get("/admin/payments?status=unpaid")
    assert f'name="fee_id" value="{fee_a}"' in page.text and "督促メールを送る" in page.text
    empty = await post_form(client, "/admin/payments/reminders", {})
    assert empty.status_code == 422 and "選んでください" in visible_text(empty.text)
    preview = await post_form(
        client, "/admin/payments/reminders", {"fee_id": [str(fee_a), str(fee_b), "abc", "9" * 30]}
    )
    assert preview.status_code == 200
    text = visible_text(preview.text)
    assert "001001" in text and "001002" in text and "10,000円" in text and "督促メールを送る（2 名）" in text
    assert reminder_mails(settings) == []

    sent = await post_form(client, "/admin/payments/reminders/send", {"fee_id": [str(fee_a), str(fee_b)]})
    assert "督促メールを 2 名に送りました。" in visible_text(sent.text)
    again = await post_form(client, "/admin/payments/reminders/send", {"fee_id": [str(fee_a)]})
    assert "督促メールを 0 名に送りました。" in visible_text(again.text)
    assert "今日すでに送っている" in visible_text(again.text)
    assert len(reminder_mails(settings)) == 2
    rows = await app_ctx.db.fetchall("SELECT * FROM audit_log WHERE event = 'fee.reminders_sent' ORDER BY id")
    assert rows[0]["actor_member_id"] == admin and "001001:2026年度 年会費" in rows[0]["detail"]


async def test_members_cannot_send_reminders(client: AsyncTestClient[Any], app_ctx: AppContext) -> None:
    member = await make_member(app_ctx, "001001")
    fee_id = await unpaid_fee(app_ctx, member)
    await login(client)
    response = await post_form(client, "/admin/payments/reminders/send", {"fee_id": [str(fee_id)]})
    assert response.status_code == 403
    assert await app_ctx.db.fetchval("SELECT count(*) FROM fee_reminders") == 0
