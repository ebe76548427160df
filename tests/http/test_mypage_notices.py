"""My Page's ご確認ください list over HTTP: each notice, their order, nothing when nothing needs doing, and
the page's fixed query count."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import urlsplit

from db.timestamps import to_db
from services import mypage_notices
from tests.helpers import login, make_member, post_form, visible_text
from tests.payments_support import check_profile, choose, fee_id_of, issue_fee, to_gateway


async def settled_member(client, app_ctx, number="001001"):
    """A member with nothing to do: profile checked this fiscal year, a fresh password, no fee."""
    member_id = await make_member(app_ctx, number)
    await check_profile(app_ctx, member_id)
    await login(client, number)
    return member_id


def notice_kinds(html: str) -> list[str]:
    return re.findall(r'data-notice="([a-z_]+)"', html)


def notice_text(html: str, kind: str) -> str:
    match = re.search(rf'<li class="todo-item[^"]*" data-notice="{kind}">(.*?)</a>', html, re.S)
    assert match, f"no {kind} notice"
    return visible_text(match.group(1))


async def test_nothing_to_do_shows_no_notice_list(client, app_ctx):
    await settled_member(client, app_ctx)
    page = await client.get("/mypage")
    assert page.status_code == 200
    assert "ご確認ください" not in page.text
    assert notice_kinds(page.text) == []


async def test_unpaid_fee_shows_name_amount_due_date_and_leads_into_the_pay_flow(client, app_ctx):
    member_id = await settled_member(client, app_ctx)
    item_id = await issue_fee(app_ctx, amount=12_000, due_on=date(2027, 3, 31))
    fee_id = await fee_id_of(app_ctx, member_id, item_id)
    page = await client.get("/mypage")
    assert notice_kinds(page.text) == ["fee_unpaid"]
    text = notice_text(page.text, "fee_unpaid")
    for expected in ("2026年度 年会費", "12,000円", "会費の支払期限：2027年3月31日(水)", "支払手続きへ"):
        assert expected in text, expected
    assert "期限を過ぎています" not in text
    assert "todo-alert" not in page.text
    assert f'href="/payments/{fee_id}/start"' in page.text
    # The button is the guide's flow: profile checked today, so straight to the method page.
    start = await client.get(f"/payments/{fee_id}/start", follow_redirects=False)
    assert start.headers["location"] == f"/payments/{fee_id}/method"


async def test_overdue_fee_is_marked_red(client, app_ctx):
    await settled_member(client, app_ctx)
    await issue_fee(app_ctx, amount=5_000, due_on=date(2026, 6, 30))
    page = await client.get("/mypage")
    text = notice_text(page.text, "fee_unpaid")
    assert "会費の支払期限：2026年6月30日(火)" in text
    assert "会費の支払期限を過ぎています" in text
    assert 'class="todo-item todo-fee_unpaid todo-alert"' in page.text
    assert 'class="todo-line-alert">会費の支払期限：2026年6月30日(火)' in page.text


async def test_paid_fee_shows_no_notice(client, app_ctx):
    member_id = await settled_member(client, app_ctx)
    item_id = await issue_fee(app_ctx)
    fee_id = await fee_id_of(app_ctx, member_id, item_id)
    await app_ctx.db.execute(
        "UPDATE fees SET status = 'paid', paid_method = 'bank_transfer' WHERE id = ?", (fee_id,)
    )
    assert notice_kinds((await client.get("/mypage")).text) == []


async def test_konbini_payment_waiting_shows_store_number_deadline_and_how_to_pay(client, app_ctx):
    member_id = await settled_member(client, app_ctx)
    fee_id = await fee_id_of(app_ctx, member_id, await issue_fee(app_ctx))
    await choose(client, fee_id, "konbini")
    hosted = await to_gateway(client, fee_id)
    await post_form(
        client,
        urlsplit(hosted).path,
        {"outcome": "konbini_issued", "store": "ローソン"},
        follow_redirects=False,
    )
    attempt = await app_ctx.db.fetchone("SELECT * FROM payment_attempts WHERE fee_id = ?", (fee_id,))
    assert attempt["state"] == "awaiting_konbini"
    page = await client.get("/mypage")
    assert notice_kinds(page.text) == ["konbini_waiting"]
    text = notice_text(page.text, "konbini_waiting")
    deadline = mypage_notices.ja_moment(app_ctx.clock.now() + timedelta(days=3), app_ctx.settings.tz)
    for expected in (
        f"コンビニ：{attempt['konbini_store']}",
        f"お支払い番号：{attempt['konbini_number']}",
        f"コンビニでのお支払い期限：{deadline}",
        "お支払い方法を見る",
    ):
        assert expected in text, expected
    assert f'href="/payments/{fee_id}/checkout"' in page.text
    how_to = visible_text((await client.get(f"/payments/{fee_id}/checkout")).text)
    assert attempt["konbini_number"] in how_to and "レジ" in how_to


async def test_password_expiring_within_14_days_offers_the_change(client, app_ctx):
    member_id = await settled_member(client, app_ctx)
    # 120-day expiry (the guide's default): changed 110 days ago leaves 10 days.
    changed = app_ctx.clock.now() - timedelta(days=110)
    await app_ctx.db.execute(
        "UPDATE members SET password_changed_at = ? WHERE id = ?", (to_db(changed), member_id)
    )
    page = await client.get("/mypage")
    assert notice_kinds(page.text) == ["password_expiry"]
    text = notice_text(page.text, "password_expiry")
    assert "パスワードの有効期限が近づいています" in text and "あと10日" in text and "変更する" in text
    assert 'href="/password/change?next=/mypage"' in page.text
    # 16 days left: not yet.
    changed = app_ctx.clock.now() - timedelta(days=104)
    await app_ctx.db.execute(
        "UPDATE members SET password_changed_at = ? WHERE id = ?", (to_db(changed), member_id)
    )
    assert notice_kinds((await client.get("/mypage")).text) == []


async def test_password_expired_and_postponed_stays_on_my_page_in_red(client, app_ctx):
    member_id = await make_member(app_ctx, "001001")
    await check_profile(app_ctx, member_id)
    changed = app_ctx.clock.now() - timedelta(days=130)
    await app_ctx.db.execute(
        "UPDATE members SET password_changed_at = ? WHERE id = ?", (to_db(changed), member_id)
    )
    response = await login(client, "001001")
    assert response.headers["location"].startswith("/password/expired")
    # 後で変更する (the guide allows it): My Page keeps saying so.
    postponed = await post_form(client, "/password/expired", {"next": "/mypage"}, follow_redirects=False)
    assert postponed.headers["location"] == "/mypage"
    page = await client.get("/mypage")
    assert notice_kinds(page.text) == ["password_expiry"]
    text = notice_text(page.text, "password_expiry")
    assert "パスワードの有効期限が過ぎています" in text and "変更する" in text
    assert "todo-alert" in page.text


async def test_profile_not_checked_this_fiscal_year_asks_to_check_it(client, app_ctx):
    member_id = await make_member(app_ctx, "001001")
    # Checked in March 2026: fiscal year 2025, so 2026年度 is still to do.
    await check_profile(app_ctx, member_id, at=app_ctx.clock.now().replace(year=2026, month=3, day=31))
    await login(client, "001001")
    page = await client.get("/mypage")
    assert notice_kinds(page.text) == ["profile_check"]
    text = notice_text(page.text, "profile_check")
    assert "2026年度の会員情報のご確認がまだです" in text and "確認する" in text
    assert 'href="/profile?next=/mypage"' in page.text
    # Checked in April (2026年度): done.
    await check_profile(app_ctx, member_id, at=app_ctx.clock.now().replace(month=4, day=1))
    assert notice_kinds((await client.get("/mypage")).text) == []


async def test_notices_come_most_urgent_first(client, app_ctx):
    member_id = await make_member(app_ctx, "001001")
    changed = app_ctx.clock.now() - timedelta(days=110)
    await app_ctx.db.execute(
        "UPDATE members SET password_changed_at = ? WHERE id = ?", (to_db(changed), member_id)
    )
    await issue_fee(app_ctx, year=2026, due_on=date(2027, 3, 31))
    await issue_fee(app_ctx, year=2025, due_on=date(2026, 3, 31))
    await login(client, "001001")
    page = await client.get("/mypage")
    assert notice_kinds(page.text) == ["fee_unpaid", "fee_unpaid", "password_expiry", "profile_check"]
    # The overdue 2025 fee before the 2026 one.
    first = page.text.index("2025年度 年会費")
    assert first < page.text.index("2026年度 年会費")


async def test_switching_conditions_does_not_reload_the_notices(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    fragment = await client.get("/mypage", headers={"HX-Request": "true"})
    assert 'id="arrivals"' in fragment.text and "ご確認ください" not in fragment.text


async def test_notices_add_two_queries_to_my_page(client, app_ctx):
    member_id = await settled_member(client, app_ctx)

    async def made_afresh(headers: dict[str, str] | None = None) -> tuple[int, str]:
        # Measured on a miss: a reload is served from the My Page cache (tests/http/test_mypage_cache.py).
        await app_ctx.db.execute("DELETE FROM mypage_cache")
        before = app_ctx.db.query_count
        page = await client.get("/mypage", headers=headers or {})
        return app_ctx.db.query_count - before, page.text

    nothing, _ = await made_afresh()
    for year in (2024, 2025, 2026):
        await issue_fee(app_ctx, year=year, due_on=date(year + 1, 3, 31))
    fee_id = await fee_id_of(
        app_ctx, member_id, await issue_fee(app_ctx, year=2023, due_on=date(2024, 3, 31))
    )
    await choose(client, fee_id, "konbini")
    await app_ctx.db.execute("UPDATE members SET profile_checked_at = NULL WHERE id = ?", (member_id,))
    everything, text = await made_afresh()
    assert len(notice_kinds(text)) == 5
    assert everything == nothing
    # The arrivals alone (an htmx switch of condition) skip the notices: the difference is their cost.
    arrivals_only, _ = await made_afresh({"HX-Request": "true"})
    print(f"\nMy Page queries: {everything} (without the notices and the announcement: {arrivals_only})")
    # The notices cost two queries (open fees, unread inquiry answers: issue 15 allows 2), the latest
    # unread announcement one more (issue 16).
    assert everything - arrivals_only == 3
