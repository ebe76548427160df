"""Tsudoi (集い): the Litestar application and its lifespan; the CLI commands live in cli.py."""

from __future__ import annotations

import gc
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader
from litestar.logging import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from cli import TsudoiCLI
from routes.common import DEPENDENCIES
from routes.errors import EXCEPTION_HANDLERS
from routes.guards import out_of_range_ids_are_not_found
from routes.middleware import (
    CSRF_COOKIE,
    CSRFTokenMiddleware,
    head_as_get,
    request_log_middleware,
    security_headers_middleware,
    session_middleware,
)
from routes.mypage import serve_kept_pages
from routes.registry import ROUTE_HANDLERS
from services.clock import Clock
from services.context import AppContext, build_context, open_context
from services.settings import Settings, get_settings

STATIC_DIR = Path(__file__).parent / "static"
# Paths that receive machine-to-machine or mail-client POSTs, which carry no browser CSRF cookie.
CSRF_EXEMPT = ["/payments/notify", "/unsubscribe", "/oauth/token", "/oauth/userinfo"]


@lru_cache(maxsize=1)
def static_version() -> str:
    """Changes whenever a static file does, so /static can be cached for a year (read once per process)."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Litestar:
    settings = settings or get_settings()
    context: AppContext = build_context(settings, clock)
    context.templates.globals["static_version"] = static_version()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # The context in app.state (the tests give one app a fresh context per test: tests/conftest.py).
        context: AppContext = app.state.ctx
        settings = context.settings
        from services.replication import write_config_on_start
        from services.serving_lock import DataFolderBusy, ServingLock
        from services.startup import start_background, stop_background

        # Held while serving, so `litestar tsudoi restore` refuses to replace the database under us.
        serving = ServingLock(settings.data_dir, exclusive=False)
        try:
            serving.acquire()
        except DataFolderBusy:
            raise RuntimeError(
                f"{settings.data_dir} is being restored (litestar tsudoi restore); start the app when it is done"
            ) from None
        try:
            write_config_on_start(settings)
            await open_context(context)
            await start_background(context)
            # What start-up made (modules, routes, templates, settings) lives as long as the app: kept out of
            # the garbage collector's sight while serving, so its passes walk only what requests make (a full
            # pass over start-up's ~180,000 objects stalls every request in flight). Handed back at shutdown
            # (the tests start many apps in one process).
            gc.freeze()
            try:
                yield
            finally:
                gc.unfreeze()
                await stop_background(context)
                await context.close()
        finally:
            serving.release()

    app = Litestar(
        route_handlers=[
            *ROUTE_HANDLERS,
            create_static_files_router(
                path="/static",
                directories=[STATIC_DIR],
                cache_control=CacheControlHeader(max_age=31_536_000, public=True),
            ),
        ],
        lifespan=[lifespan],
        middleware=[
            session_middleware,
            # Litestar's CSRF check (not csrf_config, which installs the stock one that fails on non-ASCII).
            DefineMiddleware(
                CSRFTokenMiddleware,
                config=CSRFConfig(
                    secret=settings.secret_key,
                    cookie_name=CSRF_COOKIE,
                    header_name="x-csrftoken",
                    cookie_secure=settings.https,
                    cookie_samesite="lax",
                    exclude=CSRF_EXEMPT,
                ),
            ),
        ],
        guards=[out_of_range_ids_are_not_found],
        # Handler parameters `app_ctx` and `auth` (routes/common.py).
        dependencies=DEPENDENCIES,
        template_config=TemplateConfig(engine=JinjaTemplateEngine.from_environment(context.templates)),
        compression_config=CompressionConfig(backend="gzip", minimum_size=512),
        plugins=[HTMXPlugin(), TsudoiCLI()],
        exception_handlers=EXCEPTION_HANDLERS,
        logging_config=LoggingConfig(
            root={"level": "INFO", "handlers": ["queue_listener"]},
            loggers={"tsudoi": {"level": "INFO", "propagate": True}},
            log_exceptions="debug",
        ),
        openapi_config=None,
        debug=False,
    )
    # Around Litestar's router rather than in `middleware` (which Litestar applies to each route after
    # routing): HEAD reaches every GET handler instead of a 405 (Litestar routes HEAD only to handlers that
    # declare it); every answer is logged and gets the security headers, those sent before routing (a kept
    # My Page) and the router's own 404s and 405s included.
    app.asgi_handler = head_as_get(
        request_log_middleware(security_headers_middleware(serve_kept_pages(app.asgi_handler)))
    )
    app.state.ctx = context
    logging.getLogger("tsudoi").setLevel(logging.INFO)
    return app


app = create_app()
