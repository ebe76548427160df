"""Admin screens for articles, events, taxonomies and the feed import."""

from __future__ import annotations

import re
from datetime import timedelta

from db import articles as article_queries
from db import taxonomy as taxonomy_queries
from tests.article_helpers import add_article, add_condition, seed_terms
from tests.helpers import login, login_admin, make_member, visible_text
from tests.helpers import post_form as _post_form


async def post_form(client, url, data, **kwargs):
    kwargs.setdefault("follow_redirects", False)
    return await _post_form(client, url, data, **kwargs)


def local(moment, app_ctx):
    return moment.astimezone(app_ctx.settings.tz).strftime("%Y-%m-%dT%H:%M")


async def test_members_cannot_open_admin_screens(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    for url in ("/admin/articles", "/admin/events", "/admin/taxonomies", "/admin/feeds"):
        assert (await client.get(url)).status_code == 403, url


async def test_admin_creates_schedules_edits_and_unpublishes_an_article(client, app_ctx):
    ids = await seed_terms(app_ctx)
    await login_admin(client, app_ctx)
    assert (await client.get("/admin/articles/new")).status_code == 200
    response = await post_form(
        client,
        "/admin/articles",
        {
            "title": "台湾の半導体投資",
            "summary": "概要です。",
            "body_md": "## 見出し\n\n本文です。<script>alert(1)</script>",
            "status": "published",
            "published_at": "",
            "region": [str(ids["asia"])],
            "topic": [str(ids["investment"])],
        },
    )
    assert response.status_code == 303
    row = await app_ctx.db.fetchone("SELECT * FROM articles WHERE title = '台湾の半導体投資'")
    assert "<h2>見出し</h2>" in row["body_html"] and "<script" not in row["body_html"]
    page = await client.get(f"/articles/{row['id']}")
    assert page.status_code == 200 and "本文です。" in page.text

    future = app_ctx.clock.now() + timedelta(days=2)
    response = await post_form(
        client,
        "/admin/articles",
        {
            "title": "予約記事",
            "status": "published",
            "published_at": local(future, app_ctx),
            "members_only": "1",
        },
    )
    assert response.status_code == 303
    listing = visible_text((await client.get("/admin/articles", params={"state": "scheduled"})).text)
    assert "予約記事" in listing and "台湾の半導体投資" not in listing
    scheduled = await app_ctx.db.fetchone("SELECT * FROM articles WHERE title = '予約記事'")
    assert scheduled["members_only"] == 1

    edit = await client.get(f"/admin/articles/{row['id']}/edit")
    assert 'value="台湾の半導体投資"' in edit.text and "checked" in edit.text
    response = await post_form(
        client,
        f"/admin/articles/{row['id']}",
        {"title": "台湾の半導体投資（改訂）", "status": "published", "region": str(ids["china"])},
    )
    assert response.status_code == 303
    terms = (await article_queries.terms_of(app_ctx.db, [row["id"]]))[row["id"]]
    assert [t["slug"] for t in terms] == ["china"]
    response = await post_form(client, f"/admin/articles/{row['id']}/status", {"status": "unpublished"})
    assert response.status_code == 303
    preview = await client.get(f"/articles/{row['id']}")
    assert "管理者向けのプレビュー" in visible_text(preview.text)

    await make_member(app_ctx, "001001")
    await login(client, "001001")
    assert (await client.get(f"/articles/{row['id']}")).status_code == 404


async def test_article_form_errors_keep_every_value(client, app_ctx):
    ids = await seed_terms(app_ctx)
    await login_admin(client, app_ctx)
    response = await post_form(
        client,
        "/admin/articles",
        {
            "title": "",
            "summary": "残る概要",
            "external_url": "javascript:alert(1)",
            "published_at": "明日",
            "status": "bogus",
            "region": str(ids["uk"]),
        },
    )
    assert response.status_code == 422
    text = visible_text(response.text)
    assert "タイトルを入力してください" in text
    assert "http:// または https://" in text
    assert "公開日時は" in text
    assert "残る概要" in response.text
    assert re.search(rf'value="{ids["uk"]}" checked', response.text)
    assert await app_ctx.db.fetchval("SELECT COUNT(*) FROM articles") == 0
    huge = await post_form(client, "/admin/articles", {"title": "長い" * 1000, "body_md": "x" * 300_000})
    assert huge.status_code == 422


async def test_events_have_their_own_screen_and_need_a_date(client, app_ctx):
    await seed_terms(app_ctx)
    await login_admin(client, app_ctx)
    response = await post_form(client, "/admin/events", {"title": "説明会", "status": "published"})
    assert response.status_code == 422 and "開催日時を入力してください" in response.text
    when = local(app_ctx.clock.now() + timedelta(days=10), app_ctx)
    response = await post_form(
        client,
        "/admin/events",
        {
            "title": "説明会",
            "status": "published",
            "event_date": when,
            "event_place": "本部",
            "application_url": "https://example.jp/a",
        },
    )
    assert response.status_code == 303
    event = await app_ctx.db.fetchone("SELECT * FROM articles WHERE kind = 'event'")
    assert event["event_place"] == "本部"
    assert "説明会" in visible_text((await client.get("/admin/events")).text)
    assert "説明会" not in visible_text((await client.get("/admin/articles")).text)
    assert (await client.get(f"/admin/articles/{event['id']}/edit")).status_code == 404
    assert (await client.get(f"/admin/events/{event['id']}/edit")).status_code == 200


async def test_taxonomy_terms_are_added_moved_and_checked(client, app_ctx):
    ids = await seed_terms(app_ctx)
    await login_admin(client, app_ctx)
    response = await post_form(
        client,
        "/admin/taxonomies",
        {"taxonomy": "region", "name": "ベトナム", "slug": "vietnam", "parent_id": str(ids["asia"])},
    )
    assert response.status_code == 303
    vietnam = await taxonomy_queries.term_by_slug(app_ctx.db, "region", "vietnam")
    assert await taxonomy_queries.is_in_subtree(app_ctx.db, ids["asia"], vietnam["id"])
    duplicate = await post_form(
        client, "/admin/taxonomies", {"taxonomy": "region", "name": "越南", "slug": "vietnam"}
    )
    assert duplicate.status_code == 422 and "すでに使われています" in duplicate.text
    assert 'value="越南"' in duplicate.text
    auto = await post_form(client, "/admin/taxonomies", {"taxonomy": "topic", "name": "物流"})
    assert auto.status_code == 303
    assert any(r["name"] == "物流" for r in await taxonomy_queries.all_terms(app_ctx.db))
    cycle = await post_form(
        client,
        f"/admin/taxonomies/{ids['asia']}",
        {"name": "アジア", "slug": "asia", "parent_id": str(ids["china"])},
    )
    assert cycle.status_code == 422 and "自分自身やその下の項目" in cycle.text
    other_tax = await post_form(
        client,
        f"/admin/taxonomies/{ids['china']}",
        {"name": "中国", "slug": "china", "parent_id": str(ids["trade"])},
    )
    assert other_tax.status_code == 422
    moved = await post_form(
        client, f"/admin/taxonomies/{ids['korea']}", {"name": "大韓民国", "slug": "korea", "parent_id": ""}
    )
    assert moved.status_code == 303
    assert not await taxonomy_queries.is_in_subtree(app_ctx.db, ids["asia"], ids["korea"])
    assert (await client.get("/admin/taxonomies/999999")).status_code == 404


async def test_a_term_in_use_is_not_deleted_silently(client, app_ctx):
    ids = await seed_terms(app_ctx)
    member = await make_member(app_ctx, "001001")
    article = await add_article(app_ctx, "韓国の記事", ["korea"], ids=ids)
    condition = await add_condition(app_ctx, member, "韓国", ["korea"], ids)
    await login_admin(client, app_ctx)
    page = visible_text((await client.get(f"/admin/taxonomies/{ids['korea']}")).text)
    assert "記事 1件" in page and "新着条件 1件" in page
    refused = await post_form(client, f"/admin/taxonomies/{ids['korea']}/delete", {})
    assert refused.status_code == 422
    assert "記事1件・新着条件1件で使われています" in visible_text(refused.text)
    assert await taxonomy_queries.get_term(app_ctx.db, ids["korea"]) is not None
    parent = await post_form(
        client, f"/admin/taxonomies/{ids['asia']}/delete", {"move_to": str(ids["europe"])}
    )
    assert parent.status_code == 422 and "下に2件の項目" in visible_text(parent.text)
    wrong = await post_form(
        client, f"/admin/taxonomies/{ids['korea']}/delete", {"move_to": str(ids["trade"])}
    )
    assert wrong.status_code == 422
    moved = await post_form(
        client, f"/admin/taxonomies/{ids['korea']}/delete", {"move_to": str(ids["china"])}
    )
    assert moved.status_code == 303
    assert await taxonomy_queries.get_term(app_ctx.db, ids["korea"]) is None
    terms = (await article_queries.terms_of(app_ctx.db, [article]))[article]
    assert [t["slug"] for t in terms] == ["china"]
    chosen = await app_ctx.db.fetchall(
        "SELECT term_id FROM condition_terms WHERE condition_id = ?", (condition,)
    )
    assert [r["term_id"] for r in chosen] == [ids["china"]]
    unused = await post_form(client, f"/admin/taxonomies/{ids['uk']}/delete", {})
    assert unused.status_code == 303


async def test_feed_settings_are_saved_and_checked(client, app_ctx):
    ids = await seed_terms(app_ctx)
    await login_admin(client, app_ctx)
    assert (await client.get("/admin/feeds")).status_code == 200
    empty_run = await post_form(client, "/admin/feeds/import", {})
    assert empty_run.status_code == 303
    bad = await post_form(
        client, "/admin/feeds", {"feed_url": "file:///etc/passwd", "category": ["中国"], "term": [""]}
    )
    assert bad.status_code == 422
    assert "http:// または https://" in bad.text and "1行目" in bad.text
    good = await post_form(
        client,
        "/admin/feeds",
        {
            "feed_url": "https://www.example.jp/feed",
            "category": ["中国", "", "通商"],
            "term": [str(ids["china"]), "", str(ids["trade"])],
        },
    )
    assert good.status_code == 303
    page = await client.get("/admin/feeds")
    assert 'value="https://www.example.jp/feed"' in page.text
    assert 'value="通商"' in page.text
    stored = await article_queries.feed_settings(app_ctx.db)
    assert stored["feed_category_map"] == f'[["中国", {ids["china"]}], ["通商", {ids["trade"]}]]'
