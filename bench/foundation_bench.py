"""Foundation benchmark: logged-in My Page skeleton vs a hello-world Litestar app, and a cheap page's p99
while 20 logins hash passwords at once (shows argon2 runs off the event loop).

Run: .venv/bin/python -m bench.foundation_bench [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import tempfile
from pathlib import Path

import httpx

from bench.harness import Result, Server, median, ratio_line, run_load
from bench.seed import BENCH_PASSWORD, seed_members
from services.hashing import HASH_THREADS

SECRET = "bench-secret-key-" + "x" * 30
CONCURRENCY = 20
# One TLS context for every client (plain HTTP here, yet httpx builds a context per client and loading the
# CA bundle takes tens of ms): otherwise the 20 login clients made at once stall this process's own loop
# and the cheap page's latency measures the bench, not the server.
TLS = ssl.create_default_context()


async def logged_in_client(base_url: str, member_number: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base_url, timeout=300, verify=TLS)
    await client.get("/login")
    token = client.cookies.get("tsudoi_csrf")
    response = await client.post(
        "/login", data={"_csrf_token": token, "member_id": member_number, "password": BENCH_PASSWORD}
    )
    assert response.status_code in (200, 303), response.status_code
    return client


async def main(seconds: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tsudoi-bench-"))
    database = folder / "tsudoi.sqlite3"
    await seed_members(database, 10_000, secret_key=SECRET)
    env = {"TSUDOI_DATABASE": str(database), "TSUDOI_SECRET_KEY": SECRET}
    baseline_database = folder / "baseline" / "tsudoi.sqlite3"
    await seed_members(baseline_database, 200, secret_key=SECRET, parallelism=4)
    baseline_env = {"TSUDOI_DATABASE": str(baseline_database), "TSUDOI_SECRET_KEY": SECRET}
    tsudoi = Server("app:app", env)
    hello = Server("bench.apps:hello_app")
    try:
        tsudoi.wait_ready("/healthz")
        hello.wait_ready("/")
        members = [f"{i:06d}" for i in range(1, CONCURRENCY + 1)]
        clients = [await logged_in_client(tsudoi.url, number) for number in members]
        hello_clients = [
            httpx.AsyncClient(base_url=hello.url, timeout=30, verify=TLS) for _ in range(CONCURRENCY)
        ]

        async def mypage(client: httpx.AsyncClient) -> httpx.Response:
            return await client.get("/mypage")

        async def hello_world(client: httpx.AsyncClient) -> httpx.Response:
            return await client.get("/")

        await run_load("warm-up", mypage, clients=clients, seconds=1)
        ceiling = await run_load(
            "hello-world (Litestar)", hello_world, clients=hello_clients, seconds=seconds
        )
        page = await run_load(
            "GET /mypage (logged in, 10k members)", mypage, clients=clients, seconds=seconds
        )

        # A cheap page while 20 logins verify argon2id hashes at the same time: now (one lane), then the
        # same storm against the baseline (p=4, as before) on its own copy of the members.
        quiet, busy, login_times = await login_storm_on(tsudoi.url)
        tsudoi.stop()
        baseline = Server("bench.apps:four_lane_app", baseline_env, factory=True)
        baseline.wait_ready("/healthz")
        try:
            quiet_before, busy_before, login_times_before = await login_storm_on(baseline.url)
        finally:
            baseline.stop()

        print("\nTsudoi foundation benchmark (2-core machine, uvicorn 1 worker, concurrency 20)")
        for result in (ceiling, page, quiet, busy, quiet_before, busy_before):
            print(result.line())
        print(ratio_line(page, ceiling))
        print(
            f"login (argon2id defaults: t=3, 64 MiB, p=1, {HASH_THREADS} hashing threads at nice 5) median "
            f"{median(login_times):.0f} ms over {len(login_times)} logins (target < 1,000 ms)"
        )
        print(
            f"cheap page p99 idle {quiet.pct(99):.1f} ms vs during login storm {busy.pct(99):.1f} ms "
            f"({storm_ratio(quiet, busy):.1f}x idle; target < 3x)"
        )
        print(
            f"baseline, same run (argon2id p=4 as before): login median {median(login_times_before):.0f} ms; "
            f"cheap page p99 idle {quiet_before.pct(99):.1f} ms vs storm {busy_before.pct(99):.1f} ms "
            f"({storm_ratio(quiet_before, busy_before):.1f}x idle)"
        )
        for client in clients + hello_clients:
            await client.aclose()
    finally:
        tsudoi.stop()
        hello.stop()


def storm_ratio(quiet: Result, busy: Result) -> float:
    return busy.pct(99) / quiet.pct(99) if quiet.pct(99) else float("inf")


async def login_storm_on(url: str) -> tuple[Result, Result, list[float]]:
    """/healthz p99 idle, then during three rounds of 20 logins at once; and every login's time (ms)."""
    cheap_clients = [httpx.AsyncClient(base_url=url, timeout=60, verify=TLS) for _ in range(4)]

    async def healthz(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/healthz")

    quiet = await run_load("GET /healthz (idle)", healthz, clients=cheap_clients, seconds=3)
    login_times: list[float] = []

    async def one_login(number: str) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        client = await logged_in_client(url, number)
        login_times.append((loop.time() - started) * 1000)
        await client.aclose()

    async def login_storm() -> None:
        for _ in range(3):
            await asyncio.gather(*(one_login(f"{i:06d}") for i in range(100, 100 + CONCURRENCY)))

    storm = asyncio.create_task(login_storm())
    busy = await run_load("GET /healthz (20 logins at once)", healthz, clients=cheap_clients, seconds=3)
    await storm
    for client in cheap_clients:
        await client.aclose()
    return quiet, busy, login_times


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    asyncio.run(main(parser.parse_args().seconds))
