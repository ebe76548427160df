"""Statistics (/admin/stats): members by plan, type and prefecture; joins and leaves and mails per month
of the fiscal year (its first month a setting); fees per fiscal year; each with an SVG chart, a table and
a CSV download. Admins only."""

from __future__ import annotations

import csv
import io
import re

from db.timestamps import to_db
from services import admin_settings
from tests.helpers import login_admin, make_member, post_form, visible_text
from tests.payments_support import issue_fee


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def seed(app_ctx):
    db = app_ctx.db
    a = await make_member(app_ctx, "001001", prefecture="東京都", membership_type="正会員")
    b = await make_member(app_ctx, "001002", prefecture="大阪府", membership_type="正会員")
    c = await make_member(app_ctx, "001003", prefecture="東京都", membership_type="学生会員")
    await make_member(app_ctx, "001004", prefecture="", membership_type="賛助会員")
    # Joined on 2026-04-01 00:30 JST (still 31 March in UTC) and on 2026-10-10; created "now" is November.
    await db.execute("UPDATE members SET created_at = ? WHERE id = ?", ("2026-03-31T15:30:00.000Z", a))
    await db.execute("UPDATE members SET created_at = ? WHERE id = ?", ("2026-10-10T01:00:00.000Z", b))
    paid_tier = await db.fetchval("SELECT id FROM tiers WHERE code = 'members'")
    await db.execute(
        "INSERT INTO member_tiers (member_id, tier_id, starts_on, ends_on, source, created_at) "
        "VALUES (?, ?, '2026-04-01', '2027-03-31', 'admin', ?)",
        (c, paid_tier, to_db(app_ctx.clock.now())),
    )
    closed = await make_member(app_ctx, "001009")
    await db.execute("UPDATE members SET status = 'closed' WHERE id = ?", (closed,))
    await db.execute(
        "INSERT INTO closure_requests (member_id, status, requested_at, decided_at) VALUES (?, 'closed', ?, ?)",
        (closed, "2026-06-01T00:00:00.000Z", "2026-06-02T00:00:00.000Z"),
    )
    await db.execute("UPDATE members SET membership_type = '' WHERE role = 'admin'")
    item = await issue_fee(app_ctx, year=2026, amount=5_000)
    await db.execute(
        "UPDATE fees SET status = 'paid', paid_method = 'bank_transfer', paid_at = ? WHERE member_id = ? AND fee_item_id = ?",
        (to_db(app_ctx.clock.now()), a, item),
    )
    for kind, status, at in (
        ("password_reset", "sent", "2026-05-01T00:00:00.000Z"),
        ("password_reset", "failed", "2026-05-02T00:00:00.000Z"),
        ("announcement", "sent", "2026-11-01T00:00:00.000Z"),
        ("password_reset", "sent", "2025-05-01T00:00:00.000Z"),  # another fiscal year
    ):
        await db.execute(
            "INSERT INTO mail_log (created_at, kind, recipient, subject, message_id, status) VALUES (?, ?, 'x@example.jp', 's', 'm', ?)",
            (at, kind, status),
        )
    return a, b, c


async def test_stats_page_shows_each_table_with_its_chart(client, app_ctx):
    await login_admin(client, app_ctx)
    await seed(app_ctx)
    page = await client.get("/admin/stats")
    assert page.status_code == 200
    text = visible_text(page.text)
    for title in (
        "プラン別の会員数",
        "会員種別ごとの会員数",
        "都道府県別の会員数",
        "2026年度の入会と退会（月別）",
        "年度別の会費の収納状況",
        "2026年度のメール送信（月別）",
        "イベントごとの参加申込数",
    ):
        assert title in text, title
    assert page.text.count('<svg class="stat-chart"') == 7
    assert "<script" not in page.text.split("<main", 1)[-1].split("</main>", 1)[0]


async def test_member_counts_by_plan_type_and_prefecture(client, app_ctx):
    await login_admin(client, app_ctx)
    await seed(app_ctx)
    tiers = read_csv((await client.get("/admin/stats/tiers.csv")).content)
    assert tiers[0] == ["プラン", "人数"]
    assert ["有料会員", "1"] in tiers and ["無料プラン", "3"] in tiers and tiers[-1] == ["合計", "4"]
    types = read_csv((await client.get("/admin/stats/types.csv")).content)
    assert ["正会員", "2"] in types and ["学生会員", "1"] in types and ["賛助会員", "1"] in types
    prefectures = read_csv((await client.get("/admin/stats/prefectures.csv")).content)
    # In the JIS order of prefectures (東京都 before 大阪府), the unset ones last.
    assert [row[0] for row in prefectures[1:]] == ["東京都", "大阪府", "（未入力）", "合計"]


async def test_joins_and_leaves_per_month_follow_the_fiscal_year_and_time_zone(client, app_ctx):
    await login_admin(client, app_ctx)
    await seed(app_ctx)
    rows = read_csv((await client.get("/admin/stats/joins.csv?year=2026")).content)
    assert rows[0] == ["月", "入会", "退会"]
    assert rows[1][0] == "2026年4月" and rows[12][0] == "2027年3月"
    by_month = {row[0]: row[1:] for row in rows[1:]}
    assert by_month["2026年4月"] == ["1", "0"]  # 00:30 JST on 1 April, still March in UTC
    assert by_month["2026年6月"] == ["0", "1"]
    assert by_month["2026年10月"] == ["1", "0"]
    # The admin (console account) made at test time is not a join; the three other members joined in November.
    assert by_month["2026年11月"][0] == "3"


