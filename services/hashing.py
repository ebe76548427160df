"""argon2id password hashing, one lane per hash on lower-priority worker threads, so logins never block the
event loop and a burst of them mostly takes the CPU that pages leave idle."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2 is CPU- and memory-bound: a burst of logins queues on these threads instead of blocking the event
# loop. There is one thread per core, so a burst uses every core that pages leave idle, and each thread runs
# at a lower scheduling priority (nice 5): when the event loop (or another worker) has a page to serve, the
# kernel gives it about three times the CPU share of a hashing thread, so a storm of logins hardly slows
# pages down. Not nice 19: with several workers busy serving pages, a nice-19 thread gets ~1.5 % of a core
# and logins stall for tens of seconds (bench/load.py --workers 2 showed it); at nice 5 logins still
# progress when every core is busy. One lane per hash (settings.argon2_parallelism = 1): each hash keeps to
# one thread. Shared by every Hasher, whatever event loop calls it.
HASH_THREADS = max(1, os.cpu_count() or 2)
HASHING_NICENESS = 5


def _lower_own_priority() -> None:
    """Run this hashing thread at HASHING_NICENESS (Linux applies setpriority to the one thread whose id
    it gets). Raising one's own nice value needs no privilege; where the platform has no per-thread
    priority the thread keeps the normal one."""
    with contextlib.suppress(OSError, AttributeError):
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), max(current, HASHING_NICENESS))


_HASH_THREADS = ThreadPoolExecutor(
    max_workers=HASH_THREADS, thread_name_prefix="argon2", initializer=_lower_own_priority
)


class Hasher:
    def __init__(self, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 1) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        # Unknown member numbers are verified against this so they cost the same time as known ones.
        self._dummy_hash = self._hasher.hash("tsudoi-dummy-password")

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(_HASH_THREADS, self.hash_sync, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            _HASH_THREADS, self.verify_sync, password_hash or self._dummy_hash, password
        )

    async def verify_dummy(self, password: str) -> None:
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
