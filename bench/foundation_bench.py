"""Foundation benchmark: logged-in My Page skeleton vs a hello-world Litestar app, and a cheap page's p99
while 20 logins hash passwords at once (shows argon2 runs off the event loop).

Run: .venv/bin/python -m bench.foundation_bench [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import httpx

from bench.harness import Server, median, ratio_line, run_load
from bench.seed import BENCH_PASSWORD, seed_members

SECRET = "bench-secret-key-" + "x" * 30
CONCURRENCY = 20


async def logged_in_client(base_url: str, member_number: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base_url, timeout=30)
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
    tsudoi = Server("app:app", env)
    hello = Server("bench.apps:hello_app")
    try:
        tsudoi.wait_ready("/healthz")
        hello.wait_ready("/")
        members = [f"{i:06d}" for i in range(1, CONCURRENCY + 1)]
        clients = [await logged_in_client(tsudoi.url, number) for number in members]
        hello_clients = [httpx.AsyncClient(base_url=hello.url, timeout=30) for _ in range(CONCURRENCY)]

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

        # A cheap page while 20 logins verify argon2id hashes at the same time.
        cheap_clients = [httpx.AsyncClient(base_url=tsudoi.url, timeout=30) for _ in range(4)]

        async def healthz(client: httpx.AsyncClient) -> httpx.Response:
            return await client.get("/healthz")

        quiet = await run_load("GET /healthz (idle)", healthz, clients=cheap_clients, seconds=3)
        login_times: list[float] = []

        async def one_login(number: str) -> None:
            loop = asyncio.get_running_loop()
            started = loop.time()
            client = await logged_in_client(tsudoi.url, number)
            login_times.append((loop.time() - started) * 1000)
            await client.aclose()

        async def login_storm() -> None:
            for _ in range(3):
                await asyncio.gather(*(one_login(f"{i:06d}") for i in range(100, 100 + CONCURRENCY)))

        storm = asyncio.create_task(login_storm())
        busy = await run_load("GET /healthz (20 logins at once)", healthz, clients=cheap_clients, seconds=3)
        await storm

        print("\nTsudoi foundation benchmark (2-core machine, uvicorn 1 worker, concurrency 20)")
        for result in (ceiling, page, quiet, busy):
            print(result.line())
        print(ratio_line(page, ceiling))
        print(f"login (argon2id defaults) median {median(login_times):.0f} ms over {len(login_times)} logins")
        print(f"cheap page p99 idle {quiet.pct(99):.1f} ms vs during login storm {busy.pct(99):.1f} ms")
        for client in clients + hello_clients + cheap_clients:
            await client.aclose()
    finally:
        tsudoi.stop()
        hello.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    asyncio.run(main(parser.parse_args().seconds))