async def test_the_fiscal_year_start_month_is_a_setting(client, app_ctx):
    await login_admin(client, app_ctx)
    await seed(app_ctx)
    values = admin_settings.current_values(app_ctx)
    bools = {spec.name for spec in admin_settings.all_fields() if spec.kind == "bool"}
    for bad in ("13", "0", "x"):
        form = {
            k: v for k, v in {**values, "fiscal_year_start_month": bad}.items() if v != "0" or k not in bools
        }
        refused = await post_form(client, "/admin/settings", form)
        assert refused.status_code == 422, bad
    values["fiscal_year_start_month"] = "1"
    form = {k: v for k, v in values.items() if v != "0" or k not in bools}
    response = await post_form(client, "/admin/settings", form, follow_redirects=False)
    assert response.status_code == 303
    assert app_ctx.org.fiscal_year_start_month == 1
    # Years now run January to December: 2026年度 is 2026, its first month January.
    rows = read_csv((await client.get("/admin/stats/joins.csv")).content)
    assert rows[1][0] == "2026年1月" and rows[12][0] == "2026年12月"
    page = await client.get("/admin/stats")
    assert "2026年度（1月〜12月）" in visible_text(page.text)


async def test_fees_per_fiscal_year_with_methods(client, app_ctx):
    await login_admin(client, app_ctx)
    await seed(app_ctx)
    rows = read_csv((await client.get("/admin/stats/fees.csv")).content)
    header, line = rows[0], rows[1]
    assert header[:7] == [
        "年度",
        "請求件数",
        "請求額（円）",
        "お支払い済み件数",
        "お支払い済み額（円）",
        "未納件数",
        "未納額（円）",
    ]
    record = dict(zip(header, line, strict=True))
    assert record["年度"] == "2026年度"
    assert record["請求件数"] == "2" and record["請求額（円）"] == "10000"  # the two 正会員
    assert record["お支払い済み件数"] == "1" and record["銀行振込（円）"] == "5000"
    assert record["未納件数"] == "1" and record["未納額（円）"] == "5000"


async def test_mails_per_month_count_every_logged_kind(client, app_ctx):
    await login_admin(client, app_ctx)
    await seed(app_ctx)
    rows = read_csv((await client.get("/admin/stats/mails.csv?year=2026")).content)
    header = rows[0]
    assert header[0] == "種類" and header[1] == "4月" and header[-2:] == ["送信", "失敗"]
    by_kind = {row[0]: row for row in rows[1:]}
    reset = by_kind["パスワード再設定"]
    assert reset[header.index("5月")] == "1 / 1" and reset[-2:] == ["1", "1"]  # 2025's mail is another year
    assert by_kind["お知らせ（一斉送信）"][header.index("11月")] == "1"
    assert by_kind["合計"][-2:] == ["2", "1"]


async def test_odd_years_and_keys(client, app_ctx):
    await login_admin(client, app_ctx)
    for url in (
        "/admin/stats?year=99999999999999999999",
        "/admin/stats?year=２０２６",
        "/admin/stats?year=%00",
    ):
        response = await client.get(url)
        assert response.status_code == 200, url
        assert "2026年度の入会と退会" in visible_text(response.text)
    assert (await client.get("/admin/stats/nothing.csv")).status_code == 404
    old = await client.get("/admin/stats?year=2001")
    assert "2001年度の入会と退会" in visible_text(old.text)
    assert re.search(r'href="/admin/stats\?year=2002"', old.text)


async def test_event_registrations_are_counted_per_event(client, app_ctx):
    await login_admin(client, app_ctx)
    now = to_db(app_ctx.clock.now())
    await app_ctx.db.execute(
        "INSERT INTO articles (kind, title, status, published_at, event_date, created_at, updated_at) "
        "VALUES ('event', '秋の研究会', 'published', ?, '2026-12-01', ?, ?)",
        (now, now, now),
    )
    article_id = await app_ctx.db.fetchval("SELECT id FROM articles WHERE title = '秋の研究会'")
    for number, code in (("001001", "AAAA1111"), ("001002", "BBBB2222")):
        member_id = await make_member(app_ctx, number)
        await app_ctx.db.execute(
            "INSERT INTO event_registrations (article_id, member_id, status, checkin_code, queued_at, created_at, "
            "updated_at) VALUES (?, ?, 'registered', ?, ?, ?, ?)",
            (article_id, member_id, code, now, now, now),
        )
    rows = read_csv((await client.get("/admin/stats/events.csv")).content)
    assert rows == [["イベント", "申込数"], ["秋の研究会", "2"]]


async def test_labels_in_the_charts_are_escaped(client, app_ctx):
    await login_admin(client, app_ctx)
    await make_member(app_ctx, "001001", membership_type="<script>x</script>")
    page = await client.get("/admin/stats")
    assert "<script>x</script>" not in page.text
    assert "&lt;script&gt;" in page.text
