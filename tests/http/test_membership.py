"""Tiers, codes, perk gates, tier endings with the digest fallback, leaving and account closure."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from db import members as member_queries
from db import membership as membership_db
from services import account_closure, membership
from services.perks import Perk, effective_digest_frequency, may, tier_of
from tests.helpers import body_text, login, login_admin, make_member, outbox, post_form, visible_text

TODAY = date(2026, 11, 23)  # the clock fixture's day in Tokyo


async def members_tier_id(app_ctx) -> int:
    return int((await membership_db.get_tier_by_code(app_ctx.db, "members"))["id"])


async def make_code(app_ctx, code="CAMPAIGN1", *, use_limit=None, expires_on=None, tier_ends_on=None) -> int:
    code_id = await membership_db.create_code(
        app_ctx.db,
        code=code,
        tier_id=await members_tier_id(app_ctx),
        use_limit=use_limit,
        expires_on=expires_on,
        tier_ends_on=tier_ends_on,
        note="テスト",
        now=app_ctx.clock.now(),
    )
    assert code_id
    return code_id


async def test_membership_page_shows_the_free_plan_and_its_perks(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    page = await client.get("/settings/membership")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "無料プラン" in text
    assert "会員限定記事の閲覧" in text and "このプランには含まれません" in text
    assert 'href="/settings/membership"' in page.text  # in the member menu
    assert 'name="code"' in page.text and 'data-hx-post="/settings/membership/code"' in page.text


async def test_membership_page_needs_a_login(client):
    response = await client.get("/settings/membership", follow_redirects=False)
    assert response.status_code == 303
    assert "/login" in response.headers["location"]


async def test_valid_code_joins_the_tier_in_place_with_htmx(client, app_ctx):
    member_id = await make_member(app_ctx, "001001")
    await make_code(app_ctx, tier_ends_on=date(2027, 3, 31))
    await login(client, "001001")
    response = await post_form(
        client, "/settings/membership/code", {"code": " campaign-1 "}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert '<div id="membership-panel">' in response.text
    assert "<html" not in response.text  # a fragment, swapped in place
    text = visible_text(response.text)
    assert "「有料会員」プランに参加しました。2027年3月31日(水)までご利用いただけます。" in text
    assert "2027年3月31日(水)（この日まで利用できます）" in text
    tier = await tier_of(app_ctx.db, member_id, now=app_ctx.clock.now(), tz=app_ctx.settings.tz)
    assert tier.code == "members" and tier.ends_on == date(2027, 3, 31)


async def test_plain_post_code_redirects_with_a_message(client, app_ctx):
    await make_member(app_ctx, "001001")
    await make_code(app_ctx)
    await login(client, "001001")
    response = await post_form(
        client, "/settings/membership/code", {"code": "CAMPAIGN1"}, follow_redirects=False
    )
    assert response.status_code == 303
    page = await client.get("/settings/membership")
    assert "「有料会員」プランに参加しました。" in visible_text(page.text)


async def test_wrong_expired_and_used_up_codes_get_distinct_messages(client, app_ctx):
    await make_member(app_ctx, "001001")
    other = await make_member(app_ctx, "001002")
    await make_code(app_ctx, "OLDCODE", expires_on=date(2026, 11, 22))
    await make_code(app_ctx, "FULLCODE", use_limit=1)
    assert (await membership.redeem(app_ctx, other, "FULLCODE", ip="10.0.0.9")).ok
    await login(client, "001001")
    messages = {}
    for code in ("WRONG99", "OLDCODE", "FULLCODE", ""):
        response = await post_form(client, "/settings/membership/code", {"code": code})
        assert response.status_code == 422
        messages[code] = visible_text(response.text)
    assert membership.CODE_UNKNOWN in messages["WRONG99"]
    assert "このコードは有効期限（2026年11月22日(日)まで）が過ぎているため" in messages["OLDCODE"]
    assert membership.CODE_USED_UP in messages["FULLCODE"]
    assert membership.CODE_REQUIRED in messages[""]
    assert (
        'value="WRONG99"' in (await post_form(client, "/settings/membership/code", {"code": "WRONG99"})).text
    )


async def test_code_expires_at_the_end_of_its_last_local_day(app_ctx, client, clock):
    member_id = await make_member(app_ctx, "001001")
    await make_code(app_ctx, "LASTDAY", expires_on=TODAY)
    clock.set(datetime(2026, 11, 23, 14, 59, tzinfo=UTC))  # 23:59 JST
    assert (await membership.redeem(app_ctx, member_id, "LASTDAY", ip="1.1.1.1")).ok
    other = await make_member(app_ctx, "001002")
    clock.set(datetime(2026, 11, 23, 15, 0, tzinfo=UTC))  # 00:00 JST the next day
    outcome = await membership.redeem(app_ctx, other, "LASTDAY", ip="1.1.1.1")
    assert not outcome.ok and "有効期限" in outcome.message


async def test_limit_is_never_exceeded_under_concurrency(client, app_ctx):
    code_id = await make_code(app_ctx, "RUSH", use_limit=3)
    member_ids = [await make_member(app_ctx, f"00200{index}") for index in range(8)]
    outcomes = await asyncio.gather(
        *(
            membership.redeem(app_ctx, member_id, "RUSH", ip=f"10.0.0.{i}")
            for i, member_id in enumerate(member_ids)
        )
    )
    assert sum(outcome.ok for outcome in outcomes) == 3
    assert all(outcome.message == membership.CODE_USED_UP for outcome in outcomes if not outcome.ok)
    code = await membership_db.get_code(app_ctx.db, code_id)
    assert code["uses"] == 3
    assert (
        await app_ctx.db.fetchval("SELECT count(*) FROM code_redemptions WHERE code_id = ?", (code_id,)) == 3
    )


async def test_a_member_cannot_use_the_same_code_twice_or_shorten_a_tier(client, app_ctx):
    member_id = await make_member(app_ctx, "001001")
    await make_code(app_ctx, "AGAIN", tier_ends_on=date(2027, 3, 31))
    assert (await membership.redeem(app_ctx, member_id, "AGAIN", ip="1.1.1.1")).ok
    again = await membership.redeem(app_ctx, member_id, "AGAIN", ip="1.1.1.1")
    assert again.message == membership.CODE_ALREADY_REDEEMED
    await make_code(app_ctx, "SHORTER", tier_ends_on=date(2026, 12, 31))
    shorter = await membership.redeem(app_ctx, member_id, "SHORTER", ip="1.1.1.1")
    assert not shorter.ok and "すでに「有料会員」プランをご利用中" in shorter.message
    code = await membership_db.get_code_by_text(app_ctx.db, "SHORTER")
    assert code["uses"] == 0


async def test_code_guessing_is_rate_limited_per_member_and_per_ip(client, app_ctx):
    member_id = await make_member(app_ctx, "001001")
    await make_code(app_ctx, "REALCODE")
    for attempt in range(membership.CODE_FAILURES_PER_MEMBER):
        assert not (await membership.redeem(app_ctx, member_id, f"GUESS{attempt}", ip=f"10.1.0.{attempt}")).ok
    blocked = await membership.redeem(app_ctx, member_id, "REALCODE", ip="10.9.9.9")
    assert blocked.message == membership.CODE_RATE_LIMITED
    # Another member from one busy address is stopped by the per-IP limit.
    others = [await make_member(app_ctx, f"00300{i}") for i in range(4)]
    for attempt in range(membership.CODE_FAILURES_PER_IP):
        await membership.redeem(app_ctx, others[attempt % 3], f"IPGUESS{attempt}", ip="10.2.2.2")
    assert (await membership.redeem(app_ctx, others[3], "REALCODE", ip="10.2.2.2")).message == (
        membership.CODE_RATE_LIMITED
    )
    # An hour later the member may try again.
    app_ctx.clock.advance(timedelta(hours=1, minutes=1))
    assert (await membership.redeem(app_ctx, member_id, "REALCODE", ip="10.9.9.9")).ok


async def test_perks_end_the_same_local_day_as_the_tier(client, app_ctx, clock):
    member_id = await make_member(app_ctx, "001001")
    await membership_db.add_tier_period(
        app_ctx.db,
        member_id=member_id,
        tier_id=await members_tier_id(app_ctx),
        starts_on=date(2026, 4, 1),
        ends_on=TODAY,
        source="test",
        now=clock.now(),
    )
    tz = app_ctx.settings.tz
    clock.set(datetime(2026, 11, 23, 14, 59, 59, tzinfo=UTC))  # 23:59:59 JST on the last day
    for perk in Perk:
        assert await may(app_ctx.db, member_id, perk, now=clock.now(), tz=tz)
    clock.set(datetime(2026, 11, 23, 15, 0, tzinfo=UTC))  # midnight JST
    for perk in Perk:
        assert not await may(app_ctx.db, member_id, perk, now=clock.now(), tz=tz)


async def test_admin_renamed_tier_and_perks_drive_every_gate(client, app_ctx):
    member_id = await make_member(app_ctx, "001001")
    tier_id = await members_tier_id(app_ctx)
    admin_id = await login_admin(client, app_ctx)
    await membership.grant_tier(app_ctx, member_id, "members", ends_on=None, source="test", actor_id=admin_id)
    response = await post_form(
        client,
        f"/admin/tiers/{tier_id}",
        {"name": "正会員プラン", "perk_events": "1"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    tier = await tier_of(app_ctx.db, member_id, now=app_ctx.clock.now(), tz=app_ctx.settings.tz)
    assert tier.name == "正会員プラン"
    assert tier.may(Perk.EVENTS) and not tier.may(Perk.DAILY_DIGEST) and not tier.may(Perk.MEMBERS_ONLY)
    bad = await post_form(client, f"/admin/tiers/{tier_id}", {"name": "﨑" + "x" * 50})
    assert bad.status_code == 422 and "40文字以内" in bad.text
    assert (await post_form(client, "/admin/tiers/9999", {"name": "x"})).status_code == 404


async def test_effective_digest_frequency_falls_back_without_the_perk(client, app_ctx):
    member_id = await make_member(app_ctx, "001001")
    free = await tier_of(app_ctx.db, member_id, now=app_ctx.clock.now(), tz=app_ctx.settings.tz)
    assert effective_digest_frequency("daily", free) == "weekly"
    assert effective_digest_frequency("none", free) == "none"
    await membership.grant_tier(app_ctx, member_id, "members", ends_on=None, source="test")
    paid = await tier_of(app_ctx.db, member_id, now=app_ctx.clock.now(), tz=app_ctx.settings.tz)
    assert effective_digest_frequency("daily", paid) == "daily"


async def _daily_member_with_tier_ending_today(app_ctx, number="001001", email=None) -> int:
    member_id = await make_member(app_ctx, number, **({"email": email} if email else {}))
    await membership_db.add_tier_period(
        app_ctx.db,
        member_id=member_id,
        tier_id=await members_tier_id(app_ctx),
        starts_on=date(2026, 4, 1),
        ends_on=TODAY,
        source="test",
        now=app_ctx.clock.now(),
    )
    await app_ctx.db.execute("UPDATE members SET digest_frequency = 'daily' WHERE id = ?", (member_id,))
    return member_id


async def test_tier_end_job_switches_daily_to_weekly_and_mails_once(client, app_ctx, clock, settings):
    member_id = await _daily_member_with_tier_ending_today(app_ctx)
    renewed = await _daily_member_with_tier_ending_today(app_ctx, "001002")
    assert await membership.apply_tier_endings(app_ctx) == 0  # still the last day
    clock.set(datetime(2026, 11, 23, 15, 5, tzinfo=UTC))  # 00:05 JST the next day
    await membership_db.add_tier_period(
        app_ctx.db,
        member_id=renewed,
        tier_id=await members_tier_id(app_ctx),
        starts_on=date(2026, 11, 24),
        ends_on=date(2027, 11, 23),
        source="renewal",
        now=clock.now(),
    )
    assert await membership.apply_tier_endings(app_ctx) == 1
    member = await member_queries.get_by_id(app_ctx.db, member_id)
    assert member["digest_frequency"] == "weekly"
    assert (await member_queries.get_by_id(app_ctx.db, renewed))["digest_frequency"] == "daily"
    mails = [m for m in outbox(settings) if m["To"] == "member001001@example.jp"]
    assert len(mails) == 1
    text = body_text(mails[0])
    assert "「有料会員」プランのご利用期間は 2026年11月23日(月) で終了しました" in text
    assert "毎週（水曜日）" in text
    assert "「有料会員」プランのご利用期間が終了しました" in str(mails[0]["Subject"])
    # Running again (a second worker, a restart) sends nothing more.
    assert await membership.apply_tier_endings(app_ctx) == 0
    assert len(outbox(settings)) == 1


async def test_fallback_is_applied_lazily_when_the_member_looks(client, app_ctx, clock, settings):
    member_id = await _daily_member_with_tier_ending_today(app_ctx)
    clock.set(datetime(2026, 11, 23, 15, 5, tzinfo=UTC))
    await login(client, "001001")
    page = await client.get("/settings/membership")
    assert "無料プラン" in visible_text(page.text)
    assert (await member_queries.get_by_id(app_ctx.db, member_id))["digest_frequency"] == "weekly"
    assert len(outbox(settings)) == 1
    assert await membership.apply_tier_endings(app_ctx) == 0


async def test_leaving_asks_for_confirmation_and_can_be_withdrawn(client, app_ctx, settings):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    form = await client.get("/settings/membership/leave")
    assert (
        "退会のお申し出" in form.text and "会員番号は、ほかの方に再び割り当てることはありません" in form.text
    )
    missing = await post_form(client, "/settings/membership/leave", {"reason": "引っ越し"})
    assert missing.status_code == 422
    assert "チェックを入れてください" in missing.text and "引っ越し" in missing.text
    done = await post_form(
        client,
        "/settings/membership/leave",
        {"reason": "引っ越しのため", "confirm": "1"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = await client.get("/settings/membership")
    assert "退会のお申し出を受け付けました" in visible_text(page.text)
    subjects = [str(m["Subject"]) for m in outbox(settings)]
    assert any("退会のお申し出を受け付けました" in s for s in subjects)
    assert any("退会の申し出がありました（会員番号 001001）" in s for s in subjects)
    await post_form(client, "/settings/membership/leave/withdraw", {})
    page = await client.get("/settings/membership")
    assert "退会を申し出る" in visible_text(page.text)


async def test_closure_removes_personal_data_and_keeps_payment_records(client, app_ctx, settings):
    admin_id = await make_member(app_ctx, "900001", role="admin")
    member_id = await make_member(
        app_ctx,
        "001001",
        email="leaving@example.jp",
        phone="0312345678",
        postal_code="1000001",
        prefecture="東京都",
        address1="千代田区千代田1-1",
        affiliation="つどい大学",
    )
    # A table owned by another feature that references the member (as payments do).
    await app_ctx.db.execute(
        "CREATE TABLE IF NOT EXISTS test_payment_records (id INTEGER PRIMARY KEY, "
        "member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE, amount INTEGER NOT NULL)"
    )
    await app_ctx.db.execute(
        "INSERT INTO test_payment_records (member_id, amount) VALUES (?, 5000)", (member_id,)
    )
    await app_ctx.db.execute(
        "INSERT INTO conditions (member_id, name, created_at, updated_at) VALUES (?, 'アジア', 'x', 'x')",
        (member_id,),
    )
    await membership.grant_tier(app_ctx, member_id, "members", ends_on=None, source="test")
    await app_ctx.db.execute("UPDATE members SET digest_frequency = 'daily' WHERE id = ?", (member_id,))
    member_client_login = await login(client, "001001")
    assert member_client_login.status_code == 303
    await post_form(client, "/settings/membership/leave", {"reason": "高齢のため", "confirm": "1"})

    assert await account_closure.close_account(app_ctx, member_id, admin_id=admin_id)
    member = await member_queries.get_by_id(app_ctx.db, member_id)
    for column in (
        "family_name",
        "given_name",
        "family_kana",
        "given_kana",
        "email",
        "phone",
        "postal_code",
        "prefecture",
        "address1",
        "address2",
        "affiliation",
        "password_hash",
    ):
        assert member[column] == "", column
    assert member["status"] == "closed" and member["digest_frequency"] == "none"
    assert member["member_number"] == "001001"
    assert await app_ctx.db.fetchval("SELECT count(*) FROM sessions WHERE member_id = ?", (member_id,)) == 0
    assert await app_ctx.db.fetchval("SELECT count(*) FROM conditions WHERE member_id = ?", (member_id,)) == 0
    assert (
        await app_ctx.db.fetchval("SELECT amount FROM test_payment_records WHERE member_id = ?", (member_id,))
        == 5000
    )
    assert (
        await app_ctx.db.fetchval("SELECT count(*) FROM mail_log WHERE recipient = 'leaving@example.jp'") == 0
    )
    request = await app_ctx.db.fetchone("SELECT * FROM closure_requests WHERE member_id = ?", (member_id,))
    assert request["status"] == "closed" and request["reason"] == ""
    assert not await may(app_ctx.db, member_id, Perk.EVENTS, now=app_ctx.clock.now(), tz=app_ctx.settings.tz)
    # The session ended: the member's browser is logged out, and the login no longer works.
    assert (await client.get("/settings/membership", follow_redirects=False)).status_code == 303
    assert (await login(client, "001001")).status_code == 422
    last = [m for m in outbox(settings) if "退会手続きが完了しました" in str(m["Subject"])]
    assert len(last) == 1 and last[0]["To"] == "leaving@example.jp"
    # Closing twice does nothing.
    assert not await account_closure.close_account(app_ctx, member_id, admin_id=admin_id)


async def test_admin_closes_an_account_from_the_screens(client, app_ctx):
    member_id = await make_member(app_ctx, "001001", family_name="退会")
    await login_admin(client, app_ctx)
    lookup = await client.get(
        "/admin/closures", params={"member_number": "００１００１"}, follow_redirects=False
    )
    assert lookup.headers["location"] == f"/admin/closures/members/{member_id}"
    unknown = await client.get("/admin/closures", params={"member_number": "777777"})
    assert "見つかりませんでした" in unknown.text
    confirm = await client.get(f"/admin/closures/members/{member_id}")
    assert "退会手続きの確認" in confirm.text
    unchecked = await post_form(client, f"/admin/closures/members/{member_id}", {})
    assert unchecked.status_code == 422
    assert (await member_queries.get_by_id(app_ctx.db, member_id))["status"] == "active"
    done = await post_form(
        client, f"/admin/closures/members/{member_id}", {"confirm": "1"}, follow_redirects=False
    )
    assert done.status_code == 303
    listing = await client.get("/admin/closures")
    assert "会員番号 001001 の退会手続きを完了しました" in visible_text(listing.text)
    assert (await member_queries.get_by_id(app_ctx.db, member_id))["status"] == "closed"
    assert (await client.get("/admin/closures/members/999999")).status_code == 404


async def test_admin_creates_and_stops_codes(client, app_ctx):
    member_id = await make_member(app_ctx, "001001")
    await login_admin(client, app_ctx)
    tier_id = await members_tier_id(app_ctx)
    created = await post_form(
        client,
        "/admin/codes",
        {
            "code": "ｏｒｇ－２０２７",
            "tier_id": str(tier_id),
            "use_limit": "50",
            "expires_on": "2027-03-31",
            "tier_ends_on": "2027/03/31",
            "note": "〇〇協会向け",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    listing = await client.get("/admin/codes")
    text = visible_text(listing.text)
    assert "ORG2027" in text and "0 / 50" in text and "〇〇協会向け" in text
    duplicate = await post_form(client, "/admin/codes", {"code": "org2027", "tier_id": str(tier_id)})
    assert duplicate.status_code == 422 and "すでに登録されています" in duplicate.text
    bad = await post_form(
        client,
        "/admin/codes",
        {"code": "ab", "tier_id": "999", "use_limit": "-3", "expires_on": "2020-01-01", "note": "①" * 3},
    )
    assert bad.status_code == 422
    for message in ("4〜32文字", "プランを選んで", "1以上の数字", "今日以降の日付", "機種依存文字"):
        assert message in bad.text
    generated = await post_form(
        client, "/admin/codes", {"code": "", "tier_id": str(tier_id)}, follow_redirects=False
    )
    assert generated.status_code == 303
    code = await membership_db.get_code_by_text(app_ctx.db, "ORG2027")
    await post_form(client, f"/admin/codes/{code['id']}/active", {"active": "0"})
    stopped = await membership.redeem(app_ctx, member_id, "ORG2027", ip="1.1.1.1")
    assert stopped.message == membership.CODE_INACTIVE
    assert (await post_form(client, "/admin/codes/99999/active", {"active": "0"})).status_code == 404


async def test_admin_grants_a_tier_by_member_number(client, app_ctx):
    member_id = await make_member(app_ctx, "001001")
    await login_admin(client, app_ctx)
    page = await client.get("/admin/tiers")
    assert "無料プラン" in page.text and "有料会員" in page.text
    bad = await post_form(client, "/admin/tiers/grant", {"member_number": "999", "tier_code": "members"})
    assert bad.status_code == 422 and "見つかりませんでした" in bad.text
    ok = await post_form(
        client,
        "/admin/tiers/grant",
        {"member_number": "001001", "tier_code": "members", "ends_on": "2027-03-31"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    tier = await tier_of(app_ctx.db, member_id, now=app_ctx.clock.now(), tz=app_ctx.settings.tz)
    assert tier.code == "members" and tier.ends_on == date(2027, 3, 31)


async def test_members_cannot_open_admin_membership_screens(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    for path in ("/admin/tiers", "/admin/codes", "/admin/closures"):
        assert (await client.get(path)).status_code == 403
    assert (await post_form(client, "/admin/codes", {"code": "HACK1234", "tier_id": "2"})).status_code == 403


async def test_demo_step_gives_the_demo_member_a_fiscal_year_and_a_code(client, app_ctx):
    from services.demo import load_demo

    await load_demo(app_ctx)
    await load_demo(app_ctx)  # idempotent
    member = await member_queries.get_by_number(app_ctx.db, "001234")
    tier = await tier_of(app_ctx.db, int(member["id"]), now=app_ctx.clock.now(), tz=app_ctx.settings.tz)
    assert tier.code == "members" and tier.ends_on == date(2027, 3, 31)
    code = await membership_db.get_code_by_text(app_ctx.db, "TSUDOI2026")
    assert code is not None and code["uses"] == 0
    assert await app_ctx.db.fetchval("SELECT count(*) FROM member_tiers WHERE source = 'demo'") == 1


async def test_admin_lists_run_a_fixed_number_of_queries(client, app_ctx):
    await login_admin(client, app_ctx)

    async def queries_for(path: str) -> int:
        before = app_ctx.db.query_count
        assert (await client.get(path)).status_code == 200
        return app_ctx.db.query_count - before

    await make_code(app_ctx, "FIRST1")
    member = await make_member(app_ctx, "005000")
    await membership_db.create_closure_request(
        app_ctx.db, member_id=member, reason="", source="settings", now=app_ctx.clock.now()
    )
    small = {path: await queries_for(path) for path in ("/admin/codes", "/admin/closures", "/admin/tiers")}
    for index in range(20):
        await make_code(app_ctx, f"MORE{index:02d}")
        other = await make_member(app_ctx, f"0051{index:02d}")
        await membership_db.create_closure_request(
            app_ctx.db, member_id=other, reason="理由", source="settings", now=app_ctx.clock.now()
        )
    large = {path: await queries_for(path) for path in small}
    assert large == small


async def test_membership_page_writes_nothing_when_nothing_ended(client, app_ctx, monkeypatch):
    await make_member(app_ctx, "001001")
    await login(client, "001001")

    async def no_claim(*args, **kwargs):
        raise AssertionError("a page view with no ended tier must not write")

    monkeypatch.setattr(membership_db, "claim_ended_tiers", no_claim)
    before = app_ctx.db.query_count
    assert (await client.get("/settings/membership")).status_code == 200
    assert app_ctx.db.query_count - before <= 10
