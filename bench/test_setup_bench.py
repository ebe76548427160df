"""What one HTTP test's set-up costs: a new app migrating a new database (how the `app` fixture worked
before) vs the one app per process given a fresh context and a copy of a migrated template database (how
tests/conftest.py does it now). Both are measured in the same run, in turns, so the ratio holds on a busy
machine; CPU time is printed too, since wall time there mostly measures the other processes.

Run: .venv/bin/python -m bench.test_setup_bench [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TSUDOI_SCHEDULER", "off")

from litestar import Litestar  # noqa: E402
from litestar.testing import AsyncTestClient  # noqa: E402

from app import create_app  # noqa: E402
from db.database import Database  # noqa: E402
from services.clock import FrozenClock  # noqa: E402
from services.context import build_context  # noqa: E402
from tests.helpers import test_now, test_settings  # noqa: E402


async def one_test(make_app: Callable[[Path], Litestar], folder: Path) -> tuple[float, float]:
    """Set-up, one page, tear-down: (wall ms, CPU ms)."""
    wall, cpu = time.perf_counter(), time.process_time()
    app = make_app(folder)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        assert (await client.get("/login")).status_code == 200
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


async def main(rounds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="tsudoi-setup-bench-"))
    template = root / "template" / "tsudoi.sqlite3"
    template.parent.mkdir()
    database = Database(template, readers=0)
    await database.connect()
    await database.migrate()
    await database.close()
    shared: list[Litestar] = []

    def fresh_app(folder: Path) -> Litestar:
        return create_app(test_settings(folder), FrozenClock(test_now()))

    def reused_app(folder: Path) -> Litestar:
        settings = test_settings(folder)
        settings.database.parent.mkdir(parents=True, mode=0o700)
        shutil.copyfile(template, settings.database)
        os.chmod(settings.database, 0o600)
        if not shared:
            shared.append(create_app(settings, FrozenClock(test_now())))
        else:
            context = build_context(
                settings, FrozenClock(test_now()), templates=shared[0].state.ctx.templates
            )
            shared[0].state.ctx = context
        return shared[0]

    results: dict[str, list[tuple[float, float]]] = {"before": [], "now": []}
    await one_test(reused_app, root / "warm")  # the shared app is built once per process, outside the rounds
    for index in range(rounds):
        results["before"].append(await one_test(fresh_app, root / f"before-{index}"))
        results["now"].append(await one_test(reused_app, root / f"now-{index}"))
    print(f"\nOne HTTP test's set-up + GET /login + tear-down, {rounds} rounds each, interleaved")
    medians = {}
    for name, label in (
        ("before", "new app + migrating a new database"),
        ("now", "shared app + template copy"),
    ):
        wall = statistics.median(value[0] for value in results[name])
        cpu = statistics.median(value[1] for value in results[name])
        medians[name] = (wall, cpu)
        print(f"{label:<40} median wall {wall:7.1f} ms  CPU {cpu:7.1f} ms")
    print(
        f"ratio now / before: wall {medians['now'][0] / medians['before'][0]:.2f}, "
        f"CPU {medians['now'][1] / medians['before'][1]:.2f}"
    )
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(main(parser.parse_args().rounds))
