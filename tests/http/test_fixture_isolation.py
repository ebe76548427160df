"""The `app` fixture reuses one Litestar app per process, yet every test starts from its own context and
its own freshly migrated database (tests/conftest.py), whatever ran before it in the process."""

from __future__ import annotations

from typing import Any

import pytest

from db.database import migration_files
from tests.helpers import make_member

SEEN: dict[str, Any] = {}


@pytest.mark.parametrize("turn", [1, 2, 3])
async def test_each_test_gets_its_own_context_and_database(
    turn: int, app: Any, client: Any, app_ctx: Any
) -> None:
    assert await app_ctx.db.schema_version() == migration_files()[-1][0]
    assert await app_ctx.db.fetchval("SELECT count(*) FROM members") == 0
    assert (app_ctx.settings.database.stat().st_mode & 0o777) == 0o600
    await make_member(app_ctx, "001001")
    assert (await client.get("/healthz")).status_code == 200
    if "app" in SEEN:  # an earlier turn ran in this process: the same app, another context
        assert app is SEEN["app"]
        assert app_ctx is not SEEN["ctx"] and app_ctx.settings.database != SEEN["database"]
    SEEN.update(app=app, ctx=app_ctx, database=app_ctx.settings.database)
