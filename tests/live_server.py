"""The real app served by uvicorn on a loopback port, in its own thread: for browser tests and for HTTP tests
that need requests to run truly in parallel (Litestar's AsyncTestClient handles one request at a time)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import uvicorn

from app import create_app
from services.clock import FrozenClock
from services.context import AppContext
from services.settings import Settings
from tests.helpers import test_now

T = TypeVar("T")


class LiveServer:
    """The app on a real port. Its clock is frozen at the run's test instant (tests/helpers.test_now), never
    the wall clock, so the browser tests pass on any day at any hour; a test moves it with `clock_at`."""

    def __init__(self, settings: Settings, port: int, clock: FrozenClock | None = None) -> None:
        self.settings = settings
        self.port = port
        # WebAuthn needs a secure context and an RP ID that is a host name: http://localhost is both.
        host = "localhost" if urlsplit(settings.base_url).hostname == "localhost" else "127.0.0.1"
        self.url = f"http://{host}:{port}"
        self.clock = clock or FrozenClock(test_now())
        self.app = create_app(settings, self.clock)
        self.ctx: AppContext = self.app.state.ctx
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @contextmanager
    def clock_at(self, moment: datetime) -> Iterator[FrozenClock]:
        """Set the server's clock to `moment` for one test, then put it back for the tests after it."""
        before = self.clock.now()
        self.clock.set(moment)
        try:
            yield self.clock
        finally:
            self.clock.set(before)

    def complete_admin_second_factor(self, page: Any, number: str = "900001") -> None:
        """After an admin's password step in `page`, pass the TOTP step (see tests/e2e/admin.py)."""
        from tests.e2e.admin import complete_second_factor

        complete_second_factor(page, self, number)

    def run(self, make_coro: Callable[[AppContext], Coroutine[Any, Any, T]]) -> T:
        """Run a coroutine on the server's own loop (its database connections live there)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(make_coro(self.ctx), self.loop).result(timeout=30)

    async def arun(self, make_coro: Callable[[AppContext], Coroutine[Any, Any, T]]) -> T:
        """`run` for an async test: its own loop keeps serving its requests meanwhile."""
        assert self.loop is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(make_coro(self.ctx), self.loop))
