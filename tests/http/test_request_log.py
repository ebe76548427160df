"""The request log: one JSON line per request, with the method the client sent, and nothing secret."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from services.settings import Settings
from tests.helpers import test_settings


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
