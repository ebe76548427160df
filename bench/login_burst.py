"""Login burst: 60 logins at once for one member number (the right password last), against the real app
served by uvicorn with the production argon2 parameters. Prints how many passwords were hashed (the lockout
allows the threshold, 5) and how long the burst took, and whether any of them logged in (it must not).

Run: .venv/bin/python -m bench.login_burst [--requests 60]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from services.clock import FrozenClock
from services.settings import Settings
from tests.helpers import DEFAULT_PASSWORD, free_port, make_member
from tests.live_server import LiveServer


async def burst(server: LiveServer, requests: int) -> tuple[int, float, int]:
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
        await client.get("/login")
        token = client.cookies["tsudoi_csrf"]
        forms = [
            {"_csrf_token": token, "member_id": "001001", "password": f"Wrong{i:04d}"}
            for i in range(requests)
        ]
        forms[-1]["password"] = DEFAULT_PASSWORD
        started = time.perf_counter()
        responses = await asyncio.gather(*(client.post("/login", data=form) for form in forms))
        elapsed = time.perf_counter() - started
    return sum(r.status_code == 303 for r in responses), elapsed, len(responses)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tsudoi-login-burst-"))
    port = free_port()
    settings = Settings(  # production argon2 costs (time 3, 64 MiB, parallelism 4); throttle out of the way
        database=folder / "tsudoi.sqlite3",
        base_url=f"http://127.0.0.1:{port}",
        secret_key="bench-secret-" + "x" * 32,
        scheduler=False,
        log_requests=False,
        login_ip_failures=10_000,
    )
    server = LiveServer(settings, port, FrozenClock(datetime(2026, 11, 23, 3, 0, tzinfo=UTC)))
    server.start()
    try:
        server.run(lambda ctx: make_member(ctx, "001001"))
        hashes: list[int] = []
        verify = server.ctx.hasher.verify_sync

        def counting(password_hash: str, password: str) -> bool:
            hashes.append(1)
            return verify(password_hash, password)

        server.ctx.hasher.verify_sync = counting  # type: ignore[method-assign]
        logged_in, elapsed, sent = asyncio.run(burst(server, args.requests))
        print(
            f"{sent} parallel logins: {len(hashes)} passwords hashed, {logged_in} logged in, {elapsed * 1000:.0f} ms"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
