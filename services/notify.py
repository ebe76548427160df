"""Sending a transactional mail and recording the outcome, without failing the caller's request."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from db import mail_log
from db.database import Database
from services.mailer import Mailer, MailError

log = logging.getLogger("tsudoi.notify")


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
    """True when the transport took the message; a failure is logged for the admin, not raised."""
    if not to:
        return False
    mail = mailer.compose(kind, to=to, subject=subject, context=context, **extra)
    try:
        message_id = await mailer.send(mail, now=now)
    except (MailError, ValueError) as error:
        log.warning("mail %s failed: %s", kind, error)
        await mail_log.record(
            db, now=now, kind=kind, recipient=to, subject=subject, message_id="", error=str(error)
        )
        return False
    await mail_log.record(db, now=now, kind=kind, recipient=to, subject=subject, message_id=message_id)
    return True
