"""Background work started with the app (the scheduler), switched off by TSUDOI_SCHEDULER=off."""

from __future__ import annotations

import logging

from services.context import AppContext
from services.scheduler import start_scheduler, stop_scheduler
from services.setup import announce as announce_setup

log = logging.getLogger("tsudoi.startup")


async def start_background(ctx: AppContext) -> None:
    await announce_setup(ctx)  # first start: prints the one-time /setup URL (services/setup.py)
    if not ctx.settings.scheduler:
        log.info("scheduler is off")
        return
    # The first tick resumes unfinished digest runs and catches up a window missed while the app was down.
    await start_scheduler(ctx)


async def stop_background(ctx: AppContext) -> None:
    await stop_scheduler(ctx)
