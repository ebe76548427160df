"""Fixtures shared by every test: a fresh app on a temporary SQLite file, clients, a real SMTP server."""

from __future__ import annotations

import asyncio
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
from db.database import Database
from services.clock import FrozenClock
from services.context import AppContext, build_context
from services.private_files import SQLITE_SUFFIXES, open_private, private_dir
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


# Building the Litestar app (routes, signatures, middleware) costs far more than a test's requests, so the
# `app` fixture keeps one app per process for each set of settings it is built from, and gives it a fresh
# context (this test's settings, clock and database) every test; app.py's lifespan reads app.state.ctx.
_APPS: dict[tuple[str, bool, str], Litestar] = {}


def _app_key(settings: Settings) -> tuple[str, bool, str]:
    """The settings create_app bakes into the app itself (the CSRF check's secret and cookie, the
    templates' time zone); everything else is read from app.state.ctx per request."""
    return (settings.secret_key, settings.https, str(settings.tz))


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with every migration applied, made once per process and copied for each test's app."""
    path = tmp_path_factory.mktemp("template") / "tsudoi.sqlite3"

    async def migrate() -> None:
        database = Database(path, readers=0)
        await database.connect()
        try:
            await database.migrate()
        finally:
            await database.close()

    asyncio.run(migrate())
    return path


def _copy_template(template: Path, target: Path) -> None:
    """The template as this test's database (0600 in a 0700 folder), unless the test made one already."""
    if any(target.with_name(target.name + suffix).exists() for suffix in SQLITE_SUFFIXES):
        return
    private_dir(target.parent)
    descriptor = open_private(target, exclusive=True)
    with os.fdopen(descriptor, "wb") as out:
        out.write(template.read_bytes())


@pytest.fixture
def app(settings: Settings, clock: FrozenClock, template_database: Path) -> Iterator[Litestar]:
    _copy_template(template_database, settings.database)
    key = _app_key(settings)
    shared = _APPS.pop(key, None)
    if shared is None:
        shared = create_app(settings, clock)
    else:
        shared.state.ctx = build_context(settings, clock, templates=shared.state.ctx.templates)
    routes = len(shared.routes)
    yield shared
    # A test that registered its own routes keeps that app to itself.
    if len(shared.routes) == routes:
        _APPS[key] = shared


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
