"""イベント申込 over HTTP: listing, registering, the waitlist and its promotion, cancelling, the deadline,
another member's registration, a closed account, the .ics files and the private calendar feed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import icalendar
from litestar.testing import AsyncTestClient

from app import create_app
from db import events as event_queries
from db import members as member_queries
from services import events as event_service
from services.articles import access_for
from tests.event_helpers import login_as, make_event, paid_member, registration_id_from, registrations
from tests.helpers import body_text, make_member, outbox, post_form, visible_text


async def register(client: Any, event_id: int) -> Any:
    return await post_form(client, f"/events/{event_id}/register", {}, follow_redirects=False)


def ics_attachment(message: Any) -> icalendar.Calendar:
    files = [part for part in message.iter_attachments() if part.get_filename().endswith(".ics")]
    assert len(files) == 1, [part.get_filename() for part in message.iter_attachments()]
    assert files[0].get_content_type() == "text/calendar"
    return icalendar.Calendar.from_ical(files[0].get_payload(decode=True))


def mails_to(settings: Any, address: str) -> list[Any]:
    return [m for m in outbox(settings) if str(m["To"]) == address]


async def test_list_marks_members_only_and_keeps_outside_application(client, app_ctx):
    await paid_member(app_ctx, "001001")
    ours = await make_event(app_ctx, "秋の勉強会", capacity=5, fee=3000)
    closed_only = await make_event(app_ctx, "会員限定の懇親会", capacity=5, members_only=True)
    outside = await make_event(
        app_ctx, "他団体の講演会", capacity=None, application_url="https://example.jp/apply"
    )
    await make_event(app_ctx, "終わった会", capacity=None, starts_in=timedelta(days=-3))
    await login_as(client, "001001")

    page = await client.get("/events")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "秋の勉強会" in text and "他団体の講演会" in text and "会員限定の懇親会" in text
    assert "終わった会" not in text
    assert "受付中（残り5席）・参加費 3,000円" in text
    assert "会員限定" in text
    assert 'href="/events"' in page.text  # the member menu

    shown = await client.get(f"/events/{outside}")
    assert 'href="https://example.jp/apply"' in shown.text
    assert "参加を申し込む（外部サイト）" in shown.text
    assert f"/events/{outside}/register" not in shown.text
    assert (await client.get(f"/events/{ours}")).text.count(f'action="/events/{ours}/register"') == 1
    assert (await client.get(f"/events/{closed_only}")).status_code == 200
    # The article page of an event sends members to the event page (sign-up here, or the outside link there).
    article = await client.get(f"/articles/{outside}")
    assert f'href="/events/{outside}"' in article.text and "https://example.jp/apply" not in article.text


async def test_register_mails_a_confirmation_with_an_ics(client, app_ctx, settings):
    await paid_member(app_ctx, "001001", email="hanako@example.jp")
    event_id = await make_event(app_ctx, "秋の勉強会", capacity=2, fee=3000)
    await login_as(client, "001001")

    response = await register(client, event_id)
    assert response.status_code == 303
    registration_id = registration_id_from(response)
    page = await client.get(response.headers["location"])
    text = visible_text(page.text)
    assert "お申し込みを受け付けました" in text
    assert "参加確定" in text and "受付コード" in text and "<svg" in page.text
    assert 'href="/payments/' in page.text and "参加費を支払う" in text

    [mail] = mails_to(settings, "hanako@example.jp")
    assert "イベントのお申し込みを受け付けました" in mail["Subject"]
    body = body_text(mail)
    assert "秋の勉強会" in body and f"/events/registrations/{registration_id}" in body
    calendar = ics_attachment(mail)
    [vevent] = calendar.walk("VEVENT")
    assert str(vevent["SUMMARY"]) == "秋の勉強会"
    assert str(vevent["UID"]) == f"event-{event_id}@testserver.local"
    assert vevent["DTSTAMP"].dt == app_ctx.clock.now()
    assert vevent["DTSTART"].params["TZID"] == "Asia/Tokyo"
    assert str(vevent["DTSTART"].dt.tzinfo) == "Asia/Tokyo"
    assert calendar.walk("VTIMEZONE"), "a time zone definition for TZID"

    # The seat fee is in the payments list, paid through the same flow.
    fees = await client.get("/payments")
    assert "秋の勉強会" in visible_text(fees.text)
    assert "3,000円" in visible_text(fees.text)


async def test_full_event_puts_the_next_member_on_the_waitlist(client, app_ctx, settings):
    await paid_member(app_ctx, "001001")
    await paid_member(app_ctx, "001002", email="jiro@example.jp")
    event_id = await make_event(app_ctx, capacity=1)
    await login_as(client, "001001")
    await register(client, event_id)
    await login_as(client, "001002")

    shown = await client.get(f"/events/{event_id}")
    assert "キャンセル待ちで申し込む" in visible_text(shown.text)
    response = await register(client, event_id)
    page = await client.get(response.headers["location"])
    assert "キャンセル待ちに登録しました" in visible_text(page.text)
    assert "<svg" not in page.text  # no check-in code before a seat
    assert await registrations(app_ctx, event_id) == [("001001", "registered"), ("001002", "waitlisted")]
    [mail] = mails_to(settings, "jiro@example.jp")
    assert "キャンセル待ち" in mail["Subject"]
    assert not list(mail.iter_attachments())


async def test_double_click_makes_one_registration(client, app_ctx, settings):
    await paid_member(app_ctx, "001001", email="hanako@example.jp")
    event_id = await make_event(app_ctx, capacity=5)
    await login_as(client, "001001")
    first, second = await register(client, event_id), await register(client, event_id)
    assert registration_id_from(first) == registration_id_from(second)
    assert await registrations(app_ctx, event_id) == [("001001", "registered")]
    assert len(mails_to(settings, "hanako@example.jp")) == 1
    page = await client.get(second.headers["location"])
    assert "すでにお申し込み済みです" in visible_text(page.text)


async def test_past_deadline_and_closed_registration_are_refused(client, app_ctx):
    await paid_member(app_ctx, "001001")
    late = await make_event(app_ctx, "締切済みの会", capacity=5, deadline_in=timedelta(hours=-1))
    closed = await make_event(app_ctx, "受付終了の会", capacity=5)
    await event_queries.set_closed(app_ctx.db, closed, True, now=app_ctx.clock.now())
    await login_as(client, "001001")
    for event_id in (late, closed):
        page = await client.get(f"/events/{event_id}")
        assert f"/events/{event_id}/register" not in page.text
        response = await register(client, event_id)
        assert response.headers["location"] == f"/events/{event_id}"
        flash = await client.get(response.headers["location"])
        assert "締め切りました" in visible_text(flash.text)
    assert await registrations(app_ctx, late) == []
    assert await registrations(app_ctx, closed) == []


async def test_free_member_sees_events_as_a_paid_perk_and_cannot_register(client, app_ctx):
    await make_member(app_ctx, "001001")
    event_id = await make_event(app_ctx, "秋の勉強会", capacity=5)
    await login_as(client, "001001")
    listing = visible_text((await client.get("/events")).text)
    assert "秋の勉強会" in listing and "プランの特典" in listing
    page = await client.get(f"/events/{event_id}")
    assert "プランの方がご利用いただけます" in visible_text(page.text)
    assert "/register" not in page.text
    assert (await client.get(f"/events/{event_id}.ics")).status_code == 404
    response = await register(client, event_id)
    assert response.status_code == 303
    assert "ご利用中のプランでは受け付けておりません" in visible_text(
        (await client.get(response.headers["location"])).text
    )
    assert await registrations(app_ctx, event_id) == []


async def test_cancel_until_the_deadline_then_refused(client, app_ctx):
    await paid_member(app_ctx, "001001")
    event_id = await make_event(app_ctx, capacity=5, deadline_in=timedelta(minutes=10))
    await login_as(client, "001001")
    registration_id = registration_id_from(await register(client, event_id))

    app_ctx.clock.set(app_ctx.clock.now() + timedelta(minutes=20))
    page = await client.get(f"/events/registrations/{registration_id}")
    assert "申し込みを取り消す" not in visible_text(page.text)
    response = await post_form(
        client, f"/events/registrations/{registration_id}/cancel", {}, follow_redirects=False
    )
    assert response.status_code == 303
    assert "申込締切を過ぎたため" in visible_text((await client.get(response.headers["location"])).text)
    assert await registrations(app_ctx, event_id) == [("001001", "registered")]


async def test_cancel_frees_the_seat_and_unpaid_fee_and_signing_up_again_works(client, app_ctx):
    member_id = await paid_member(app_ctx, "001001")
    event_id = await make_event(app_ctx, capacity=1, fee=2000)
    await login_as(client, "001001")
    registration_id = registration_id_from(await register(client, event_id))
    response = await post_form(
        client, f"/events/registrations/{registration_id}/cancel", {}, follow_redirects=False
    )
    assert response.headers["location"] == f"/events/{event_id}"
    assert "お申し込みを取り消しました" in visible_text((await client.get(response.headers["location"])).text)
    assert await registrations(app_ctx, event_id) == [("001001", "cancelled")]
    assert await app_ctx.db.fetchval("SELECT count(*) FROM fees WHERE member_id = ?", (member_id,)) == 0
    again = await register(client, event_id)
    assert registration_id_from(again) == registration_id
    assert await registrations(app_ctx, event_id) == [("001001", "registered")]
    assert await app_ctx.db.fetchval("SELECT count(*) FROM fees WHERE member_id = ?", (member_id,)) == 1


async def test_another_members_registration_is_not_found(client, app_ctx):
    await paid_member(app_ctx, "001001")
    await paid_member(app_ctx, "001002")
    event_id = await make_event(app_ctx, capacity=5)
    await login_as(client, "001001")
    registration_id = registration_id_from(await register(client, event_id))
    await login_as(client, "001002")
    assert (await client.get(f"/events/registrations/{registration_id}")).status_code == 404
    cancel = await post_form(client, f"/events/registrations/{registration_id}/cancel", {})
    assert cancel.status_code == 404
    assert await registrations(app_ctx, event_id) == [("001001", "registered")]


async def test_odd_event_paths_are_not_found(client, app_ctx):
    await paid_member(app_ctx, "001001")
    await login_as(client, "001001")
    for path in (
        "/events/abc",
        "/events/12.pdf",
        "/events/99999999999999999999",
        "/events/99999999999999999999.ics",
        "/events/%E3%81%82",
        "/events/1%00",
        "/events/registrations/99999999999999999999",
        "/events/feed/nothing.ics",
        "/events/feed/" + "a" * 500,
    ):
        assert (await client.get(path)).status_code == 404, path
    assert (await post_form(client, "/events/99999/register", {})).status_code == 404


async def test_closed_account_cannot_sign_up_and_is_skipped_on_the_waitlist(settings, clock, smtp_sink):
    app = create_app(settings.with_(smtp_url=smtp_sink.url), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        await paid_member(ctx, "001001", email="first@example.jp")
        gone = await paid_member(ctx, "001002", email="gone@example.jp")
        await paid_member(ctx, "001003", email="third@example.jp")
        event_id = await make_event(ctx, capacity=1)
        for number in ("001001", "001002", "001003"):
            await login_as(client, number)
            await register(client, event_id)
        other = await make_event(ctx, "別の会", capacity=5)
        await login_as(client, "001002")
        await ctx.db.execute("UPDATE members SET status = 'closed' WHERE id = ?", (gone,))
        # The closed account's session no longer opens member pages, so it cannot sign up over HTTP …
        response = await register(client, other)
        assert response.status_code in (302, 303, 401)
        assert response.headers.get("location", "/login").startswith("/login")
        # … and the statement itself refuses a closed account.
        result = await event_service.register(
            ctx,
            await event_queries.event(ctx.db, other),
            await member_queries.get_by_id(ctx.db, gone),
            await access_for(ctx, gone),
        )
        assert result.outcome == event_service.Outcome.CLOSED
        assert await registrations(ctx, other) == []

        await login_as(client, "001001")
        first_member = await member_queries.get_by_number(ctx.db, "001001")
        first = await event_queries.registration_for(ctx.db, event_id, first_member["id"])
        smtp_sink.messages.clear()
        await post_form(client, f"/events/registrations/{first['id']}/cancel", {})
        rows = dict(await registrations(ctx, event_id))
        assert rows == {"001001": "cancelled", "001002": "waitlisted", "001003": "registered"}
        assert [str(m["To"]) for m in smtp_sink.messages] == ["third@example.jp"]


async def test_waitlist_promotion_mails_the_promoted_member_over_smtp(settings, clock, smtp_sink):
    app = create_app(settings.with_(smtp_url=smtp_sink.url), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        await paid_member(ctx, "001001", email="first@example.jp")
        await paid_member(ctx, "001002", email="second@example.jp")
        await paid_member(ctx, "001003", email="third@example.jp")
        event_id = await make_event(ctx, "満席の講演会", capacity=1, fee=1500)
        await login_as(client, "001001")
        seat = registration_id_from(await register(client, event_id))
        for number in ("001002", "001003"):
            await login_as(client, number)
            await register(client, event_id)
        smtp_sink.messages.clear()

        await login_as(client, "001001")
        await post_form(client, f"/events/registrations/{seat}/cancel", {})

        assert await registrations(ctx, event_id) == [
            ("001002", "registered"),
            ("001003", "waitlisted"),
            ("001001", "cancelled"),
        ]
        [mail] = smtp_sink.messages
        assert str(mail["To"]) == "second@example.jp"
        assert "キャンセル待ちのイベントの参加が確定しました" in mail["Subject"]
        body = body_text(mail)
        assert "満席の講演会" in body and "参加費" in body and "/payments/" in body
        [vevent] = ics_attachment(mail).walk("VEVENT")
        assert str(vevent["SUMMARY"]) == "満席の講演会"
        second = await member_queries.get_by_number(ctx.db, "001002")
        assert await ctx.db.fetchval("SELECT count(*) FROM fees WHERE member_id = ?", (second["id"],)) == 1


async def test_event_ics_download(client, app_ctx):
    await paid_member(app_ctx, "001001")
    event_id = await make_event(app_ctx, "秋の勉強会", capacity=None, application_url="https://example.jp/a")
    await login_as(client, "001001")
    response = await client.get(f"/events/{event_id}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert "attachment" in response.headers["content-disposition"]
    calendar = icalendar.Calendar.from_ical(response.content)
    [vevent] = calendar.walk("VEVENT")
    assert str(vevent["LOCATION"]) == "東京会場"
    assert vevent["DTEND"].dt - vevent["DTSTART"].dt == timedelta(hours=2)


async def test_private_feed_lists_my_events_and_regenerating_kills_the_old_url(client, app_ctx):
    await paid_member(app_ctx, "001001")
    await paid_member(app_ctx, "001002")
    mine = await make_event(app_ctx, "申し込んだ会", capacity=1)
    waiting = await make_event(app_ctx, "待っている会", capacity=1)
    await make_event(app_ctx, "申し込んでいない会", capacity=5)
    await login_as(client, "001002")
    await register(client, waiting)
    await login_as(client, "001001")
    await register(client, mine)
    await register(client, waiting)

    page = await client.get("/events/calendar")
    assert page.status_code == 200
    url = page.text.split('id="feed-url" type="url" value="', 1)[1].split('"', 1)[0]
    assert url.startswith("http://testserver.local/events/feed/") and url.endswith(".ics")
    assert 'href="webcal://testserver.local/events/feed/' in page.text
    path = url.removeprefix("http://testserver.local")

    client.cookies.clear()  # a phone calendar has no session
    feed = await client.get(path)
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(feed.content)
    events = {str(e["SUMMARY"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {"申し込んだ会", "【キャンセル待ち】待っている会"}
    assert str(events["申し込んだ会"]["STATUS"]) == "CONFIRMED"
    assert str(events["【キャンセル待ち】待っている会"]["STATUS"]) == "TENTATIVE"
    assert all(e["DTSTAMP"] and e["UID"] for e in events.values())
    # Tampered tokens open nothing.
    assert (await client.get(path[:-6] + "x.ics")).status_code == 404

    await login_as(client, "001001")
    again = await client.get("/events/calendar")
    assert url in again.text  # the same URL until the member asks for a new one
    response = await post_form(client, "/events/calendar/regenerate", {}, follow_redirects=False)
    assert response.status_code == 303
    new_page = await client.get("/events/calendar")
    assert "以前のURLは使えなくなりました" in visible_text(new_page.text)
    assert url not in new_page.text
    new_path = new_page.text.split('id="feed-url" type="url" value="', 1)[1].split('"', 1)[0]
    client.cookies.clear()
    assert (await client.get(path)).status_code == 404
    assert (await client.get(new_path.removeprefix("http://testserver.local"))).status_code == 200


async def test_demo_has_an_event_with_seats_and_a_full_one(client, app_ctx):
    from services.demo import load_demo

    await load_demo(app_ctx)
    await load_demo(app_ctx)  # safe to run twice
    now = app_ctx.clock.now()
    rows = await event_queries.upcoming_events(app_ctx.db, now=now, viewer=0)
    kinds = [event_service.openness(row, now) for row in rows]
    assert kinds.count(event_service.Openness.OPEN) == 1
    assert kinds.count(event_service.Openness.FULL) == 1
    assert event_service.Openness.OUTSIDE in kinds  # the others keep their outside application page
    full = next(row for row in rows if event_service.openness(row, now) == event_service.Openness.FULL)
    assert (full["taken"], full["capacity"]) == (2, 2)

    await login_as(client, "001234", "Tsudoi2026")  # the demo member
    listing = visible_text((await client.get("/events")).text)
    assert "受付中（残り30席）" in listing and "満席（キャンセル待ち受付中）" in listing


async def test_seat_fee_is_paid_through_the_pay_flow(client, app_ctx):
    from urllib.parse import urlsplit

    from tests.payments_support import check_profile, choose, to_gateway

    member_id = await paid_member(app_ctx, "001001")
    await check_profile(app_ctx, member_id)
    event_id = await make_event(app_ctx, "有料の講習会", capacity=3, fee=2500)
    await login_as(client, "001001")
    registration_id = registration_id_from(await register(client, event_id))
    page = await client.get(f"/events/registrations/{registration_id}")
    fee_id = int(page.text.split('href="/payments/', 1)[1].split("/", 1)[0])
    start = await client.get(f"/payments/{fee_id}/start", follow_redirects=False)
    assert start.headers["location"] == f"/payments/{fee_id}/method"
    await choose(client, fee_id, "card")
    hosted = await to_gateway(client, fee_id)
    await post_form(client, urlsplit(hosted).path, {"outcome": "card_success"}, follow_redirects=False)
    page = visible_text((await client.get(f"/events/registrations/{registration_id}")).text)
    assert "2,500円（お支払い済み）" in page and "参加費を支払う" not in page
    # A paid fee stays when the seat is cancelled; the member is told about the refund.
    response = await post_form(
        client, f"/events/registrations/{registration_id}/cancel", {}, follow_redirects=False
    )
    assert "返金については、事務局からご連絡いたします" in visible_text(
        (await client.get(response.headers["location"])).text
    )
    fee = await app_ctx.db.fetchone("SELECT status FROM fees WHERE id = ?", (fee_id,))
    assert fee["status"] == "paid"
