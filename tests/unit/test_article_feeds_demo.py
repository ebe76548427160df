"""Feed import (re-imports update, never duplicate; categories map to terms) and the demo articles."""

from __future__ import annotations

import http.server
import threading
from datetime import timedelta

from db import articles as article_queries
from db import members as member_queries
from services import articles as article_service
from services import feeds as feed_service
from services.article_demo import load_article_demo
from tests.article_helpers import seed_terms
from tests.helpers import free_port, make_member

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>つどい学会ニュース</title><link>https://www.example.jp/</link>
<item><guid>https://www.example.jp/news/1</guid><title>中国の通商政策レポート</title>
<link>https://www.example.jp/news/1</link><category>中国</category><category>通商</category>
<description>&lt;p&gt;中国の&lt;b&gt;関税&lt;/b&gt;措置について&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;</description>
<pubDate>Fri, 20 Nov 2026 01:00:00 GMT</pubDate></item>
<item><guid>https://www.example.jp/news/2</guid><title>{second}</title>
<link>https://www.example.jp/news/2</link><category>ＥＵ</category>
<description>欧州の話題</description><pubDate>Sat, 21 Nov 2026 01:00:00 GMT</pubDate></item>
</channel></rss>"""


def feed(second="英国の規制動向"):
    return FEED.replace("{second}", second).encode("utf-8")


async def test_feed_import_maps_categories_and_reimport_updates(app_ctx):
    ids = await seed_terms(app_ctx)
    mapping = {"中国": [ids["china"]], "通商": [ids["trade"]], "eu": [ids["europe"], 999999]}
    first = await feed_service.import_feed(app_ctx, feed(), mapping)
    assert (first.created, first.updated) == (2, 0)
    assert "ＥＵ" in first.categories
    rows = await app_ctx.db.fetchall("SELECT * FROM articles ORDER BY published_at")
    assert [r["title"] for r in rows] == ["中国の通商政策レポート", "英国の規制動向"]
    assert rows[0]["external_url"] == "https://www.example.jp/news/1"
    assert "<script" not in rows[0]["body_html"] and "<b>関税</b>" in rows[0]["body_html"]
    assert rows[0]["summary"] == "中国の関税措置について"
    terms = await article_queries.terms_of(app_ctx.db, [rows[0]["id"], rows[1]["id"]])
    assert {t["slug"] for t in terms[rows[0]["id"]]} == {"china", "trade"}
    assert {t["slug"] for t in terms[rows[1]["id"]]} == {"europe"}

    await article_queries.set_status(app_ctx.db, rows[1]["id"], "unpublished", now=app_ctx.clock.now())
    again = await feed_service.import_feed(app_ctx, feed("英国の規制動向（更新）"), mapping)
    assert (again.created, again.updated) == (0, 2)
    rows = await app_ctx.db.fetchall("SELECT * FROM articles ORDER BY published_at")
    assert len(rows) == 2
    assert rows[1]["title"] == "英国の規制動向（更新）"
    assert rows[1]["status"] == "unpublished"
    search = article_service.parse_keywords("規制動向")
    found, total = await article_queries.browse(
        app_ctx.db,
        now=app_ctx.clock.now(),
        viewer=0,
        region_ids=[],
        topic_ids=[],
        search=search,
        include_events=False,
        limit=10,
        offset=0,
    )
    assert total == 0  # unpublished stays hidden


async def test_broken_feed_reports_an_error(app_ctx):
    result = await feed_service.import_feed(app_ctx, b"<html>not a feed", {})
    assert not result.ok
    assert "読み取れませんでした" in result.summary()
    result = await feed_service.import_feed(app_ctx, "ftp://example.jp/feed", {})
    assert "http://" in result.error


async def test_scheduled_job_fetches_the_configured_url_and_records_the_result(app_ctx):
    ids = await seed_terms(app_ctx)
    assert await feed_service.run_feed_import_job(app_ctx) == 0  # nothing configured

    body = feed()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    port = free_port()
    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        await article_queries.put_feed_settings(
            app_ctx.db,
            {
                "feed_url": f"http://127.0.0.1:{port}/feed.xml",
                "feed_category_map": feed_service.dump_category_map([("中国", ids["china"])]),
            },
        )
        assert await feed_service.run_feed_import_job(app_ctx) == 2
        assert await feed_service.run_feed_import_job(app_ctx) == 2
    finally:
        server.shutdown()
    assert await app_ctx.db.fetchval("SELECT COUNT(*) FROM articles") == 2
    stored = await article_queries.feed_settings(app_ctx.db)
    assert stored["feed_last_result"] == "新規 0件・更新 2件"
    assert "中国" in feed_service.seen_categories(stored["feed_seen_categories"])
    # A dead URL is recorded, not raised.
    await article_queries.put_feed_settings(app_ctx.db, {"feed_url": f"http://127.0.0.1:{free_port()}/gone"})
    assert await feed_service.run_feed_import_job(app_ctx) == 0
    assert "失敗" in (await article_queries.feed_settings(app_ctx.db))["feed_last_result"]


async def test_demo_articles_are_realistic_and_idempotent(app_ctx):
    await make_member(app_ctx, "001234")
    await load_article_demo(app_ctx)
    await load_article_demo(app_ctx)
    total = await app_ctx.db.fetchval("SELECT COUNT(*) FROM articles WHERE kind = 'article'")
    events = await app_ctx.db.fetchval("SELECT COUNT(*) FROM articles WHERE kind = 'event'")
    members_only = await app_ctx.db.fetchval("SELECT COUNT(*) FROM articles WHERE members_only = 1")
    assert total >= 200 and 3 <= events <= 10 and members_only >= 3
    oldest = await app_ctx.db.fetchval("SELECT MIN(published_at) FROM articles")
    from db.timestamps import to_db

    assert oldest >= to_db(app_ctx.clock.now() - timedelta(days=60))
    taxonomies = await article_service.load_taxonomies(app_ctx)
    assert taxonomies.path(taxonomies.by_slug("region", "china").id) == "アジア > 中国"
    assert taxonomies.by_slug("region", "us") and taxonomies.by_slug("region", "uk")
    member = await member_queries.get_by_number(app_ctx.db, "001234")
    arrivals = await article_service.new_arrivals(app_ctx, int(member["id"]), None)
    assert [c.name for c in arrivals.conditions] == ["アジアの通商政策", "米国の市場動向", "欧州の規制・制度"]
    assert arrivals.items
