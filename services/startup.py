"""Background work started with the app (the scheduler), switched off by TSUDOI_SCHEDULER=off."""

from __future__ import annotations

import logging

from services.context import AppContext

log = logging.getLogger("tsudoi.startup")


async def start_background(ctx: AppContext) -> None:
    if not ctx.settings.scheduler:
        log.info("scheduler is off")
        return


async def stop_background(ctx: AppContext) -> None:
    return None
