"""Benchmark harness: serve an app with uvicorn in its own process and drive it with concurrent clients."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`uvicorn module:attr` in a subprocess, one worker, access log off: the same way for every app measured."""

    def __init__(self, target: str, env: dict[str, str] | None = None) -> None:
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
    make_request: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
    *,
    clients: list[httpx.AsyncClient],
    seconds: float,
) -> Result:
    """Each client loops over make_request until time runs out (bounded in time and count)."""
    result = Result(name)
    deadline = time.perf_counter() + seconds
    max_requests = 1_000_000

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline and len(result.latencies_ms) < max_requests:
            started = time.perf_counter()
            try:
                response = await make_request(client)
                if response.status_code >= 400:
                    result.errors += 1
                    continue
            except httpx.HTTPError:
                result.errors += 1
                continue
            result.latencies_ms.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in clients))
    result.seconds = time.perf_counter() - started
    return result


def ratio_line(measured: Result, ceiling: Result) -> str:
    ratio = measured.rps / ceiling.rps if ceiling.rps else float("nan")
    return f"ratio {measured.name} / {ceiling.name}: {ratio:.2f} of the hello-world ceiling (req/s)"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
