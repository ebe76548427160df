"""What one HTTP test's set-up costs: a new app migrating a new database (how the `app` fixture worked
before) vs the one app per process given a fresh context and a copy of a migrated template database (how
tests/conftest.py does it now). Both are measured in the same run, in turns, so the ratio holds on a busy
machine; CPU time is printed too, since wall time there mostly measures the other processes.

Run: .venv/bin/python -m bench.test_setup_bench [--rounds 20]

With --suite, the whole test run instead: the tree at a base commit (exported with git archive, the same
.venv) against the work tree, one after the other in the same run (the order alternates when --rounds > 1),
each as its own scripts/test.sh runs it (lint, format, types, security lint, pytest: --script) or the same
pytest command in both trees (paths given). It prints wall and CPU time (all child processes), the load
average, the tests run/skipped/failed (same coverage: the counts must match) and a per-file table from the
JUnit XML of each run, as ratios now / base.

Run: .venv/bin/python -m bench.test_setup_bench --suite --base main --script [--now HEAD] [--cold]
     .venv/bin/python -m bench.test_setup_bench --suite --base main -- tests/http/test_doctor.py -n 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
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


ROOT = Path(__file__).resolve().parent.parent


@dataclass
class SuiteRun:
    """One run of the suite in one tree."""

    wall: float
    cpu: float
    load: tuple[float, float]
    code: int
    counts: dict[str, int] = field(default_factory=dict)
    per_file: dict[str, float] = field(default_factory=dict)
    tail: str = ""
    failed: list[str] = field(default_factory=list)


def export_tree(base: str, target: Path) -> None:
    """The project as it was at `base` (committed files only), sharing this tree's .venv and .cache."""
    command = ["git", "archive", "--format=tar", base]
    archive = subprocess.run(command, cwd=ROOT, capture_output=True, check=True).stdout  # noqa: S603
    target.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)  # noqa: S603, S607
    (target / ".venv").symlink_to((ROOT / ".venv").resolve())
    if (ROOT / ".cache").exists():
        (target / ".cache").symlink_to((ROOT / ".cache").resolve())
    # The vocabulary test reads the glossary beside the project (../shared/GLOSSARY.md).
    shared = ROOT.parent / "shared"
    if shared.exists() and not (target.parent / "shared").exists():
        (target.parent / "shared").symlink_to(shared.resolve())


def failed_tests(path: Path) -> list[str]:
    """The tests that failed or errored, from pytest's JUnit XML."""
    if not path.exists():
        return []
    tree = ElementTree.parse(path)  # noqa: S314 — our own pytest's output
    return [
        f"{case.get('classname')}::{case.get('name')}"
        for case in tree.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]


def read_junit(path: Path) -> tuple[dict[str, int], dict[str, float]]:
    """(tests, failures, errors, skipped) and the summed time per test file, from pytest's JUnit XML."""
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    per_file: dict[str, float] = defaultdict(float)
    if not path.exists():
        return counts, per_file
    tree = ElementTree.parse(path)  # noqa: S314 — our own pytest's output
    for suite in tree.iter("testsuite"):
        for key in counts:
            counts[key] += int(suite.get(key, 0))
    for case in tree.iter("testcase"):
        parts = (case.get("classname") or "").split(".")
        module = next((i for i, part in enumerate(parts) if part.startswith("test_")), len(parts) - 1)
        per_file["/".join(parts[: module + 1]) + ".py"] += float(case.get("time") or 0)
    return counts, per_file


def clear_caches(tree: Path) -> None:
    """As a fresh CI checkout: no mypy cache, no compiled bytecode of the project (the .venv keeps its own)."""
    shutil.rmtree(tree / ".mypy_cache", ignore_errors=True)
    for folder in ("app.py", "cli.py", "routes", "services", "db", "tests", "bench", "scripts"):
        for cache in (tree / folder).rglob("__pycache__") if (tree / folder).is_dir() else ():
            shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(tree / "__pycache__", ignore_errors=True)


def run_suite(tree: Path, script: bool, cold: bool, pytest_args: list[str], junit: Path) -> SuiteRun:
    env = {**os.environ, "CI": "true", "TSUDOI_SCHEDULER": "off"}
    if cold:
        clear_caches(tree)
    if script:
        command = ["bash", "scripts/test.sh", f"--junitxml={junit}", *pytest_args]
    else:
        python = str((ROOT / ".venv" / "bin" / "python").absolute())
        command = [python, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={junit}", *pytest_args]
    load_before = os.getloadavg()[0]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)  # noqa: S603
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    counts, per_file = read_junit(junit)
    tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
    load = (load_before, os.getloadavg()[0])
    return SuiteRun(wall, cpu, load, result.returncode, counts, per_file, tail, failed_tests(junit))


