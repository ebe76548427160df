"""Upgrades from earlier releases: each demo database an earlier release made (tests/fixtures/upgrade/,
built by its build.py) opens with the current code; the migrations apply, the schema equals a fresh
database's, the data is intact, and no member or admin page answers 500 (issue 24)."""

from __future__ import annotations

import html
import re
import shutil
import sqlite3
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.routes import HTTPRoute

from db.database import MIGRATIONS_DIR, Database, MigrationError, migration_files
from db.schema import Schema, fresh_schema, read_schema_sync
from services.clock import FrozenClock
from services.schema_check import schema_drift
from services.settings import Settings
from tests.fixtures.upgrade.build import HERE as FIXTURES_DIR
from tests.fixtures.upgrade.build import SECRET_KEY
from tests.helpers import login, login_admin, test_settings, visible_text

RELEASES = sorted(FIXTURES_DIR.glob("v*.sqlite3"))
LATEST = migration_files()[-1][0]
MEMBER = ("001234", "Tsudoi2026")
ADMIN = ("900001", "Kanri2026")
PAGE_LIMIT = 200


def test_fixtures_cover_the_releases():
    names = {path.stem for path in RELEASES}
    assert {
        "v0001-7fdc40e",
        "v0005-71a932d",
        "v0009-1766b92",
        "v0009-9cdffad",
        "v0009-199de87",
        "v0010-95b998c",
        "v0010-6ec1326",
    } <= names


def open_readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)


@pytest.fixture(params=RELEASES, ids=lambda path: path.stem)
def release(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


@pytest.fixture
def before(release: Path) -> dict[str, Any]:
    """What the release's database held, read before the current code touches its copy."""
    conn = open_readonly(release)
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            )
        ]
        counts = {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}  # noqa: S608
        member = conn.execute(
            "SELECT id, family_name, given_name, email FROM members WHERE member_number = ?", (MEMBER[0],)
        ).fetchone()
        created = conn.execute("SELECT max(created_at) FROM members").fetchone()[0]
    finally:
        conn.close()
    return {"counts": counts, "member": member, "created": datetime.fromisoformat(created)}


@pytest.fixture
def settings(tmp_path: Path, release: Path) -> Settings:
    upgraded = test_settings(tmp_path, secret_key=SECRET_KEY)
    upgraded.database.parent.mkdir(parents=True)
    shutil.copyfile(release, upgraded.database)
    return upgraded


@pytest.fixture
def clock(before: dict[str, Any]) -> FrozenClock:
    # A day after the release's demo was loaded (the data's own time, not the wall clock).
    return FrozenClock(before["created"] + timedelta(days=1))


def assert_same_schema(live: Schema, fresh: Schema) -> None:
    assert live.objects == fresh.objects  # indexes, triggers, views: name, table, statement
    assert live.tables.keys() == fresh.tables.keys()
    assert live.columns == fresh.columns  # every column's type, NOT NULL, default, primary key
    # The statements too, except where the repair appended a column (ALTER TABLE puts it last).
    appended = {table for table in fresh.tables if list(live.columns[table]) != list(fresh.columns[table])}
    assert appended <= {"members"}, appended
    for table in fresh.tables.keys() - appended:
        assert live.tables[table] == fresh.tables[table], table


async def test_migrations_apply_and_the_schema_equals_a_fresh_one(release, before, settings, app_ctx):
    assert await app_ctx.db.schema_version() == LATEST
    assert await app_ctx.db.fetchval("PRAGMA integrity_check") == "ok"
    assert await app_ctx.db.fetchval("SELECT count(*) FROM pragma_foreign_key_check") == 0
    assert await schema_drift(app_ctx.db) == []
    conn = sqlite3.connect(settings.database)
    try:
        assert_same_schema(read_schema_sync(conn), fresh_schema())
        # Nothing the release stored was lost on the way.
        for table, count in before["counts"].items():
            assert conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == count, table  # noqa: S608
    finally:
        conn.close()
    # The backup written before migrating is the release's database as it was.
    backups = list((settings.data_dir / "backups").glob("before-migration-v*.sqlite3"))
    assert len(backups) == 1


def start_urls(app: Any, admin: bool) -> list[str]:
    """Every GET route without a path parameter, in the member's or the admin's area."""
    urls = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "GET" not in route.methods or "{" in route.path:
            continue
        if (route.path == "/admin" or route.path.startswith("/admin/")) == admin:
            urls.append(route.path)
    return sorted(urls)


