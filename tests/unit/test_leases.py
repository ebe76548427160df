"""What lets several worker processes share one database: leases, migrations taking turns, the shared
organization settings, the one first-start token and secret key (the processes themselves are in
tests/http/test_workers.py; here two contexts on one data folder stand for two workers)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from db import leases as lease_queries
from db import setup_state
from db.database import Database, migration_files
from services import leases
from services.clock import FrozenClock
from services.context import AppContext, build_context, open_context
from services.settings import Settings, load_or_create_secret_key
from services.setup import announce
from services.shared_counter import SharedCounter
from tests.helpers import test_now


class Wall:
    """A wall clock the test moves (leases run on the wall clock, not the app's)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_lease_is_held_by_one_holder_until_it_is_released_or_runs_out(app_ctx: AppContext) -> None:
    wall = Wall()
    first = leases.Lease(app_ctx.db, "job", seconds=10, clock=wall)
    second = leases.Lease(app_ctx.db, "job", seconds=10, clock=wall)
    assert await first.try_take()
    assert not await second.try_take()
    wall.now += 9
    assert await first.renew()  # renewed: another 10 seconds from now
    wall.now += 9
    assert not await second.try_take()
    wall.now += 1.5  # the holder stopped renewing (it died): the lease ran out
    assert await second.try_take()
    assert not await first.renew()  # the old holder learns it lost it
    await first.release()  # and its release leaves the new holder's lease alone
    row = await lease_queries.current(app_ctx.db, "job")
    assert row is not None and row["holder"] == second.holder
    await second.release()
    assert await lease_queries.current(app_ctx.db, "job") is None


async def test_held_makes_a_second_taker_wait_then_take_over(app_ctx: AppContext) -> None:
    order: list[str] = []

    async def worker(name: str, pause: float) -> None:
        async with leases.held(app_ctx.db, "checkout:1", seconds=5, wait=5, poll=0.01):
            order.append(f"{name} in")
            await asyncio.sleep(pause)
            order.append(f"{name} out")

    first = asyncio.create_task(worker("first", 0.2))
    await asyncio.sleep(0.05)
    await asyncio.gather(first, worker("second", 0))
    assert order == ["first in", "first out", "second in", "second out"]
    assert await lease_queries.current(app_ctx.db, "checkout:1") is None


async def test_held_gives_up_after_its_wait_while_a_live_holder_keeps_renewing(app_ctx: AppContext) -> None:
    async with leases.held(app_ctx.db, "run:7", seconds=0.3, wait=0):
        await asyncio.sleep(0.5)  # longer than the lease: the holder's renewals keep it
        with pytest.raises(leases.LeaseBusy):
            async with leases.held(app_ctx.db, "run:7", seconds=0.3, wait=0.2, poll=0.02):
                pass


def test_a_holder_name_carries_the_process_id() -> None:
    assert leases.holder_pid(leases.new_holder()) == os.getpid()
    assert leases.holder_pid("odd") is None


async def test_two_processes_migrating_one_new_file_at_once_take_turns(tmp_path: Path) -> None:
    path = tmp_path / "data" / "tsudoi.sqlite3"
    first, second = Database(path, readers=1), Database(path, readers=0)
    await first.connect()
    await second.connect()
    try:
        # Without the lock both read version 0 and the second fails on tables that already exist.
        versions = await asyncio.gather(first.migrate(), second.migrate())
        assert versions == [migration_files()[-1][0]] * 2
        assert await first.schema_version() == migration_files()[-1][0]
        assert (path.parent / "migrate.lock").stat().st_mode & 0o777 == 0o600
    finally:
        await first.close()
        await second.close()


async def _worker(settings: Settings) -> AppContext:
    """A worker's context on the test's data folder."""
    return await open_context(build_context(settings, FrozenClock(test_now())))


async def test_a_setting_saved_by_one_worker_is_seen_by_the_other_without_a_query_per_request(
    settings: Settings,
) -> None:
    one, two = await _worker(settings), await _worker(settings)
    try:
        queries = two.db.query_count
        await two.refresh_org()  # nothing changed: shared memory only
        assert two.db.query_count == queries
        await one.update_org({"org_name": "二号館の会"})
        assert two.org.org_name != "二号館の会"
        await two.refresh_org()
        assert two.org.org_name == "二号館の会"
        queries = two.db.query_count
        await two.refresh_org()
        assert two.db.query_count == queries
    finally:
        await one.close()
        await two.close()


async def test_every_worker_prints_and_accepts_the_same_first_start_token(settings: Settings) -> None:
    one, two = await _worker(settings), await _worker(settings)
    try:
        first, second = await asyncio.gather(announce(one), announce(two))
        assert first and first == second == one.setup_token == two.setup_token
        assert await setup_state.shared_token(one.db, "another") == first
    finally:
        await one.close()
        await two.close()


def test_a_shared_counter_moves_for_every_mapping(tmp_path: Path) -> None:
    one, two = SharedCounter(tmp_path / "org.version"), SharedCounter(tmp_path / "org.version")
    try:
        assert one.value() == two.value() == 0
        assert one.bump() == 1 and two.value() == 1
        assert two.bump() == 2 and one.value() == 2
    finally:
        one.close()
        two.close()


async def test_workers_starting_at_once_make_one_secret_key(tmp_path: Path) -> None:
    keys = await asyncio.gather(*(asyncio.to_thread(load_or_create_secret_key, tmp_path) for _ in range(8)))
    assert len(set(keys)) == 1 and len(keys[0]) > 40
    assert sorted(path.name for path in tmp_path.iterdir()) == ["secret_key"]
