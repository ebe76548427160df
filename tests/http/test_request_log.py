"""The request log: one JSON line per request, with the method the client sent, and nothing secret."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from services.settings import Settings
from tests.helpers import login, make_member, test_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return test_settings(tmp_path, log_requests=True)


def _logged(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "tsudoi.request"]


async def test_head_is_logged_as_head_and_get_as_get(client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="tsudoi.request"):
        assert (await client.head("/login")).status_code == 200
        assert (await client.get("/login")).status_code == 200
    assert [(line["method"], line["path"], line["status"]) for line in _logged(caplog)] == [
        ("HEAD", "/login", 200),
        ("GET", "/login", 200),
    ]


async def test_query_strings_are_never_logged(client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="tsudoi.request"):
        await client.get("/login?next=/mypage&secret=abc123")
    (line,) = _logged(caplog)
    assert line["path"] == "/login"
    assert "abc123" not in json.dumps(line)


async def test_kept_my_pages_and_unknown_paths_are_logged_with_the_security_headers(
    client, app_ctx, caplog
) -> None:
    """Both are answered outside Litestar's routes (a kept My Page before routing, a 404 by the router)."""
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tsudoi.request"):
        pages = [await client.get("/mypage") for _ in range(3)]
        missing = await client.get("/no-such-page")
    assert [page.status_code for page in pages] == [200, 200, 200] and missing.status_code == 404
    for response in [*pages, missing]:
        assert response.headers["x-frame-options"] == "DENY" and "content-security-policy" in response.headers
    assert [(line["path"], line["status"]) for line in _logged(caplog)] == [("/mypage", 200)] * 3 + [
        ("/no-such-page", 404)
    ]