def suite(
    base: str, now: str, rounds: int, script: bool, cold: bool, pytest_args: list[str], top: int
) -> None:
    root = Path(tempfile.mkdtemp(prefix="tsudoi-suite-bench-"))
    trees = {"base": root / "base", "now": root / "now" if now else ROOT}
    export_tree(base, trees["base"])
    if now:
        export_tree(now, trees["now"])
    print(f"base: {base} ({trees['base']}), now: {now or 'the work tree'} ({trees['now']})")
    what = "scripts/test.sh (lint, format, types, bandit, pytest)" if script else "pytest"
    caches = "cleared before each run (as in CI)" if cold else "kept (an exported tree starts without them)"
    print(f"each run: {what} {' '.join(pytest_args)}; CI=true; mypy and bytecode caches {caches}")
    print(f"environment: PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
    runs: dict[str, list[SuiteRun]] = {"base": [], "now": []}
    for index in range(rounds):
        order = ["base", "now"] if index % 2 == 0 else ["now", "base"]
        for name in order:
            run = run_suite(trees[name], script, cold, pytest_args, root / f"{name}-{index}.xml")
            runs[name].append(run)
            counts = ", ".join(f"{key} {value}" for key, value in run.counts.items())
            print(
                f"round {index + 1} {name:<4}: wall {run.wall:7.1f} s  CPU {run.cpu:7.1f} s  exit {run.code}  "
                f"load {run.load[0]:.2f}→{run.load[1]:.2f}  ({counts})",
                flush=True,
            )
            if run.code != 0:
                print("  " + run.tail.replace("\n", "\n  "))
                for name in run.failed[:20]:
                    print(f"  failed: {name}")
    wall = {name: statistics.median(run.wall for run in done) for name, done in runs.items()}
    cpu = {name: statistics.median(run.cpu for run in done) for name, done in runs.items()}
    print(
        f"\nmedian wall: base {wall['base']:.1f} s, now {wall['now']:.1f} s, ratio now / base "
        f"{wall['now'] / wall['base']:.2f}; CPU ratio {cpu['now'] / cpu['base']:.2f}"
    )
    files = sorted(
        set(runs["base"][0].per_file) | set(runs["now"][0].per_file),
        key=lambda name: runs["now"][0].per_file.get(name, 0) - runs["base"][0].per_file.get(name, 0),
    )
    print(
        f"\nper test file, summed test time (set-up + call + tear-down), round 1, the {top} biggest gains, then the biggest losses:"
    )
    print(f"{'file':<58} {'base s':>8} {'now s':>8} {'ratio':>6}")
    shown = files[:top] + [name for name in files[-max(top // 3, 1) :] if name not in files[:top]]
    for name in shown:
        before = runs["base"][0].per_file.get(name, 0.0)
        now = runs["now"][0].per_file.get(name, 0.0)
        ratio = f"{now / before:6.2f}" if before else "   new"
        print(f"{name:<58} {before:8.1f} {now:8.1f} {ratio}")
    summed = {name: sum(done[0].per_file.values()) for name, done in runs.items()}
    print(
        f"{'all files':<58} {summed['base']:8.1f} {summed['now']:8.1f} {summed['now'] / summed['base']:6.2f}"
    )
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=None, help="set-up rounds (20), or suite rounds (1)")
    parser.add_argument("--suite", action="store_true", help="time the test suite: base commit vs work tree")
    parser.add_argument("--base", default="main", help="the commit to compare with (--suite)")
    parser.add_argument("--now", default="", help="a commit to measure instead of the work tree (--suite)")
    parser.add_argument("--script", action="store_true", help="run scripts/test.sh in each tree (--suite)")
    parser.add_argument(
        "--cold", action="store_true", help="clear mypy's and the bytecode caches before each run"
    )
    parser.add_argument("--top", type=int, default=25, help="rows of the per-file table")
    parser.add_argument("pytest_args", nargs="*", help="after --: paths and pytest options for both trees")
    options = parser.parse_args()
    if options.suite:
        suite(
            options.base,
            options.now,
            options.rounds or 1,
            options.script,
            options.cold,
            options.pytest_args,
            options.top,
        )
    else:
        asyncio.run(main(options.rounds or 20))
