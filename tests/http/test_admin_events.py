"""The admin's side of イベント申込: settings with bad input, the registrations and waitlist, the CSV and
xlsx export, closing registration, attendance, check-in by code, and the day-before reminder job."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import openpyxl

from db import events as event_queries
from services import events as event_service
from tests.event_helpers import login_as, make_event, paid_member, registration_id_from, registrations
from tests.helpers import TOKYO, login_admin, outbox, post_form, visible_text


async def sign_up(client, numbers, event_id):
    ids = {}
    for number in numbers:
        await login_as(client, number)
        response = await post_form(client, f"/events/{event_id}/register", {}, follow_redirects=False)
        ids[number] = registration_id_from(response)
    client.cookies.clear()
    return ids


async def test_settings_form_refuses_bad_input_and_keeps_what_was_typed(client, app_ctx):
    event_id = await make_event(app_ctx, "設定の会", capacity=None, application_url="https://example.jp/x")
    await login_admin(client, app_ctx)
    page = await client.get(f"/admin/events/{event_id}/registrations")
    assert page.status_code == 200
    assert "まだこのサイトで申し込みを受け付けていません" in visible_text(page.text)
    bad = {
        "capacity": "９９９９９９９９９９９９９９９９９９９９",
        "deadline": "2099-01-01T10:00",
        "ends_at": "あした\x00",
        "fee_amount": "-5",
    }
    response = await post_form(client, f"/admin/events/{event_id}/registration-settings", bad)
    assert response.status_code == 422
    text = visible_text(response.text)
    assert "定員を1から100,000までの整数で入力してください" in text
    assert "申込締切は開催日時より前にしてください" in text
    assert "終了日時は「2026-12-01 16:00」の形式で入力してください" in text
    assert "参加費を0円から9,999,999円までの整数で入力してください" in text
    assert 'value="2099-01-01T10:00"' in response.text
    year_one = {**bad, "deadline": "0001-01-01T00:00", "ends_at": "9999-12-31T23:59"}
    response = await post_form(client, f"/admin/events/{event_id}/registration-settings", year_one)
    assert response.status_code == 422
    assert "申込締切は「2026-12-01 17:00」の形式で入力してください" in visible_text(response.text)
    assert await app_ctx.db.fetchval("SELECT count(*) FROM event_settings") == 0

    good = {"capacity": "３０", "deadline": "", "ends_at": "", "fee_amount": "1,500円"}
    response = await post_form(
        client, f"/admin/events/{event_id}/registration-settings", good, follow_redirects=False
    )
    assert response.status_code == 303
    event = await event_queries.event(app_ctx.db, event_id)
    assert (event["capacity"], event["fee_amount"], event["deadline"]) == (30, 1500, event["event_date"])
    item = await app_ctx.db.fetchone("SELECT * FROM fee_items WHERE id = ?", (event["fee_item_id"],))
    assert item["amount"] == 1500 and "設定の会" in item["name"]


async def test_registrations_waitlist_export_and_close(client, app_ctx):
    for number in ("001001", "001002", "001003"):
        await paid_member(app_ctx, number, family_name="山田", given_name=f"花子{number[-1]}")
    event_id = await make_event(app_ctx, "書き出しの会", capacity=2, fee=1000)
    await sign_up(client, ["001001", "001002", "001003"], event_id)
    await login_admin(client, app_ctx)

    page = await client.get(f"/admin/events/{event_id}/registrations")
    text = visible_text(page.text)
    assert "参加確定（2名）" in text and "キャンセル待ち（1名）" in text
    assert text.index("001002") < text.index("001003")

    csv_response = await client.get(f"/admin/events/{event_id}/registrations.csv")
    assert csv_response.status_code == 200
    assert csv_response.headers["content-type"].startswith("text/csv")
    lines = csv_response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("状態,順番,会員番号,氏名")
    assert lines[1].startswith("参加確定,,001001,山田 花子1")
    assert lines[3].startswith("キャンセル待ち,1,001003,")

    xlsx = await client.get(f"/admin/events/{event_id}/registrations.xlsx")
    assert xlsx.status_code == 200
    assert "spreadsheetml" in xlsx.headers["content-type"]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == event_service.EXPORT_HEADER
    assert rows[1][2] == "001001" and sheet.cell(row=2, column=3).data_type == "s"  # leading zeros kept
    assert rows[1][6] == "お支払い待ち"
    assert rows[3][:3] == ["キャンセル待ち", 1, "001003"]

    response = await post_form(
        client, f"/admin/events/{event_id}/closed", {"closed": "1"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert "申込受付を終了しました" in visible_text((await client.get(response.headers["location"])).text)
    await paid_member(app_ctx, "001004")
    await login_as(client, "001004")
    refused = await post_form(client, f"/events/{event_id}/register", {}, follow_redirects=False)
    assert refused.headers["location"] == f"/events/{event_id}"
    assert [n for n, _ in await registrations(app_ctx, event_id)] == ["001001", "001002", "001003"]


async def test_raising_the_capacity_moves_the_waitlist_up(client, app_ctx, settings):
    await paid_member(app_ctx, "001001")
    await paid_member(app_ctx, "001002", email="waiting@example.jp")
    event_id = await make_event(app_ctx, capacity=1)
    await sign_up(client, ["001001", "001002"], event_id)
    await login_admin(client, app_ctx)
    form = {"capacity": "2", "deadline": "", "ends_at": "", "fee_amount": "0"}
    await post_form(client, f"/admin/events/{event_id}/registration-settings", form)
    assert await registrations(app_ctx, event_id) == [("001001", "registered"), ("001002", "registered")]
    promoted = [m for m in outbox(settings) if str(m["To"]) == "waiting@example.jp"]
    assert sorted("参加が確定しました" in str(m["Subject"]) for m in promoted) == [False, True]


async def test_check_in_by_typed_or_scanned_code_and_attendance(client, app_ctx):
    await paid_member(app_ctx, "001001", family_name="受付", given_name="花子")
    await paid_member(app_ctx, "001002")
    event_id = await make_event(app_ctx, "受付の会", capacity=1)
    ids = await sign_up(client, ["001001", "001002"], event_id)
    seat = await event_queries.registration(app_ctx.db, ids["001001"])
    waiting = await event_queries.registration(app_ctx.db, ids["001002"])
    code = str(seat["checkin_code"])

    # The member's page carries the QR code of the check-in URL.
    await login_as(client, "001001")
    mine = await client.get(f"/events/registrations/{ids['001001']}")
    assert event_service.display_code(code) in mine.text and "<svg" in mine.text
    # A member cannot open the admin's check-in page.
    assert (await client.get(f"/admin/events/checkin?code={code}")).status_code in (403, 303)

    client.cookies.clear()
    await login_admin(client, app_ctx)
    scanned = await client.get(f"/admin/events/checkin?code={code}")
    assert scanned.status_code == 200
    assert "受付 花子 様" in visible_text(scanned.text)
    typed = f" {code[:4].lower()}-{code[4:]} ".translate(str.maketrans("ABCDEFGH", "ＡＢＣＤＥＦＧＨ"))
    response = await post_form(client, "/admin/events/checkin", {"code": typed}, follow_redirects=False)
    assert response.status_code == 303
    assert "受付 花子 様（会員番号 001001）を受付しました" in visible_text(
        (await client.get(response.headers["location"])).text
    )
    assert (await event_queries.registration(app_ctx.db, ids["001001"]))["attended_at"] is not None
    again = await post_form(client, "/admin/events/checkin", {"code": code}, follow_redirects=False)
    assert "すでに受付済みです" in visible_text((await client.get(again.headers["location"])).text)

    for bad, message in (
        ("", "受付コードを入力してください"),
        ("ZZZZ-ZZZZ", "この受付コードのお申し込みは見つかりません"),
        ("\x00" * 30 + "あ", "この受付コードのお申し込みは見つかりません"),
    ):
        response = await post_form(client, "/admin/events/checkin", {"code": bad})
        assert response.status_code == 422 and message in visible_text(response.text), bad
    refused = await post_form(client, "/admin/events/checkin", {"code": waiting["checkin_code"]})
    assert "「キャンセル待ち」のため受付できません" in visible_text(refused.text)
    assert (await client.get("/admin/events/checkin?code=NOPE")).status_code == 404

    # Attendance from the list: undo and mark again.
    undo = await post_form(
        client,
        f"/admin/events/registrations/{ids['001001']}/attendance",
        {"attended": "0"},
        follow_redirects=False,
    )
    assert undo.status_code == 303
    assert (await event_queries.registration(app_ctx.db, ids["001001"]))["attended_at"] is None
    await post_form(client, f"/admin/events/registrations/{ids['001001']}/attendance", {"attended": "1"})
    assert (await event_queries.registration(app_ctx.db, ids["001001"]))["attended_at"] is not None
    missing = await post_form(client, "/admin/events/registrations/999999/attendance", {"attended": "1"})
    assert missing.status_code == 404


async def test_reminder_goes_out_once_on_the_day_before(client, app_ctx, settings):
    await paid_member(app_ctx, "001001", email="seat@example.jp")
    await paid_member(app_ctx, "001002", email="waiting@example.jp")
    await paid_member(app_ctx, "001003", email="later@example.jp")
    now = app_ctx.clock.now()
    local = now.astimezone(TOKYO)
    tomorrow_evening = datetime(local.year, local.month, local.day, 18, 0, tzinfo=TOKYO) + timedelta(days=1)
    tomorrow = await make_event(
        app_ctx, "明日の会", capacity=1, starts_in=tomorrow_evening - now, deadline_in=timedelta(hours=1)
    )
    later = await make_event(app_ctx, "来週の会", capacity=5, starts_in=timedelta(days=7))
    await sign_up(client, ["001001", "001002"], tomorrow)
    await sign_up(client, ["001003"], later)
    before = len(outbox(settings))

    app_ctx.clock.set(datetime(local.year, local.month, local.day, 8, 0, tzinfo=TOKYO))
    assert await event_service.run_reminder_job(app_ctx) == 0  # not before 9:00
    app_ctx.clock.set(datetime(local.year, local.month, local.day, 9, 30, tzinfo=TOKYO))
    assert await event_service.run_reminder_job(app_ctx) == 1
    assert await event_service.run_reminder_job(app_ctx) == 0  # exactly once
    app_ctx.clock.set(datetime(local.year, local.month, local.day, 23, 59, tzinfo=TOKYO))
    assert await event_service.run_reminder_job(app_ctx) == 0
    sent = [m for m in outbox(settings) if "明日のイベントのご案内" in str(m["Subject"])]
    assert len(outbox(settings)) == before + 1
    assert [str(m["To"]) for m in sent] == ["seat@example.jp"]
    assert "明日のイベントのご案内" in str(sent[0]["Subject"])
    assert any(part.get_filename() == f"event-{tomorrow}.ics" for part in sent[0].iter_attachments())


async def test_renamed_event_keeps_its_one_fee_item(client, app_ctx):
    event_id = await make_event(app_ctx, "改名前の会", capacity=5, fee=1000)
    item_id = (await event_queries.event(app_ctx.db, event_id))["fee_item_id"]
    await app_ctx.db.execute("UPDATE articles SET title = '改名後の会' WHERE id = ?", (event_id,))
    await login_admin(client, app_ctx)
    form = {"capacity": "5", "deadline": "", "ends_at": "", "fee_amount": "2000"}
    response = await post_form(
        client, f"/admin/events/{event_id}/registration-settings", form, follow_redirects=False
    )
    assert response.status_code == 303
    event = await event_queries.event(app_ctx.db, event_id)
    assert event["fee_item_id"] == item_id and event["fee_amount"] == 2000
    assert await app_ctx.db.fetchval("SELECT amount FROM fee_items WHERE id = ?", (item_id,)) == 2000
    assert await app_ctx.db.fetchval("SELECT count(*) FROM fee_items") == 1


async def test_check_in_with_the_membership_card_qr(client, app_ctx, clock):
    """The card's QR code (/card → /verify/<token>) at the door finds the member's seat at today's event."""
    from services import card as member_card

    # Morning of the run's day, so "today's event" three hours later is the same day at any test instant.
    local = clock.now().astimezone(TOKYO)
    clock.set(local.replace(hour=10, minute=0, second=0, microsecond=0))
    member_id = await paid_member(app_ctx, "001011", family_name="会員証", given_name="花子")
    other = await paid_member(app_ctx, "001012", family_name="予定なし", given_name="太郎")
    event_id = await make_event(
        app_ctx, "本日の会", capacity=5, starts_in=timedelta(hours=3), deadline_in=timedelta(hours=1)
    )
    ids = await sign_up(client, ["001011"], event_id)
    card = await member_card.card_for(app_ctx, member_id)
    assert card is not None

    client.cookies.clear()
    await login_admin(client, app_ctx)
    scanned = await client.get("/admin/events/checkin", params={"code": card.verify_url})
    assert scanned.status_code == 200 and "会員証 花子 様" in visible_text(scanned.text)
    response = await post_form(
        client, "/admin/events/checkin", {"code": card.verify_url}, follow_redirects=False
    )
    assert response.status_code == 303
    assert (await event_queries.registration(app_ctx.db, ids["001011"]))["attended_at"] is not None

    # A member with no seat today, and a revoked card: told why, nothing checked in.
    other_card = await member_card.card_for(app_ctx, other)
    assert other_card is not None
    none_today = await post_form(client, "/admin/events/checkin", {"code": other_card.verify_url})
    assert none_today.status_code == 422 and "本日のイベントのお申し込みは見つかりません" in visible_text(
        none_today.text
    )
    await member_card.reissue(app_ctx, member_id)
    revoked = await post_form(client, "/admin/events/checkin", {"code": card.verify_url})
    assert revoked.status_code == 422 and "会員証が無効です" in visible_text(revoked.text)
