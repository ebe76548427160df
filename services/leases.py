"""Leases: what only one process may do at a time when several workers serve one database.

`litestar run --wc N` starts N processes on one SQLite file, so an in-process asyncio.Lock no longer
makes anything exclusive. A lease is a row in `leases` (db/leases.py) taken by one statement: the holder
renews it while it works and deletes it when done; a holder that dies (even SIGKILL) stops renewing, the
lease runs out after `seconds`, and a waiting process takes over.

Which clock: the wall clock (time.time), not the app's clock. A lease says whether a process is still
alive, which is a matter of real elapsed time, not a business rule: the app's clock is frozen in tests (a
lease would never run out there) and is set per process, while every process on the machine shares the
wall clock. Not time.monotonic: it restarts at boot, so a lease written before a reboot would look valid
for as long as the machine had been up. A wall-clock step (NTP) lengthens or shortens one lease by the
step; the holder's renewals make the next one right again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from db import leases as lease_queries
from db.database import Database

log = logging.getLogger("tsudoi.leases")

DEFAULT_SECONDS = 30.0


def wall_clock() -> float:
    """Seconds since the epoch, shared by every process on the machine (see the module's docstring)."""
    return time.time()


def new_holder() -> str:
    """A holder name unique to one taker: host, process id (which the tests and the admin can see) and a
    random part (two tasks of one process never share a lease)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_pid(holder: str) -> int | None:
    """The process id in a holder name."""
    parts = holder.split(":")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


class LeaseBusy(RuntimeError):
    """Another process held the lease for longer than the caller was willing to wait."""


class Lease:
    """One taker's claim on `name`; `seconds` is how long it outlives a holder that stopped renewing."""

    def __init__(
        self,
        db: Database,
        name: str,
        *,
        seconds: float = DEFAULT_SECONDS,
        clock: Callable[[], float] = wall_clock,
        holder: str | None = None,
    ) -> None:
        self.db = db
        self.name = name
        self.seconds = seconds
        self.clock = clock
        self.holder = holder or new_holder()
        self.held = False

    async def try_take(self) -> bool:
        now = self.clock()
        self.held = await lease_queries.take(
            self.db, self.name, self.holder, now=now, until=now + self.seconds
        )
        return self.held

    async def renew(self) -> bool:
        self.held = await lease_queries.renew(
            self.db, self.name, self.holder, until=self.clock() + self.seconds
        )
        return self.held

    async def release(self) -> None:
        self.held = False
        await lease_queries.release(self.db, self.name, self.holder)

    async def wait_take(self, *, wait: float | None, poll: float = 0.05) -> bool:
        """Take it, polling every `poll` seconds while another holds it; False after `wait` seconds (None:
        as long as it takes; a live holder renews, a dead one's lease runs out)."""
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            row = await lease_queries.current(self.db, self.name)
            # A read first: waiting costs no write transaction while the holder is alive.
            if row is None or float(row["expires_at"]) <= self.clock() or row["holder"] == self.holder:
                if await self.try_take():
                    return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(poll)

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            if not await self.renew():
                log.warning(
                    "lease %s was lost (the holder stalled longer than %.0f s)", self.name, self.seconds
                )
                return


@asynccontextmanager
async def held(
    db: Database,
    name: str,
    *,
    seconds: float = DEFAULT_SECONDS,
    wait: float | None = None,
    poll: float = 0.05,
) -> AsyncIterator[Lease]:
    """Hold `name` for the block, renewed in the background, released after it (LeaseBusy when another
    holder kept it for longer than `wait`)."""
    lease = Lease(db, name, seconds=seconds)
    if not await lease.wait_take(wait=wait, poll=poll):
        raise LeaseBusy(name)
    keeper = asyncio.create_task(lease._keep(), name=f"tsudoi-lease-{name}")
    try:
        yield lease
    finally:
        keeper.cancel()  # a renewal still in flight after the release below matches no row
        # Shielded: a task cancelled in the block still gives the lease back for the next taker.
        await asyncio.shield(lease.release())
