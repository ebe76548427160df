"""argon2id password hashing, one lane per hash on a worker thread of its own, so logins never block the
event loop and a burst of them leaves a core to serve pages."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2 is CPU- and memory-bound: a burst of logins queues on these threads instead of starving the event
# loop (and every other page) of CPU. With one lane per hash (settings.argon2_parallelism = 1) each thread
# uses one core: one thread on a 2-core machine, half the cores on larger ones, so at least one core is
# always free for pages. Shared by every Hasher, whatever event loop calls it.
HASH_THREADS = max(1, (os.cpu_count() or 2) // 2)
_HASH_THREADS = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")


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
