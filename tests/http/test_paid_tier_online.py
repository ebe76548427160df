"""Joining and renewing the paid tier online: /settings/membership, the tier's fee through the same pay
flow as /payments (sandbox gateway), the tier from payment to the fiscal year's end, renewal and grace."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from db import membership as membership_db
from db import payments as payment_queries
from services import membership
from services.perks import tier_of
from services.scheduler import JOBS
from tests.helpers import TOKYO, body_text, login, make_member, outbox, post_form, visible_text
from tests.payments_support import check_profile, choose, fee_row, issue_fee, to_gateway

PRICE = 5_000


async def set_price(app_ctx: Any, amount: int = PRICE) -> None:
    await app_ctx.db.execute("UPDATE tiers SET annual_fee = ? WHERE code = 'members'", (amount,))


async def apply(client: Any) -> Any:
    return await post_form(client, "/settings/membership/apply", {"tier": "members"}, follow_redirects=False)


async def pay_by_card(client: Any, app_ctx: Any, fee_id: int) -> None:
    await choose(client, fee_id, "card")
    hosted = await to_gateway(client, fee_id)
    done = await post_form(client, urlsplit(hosted).path, {"outcome": "card_success"}, follow_redirects=False)
    assert done.status_code == 303


async def tier_today(app_ctx: Any, member_id: int) -> Any:
    return await tier_of(app_ctx.db, member_id, now=app_ctx.clock.now(), tz=app_ctx.settings.tz)


async def test_page_compares_the_tiers_with_price_perks_and_what_the_member_has(
    client: Any, app_ctx: Any
) -> None:
    await set_price(app_ctx)
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    page = await client.get("/settings/membership")
    text = visible_text(page.text)
    assert "プランの比較" in text
    assert "無料プラン" in text and "「有料会員」プラン" in text and "Members" not in text
    assert "年額 5,000円" in text
    for perk in ("新着お知らせメールを毎日受け取る", "イベント情報の閲覧", "会員限定記事の閲覧"):
        assert perk in text
    assert "ご利用中" in text
    assert "「有料会員」プランに申し込む" in text
    assert "2027年3月31日(水)" in text  # until the fiscal year's end


async def test_apply_creates_one_fee_and_paying_it_starts_the_tier_until_the_fiscal_year_end(
    client: Any, app_ctx: Any, settings: Any
) -> None:
    await set_price(app_ctx)
    member_id = await make_member(app_ctx, "001001")
    await check_profile(app_ctx, member_id)
    await login(client, "001001")
    first = await apply(client)
    second = await apply(client)  # a double click
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    fees = await payment_queries.member_fees(app_ctx.db, member_id)
    assert len(fees) == 1
    fee = fees[0]
    assert (fee["amount"], fee["item_name"], fee["status"]) == (
        PRICE,
        "2026年度 「有料会員」プラン会費",
        "unpaid",
    )
    assert first.headers["location"] == f"/payments/{fee['id']}/method"  # profile checked today
    assert (await tier_today(app_ctx, member_id)).code == "free"  # not before the payment
    history = visible_text((await client.get("/payments")).text)
    assert "2026年度 「有料会員」プラン会費" in history and "5,000円" in history

    await pay_by_card(client, app_ctx, int(fee["id"]))
    assert (await fee_row(app_ctx, int(fee["id"])))["status"] == "paid"
    tier = await tier_today(app_ctx, member_id)
    assert (tier.code, tier.starts_on, tier.ends_on) == ("members", date(2026, 11, 23), date(2027, 3, 31))
    paid_mail = [m for m in outbox(settings) if "お支払いが完了しました" in str(m["Subject"])]
    assert len(paid_mail) == 1 and "5,000円" in body_text(paid_mail[0])
    receipt = await client.get(f"/payments/{fee['id']}/receipt.pdf")
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")

    page = visible_text((await client.get("/settings/membership")).text)
    assert "「有料会員」プランに申し込む" not in page
    again = await apply(client)
    assert again.status_code == 303 and again.headers["location"] == "/settings/membership"
    assert len(await payment_queries.member_fees(app_ctx.db, member_id)) == 1


async def test_without_a_checked_profile_apply_goes_through_the_profile_check(
    client: Any, app_ctx: Any
) -> None:
    await set_price(app_ctx)
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    response = await apply(client)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/profile?next=")
    assert "purpose=payment" in response.headers["location"]


async def test_a_tier_not_on_sale_or_unknown_is_not_applied_for(client: Any, app_ctx: Any) -> None:
    member_id = await make_member(app_ctx, "001001")
    await login(client, "001001")
    for tier in ("members", "free", "nope\x00", "会員" * 30):
        response = await post_form(
            client, "/settings/membership/apply", {"tier": tier}, follow_redirects=False
        )
        assert response.status_code == 303 and response.headers["location"] == "/settings/membership"
    assert await payment_queries.member_fees(app_ctx.db, member_id) == []
    page = visible_text((await client.get("/settings/membership")).text)
    assert "申し込む" not in page
    no_token = await client.post("/settings/membership/apply", data={"tier": "members"})
    assert no_token.status_code == 403


async def test_a_bank_transfer_marked_by_the_admin_also_starts_the_tier(client: Any, app_ctx: Any) -> None:
    await set_price(app_ctx)
    member_id = await make_member(app_ctx, "001001")
    await login(client, "001001")
    await apply(client)
    fee_id = int((await payment_queries.member_fees(app_ctx.db, member_id))[0]["id"])
    from services import payment_flow

    ok, _ = await payment_flow.mark_paid_by_transfer(
        app_ctx, None, fee_id, note="振込", paid_on=date(2026, 11, 23), actor_id=member_id
    )
    assert ok
    assert (await tier_today(app_ctx, member_id)).code == "members"
    assert await membership.on_fee_paid(app_ctx, fee_id) is False  # once per fee


async def join_by_payment(client: Any, app_ctx: Any, number: str) -> int:
    member_id = await make_member(app_ctx, number)
    await check_profile(app_ctx, member_id)
    await login(client, number)
    await apply(client)
    fee_id = int((await payment_queries.member_fees(app_ctx.db, member_id))[0]["id"])
    await pay_by_card(client, app_ctx, fee_id)
    client.cookies.clear()
    return member_id


async def test_renewal_is_issued_with_the_annual_fees_and_paying_it_continues_the_tier(
    client: Any, app_ctx: Any, clock: Any
) -> None:
    await set_price(app_ctx)
    member_id = await join_by_payment(client, app_ctx, "001001")
    free_member = await make_member(app_ctx, "001002")
    clock.set(datetime(2027, 3, 1, 10, tzinfo=TOKYO))
    await issue_fee(app_ctx, year=2027, due_on=date(2027, 6, 30))
    assert await membership.issue_renewals(app_ctx, 2027) == 1
    assert await membership.issue_renewals(app_ctx, 2027) == 0  # a second run issues nothing more
    renewal = await membership_db.open_tier_fee(app_ctx.db, member_id, 2, 2027)
    assert renewal is not None and renewal["status"] == "unpaid" and renewal["amount"] == PRICE
    assert await membership_db.open_tier_fee(app_ctx.db, free_member, 2, 2027) is None

    clock.set(datetime(2027, 4, 10, 10, tzinfo=TOKYO))  # in the grace period: still in the tier
    assert (await tier_today(app_ctx, member_id)).code == "members"
    await check_profile(app_ctx, member_id)
    await login(client, "001001")
    await pay_by_card(client, app_ctx, int(renewal["id"]))
    tier = await tier_today(app_ctx, member_id)
    assert (tier.code, tier.ends_on) == ("members", date(2028, 3, 31))
    clock.set(datetime(2027, 6, 1, 10, tzinfo=TOKYO))
    assert (await tier_today(app_ctx, member_id)).code == "members"


async def test_an_unpaid_renewal_ends_the_tier_after_the_grace_period_and_falls_back(
    client: Any, app_ctx: Any, clock: Any, settings: Any
) -> None:
    await set_price(app_ctx)
    member_id = await join_by_payment(client, app_ctx, "001001")
    await app_ctx.db.execute("UPDATE members SET digest_frequency = 'daily' WHERE id = ?", (member_id,))
    tier_job = next(job for job in JOBS if job.name == "tier_endings")
    # No annual fees issued by the admin: the daily job on 1 April issues the renewal itself.
    clock.set(datetime(2027, 4, 1, 0, 10, tzinfo=TOKYO))
    await tier_job.function(app_ctx)
    renewal = await membership_db.open_tier_fee(app_ctx.db, member_id, 2, 2027)
    assert renewal is not None and renewal["status"] == "unpaid"
    assert (await tier_today(app_ctx, member_id)).code == "members"
    grace_end = date(2027, 3, 31) + timedelta(days=settings.tier_grace_days)
    clock.set(datetime(grace_end.year, grace_end.month, grace_end.day, 23, tzinfo=TOKYO))
    assert (await tier_today(app_ctx, member_id)).code == "members"  # the grace period's last day
    clock.advance(timedelta(hours=2))
    assert (await tier_today(app_ctx, member_id)).code == "free"
    await tier_job.function(app_ctx)
    member = await app_ctx.db.fetchone("SELECT digest_frequency FROM members WHERE id = ?", (member_id,))
    assert member["digest_frequency"] == "weekly"  # falling back as any ending tier does
    ended = [m for m in outbox(settings) if "ご利用期間が終了しました" in str(m["Subject"])]
    assert len(ended) == 1 and "「有料会員」プラン" in str(ended[0]["Subject"])


async def test_grace_days_come_from_the_setting(client: Any, app_ctx: Any, clock: Any) -> None:
    await set_price(app_ctx)
    app_ctx.settings = app_ctx.settings.with_(tier_grace_days=7)
    member_id = await join_by_payment(client, app_ctx, "001001")
    clock.set(datetime(2027, 4, 1, 9, tzinfo=TOKYO))
    assert await membership.issue_renewals(app_ctx, 2027) == 1
    clock.set(datetime(2027, 4, 7, 12, tzinfo=TOKYO))
    assert (await tier_today(app_ctx, member_id)).code == "members"
    clock.set(datetime(2027, 4, 8, 12, tzinfo=TOKYO))
    assert (await tier_today(app_ctx, member_id)).code == "free"


async def test_codes_keep_working_beside_the_online_application(client: Any, app_ctx: Any) -> None:
    await set_price(app_ctx)
    member_id = await make_member(app_ctx, "001001")
    tier = await membership_db.get_tier_by_code(app_ctx.db, "members")
    await membership_db.create_code(
        app_ctx.db,
        code="SPRING2026",
        tier_id=int(tier["id"]),
        use_limit=None,
        expires_on=None,
        tier_ends_on=date(2026, 12, 31),
        note="",
        now=app_ctx.clock.now(),
    )
    await login(client, "001001")
    response = await post_form(
        client, "/settings/membership/code", {"code": "spring2026"}, follow_redirects=False
    )
    assert response.status_code == 303
    current = await tier_today(app_ctx, member_id)
    assert (current.code, current.ends_on) == ("members", date(2026, 12, 31))
    # Joined by a code that ends before the year does: applying for the rest of the year is still offered.
    page = visible_text((await client.get("/settings/membership")).text)
    assert "「有料会員」プランに申し込む" in page


async def test_admin_sets_the_price_per_year(client: Any, app_ctx: Any) -> None:
    from tests.helpers import login_admin

    await login_admin(client, app_ctx)
    tier = await membership_db.get_tier_by_code(app_ctx.db, "members")
    values = {"name": "有料会員", "annual_fee": "６，０００", "perk_daily_digest": "1", "perk_events": "1"}
    response = await post_form(client, f"/admin/tiers/{tier['id']}", values, follow_redirects=False)
    assert response.status_code == 303
    assert (await membership_db.get_tier_by_code(app_ctx.db, "members"))["annual_fee"] == 6000
    bad = await post_form(client, f"/admin/tiers/{tier['id']}", {**values, "annual_fee": "-5"})
    assert bad.status_code == 422 and "年額は0円から" in bad.text
    free = await membership_db.get_tier_by_code(app_ctx.db, "free")
    await post_form(client, f"/admin/tiers/{free['id']}", {"name": "無料プラン", "annual_fee": "100"})
    assert (await membership_db.get_tier_by_code(app_ctx.db, "free"))["annual_fee"] == 0


async def test_a_free_member_picking_the_event_topic_is_told_it_is_a_paid_perk(
    client: Any, app_ctx: Any
) -> None:
    from db import taxonomy as taxonomy_queries
    from tests.article_helpers import grant_members_tier, seed_terms

    ids = await seed_terms(app_ctx)
    events = await taxonomy_queries.create_term(
        app_ctx.db, taxonomy="topic", name="イベント", slug="events", parent_id=None, sort_order=99
    )
    member_id = await make_member(app_ctx, "001001")
    await login(client, "001001")
    htmx = {"HX-Request": "true"}
    live = await post_form(client, "/conditions/count", {"topic": str(events)}, headers=htmx)
    text = visible_text(live.text)
    assert "イベント情報は「有料会員」プランの特典です。" in text
    assert 'href="/settings/membership"' in live.text
    assert "条件を広げる" not in text
    plain = await post_form(client, "/conditions/count", {"name": "催し", "topic": str(events)})
    assert plain.status_code == 200 and "「有料会員」プランの特典です" in visible_text(plain.text)
    other = await post_form(client, "/conditions/count", {"topic": str(ids["trade"])}, headers=htmx)
    assert "特典" not in other.text and "条件を広げる" in other.text
    await grant_members_tier(app_ctx, member_id)
    paid = await post_form(client, "/conditions/count", {"topic": str(events)}, headers=htmx)
    assert "特典" not in paid.text


async def test_ten_parallel_applications_create_one_fee(tmp_path: Any, clock: Any) -> None:
    """A real server answers requests in parallel (the test client would serialize them)."""
    import asyncio

    import httpx

    from tests.helpers import DEFAULT_PASSWORD, free_port, test_settings
    from tests.live_server import LiveServer

    port = free_port()
    server = LiveServer(test_settings(tmp_path, base_url=f"http://127.0.0.1:{port}"), port, clock)
    server.start()
    try:
        server.run(set_price)
        member_id = server.run(lambda ctx: make_member(ctx, "001001"))
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            await client.get("/login")
            token = client.cookies["tsudoi_csrf"]
            login_response = await client.post(
                "/login", data={"_csrf_token": token, "member_id": "001001", "password": DEFAULT_PASSWORD}
            )
            assert login_response.status_code == 303 and "tsudoi_session" in client.cookies
            form = {"_csrf_token": client.cookies["tsudoi_csrf"], "tier": "members"}
            responses = await asyncio.gather(
                *(client.post("/settings/membership/apply", data=form) for _ in range(10))
            )
        assert [r.status_code for r in responses] == [303] * 10
        assert len({r.headers["location"] for r in responses}) == 1
        fees = server.run(lambda ctx: payment_queries.member_fees(ctx.db, member_id))
        assert len(fees) == 1
        items = server.run(
            lambda ctx: ctx.db.fetchval("SELECT count(*) FROM fee_items WHERE tier_id IS NOT NULL")
        )
        assert items == 1
    finally:
        server.stop()
