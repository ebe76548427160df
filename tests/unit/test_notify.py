"""Transactional mail survives an SMTP outage: kept, retried, and sent exactly once when the server is back."""

from __future__ import annotations

from datetime import timedelta

from db import mail_queue
from services.mailer import Mailer, SmtpTransport
from services.notify import retry_queued_mails, send_mail
from tests.helpers import SmtpSink, free_port


async def test_mail_is_kept_while_smtp_is_down_and_sent_once_it_is_back(app_ctx, clock):
    port = free_port()
    mailer = Mailer(
        SmtpTransport(f"smtp://127.0.0.1:{port}?starttls=off", timeout=2), "a@example.jp", app_ctx.templates
    )
    context = {"org": app_ctx.org, "member": {"family_name": "山田", "given_name": "花子", "member_number": "001"},
               "locked_until": clock.now(), "reset_url": "http://x/"}  # fmt: skip
    sent = await send_mail(
        app_ctx.db,
        mailer,
        kind="account_locked",
        to="hanako@example.jp",
        subject="件名",
        context=context,
        now=clock.now(),
    )
    assert sent is False
    assert (await mail_queue.counts(app_ctx.db)) == {"pending": 1}

    assert await retry_queued_mails(app_ctx.db, mailer, now=clock.now()) == 0  # not due yet
    clock.advance(timedelta(minutes=1))
    assert await retry_queued_mails(app_ctx.db, mailer, now=clock.now()) == 0  # still down: rescheduled
    assert (await mail_queue.counts(app_ctx.db)) == {"pending": 1}

    sink = SmtpSink(port)
    sink.start()
    try:
        clock.advance(timedelta(minutes=5))
        assert await retry_queued_mails(app_ctx.db, mailer, now=clock.now()) == 1
        clock.advance(timedelta(hours=2))
        assert await retry_queued_mails(app_ctx.db, mailer, now=clock.now()) == 0
    finally:
        sink.stop()
    assert len(sink.messages) == 1
    assert sink.messages[0]["To"] == "hanako@example.jp"
    assert (await mail_queue.counts(app_ctx.db)) == {"sent": 1}
