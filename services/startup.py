"""Background work started with the app (the scheduler), switched off by TSUDOI_SCHEDULER=off."""

from __future__ import annotations

import logging

from services.context import AppContext
from services.setup import announce as announce_setup

log = logging.getLogger("tsudoi.startup")


async def start_background(ctx: AppContext) -> None:
    await announce_setup(ctx)  # first start: prints the one-time /setup URL (services/setup.py)
    if not ctx.settings.scheduler:
        log.info("scheduler is off")
        return


async def stop_background(ctx: AppContext) -> None:
    return None
