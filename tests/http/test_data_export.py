"""登録情報のダウンロード: the zip holds the member's own records as CSV and JSON, nobody else's; it is
rate-limited and audit-logged."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from db import audit
from db import inquiries as inquiry_queries
from services import data_export
from tests.article_helpers import add_article, add_condition, seed_terms
from tests.helpers import login, make_member, post_form, visible_text
from tests.payments_support import issue_fee


async def add_records(app_ctx, member_id: int, tag: str, ids: dict[str, int]) -> None:
    article = await add_article(app_ctx, f"{tag}の記事", ["china"], ids=ids)
    await app_ctx.db.execute(
        "INSERT INTO bookmarks (member_id, article_id, created_at) VALUES (?, ?, '2026-11-01T00:00:00.000000Z')",
        (member_id, article),
    )
    await app_ctx.db.execute(
        "INSERT INTO view_history (member_id, article_id, viewed_at) VALUES (?, ?, '2026-11-02T00:00:00.000000Z')",
        (member_id, article),
    )
    await add_condition(app_ctx, member_id, f"{tag}の条件", ["china"], ids)
    await inquiry_queries.create(
        app_ctx.db,
        now=app_ctx.clock.now(),
        values={
            "category": "other",
            "name": tag,
            "email": f"{tag}@example.jp",
            "member_number": "",
            "subject": f"{tag}の件名",
            "message": f"{tag}からのお問い合わせ",
        },
        member_id=member_id,
        ip="",
        user_agent="",
        attachment=None,
    )


async def download(client):
    return await post_form(client, "/settings/data/download", {})


async def test_the_zip_holds_the_members_records_as_csv_and_json_and_nobody_elses(client, app_ctx):
    ids = await seed_terms(app_ctx)
    me = await make_member(app_ctx, "001001", family_name="青木")
    other = await make_member(app_ctx, "001002", family_name="他人")
    await add_records(app_ctx, me, "わたし", ids)
    await add_records(app_ctx, other, "よそ", ids)
    await issue_fee(app_ctx)
    await login(client, "001001")

    page = await client.get("/settings/data")
    assert page.status_code == 200
    assert "登録情報をダウンロード" in page.text
    assert "ブックマーク" in visible_text(page.text)

    response = await download(client)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert 'filename="tsudoi-data-001001-20261123.zip"' in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    for exporter in data_export.EXPORTERS:
        assert f"csv/{exporter.name}.csv" in names and f"json/{exporter.name}.json" in names

    everything = b"".join(archive.read(name) for name in names).decode("utf-8")
    for mine in ("青木", "わたしの記事", "わたしの条件", "わたしの件名", "2026年度 年会費"):
        assert mine in everything, mine
    for theirs in ("他人", "よその記事", "よその条件", "よその件名", "001002"):
        assert theirs not in everything, theirs
    assert "password_hash" not in everything and "$argon2" not in everything

    [profile] = json.loads(archive.read("json/profile.json"))
    assert profile["member_number"] == "001001" and profile["family_name"] == "青木"
    rows = list(csv.DictReader(io.StringIO(archive.read("csv/bookmarks.csv").decode("utf-8-sig"))))
    assert [row["title"] for row in rows] == ["わたしの記事"]

    [event] = await audit.events(app_ctx.db, "data.exported")
    assert event["subject_member_id"] == me


async def test_a_table_another_feature_adds_is_included(client, app_ctx):
    me = await make_member(app_ctx, "001001")
    other = await make_member(app_ctx, "001002")
    await app_ctx.db.execute(
        "CREATE TABLE registrations (id INTEGER PRIMARY KEY, member_id INTEGER, note TEXT)"
    )
    await app_ctx.db.execute(
        "INSERT INTO registrations (member_id, note) VALUES (?, '私の申し込み'), (?, '他人の申し込み')",
        (me, other),
    )
    await login(client, "001001")
    assert "イベントの申し込み" in (await client.get("/settings/data")).text
    archive = zipfile.ZipFile(io.BytesIO((await download(client)).content))
    rows = json.loads(archive.read("json/registrations.json"))
    assert [row["note"] for row in rows] == ["私の申し込み"]


async def test_downloads_are_rate_limited(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    for _ in range(data_export.EXPORT_LIMIT.attempts):
        assert (await download(client)).status_code == 200
    refused = await download(client)
    assert refused.status_code == 429
    assert "しばらく時間をおいてから" in refused.text
    assert len(await audit.events(app_ctx.db, "data.exported")) == data_export.EXPORT_LIMIT.attempts


async def test_the_download_needs_a_sign_in_and_the_csrf_token(client, app_ctx):
    response = await client.get("/settings/data", follow_redirects=False)
    assert response.status_code == 303
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    assert (await client.post("/settings/data/download")).status_code == 403
