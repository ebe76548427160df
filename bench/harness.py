"""Benchmark harness: serve an app with uvicorn in its own process and drive it with concurrent clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`uvicorn module:attr` in a subprocess, one worker, access log off: the same way for every app measured."""

    def __init__(self, target: str, env: dict[str, str] | None = None, *, factory: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "TSUDOI_SCHEDULER": "off", "TSUDOI_LOG_REQUESTS": "off", **(env or {})}
        self.process = subprocess.Popen(  # noqa: S603 — our own interpreter and module
            [
                sys.executable,
                "-m",
                "uvicorn",
                target,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
                *(["--factory"] if factory else []),
            ],
            cwd=ROOT,
            env=full_env,
        )

    def wait_ready(self, path: str = "/", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + path, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"server {self.url} did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@dataclass
class Result:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"{self.name:<34} {self.rps:8.1f} req/s  p50 {self.pct(50):7.1f} ms  p95 {self.pct(95):7.1f} ms  "
            f"p99 {self.pct(99):7.1f} ms  errors {self.errors}  (n={len(self.latencies_ms)})"
        )


async def run_load(
    name: str,
    make_request: Callable[[Any], Awaitable[Any]],
    *,
    clients: list[Any],
    seconds: float,
) -> Result:
    """Each client loops over make_request until time runs out (bounded in time and count).

    Clients are httpx.AsyncClient or RawClient; responses httpx.Response or RawResponse.
    """
    result = Result(name)
    deadline = time.perf_counter() + seconds
    max_requests = 1_000_000

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline and len(result.latencies_ms) < max_requests:
            started = time.perf_counter()
            try:
                response = await make_request(client)
                status = response.status if isinstance(response, RawResponse) else response.status_code
                if status >= 400:
                    result.errors += 1
                    continue
            except (httpx.HTTPError, RawHTTPError):
                result.errors += 1
                continue
            result.latencies_ms.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in clients))
    result.seconds = time.perf_counter() - started
    return result


def ratio_line(measured: Result, ceiling: Result) -> str:
    ratio = measured.rps / ceiling.rps if ceiling.rps else float("nan")
    return f"ratio {measured.name} / {ceiling.name}: {ratio:.3f} of the hello-world ceiling (req/s)"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class RawHTTPError(Exception):
    """The connection failed or the response could not be read (counted as an error by the benches)."""


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)


class RawClient:
    """A lean HTTP/1.1 keep-alive client with a cookie jar, for load tests.

    httpx spends about 1 ms of client CPU per request: 200 httpx clients in one process cap a hello-world
    app at ~600 req/s on this machine, so the load generator, not the server, was being measured. This
    client costs ~0.1 ms per request, so the ceiling and the app are measured on the server's capacity.
    """

    def __init__(self, base_url: str, timeout: float = 30.0, headers: dict[str, str] | None = None) -> None:
        host_port = base_url.split("://", 1)[1].rstrip("/")
        host, _, port = host_port.partition(":")
        self.host, self.port = host, int(port or 80)
        self.timeout = timeout
        # Sent with every request, e.g. Accept-Encoding: gzip as a browser does (the server then compresses).
        self.headers = headers or {}
        self.cookies: dict[str, str] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> RawResponse:
        reused = self._writer is not None
        try:
            try:
                return await asyncio.wait_for(self._request(method, path, form, headers or {}), self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                # The server closed the idle keep-alive connection (uvicorn: after 5 s) before reading
                # this request: a browser opens a new connection and sends it again, so do we, once.
                if not reused or (isinstance(error, asyncio.IncompleteReadError) and error.partial):
                    raise
                await self.aclose()
                return await asyncio.wait_for(self._request(method, path, form, headers or {}), self.timeout)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ValueError,
        ) as error:
            await self.aclose()
            raise RawHTTPError(f"{method} {path}: {error!r}") from error

    async def get(self, path: str, **kwargs: Any) -> RawResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> RawResponse:
        return await self.request("POST", path, **kwargs)

    async def _request(
        self, method: str, path: str, form: dict[str, str] | None, headers: dict[str, str]
    ) -> RawResponse:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        body = urlencode(form).encode() if form is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if form is not None:
            lines.append("Content-Type: application/x-www-form-urlencoded")
        if body or method != "GET":
            lines.append(f"Content-Length: {len(body)}")
        lines.extend(f"{key}: {value}" for key, value in {**self.headers, **headers}.items())
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        parsed = []
        for line in header_lines:
            key, _, value = line.partition(":")
            parsed.append((key.strip().lower(), value.strip()))
        response = RawResponse(status, parsed, b"")
        length = response.header("content-length")
        if response.header("transfer-encoding") == "chunked":
            chunks = []
            while True:
                size = int((await self._reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                chunk = await self._reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            response.body = b"".join(chunks)
        elif length is not None:
            response.body = await self._reader.readexactly(int(length))
        for key, value in parsed:
            if key == "set-cookie":
                self._store_cookie(value)
        if (response.header("connection") or "").lower() == "close":
            await self.aclose()
        return response

    def _store_cookie(self, header: str) -> None:
        pair, *attributes = header.split(";")
        name, _, value = pair.strip().partition("=")
        expired = any(a.strip().lower() in ("max-age=0", "max-age=-1") for a in attributes)
        if expired or not value:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value.strip('"')

    async def aclose(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
