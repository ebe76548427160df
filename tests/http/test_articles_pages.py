"""Articles, conditions, new arrivals, bookmarks and history through the real app over HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

from db import history as history_queries
from tests.article_helpers import add_article, add_condition, grant_members_tier, seed_terms
from tests.helpers import login, make_member, visible_text
from tests.helpers import post_form as _post_form

HTMX = {"HX-Request": "true"}


async def post_form(client, url, data, **kwargs):
    kwargs.setdefault("follow_redirects", False)
    return await _post_form(client, url, data, **kwargs)


async def setup_member(client, app_ctx, number="001001"):
    member_id = await make_member(app_ctx, number)
    await login(client, number)
    return member_id


async def test_mypage_without_conditions_invites_to_set_one_up(client, app_ctx):
    await seed_terms(app_ctx)
    await setup_member(client, app_ctx)
    page = await client.get("/mypage")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "新着条件がまだ登録されていません" in text
    assert 'href="/conditions"' in page.text


async def test_mypage_shows_new_arrivals_per_condition_and_all(client, app_ctx):
    ids = await seed_terms(app_ctx)
    member = await setup_member(client, app_ctx)
    await add_article(app_ctx, "中国の通商政策の動向", ["china", "trade"], ids=ids, age=timedelta(hours=1))
    await add_article(app_ctx, "米国の投資の動向", ["us", "investment"], ids=ids, age=timedelta(hours=2))
    await add_article(app_ctx, "古い中国の記事", ["china"], ids=ids, age=timedelta(days=30))
    asia = await add_condition(app_ctx, member, "アジア", ["asia"], ids)
    await add_condition(app_ctx, member, "米国投資", ["us", "investment"], ids)
    page = await client.get("/mypage")
    text = visible_text(page.text)
    assert "中国の通商政策の動向" in text and "米国の投資の動向" in text
    assert "古い中国の記事" not in text
    one = await client.get(f"/mypage?condition={asia}")
    text = visible_text(one.text)
    assert "中国の通商政策の動向" in text and "米国の投資の動向" not in text
    fragment = await client.get(f"/mypage?condition={asia}", headers=HTMX)
    assert "<html" not in fragment.text and 'id="arrivals"' in fragment.text


async def test_mypage_with_nothing_new_suggests_widening(client, app_ctx):
    ids = await seed_terms(app_ctx)
    member = await setup_member(client, app_ctx)
    condition = await add_condition(app_ctx, member, "韓国の規制", ["korea", "regulation"], ids)
    page = await client.get(f"/mypage?condition={condition}")
    text = visible_text(page.text)
    assert "新着記事はありません" in text
    assert "条件を広げる" in text
    assert f"/conditions/{condition}/edit" in page.text


async def test_mypage_more_count_and_tier_line(client, app_ctx):
    ids = await seed_terms(app_ctx)
    member = await setup_member(client, app_ctx)
    for n in range(33):
        await add_article(app_ctx, f"中国記事{n:02d}", ["china"], ids=ids, age=timedelta(hours=n + 1))
    await add_article(app_ctx, "中国セミナー", ["china"], ids=ids, kind="event")
    await add_condition(app_ctx, member, "中国", ["china"], ids)
    text = visible_text((await client.get("/mypage")).text)
    assert "ほかに 3件" in text
    assert "中国セミナー" not in text
    assert "イベント情報・会員限定記事が 1件" in text
    assert "「有料会員」プランに参加すると" in text
    await grant_members_tier(app_ctx, member)
    text = visible_text((await client.get("/mypage")).text)
    assert "中国セミナー" in text
    assert "プランに参加すると" not in text


async def test_another_members_condition_is_404_everywhere(client, app_ctx):
    ids = await seed_terms(app_ctx)
    owner = await make_member(app_ctx, "001002")
    condition = await add_condition(app_ctx, owner, "持ち主の条件", ["china"], ids)
    await setup_member(client, app_ctx)
    assert (await client.get(f"/mypage?condition={condition}")).status_code == 404
    assert (await client.get("/mypage?condition=abc")).status_code == 404
    assert (await client.get(f"/conditions/{condition}/edit")).status_code == 404
    assert (await post_form(client, f"/conditions/{condition}", {"name": "乗っ取り"})).status_code == 404
    assert (await post_form(client, f"/conditions/{condition}/delete", {})).status_code == 404
    rows = await app_ctx.db.fetchall("SELECT name FROM conditions WHERE id = ?", (condition,))
    assert rows[0]["name"] == "持ち主の条件"


async def test_condition_create_edit_delete_plain_forms(client, app_ctx):
    ids = await seed_terms(app_ctx)
    await setup_member(client, app_ctx)
    response = await post_form(
        client,
        "/conditions",
        {"name": "アジアの通商", "region": [str(ids["asia"])], "topic": [str(ids["trade"])]},
    )
    assert response.status_code == 303
    page = await client.get("/conditions")
    text = visible_text(page.text)
    assert "新着条件「アジアの通商」を追加しました。" in text
    assert "アジア" in text and "通商政策" in text
    condition = int(re.search(r'id="condition-(\d+)"', page.text).group(1))
    response = await post_form(
        client, f"/conditions/{condition}", {"name": "欧州すべて", "region": [str(ids["europe"])]}
    )
    assert response.status_code == 303
    rows = await app_ctx.db.fetchall(
        "SELECT t.slug FROM condition_terms ct JOIN terms t ON t.id = ct.term_id WHERE ct.condition_id = ?",
        (condition,),
    )
    assert [r["slug"] for r in rows] == ["europe"]
    response = await post_form(client, f"/conditions/{condition}/delete", {})
    assert response.status_code == 303
    assert "登録済みの条件" not in visible_text((await client.get("/conditions")).text)


async def test_condition_htmx_in_place(client, app_ctx):
    ids = await seed_terms(app_ctx)
    await setup_member(client, app_ctx)
    await add_article(app_ctx, "中国の記事", ["china"], ids=ids)
    created = await post_form(
        client, "/conditions", {"name": "中国", "region": str(ids["china"])}, headers=HTMX
    )
    assert created.status_code == 200
    assert "<html" not in created.text and 'id="conditions"' in created.text
    condition = int(re.search(r'id="condition-(\d+)"', created.text).group(1))
    form = await client.get(f"/conditions/{condition}/edit", headers=HTMX)
    assert "<html" not in form.text and f'id="condition-{condition}"' in form.text
    assert "直近14日間に該当する記事： 1件" in visible_text(form.text)
    saved = await post_form(
        client, f"/conditions/{condition}", {"name": "中国（改）", "region": str(ids["china"])}, headers=HTMX
    )
    assert "<html" not in saved.text and "中国（改）" in saved.text
    bad = await post_form(
        client, f"/conditions/{condition}", {"name": "", "region": str(ids["china"])}, headers=HTMX
    )
    assert bad.status_code == 200
    assert "条件の名前を入力してください" in bad.text
    assert "checked" in bad.text
    card = await client.get(f"/conditions/{condition}/card", headers=HTMX)
    assert "中国（改）" in card.text
    deleted = await post_form(client, f"/conditions/{condition}/delete", {}, headers=HTMX)
    assert 'id="conditions"' in deleted.text and "を削除しました" in deleted.text


async def test_live_count_htmx_and_plain(client, app_ctx):
    ids = await seed_terms(app_ctx)
    await setup_member(client, app_ctx)
    await add_article(app_ctx, "中国の通商", ["china", "trade"], ids=ids)
    await add_article(app_ctx, "英国の通商", ["uk", "trade"], ids=ids)
    live = await post_form(client, "/conditions/count", {"topic": str(ids["trade"])}, headers=HTMX)
    assert live.status_code == 200
    assert "<strong>2件</strong>" in live.text and "<html" not in live.text
    plain = await post_form(
        client,
        "/conditions/count",
        {"name": "下書き", "region": str(ids["asia"]), "topic": str(ids["trade"])},
    )
    assert plain.status_code == 200
    assert "<strong>1件</strong>" in plain.text
    assert 'value="下書き"' in plain.text


async def test_bad_condition_input_never_500_and_keeps_values(client, app_ctx):
    ids = await seed_terms(app_ctx)
    await setup_member(client, app_ctx)
    for name in ("", "あ" * 5000, "😀絵文字", "髙橋の件"):
        response = await post_form(
            client, "/conditions", {"name": name, "region": [str(ids["asia"]), "x", "999999", "-1"]}
        )
        assert response.status_code == 422, name
        assert "入力内容をご確認ください" in response.text or "field-error" in response.text
    response = await post_form(
        client, "/conditions", {"name": "漢字の件", "region": ["x", "999999"], "topic": "１"}
    )
    assert response.status_code == 303
    assert await app_ctx.db.fetchval("SELECT COUNT(*) FROM condition_terms") == 0


async def test_at_most_ten_conditions(client, app_ctx):
    await seed_terms(app_ctx)
    await setup_member(client, app_ctx)
    for n in range(10):
        assert (await post_form(client, "/conditions", {"name": f"条件{n}"})).status_code == 303
    response = await post_form(client, "/conditions", {"name": "11件目"})
    assert response.status_code == 422
    assert "10件まで" in visible_text(response.text)
    page = await client.get("/conditions")
    assert 'id="new-condition-heading"' not in page.text
    assert await app_ctx.db.fetchval("SELECT COUNT(*) FROM conditions") == 10


async def test_article_page_records_history_but_lists_do_not(client, app_ctx):
    ids = await seed_terms(app_ctx)
    member = await setup_member(client, app_ctx)
    first = await add_article(app_ctx, "一つ目の記事", ["china"], ids=ids, age=timedelta(hours=2))
    second = await add_article(app_ctx, "二つ目の記事", ["uk"], ids=ids, age=timedelta(hours=1))
    await add_condition(app_ctx, member, "すべて", [], ids)
    for url in ("/articles", "/articles?q=記事", "/mypage", "/bookmarks", "/history", "/conditions"):
        assert (await client.get(url)).status_code == 200, url
    assert await history_queries.count_for(app_ctx.db, member) == 0
    page = await client.get(f"/articles/{first}")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "一つ目の記事の本文です。" in text
    assert "次の記事 二つ目の記事" in text
    assert 'href="/articles?region=china"' in page.text
    app_ctx.clock.advance(timedelta(minutes=1))
    await client.get(f"/articles/{second}")
    app_ctx.clock.advance(timedelta(minutes=1))
    await client.get(f"/articles/{first}")
    history = (await client.get("/history")).text
    assert re.findall(r'id="article-card-(\d+)"', history) == [str(first), str(second)]
    cleared = await post_form(client, "/history/clear", {})
    assert cleared.status_code == 303
    assert "閲覧履歴はありません" in visible_text((await client.get("/history")).text)


async def test_history_keeps_the_last_fifty(client, app_ctx):
    ids = await seed_terms(app_ctx)
    member = await setup_member(client, app_ctx)
    article_ids = [await add_article(app_ctx, f"記事{n}", ["china"], ids=ids) for n in range(52)]
    for article_id in article_ids:
        app_ctx.clock.advance(timedelta(seconds=1))
        await history_queries.record(app_ctx.db, member, article_id, now=app_ctx.clock.now(), keep=50)
    rows = await history_queries.list_for(app_ctx.db, member, now=app_ctx.clock.now(), limit=100)
    assert len(rows) == 50
    assert rows[0]["id"] == article_ids[-1]
    assert article_ids[0] not in {r["id"] for r in rows}


async def test_history_and_bookmarks_are_per_member(client, app_ctx):
    ids = await seed_terms(app_ctx)
    other = await make_member(app_ctx, "001002")
    article = await add_article(app_ctx, "他人が見た記事", ["china"], ids=ids)
    await history_queries.record(app_ctx.db, other, article, now=app_ctx.clock.now(), keep=50)
    await app_ctx.db.execute(
        "INSERT INTO bookmarks (member_id, article_id, created_at) VALUES (?, ?, '2026-11-01T00:00:00.000000Z')",
        (other, article),
    )
    await setup_member(client, app_ctx)
    assert "他人が見た記事" not in (await client.get("/history")).text
    assert "他人が見た記事" not in (await client.get("/bookmarks")).text
    await post_form(client, "/history/clear", {})
    assert await history_queries.count_for(app_ctx.db, other) == 1


async def test_bookmark_toggle_htmx_and_plain(client, app_ctx):
    ids = await seed_terms(app_ctx)
    member = await setup_member(client, app_ctx)
    article = await add_article(app_ctx, "あとで読む記事", ["china"], ids=ids)
    star = await post_form(
        client, f"/bookmarks/{article}", {"state": "on", "next": "/articles"}, headers=HTMX
    )
    assert star.status_code == 200
    assert 'aria-pressed="true"' in star.text and "<html" not in star.text
    again = await post_form(
        client, f"/bookmarks/{article}", {"state": "on", "next": "/articles"}, headers=HTMX
    )
    assert 'aria-pressed="true"' in again.text
    assert "あとで読む記事" in visible_text((await client.get("/bookmarks")).text)
    removed = await post_form(client, f"/bookmarks/{article}", {"state": "off", "mode": "list"}, headers=HTMX)
    assert "ブックマークから外しました" in removed.text
    plain = await post_form(client, f"/bookmarks/{article}", {"next": f"/articles/{article}"})
    assert plain.status_code == 303 and plain.headers["location"] == f"/articles/{article}"
    page = await client.get(f"/articles/{article}")
    assert 'aria-pressed="true"' in page.text
    assert "ブックマークに追加しました。" in visible_text(page.text)
    evil = await post_form(client, f"/bookmarks/{article}", {"next": "https://evil.example/"})
    assert evil.headers["location"] == "/bookmarks"
    assert await app_ctx.db.fetchval("SELECT COUNT(*) FROM bookmarks WHERE member_id = ?", (member,)) == 0


async def test_bookmark_missing_or_hidden_article_is_404(client, app_ctx):
    ids = await seed_terms(app_ctx)
    await setup_member(client, app_ctx)
    draft = await add_article(app_ctx, "下書き", ["china"], ids=ids, status="draft")
    assert (await post_form(client, "/bookmarks/999999", {"state": "on"})).status_code == 404
    assert (await post_form(client, f"/bookmarks/{draft}", {"state": "on"})).status_code == 404
    assert (await client.get(f"/articles/{draft}")).status_code == 404
    assert (await client.get("/articles/999999")).status_code == 404


async def test_bookmark_needs_login_and_csrf(client, app_ctx):
    ids = await seed_terms(app_ctx)
    article = await add_article(app_ctx, "記事", ["china"], ids=ids)
    response = await post_form(client, f"/bookmarks/{article}", {"state": "on"}, follow_redirects=False)
    assert response.status_code == 303
    await setup_member(client, app_ctx)
    response = await client.post(f"/bookmarks/{article}", data={"state": "on"})
    assert response.status_code == 403
    assert await app_ctx.db.fetchval("SELECT COUNT(*) FROM bookmarks") == 0


async def test_japanese_keyword_search_uses_the_trigram_index(client, app_ctx):
    ids = await seed_terms(app_ctx)
    await setup_member(client, app_ctx)
    await add_article(
        app_ctx, "半導体の輸出管理が強化されました", ["china"], ids=ids, body="経済安全保障の観点から"
    )
    await add_article(
        app_ctx, "ベトナムの投資環境", ["asia"], ids=ids, summary="工業団地への進出が続いています"
    )
    await add_article(app_ctx, "英国の金融規制", ["uk"], ids=ids)
    text = visible_text((await client.get("/articles", params={"q": "輸出管理"})).text)
    assert "半導体の輸出管理" in text and "ベトナム" not in text
    text = visible_text((await client.get("/articles", params={"q": "工業団地"})).text)
    assert "ベトナムの投資環境" in text and "検索結果 1件" in text
    text = visible_text((await client.get("/articles", params={"q": "安全保障　半導体"})).text)
    assert "検索結果 1件" in text
    # Two characters are below the trigram size: still found.
    text = visible_text((await client.get("/articles", params={"q": "金融"})).text)
    assert "英国の金融規制" in text and "検索結果 1件" in text
    text = visible_text((await client.get("/articles", params={"q": "存在しない話題"})).text)
    assert "該当する記事はありませんでした" in text
    for odd in ('"', "AND OR NOT", "*", "(", "%_", "a" * 300, "NEAR(", "😀😀😀"):
        assert (await client.get("/articles", params={"q": odd})).status_code == 200, odd


async def test_articles_filter_by_region_includes_children(client, app_ctx):
    ids = await seed_terms(app_ctx)
    await add_article(app_ctx, "中国の記事", ["china", "trade"], ids=ids)
    await add_article(app_ctx, "英国の記事", ["uk", "trade"], ids=ids)
    text = visible_text((await client.get("/articles?region=asia")).text)
    assert "中国の記事" in text and "英国の記事" not in text
    text = visible_text((await client.get("/articles?region=asia&region=europe&topic=trade")).text)
    assert "中国の記事" in text and "英国の記事" in text
    fragment = await client.get("/articles?region=europe", headers=HTMX)
    assert "<html" not in fragment.text and "英国の記事" in fragment.text
    assert (await client.get("/articles?region=nope&page=abc&topic=%00")).status_code == 200


async def test_article_read_logged_out_offers_login_for_bookmarks_and_history(client, app_ctx):
    ids = await seed_terms(app_ctx)
    article = await add_article(app_ctx, "公開の記事", ["china"], ids=ids, body="公開の本文")
    visitor = await client.get(f"/articles/{article}")
    text = visible_text(visitor.text)
    assert "公開の本文" in text
    assert "ブックマークと閲覧履歴のご利用には、ログインが必要です。" in text
    assert f'<a href="/login?next=/articles/{article}">ログインする</a>' in visitor.text
    await setup_member(client, app_ctx)
    member = await client.get(f"/articles/{article}")
    assert "ログインが必要です" not in member.text


async def test_members_only_article_shows_a_teaser_to_others(client, app_ctx):
    ids = await seed_terms(app_ctx)
    article = await add_article(
        app_ctx,
        "会員限定レポート",
        ["china"],
        ids=ids,
        members_only=True,
        summary="要旨です。",
        body="秘密の本文",
    )
    event = await add_article(
        app_ctx, "会員向けセミナー", ["china"], ids=ids, kind="event", body="セミナーの詳細"
    )
    visitor = await client.get(f"/articles/{article}")
    assert "秘密の本文" not in visitor.text and "要旨です。" in visitor.text
    assert "ログインして続きを読む" in visible_text(visitor.text)
    member = await setup_member(client, app_ctx)
    free = await client.get(f"/articles/{article}")
    assert "秘密の本文" not in free.text
    assert "/settings/membership" in free.text
    assert "セミナーの詳細" not in (await client.get(f"/articles/{event}")).text
    assert "会員向けセミナー" not in visible_text((await client.get("/articles")).text)
    await grant_members_tier(app_ctx, member)
    assert "秘密の本文" in (await client.get(f"/articles/{article}")).text
    assert "セミナーの詳細" in (await client.get(f"/articles/{event}")).text
    assert "会員向けセミナー" in visible_text((await client.get("/articles")).text)


async def test_scheduled_article_appears_when_due(client, app_ctx):
    ids = await seed_terms(app_ctx)
    await setup_member(client, app_ctx)
    article = await add_article(
        app_ctx, "予約された記事", ["china"], ids=ids, published_at=app_ctx.clock.now() + timedelta(hours=3)
    )
    assert (await client.get(f"/articles/{article}")).status_code == 404
    assert "予約された記事" not in (await client.get("/articles")).text
    app_ctx.clock.advance(timedelta(hours=3))
    assert (await client.get(f"/articles/{article}")).status_code == 200
    assert "予約された記事" in (await client.get("/articles")).text


async def test_mypage_query_count_is_fixed(client, app_ctx):
    ids = await seed_terms(app_ctx)
    member = await setup_member(client, app_ctx)
    for n in range(20):
        await add_article(app_ctx, f"記事{n}", ["china", "trade"], ids=ids, age=timedelta(hours=n))
    await add_condition(app_ctx, member, "一つ目", ["asia"], ids)

    async def miss_and_hit() -> tuple[int, int]:
        # The first view after a change makes the page (a miss); the reload is kept (a hit).
        await app_ctx.db.execute("DELETE FROM mypage_cache")
        before = app_ctx.db.query_count
        await client.get("/mypage")
        miss = app_ctx.db.query_count - before
        before = app_ctx.db.query_count
        await client.get("/mypage")
        return miss, app_ctx.db.query_count - before

    one = await miss_and_hit()
    for n in range(9):
        await add_condition(app_ctx, member, f"条件{n}", ["china", "trade"], ids)
    ten = await miss_and_hit()
    assert one == ten
    # A miss: 1 for the session, 1 for the cache read, 3 for the new arrivals (conditions, tier, matching),
    # 2 for the ご確認ください notices (issue 15 allows 2: open fees and unread inquiry answers), 1 for the
    # latest unread 事務局からのお知らせ, 1 to store the page. A hit: the session and the cache read.
    assert ten[0] <= 9
    assert ten[1] == 2
