"""Fixtures shared by every test: a fresh app on a temporary SQLite file, clients, a real SMTP server."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

# Importing app.py builds the default app; keep its data folder out of the work tree.
os.environ.setdefault(
    "TSUDOI_DATABASE", str(Path(tempfile.mkdtemp(prefix="tsudoi-import-")) / "tsudoi.sqlite3")
)
os.environ.setdefault("TSUDOI_SCHEDULER", "off")

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app import create_app
from services.clock import FrozenClock
from services.context import AppContext
from services.settings import Settings
from tests.helpers import NOW_ENV, SmtpSink, free_port, test_now, test_settings


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--now",
        default=None,
        help=f"freeze every test clock at this ISO instant (JST if no offset); same as {NOW_ENV}",
    )


def pytest_configure(config: pytest.Config) -> None:
    moment = config.getoption("--now", default=None)
    if moment:
        os.environ[NOW_ENV] = moment


def pytest_report_header(config: pytest.Config) -> str:
    return f"test clock: {test_now().isoformat()} ({NOW_ENV} or --now to change)"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return test_settings(tmp_path)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(test_now())


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    return create_app(settings, clock)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client


@pytest.fixture
def app_ctx(app: Litestar, client: AsyncTestClient[Litestar]) -> AppContext:
    """The running app's context (after the client's lifespan opened the database)."""
    context: AppContext = app.state.ctx
    return context


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(port=free_port())
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
