"""Background work started with the app (the scheduler), switched off by TSUDOI_SCHEDULER=off."""

from __future__ import annotations

import logging

from services.context import AppContext
from services.scheduler import start_scheduler, stop_scheduler
from services.setup import announce as announce_setup

log = logging.getLogger("tsudoi.startup")


async def start_background(ctx: AppContext) -> None:
    await announce_setup(ctx)  # first start: prints the one-time /setup URL (services/setup.py)
    warn_if_mail_is_not_sent(ctx)
    if not ctx.settings.scheduler:
        log.info("scheduler is off")
        return
    # The first tick resumes unfinished digest runs and catches up a window missed while the app was down.
    await start_scheduler(ctx)


def warn_if_mail_is_not_sent(ctx: AppContext) -> bool:
    if ctx.settings.smtp_url:
        return False
    log.warning(
        "メールは送信されていません: TSUDOI_SMTP_URL が未設定のため、メールは %s にファイルとして保存されるだけです。"
        "TSUDOI_SMTP_URL=smtp://user:pass@smtp.example.jp:587 を設定して再起動してください / "
        "mail is NOT sent: TSUDOI_SMTP_URL is unset, mails are only written to %s",
        ctx.settings.outbox_dir,
        ctx.settings.outbox_dir,
    )
    return True


async def stop_background(ctx: AppContext) -> None:
    await stop_scheduler(ctx)
