"""Announcement delivery survives a killed process: the sender runs in its own process, is killed with
SIGKILL in the middle of the run, and a restart sends the rest — every member gets exactly one mail."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from db import announcements as announcement_db
from services import announcements
from services.clock import FrozenClock
from services.context import build_context, open_context
from services.delivery import CLAIM_LEASE
from tests.helpers import SmtpSink, draft_announcement, free_port, make_member, test_now, test_settings

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = 12
KILL_AT = 6  # the sixth message is on the wire when the process dies


class HoldingSink(SmtpSink):
    """Accepts messages until the KILL_AT-th, which it holds unanswered until the test releases it; a
    message the server never answered is not delivered, so it is not kept."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.reached = threading.Event()
        self.released = threading.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if len(self.messages) == KILL_AT - 1 and not self.released.is_set():
            self.reached.set()
            while not self.released.is_set():
                await asyncio.sleep(0.02)
            return "451 connection lost"
        return await super().handle_DATA(server, session, envelope)


def test_a_killed_sender_and_a_restart_send_every_member_exactly_one_mail(tmp_path: Path) -> None:
    sink = HoldingSink(free_port())
    sink.start()
    settings = test_settings(tmp_path, smtp_url=sink.url)
    try:

        async def prepare() -> int:
            ctx = await open_context(build_context(settings, FrozenClock(test_now())))
            try:
                # One message at a time, no pacing: when the sixth is on the wire the five before are recorded.
                await ctx.update_org({"digest_rate_per_second": "0", "digest_concurrency": "1"})
                for number in range(MEMBERS):
                    await make_member(ctx, f"30{number:04d}")
                announcement_id = await draft_announcement(ctx.db, now=ctx.clock.now())
                assert await announcement_db.start_sending(ctx.db, announcement_id, now=ctx.clock.now())
                return announcement_id
            finally:
                await ctx.db.close()

        announcement_id = asyncio.run(prepare())
        script = textwrap.dedent(f"""
            import asyncio, sys
            sys.path.insert(0, {str(ROOT)!r})
            from pathlib import Path
            from services import announcements
            from services.clock import FrozenClock
            from services.context import build_context, open_context
            from tests.helpers import test_now, test_settings

            async def main():
                settings = test_settings(Path({str(tmp_path)!r}), smtp_url={sink.url!r})
                ctx = await open_context(build_context(settings, FrozenClock(test_now())))
                await announcements.run_due(ctx)

            asyncio.run(main())
        """)
        sender = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)  # noqa: S603
        try:
            assert sink.reached.wait(timeout=120), "the sender never reached the sixth message"
        finally:
            os.kill(sender.pid, signal.SIGKILL)
            sender.wait(timeout=30)
            sink.released.set()
        assert len(sink.messages) == KILL_AT - 1

        async def restart() -> None:
            # The app starts again later than the claim lease: the message that was on the wire goes again.
            clock = FrozenClock(test_now() + CLAIM_LEASE + timedelta(seconds=1))
            ctx = await open_context(build_context(settings, clock))
            try:
                await announcements.run_due(ctx)
                await announcements.run_due(ctx)
                row = await announcement_db.get(ctx.db, announcement_id)
                assert row is not None and row["status"] == "done"
                counts = (await announcements.counts(ctx, [announcement_id]))[announcement_id]
                assert counts.sent == MEMBERS and counts.open == 0 and counts.failed == 0
            finally:
                await ctx.db.close()

        asyncio.run(restart())
    finally:
        sink.stop()
    per_member = Counter(str(message["To"]) for message in sink.messages)
    assert len(per_member) == MEMBERS and set(per_member.values()) == {1}
