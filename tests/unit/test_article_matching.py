"""New-arrival matching: taxonomies with hierarchy, the 14-day window, the 30 cap and tier gating."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from db import taxonomy as taxonomy_queries
from services import articles as article_service
from tests.article_helpers import add_article, add_condition, grant_members_tier, seed_terms
from tests.helpers import make_member

JST = ZoneInfo("Asia/Tokyo")


async def titles(app, member_id, condition_id=None):
    arrivals = await article_service.new_arrivals(app, member_id, condition_id)
    assert arrivals is not None
    return [row["title"] for row in arrivals.items]


async def test_region_condition_on_a_parent_matches_articles_on_its_children(app_ctx):
    ids = await seed_terms(app_ctx)
    member = await make_member(app_ctx, "001001")
    await add_article(app_ctx, "中国の記事", ["china", "trade"], ids=ids)
    await add_article(app_ctx, "アジア全体の記事", ["asia"], ids=ids)
    await add_article(app_ctx, "英国の記事", ["uk", "trade"], ids=ids)
    await add_article(app_ctx, "地域なしの記事", ["trade"], ids=ids)
    condition = await add_condition(app_ctx, member, "アジア", ["asia"], ids)
    assert sorted(await titles(app_ctx, member, condition)) == sorted(["中国の記事", "アジア全体の記事"])


async def test_topic_only_condition_matches_any_region(app_ctx):
    ids = await seed_terms(app_ctx)
    member = await make_member(app_ctx, "001001")
    await add_article(app_ctx, "中国の通商", ["china", "trade"], ids=ids)
    await add_article(app_ctx, "英国の通商", ["uk", "trade"], ids=ids)
    await add_article(app_ctx, "地域なしの通商", ["trade"], ids=ids)
    await add_article(app_ctx, "中国の投資", ["china", "investment"], ids=ids)
    condition = await add_condition(app_ctx, member, "通商", ["trade"], ids)
    assert sorted(await titles(app_ctx, member, condition)) == sorted(
        ["中国の通商", "英国の通商", "地域なしの通商"]
    )


async def test_region_and_topic_must_both_match(app_ctx):
    ids = await seed_terms(app_ctx)
    member = await make_member(app_ctx, "001001")
    await add_article(app_ctx, "中国の通商", ["china", "trade"], ids=ids)
    await add_article(app_ctx, "中国の投資", ["china", "investment"], ids=ids)
    await add_article(app_ctx, "英国の通商", ["uk", "trade"], ids=ids)
    await add_article(app_ctx, "韓国の規制と通商", ["korea", "regulation", "trade"], ids=ids)
    condition = await add_condition(app_ctx, member, "アジア通商", ["asia", "trade"], ids)
    assert sorted(await titles(app_ctx, member, condition)) == sorted(["中国の通商", "韓国の規制と通商"])


async def test_several_terms_in_one_taxonomy_match_any_of_them(app_ctx):
    ids = await seed_terms(app_ctx)
    member = await make_member(app_ctx, "001001")
    await add_article(app_ctx, "米国", ["us"], ids=ids)
    await add_article(app_ctx, "英国", ["uk"], ids=ids)
    await add_article(app_ctx, "中国", ["china"], ids=ids)
    condition = await add_condition(app_ctx, member, "欧米", ["north-america", "europe"], ids)
    assert sorted(await titles(app_ctx, member, condition)) == ["米国", "英国"]


async def test_condition_without_terms_matches_everything_new(app_ctx):
    ids = await seed_terms(app_ctx)
    member = await make_member(app_ctx, "001001")
    await add_article(app_ctx, "タグなし", [], ids=ids)
    await add_article(app_ctx, "中国", ["china"], ids=ids)
    condition = await add_condition(app_ctx, member, "すべて", [], ids)
    assert sorted(await titles(app_ctx, member, condition)) == ["タグなし", "中国"]


async def test_window_is_fourteen_calendar_days_in_org_time(app_ctx):
    # The clock says 2026-11-23 12:00 JST, so "new" starts at 2026-11-10 00:00 JST.
    ids = await seed_terms(app_ctx)
    member = await make_member(app_ctx, "001001")
    start = datetime(2026, 11, 10, 0, 0, tzinfo=JST)
    await add_article(app_ctx, "初日の0時", ["china"], ids=ids, published_at=start)
    await add_article(app_ctx, "前日の深夜", ["china"], ids=ids, published_at=start - timedelta(seconds=1))
    await add_article(app_ctx, "たった今", ["china"], ids=ids, published_at=app_ctx.clock.now())
    await add_article(
        app_ctx, "予約投稿", ["china"], ids=ids, published_at=app_ctx.clock.now() + timedelta(minutes=1)
    )
    await add_article(app_ctx, "下書き", ["china"], ids=ids, status="draft")
    await add_article(app_ctx, "非公開", ["china"], ids=ids, status="unpublished")
    condition = await add_condition(app_ctx, member, "中国", ["china"], ids)
    assert await titles(app_ctx, member, condition) == ["たった今", "初日の0時"]

    window_start, window_end = article_service.new_arrivals_window(app_ctx.clock.now(), JST)
    assert window_start == start.astimezone(UTC)
    assert window_end == app_ctx.clock.now()

    # Next morning (JST) the oldest day drops out, even though fewer than 14×24 hours passed since it.
    app_ctx.clock.set(datetime(2026, 11, 24, 0, 0, 1, tzinfo=JST))
    assert await titles(app_ctx, member, condition) == ["予約投稿", "たった今"]


async def test_at_most_thirty_newest_first_with_the_rest_counted(app_ctx):
    ids = await seed_terms(app_ctx)
    member = await make_member(app_ctx, "001001")
    for n in range(35):
        await add_article(app_ctx, f"記事{n:02d}", ["china"], ids=ids, age=timedelta(hours=n + 1))
    condition = await add_condition(app_ctx, member, "中国", ["china"], ids)
    arrivals = await article_service.new_arrivals(app_ctx, member, condition)
    assert arrivals is not None
    assert [row["title"] for row in arrivals.items] == [f"記事{n:02d}" for n in range(30)]
    assert arrivals.total == 35
    assert arrivals.more == 5


async def test_all_conditions_view_lists_each_article_once(app_ctx):
    ids = await seed_terms(app_ctx)
    member = await make_member(app_ctx, "001001")
    await add_article(app_ctx, "中国の通商", ["china", "trade"], ids=ids, age=timedelta(hours=1))
    await add_article(app_ctx, "米国の通商", ["us", "trade"], ids=ids, age=timedelta(hours=2))
    await add_article(app_ctx, "中国の投資", ["china", "investment"], ids=ids, age=timedelta(hours=3))
    first = await add_condition(app_ctx, member, "中国", ["china"], ids)
    second = await add_condition(app_ctx, member, "通商", ["trade"], ids)
    arrivals = await article_service.new_arrivals(app_ctx, member, None)
    assert arrivals is not None
    assert [row["title"] for row in arrivals.items] == ["中国の通商", "米国の通商", "中国の投資"]
    assert arrivals.total == 3
    assert arrivals.count_of(first) == 2
    assert arrivals.count_of(second) == 2


async def test_another_members_condition_is_not_found(app_ctx):
    ids = await seed_terms(app_ctx)
    owner = await make_member(app_ctx, "001001")
    other = await make_member(app_ctx, "001002")
    condition = await add_condition(app_ctx, owner, "中国", ["china"], ids)
    assert await article_service.new_arrivals(app_ctx, other, condition) is None


async def test_events_and_members_only_articles_need_the_members_tier(app_ctx):
    ids = await seed_terms(app_ctx)
    free = await make_member(app_ctx, "001001")
    paid = await make_member(app_ctx, "001002")
    await grant_members_tier(app_ctx, paid)
    await add_article(app_ctx, "普通の記事", ["china"], ids=ids, age=timedelta(hours=1))
    await add_article(app_ctx, "セミナー", ["china"], ids=ids, kind="event", age=timedelta(hours=2))
    await add_article(
        app_ctx, "会員限定レポート", ["china"], ids=ids, members_only=True, age=timedelta(hours=3)
    )
    for member in (free, paid):
        await add_condition(app_ctx, member, "中国", ["china"], ids)

    free_view = await article_service.new_arrivals(app_ctx, free, None)
    assert free_view is not None
    assert [row["title"] for row in free_view.items] == ["普通の記事"]
    assert free_view.gated == 2
    assert not free_view.access.events and not free_view.access.members_only
    assert free_view.access.tier_name == "有料会員"

    paid_view = await article_service.new_arrivals(app_ctx, paid, None)
    assert paid_view is not None
    assert [row["title"] for row in paid_view.items] == ["普通の記事", "セミナー", "会員限定レポート"]
    assert paid_view.gated == 0
    assert paid_view.access.full

    assert await article_service.count_preview(app_ctx, free, [ids["asia"]], []) == 1
    assert await article_service.count_preview(app_ctx, paid, [ids["asia"]], []) == 3


async def test_live_count_follows_the_same_rules(app_ctx):
    ids = await seed_terms(app_ctx)
    member = await make_member(app_ctx, "001001")
    await add_article(app_ctx, "中国の通商", ["china", "trade"], ids=ids)
    await add_article(app_ctx, "英国の通商", ["uk", "trade"], ids=ids)
    await add_article(app_ctx, "古い中国の通商", ["china", "trade"], ids=ids, age=timedelta(days=20))
    assert await article_service.count_preview(app_ctx, member, [ids["asia"]], [ids["trade"]]) == 1
    assert await article_service.count_preview(app_ctx, member, [], [ids["trade"]]) == 2
    assert await article_service.count_preview(app_ctx, member, [], []) == 2


async def test_page_queries_do_not_grow_with_conditions(app_ctx):
    ids = await seed_terms(app_ctx)
    one = await make_member(app_ctx, "001001")
    ten = await make_member(app_ctx, "001002")
    for n in range(40):
        await add_article(
            app_ctx, f"記事{n}", ["china" if n % 2 else "uk", "trade"], ids=ids, age=timedelta(hours=n)
        )
    await add_condition(app_ctx, one, "中国", ["china"], ids)
    for n in range(10):
        await add_condition(app_ctx, ten, f"条件{n}", ["asia" if n % 2 else "europe", "trade"], ids)

    async def queries(member_id):
        before = app_ctx.db.query_count
        await article_service.new_arrivals(app_ctx, member_id, None)
        return app_ctx.db.query_count - before

    assert await queries(one) == await queries(ten)


async def test_moving_a_term_moves_its_matches_and_keeps_the_closure_right(app_ctx):
    ids = await seed_terms(app_ctx)
    member = await make_member(app_ctx, "001001")
    await add_article(app_ctx, "韓国の記事", ["korea"], ids=ids)
    asia = await add_condition(app_ctx, member, "アジア", ["asia"], ids)
    europe = await add_condition(app_ctx, member, "欧州", ["europe"], ids)
    assert await titles(app_ctx, member, asia) == ["韓国の記事"]

    await taxonomy_queries.update_term(
        app_ctx.db, ids["korea"], name="韓国", slug="korea", parent_id=ids["europe"], sort_order=0
    )
    assert await titles(app_ctx, member, asia) == []
    assert await titles(app_ctx, member, europe) == ["韓国の記事"]

    # The closure equals what walking parent links gives.
    rows = await taxonomy_queries.all_terms(app_ctx.db)
    parents = {int(r["id"]): r["parent_id"] for r in rows}
    expected = set()
    for term_id in parents:
        node = term_id
        while node is not None:
            expected.add((node, term_id))
            node = parents[node]
    assert await taxonomy_queries.closure_pairs(app_ctx.db) == expected


async def test_moving_a_subtree_under_a_new_root_relinks_grandchildren(app_ctx):
    ids = await seed_terms(app_ctx)
    east = await taxonomy_queries.create_term(
        app_ctx.db, taxonomy="region", name="東アジア", slug="east-asia", parent_id=ids["asia"], sort_order=0
    )
    await taxonomy_queries.update_term(
        app_ctx.db, ids["china"], name="中国", slug="china", parent_id=east, sort_order=0
    )
    world = await taxonomy_queries.create_term(
        app_ctx.db, taxonomy="region", name="世界", slug="world", parent_id=None, sort_order=0
    )
    await taxonomy_queries.update_term(
        app_ctx.db, ids["asia"], name="アジア", slug="asia", parent_id=world, sort_order=0
    )
    pairs = await taxonomy_queries.closure_pairs(app_ctx.db)
    assert (world, ids["china"]) in pairs
    assert (ids["asia"], ids["china"]) in pairs
    assert (east, ids["china"]) in pairs
    assert (world, ids["uk"]) not in pairs


async def test_condition_names_are_checked():
    taxonomies = article_service.build_taxonomies([])
    _, errors = article_service.check_condition("  ", [], [], taxonomies)
    assert "入力してください" in errors["name"]
    _, errors = article_service.check_condition("あ" * 41, [], [], taxonomies)
    assert "40文字以内" in errors["name"]
    _, errors = article_service.check_condition("髙島屋の件", [], [], taxonomies)
    assert "髙" in errors["name"]
    value, errors = article_service.check_condition("ＡＳＥＡＮの動き😀", [1, 2], [3], taxonomies)
    assert "name" in errors
    value, errors = article_service.check_condition("ＡＳＥＡＮ", [1, 2], [3], taxonomies)
    assert errors == {}
    assert value.name == "ＡＳＥＡＮ"
    assert value.region_ids == [] and value.topic_ids == []
