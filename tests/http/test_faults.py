"""Faults: the database held by another process, the process killed mid-write, a proxy in front."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from litestar.testing import AsyncTestClient

from app import create_app
from tests.helpers import DEFAULT_PASSWORD, login, make_member, test_settings


async def test_busy_database_gives_a_clear_try_again_page(tmp_path, clock):
    settings = test_settings(tmp_path, db_busy_timeout_ms=200)
    app = create_app(settings, clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await make_member(app.state.ctx, "001001")
        blocker = sqlite3.connect(settings.database, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            response = await login(client, "001001", DEFAULT_PASSWORD)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert response.status_code == 503
        assert "混み合っています" in response.text
        # Once the other process lets go, the same request succeeds.
        assert (await login(client, "001001", DEFAULT_PASSWORD)).status_code == 303


async def test_write_waits_for_a_short_lock_and_succeeds(tmp_path, clock):
    settings = test_settings(tmp_path, db_busy_timeout_ms=3000)
    app = create_app(settings, clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await make_member(app.state.ctx, "001001")
        blocker = subprocess.Popen(  # holds the write lock for 0.5 s from another process
            [sys.executable, "-c", textwrap.dedent(f"""
                import sqlite3, time
                c = sqlite3.connect({str(settings.database)!r}, isolation_level=None)
                c.execute("BEGIN IMMEDIATE"); print("locked", flush=True); time.sleep(0.5); c.execute("ROLLBACK")
            """)],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert blocker.stdout is not None
        blocker.stdout.readline()
        response = await login(client, "001001", DEFAULT_PASSWORD)
        blocker.wait(timeout=10)
        assert response.status_code == 303


def test_process_killed_during_writes_leaves_no_half_record(tmp_path):
    """A writer is killed with SIGKILL in the middle of two-row transactions; after restart the file is intact."""
    database = tmp_path / "crash.sqlite3"
    script = textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from pathlib import Path
        from db.database import Database

        async def main():
            db = Database(Path({str(database)!r}))
            await db.connect()
            await db.execute("CREATE TABLE IF NOT EXISTS pairs (n INTEGER, side TEXT)")
            print("ready", flush=True)
            i = 0
            while True:
                async with db.write() as conn:
                    await conn.execute("INSERT INTO pairs VALUES (?, 'a')", (i,))
                    await conn.execute("INSERT INTO pairs VALUES (?, 'b')", (i,))
                i += 1

        asyncio.run(main())
    """)
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert writer.stdout is not None
    writer.stdout.readline()
    time.sleep(0.5)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=10)
    check = sqlite3.connect(database)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows, a_rows = check.execute("SELECT count(*), sum(side = 'a') FROM pairs").fetchone()
    assert rows > 0
    assert rows == 2 * a_rows  # every transaction whole, none half-written
    check.close()


async def test_behind_a_trusted_https_proxy_cookies_are_secure_and_hsts_is_sent(tmp_path, clock):
    settings = test_settings(tmp_path, trust_proxy=True)
    app = create_app(settings, clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await make_member(app.state.ctx, "001001")
        client.headers["x-forwarded-proto"] = "https"
        response = await login(client, "001001", DEFAULT_PASSWORD)
        assert "Secure" in response.headers["set-cookie"]
        assert "max-age" in response.headers["strict-transport-security"]


async def test_without_trust_the_forwarded_protocol_is_ignored(client, app_ctx):
    await make_member(app_ctx, "001001")
    client.headers["x-forwarded-proto"] = "https"
    response = await login(client, "001001", DEFAULT_PASSWORD)
    assert "Secure" not in response.headers["set-cookie"]
    assert "strict-transport-security" not in response.headers
