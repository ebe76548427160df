"""Password hashing runs on lower-priority threads, one per core, and never on the event loop's thread."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest

from services import hashing


def _thread_priority() -> tuple[int, int]:
    tid = threading.get_native_id()
    return tid, os.getpriority(os.PRIO_PROCESS, tid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is a Linux behaviour")
async def test_hashing_threads_run_at_the_lowest_priority_and_leave_the_loop_alone() -> None:
    loop = asyncio.get_running_loop()
    loop_tid, loop_priority = _thread_priority()
    tid, priority = await loop.run_in_executor(hashing._HASH_THREADS, _thread_priority)
    assert tid != loop_tid
    assert priority == max(loop_priority, hashing.HASHING_NICENESS)
    assert priority > loop_priority or loop_priority >= hashing.HASHING_NICENESS
    # Lowering a hashing thread's priority did not lower the thread that serves pages.
    assert _thread_priority()[1] == loop_priority
    assert hashing.HASH_THREADS == (os.cpu_count() or 2)


async def test_a_hash_made_on_the_threads_verifies() -> None:
    hasher = hashing.Hasher(time_cost=1, memory_cost=8, parallelism=1)
    password_hash = await hasher.hash("正しいパスワード")
    assert await hasher.verify(password_hash, "正しいパスワード")
    assert not await hasher.verify(password_hash, "ちがうパスワード")
