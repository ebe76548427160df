"""Sending a transactional mail: recorded, and kept for another try when the server is down, so none is lost."""

from __future__ import annotations

import email
import email.policy
import logging
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from db import mail_log, mail_queue
from db.database import Database
from services.mailer import Mailer, MailError

log = logging.getLogger("tsudoi.notify")

MAX_ATTEMPTS = 8


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most an hour apart."""
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


async def send_mail(
    db: Database,
    mailer: Mailer,
    *,
    kind: str,
    to: str,
    subject: str,
    context: dict[str, Any],
    now: datetime,
    **extra: Any,
) -> bool:
    """True when the transport took the message. A passing failure queues it for retry; nothing is raised."""
    if not to:
        return False
    mail = mailer.compose(kind, to=to, subject=subject, context=context, **extra)
    try:
        message = mailer.build(mail, now=now)
    except ValueError as error:
        await mail_log.record(
            db, now=now, kind=kind, recipient=to, subject=subject, message_id="", error=str(error)
        )
        return False
    try:
        message_id = await mailer.deliver(message)
    except MailError as error:
        log.warning("mail %s failed: %s", kind, error)
        await mail_log.record(
            db, now=now, kind=kind, recipient=to, subject=subject, message_id="", error=str(error)
        )
        if not error.permanent:
            await mail_queue.enqueue(
                db, now=now, next_attempt_at=now + retry_delay(1), kind=kind, recipient=to, subject=subject,
                message=message.as_bytes(), error=str(error),
            )  # fmt: skip
        return False
    await mail_log.record(db, now=now, kind=kind, recipient=to, subject=subject, message_id=message_id)
    return True


async def retry_queued_mails(db: Database, mailer: Mailer, *, now: datetime) -> int:
    """Send what is due in the queue; returns how many went out. Run by the scheduler every minute."""
    sent = 0
    for row in await mail_queue.claim_due(db, now=now):
        message = email.message_from_bytes(row["message"], policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        try:
            message_id = await mailer.deliver(message)
        except MailError as error:
            attempts = int(row["attempts"]) + 1
            await mail_queue.mark_retry(
                db, int(row["id"]), next_attempt_at=now + retry_delay(attempts), error=str(error),
                give_up=error.permanent or attempts >= MAX_ATTEMPTS,
            )  # fmt: skip
            continue
        await mail_queue.mark_sent(db, int(row["id"]))
        await mail_log.record(
            db,
            now=now,
            kind=row["kind"],
            recipient=row["recipient"],
            subject=row["subject"],
            message_id=message_id,
        )
        sent += 1
    return sent