async def crawl(client: Any, starts: list[str]) -> dict[str, int]:
    """GET the start pages and every same-site page they link to; one URL per shape (digits as 0)."""
    statuses: dict[str, int] = {}
    shapes: set[str] = set()
    queue = deque(starts)
    while queue and len(statuses) < PAGE_LIMIT:
        url = queue.popleft()
        shape = re.sub(r"\d+", "0", url)
        if shape in shapes or "logout" in url or url.startswith("/static/"):
            continue
        shapes.add(shape)
        response = await client.get(url, follow_redirects=False)
        statuses[url] = response.status_code
        if response.status_code == 200 and response.headers.get("content-type", "").startswith("text/html"):
            for href in re.findall(r'href="(/[^"#]*)', response.text):
                if not href.startswith("//"):
                    queue.append(html.unescape(href))
    return statuses


def assert_no_server_error(statuses: dict[str, int]) -> None:
    failed = {url: status for url, status in statuses.items() if status >= 500}
    assert not failed, failed


async def test_member_pages_answer_and_the_member_data_is_intact(release, before, app, client, app_ctx):
    if before["member"] is None:
        pytest.skip("this release's demo has no member 001234")
    member_id, family_name, given_name, email = before["member"]
    response = await login(client, *MEMBER)
    assert response.status_code == 303 and response.headers["location"] == "/mypage", response.text
    row = await app_ctx.db.fetchone(
        "SELECT id, family_name, given_name, email FROM members WHERE member_number = ?", (MEMBER[0],)
    )
    assert tuple(row) == (member_id, family_name, given_name, email)
    # The member's own lists, before the crawl opens articles (which adds to the history).
    conn = open_readonly(release)
    try:
        for table in ("bookmarks", "conditions", "view_history"):
            if table in before["counts"]:
                sql = f"SELECT count(*) FROM {table} WHERE member_id = ?"  # noqa: S608
                count = await app_ctx.db.fetchval(sql, (member_id,))
                assert count == conn.execute(sql, (member_id,)).fetchone()[0], table
    finally:
        conn.close()
    if before["counts"].get("bookmarks"):
        shown = visible_text((await client.get("/bookmarks")).text)
        titles = await app_ctx.db.fetchall(
            "SELECT a.title FROM bookmarks b JOIN articles a ON a.id = b.article_id WHERE b.member_id = ?",
            (member_id,),
        )
        assert titles and all(row["title"] in shown for row in titles)
    assert f'value="{family_name}"' in (await client.get("/profile")).text

    statuses = await crawl(client, ["/mypage", *start_urls(app, admin=False)])
    assert_no_server_error(statuses)
    for page in ("/mypage", "/conditions", "/bookmarks", "/history", "/articles", "/profile"):
        assert statuses.get(page) == 200, (page, statuses.get(page))


async def test_admin_pages_answer(release, before, app, client, app_ctx):
    await login_admin(client, app_ctx, *ADMIN)
    statuses = await crawl(client, ["/admin", *start_urls(app, admin=True)])
    assert_no_server_error(statuses)
    assert statuses["/admin"] == 200
    assert statuses.get("/admin/members") == 200
    members = visible_text((await client.get("/admin/members?q=" + MEMBER[0])).text)
    if before["member"] is not None:
        assert before["member"][1] in members


async def test_without_the_repair_the_check_names_the_missing_index(tmp_path):
    """95b998c's database through every migration but the repair: schema_drift names what it lacks."""
    unrepaired = tmp_path / "migrations"
    unrepaired.mkdir()
    for _, path in migration_files():
        if "repair" not in path.name:
            shutil.copy(path, unrepaired / path.name)
    database = tmp_path / "tsudoi.sqlite3"
    shutil.copyfile(FIXTURES_DIR / "v0010-95b998c.sqlite3", database)
    db = Database(database)
    await db.connect()
    try:
        await db.migrate(unrepaired)
        drift = await schema_drift(db, MIGRATIONS_DIR)
        assert [str(item) for item in drift] == ["missing index articles_window (on articles)"]
        assert drift[0].japanese == "インデックス articles_window がありません。"
    finally:
        await db.close()


async def test_a_database_older_than_member_tiers_stops_start_up_with_the_reason(tmp_path):
    """e123f65 (the project's second commit) made 0001 without tiers and member_tiers; 0004 alters
    member_tiers, so the upgrade stops there with the migration's name, after the backup was written."""
    original = FIXTURES_DIR / "refused-v0001-e123f65.sqlite3"
    database = tmp_path / "data" / "tsudoi.sqlite3"
    database.parent.mkdir()
    shutil.copyfile(original, database)
    db = Database(database)
    await db.connect()
    try:
        with pytest.raises(MigrationError, match="0004_membership.sql failed: no such table: member_tiers"):
            await db.migrate(backup_dir=tmp_path / "backups")
    finally:
        await db.close()
    [backup] = (tmp_path / "backups").glob("before-migration-v1-*.sqlite3")
    conn = sqlite3.connect(backup)
    try:
        assert read_schema_sync(conn) == read_schema_sync(open_readonly(original))
    finally:
        conn.close()
