"""Bulk sends over several kept SMTP connections (TSUDOI_SMTP_CONNECTIONS), against a real aiosmtpd on
loopback that counts connections and each recipient's messages: exactly once per member, connections
reused, the rate limit in total, a server that hangs up, 451 retried later, 550 counted as a bounce."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from db import announcements as announcement_db
from services import announcements
from services.clock import FrozenClock
from services.context import AppContext
from services.mailer import SmtpTransport
from tests.helpers import draft_announcement, free_port, make_member


class CountingSink:
    """aiosmtpd on loopback: counts connections and what each recipient got, and can refuse a recipient
    (550), answer a message 451, or hang up at a given MAIL or DATA command."""

    def __init__(self) -> None:
        self.port = free_port()
        self.connections = 0
        self.received: list[tuple[float, str]] = []  # (monotonic time, recipient)
        self.mail_commands = 0
        self.data_commands = 0
        self.answers: list[str] = []  # what the next DATA commands get instead of 250
        self.refuse: set[str] = set()
        self.hang_up_at_mail: dict[int, str] = {}  # MAIL command number -> "silent" or "421"
        self.hang_up_at_data: set[int] = set()
        self.delay = 0.0  # seconds the server takes to answer a message
        self._lock = threading.Lock()
        sink = self

        class CountingController(Controller):
            def factory(self) -> SMTP:  # once per accepted connection
                with sink._lock:
                    sink.connections += 1
                return super().factory()  # type: ignore[no-any-return,no-untyped-call]

        self.controller = CountingController(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=off"

    @property
    def per_recipient(self) -> Counter[str]:
        return Counter(recipient for _, recipient in self.received)

    async def _hang_up(self, server: SMTP, how: str) -> str:
        if how == "421":
            return "421 4.4.2 closing connection"  # aiosmtpd closes after a 421 answer
        server.transport.close()
        await asyncio.sleep(1)  # never answered: the connection is gone first
        return "421 gone"

    async def handle_MAIL(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self._lock:
            self.mail_commands += 1
            how = self.hang_up_at_mail.get(self.mail_commands)
        if how:
            if how == "421":
                server.transport.close()
            return await self._hang_up(server, how)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        with self._lock:
            self.data_commands += 1
            hang_up = self.data_commands in self.hang_up_at_data
            answer = self.answers.pop(0) if self.answers and not hang_up else None
            if not hang_up and answer is None:
                self.received.append((time.monotonic(), envelope.rcpt_tos[0]))
        if hang_up:
            return await self._hang_up(server, "silent")
        if self.delay:
            await asyncio.sleep(self.delay)
        return answer or "250 OK"


@pytest.fixture
def sink() -> Any:
    server = CountingSink()
    server.controller.start()
    server.connections = 0  # start() made one itself, to see the server answer
    try:
        yield server
    finally:
        server.controller.stop()


async def setup_send(
    app: AppContext, sink: CountingSink, members: int, *, connections: int, rate: str = "0"
) -> tuple[int, list[str]]:
    """`members` members and an announcement to all of them, sent over `connections` connections."""
    app.settings = app.settings.with_(smtp_connections=connections)
    app.mailer.transport = SmtpTransport(sink.url, timeout=5)
    await app.update_org({"digest_rate_per_second": rate, "digest_concurrency": str(connections)})
    numbers = [f"41{n:04d}" for n in range(members)]
    for number in numbers:
        await make_member(app, number)
    announcement_id = await draft_announcement(app.db, now=app.clock.now())
    assert await announcement_db.start_sending(app.db, announcement_id, now=app.clock.now())
    return announcement_id, [f"member{number}@example.jp" for number in numbers]


async def test_several_connections_deliver_every_mail_exactly_once_and_are_reused(
    app_ctx: AppContext, sink: CountingSink
) -> None:
    announcement_id, addresses = await setup_send(app_ctx, sink, 40, connections=4)

    report = await announcements.deliver(app_ctx, announcement_id)

    assert (report.sent, report.failed, report.retrying) == (40, 0, 0)
    assert sink.per_recipient == Counter(dict.fromkeys(addresses, 1))
    # Several at once, each kept for mail after mail: never more connections than the setting.
    assert 2 <= sink.connections <= 4
    counts = (await announcements.counts(app_ctx, [announcement_id]))[announcement_id]
    assert counts.sent == 40 and counts.open == 0


async def test_one_connection_carries_the_whole_run(app_ctx: AppContext, sink: CountingSink) -> None:
    announcement_id, addresses = await setup_send(app_ctx, sink, 10, connections=1)
    report = await announcements.deliver(app_ctx, announcement_id)
    assert report.sent == 10 and sink.connections == 1
    assert set(sink.per_recipient.values()) == {1} and len(sink.per_recipient) == 10


async def test_the_rate_limit_holds_in_total_across_connections(
    app_ctx: AppContext, sink: CountingSink
) -> None:
    rate = 20
    announcement_id, addresses = await setup_send(app_ctx, sink, 24, connections=4, rate=str(rate))
    sink.delay = 0.15  # a slow server: about three messages are in flight at any time

    report = await announcements.deliver(app_ctx, announcement_id)

    assert report.sent == 24 and set(sink.per_recipient.values()) == {1}
    times = sorted(moment for moment, _ in sink.received)
    # By the k-th arrival, at least k/rate seconds have passed since the first (less the first's latency).
    for k, moment in enumerate(times):
        assert moment - times[0] >= k / rate - 0.1, (k, moment - times[0])
    assert times[-1] - times[0] >= 23 / rate - 0.1
    assert 2 <= sink.connections <= 4  # several connections at once, and the limit is their total


@pytest.mark.parametrize("how", ["silent", "421"])
async def test_a_kept_connection_the_server_closed_is_replaced_without_losing_the_mail(
    app_ctx: AppContext, sink: CountingSink, how: str
) -> None:
    announcement_id, addresses = await setup_send(app_ctx, sink, 12, connections=2)
    sink.hang_up_at_mail = {7: how}  # on a kept connection, before the mail's first command is answered

    report = await announcements.deliver(app_ctx, announcement_id)

    # Nothing had been sent on it: the mail goes at once over a new connection, no retry needed.
    assert (report.sent, report.failed, report.retrying) == (12, 0, 0)
    assert sink.per_recipient == Counter(dict.fromkeys(addresses, 1))
    assert sink.connections == 3


async def test_a_server_that_hangs_up_mid_message_gets_it_again_later(
    app_ctx: AppContext, clock: FrozenClock, sink: CountingSink
) -> None:
    announcement_id, addresses = await setup_send(app_ctx, sink, 12, connections=2)
    sink.hang_up_at_data = {5}  # the message was on the wire when the connection died

    first = await announcements.deliver(app_ctx, announcement_id)

    assert (first.sent, first.failed, first.retrying) == (11, 0, 1)
    assert sink.connections == 3  # the broken connection was replaced; the run went on
    clock.advance(timedelta(minutes=2))
    second = await announcements.deliver(app_ctx, announcement_id)
    assert (second.sent, second.retrying) == (1, 0)
    assert sink.per_recipient == Counter(dict.fromkeys(addresses, 1))
    row = await announcement_db.get(app_ctx.db, announcement_id)
    assert row is not None and row["status"] == "done"


async def test_a_451_answer_is_retried_later_on_a_kept_connection(
    app_ctx: AppContext, clock: FrozenClock, sink: CountingSink
) -> None:
    announcement_id, addresses = await setup_send(app_ctx, sink, 8, connections=2)
    sink.answers = ["451 4.3.0 Try again later"]

    first = await announcements.deliver(app_ctx, announcement_id)

    assert (first.sent, first.failed, first.retrying) == (7, 0, 1)
    assert sink.connections <= 2  # an answered refusal leaves the connection usable
    clock.advance(timedelta(minutes=2))
    second = await announcements.deliver(app_ctx, announcement_id)
    assert second.sent == 1
    assert sink.per_recipient == Counter(dict.fromkeys(addresses, 1))


async def test_a_550_answer_is_a_bounce_and_the_others_still_go(
    app_ctx: AppContext, sink: CountingSink
) -> None:
    announcement_id, addresses = await setup_send(app_ctx, sink, 8, connections=2)
    gone = addresses[3]
    sink.refuse = {gone}

    report = await announcements.deliver(app_ctx, announcement_id)

    assert (report.sent, report.failed, report.retrying) == (7, 1, 0)
    assert gone not in sink.per_recipient and len(sink.per_recipient) == 7
    assert sink.connections <= 2
    health = await app_ctx.db.fetchall(
        "SELECT h.hard_bounces, h.last_error FROM member_mail_health h JOIN members m ON m.id = h.member_id "
        "WHERE m.email = ?",
        (gone,),
    )
    assert [int(row["hard_bounces"]) for row in health] == [1]
    assert "550" in str(health[0]["last_error"])
    rows = await app_ctx.db.fetchall(
        "SELECT status, last_error FROM announcement_deliveries WHERE announcement_id = ? AND status = 'failed'",
        (announcement_id,),
    )
    assert len(rows) == 1 and "550" in str(rows[0]["last_error"])
