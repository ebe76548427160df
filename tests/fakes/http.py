"""A tiny threaded HTTP server on 127.0.0.1 that records requests and can fail or stall on demand."""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("ascii"), keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, data: Any) -> Reply:
        return cls(status, json.dumps(data).encode("utf-8"))

    @classmethod
    def text(cls, status: int, text: str) -> Reply:
        return cls(status, text.encode("ascii"), "text/plain;charset=Windows-31J")


@dataclass
class FakeServer:
    """Subclasses implement `handle`. Set `fail_status` to answer every call with that status,
    or `delay` to stall each answer (longer than the adapter's timeout to test time-outs)."""

    requests: list[RecordedRequest] = field(default_factory=list)
    fail_status: int | None = None
    delay: float = 0.0
    # Served over https with this context when set (a site a browser must reach as https).
    tls: ssl.SSLContext | None = None

    def handle(self, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qsl(parts.query, keep_blank_values=True),
                    headers=dict(self.headers.items()),
                    body=self.rfile.read(length) if length else b"",
                )
                fake.requests.append(request)
                if fake.delay:
                    time.sleep(fake.delay)
                if fake.fail_status is not None:
                    reply = Reply.text(fake.fail_status, "Internal Server Error")
                else:
                    reply = fake.handle(request)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = _serve
            do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        # A short poll keeps stop() quick; the default half second adds up over many tests.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def reset(self) -> None:
        """Forget requests and failure modes, so one server can serve a whole test module."""
        self.requests.clear()
        self.fail_status = None
        self.delay = 0.0

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def calls(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]


class FrozenClock:
    """A settable clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2025, 4, 1, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
