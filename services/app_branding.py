"""The console's app and logo settings: the logo upload and the theme colour (no HTTP here)."""

from __future__ import annotations

import anyio.to_thread

from db import app_card, audit
from services import app_icons
from services.context import AppContext


async def save_logo(app: AppContext, upload: bytes, *, actor_id: int, ip: str = "") -> None:
    """Store the upload as the logo; raises app_icons.LogoError with a message for the admin."""
    png = await anyio.to_thread.run_sync(app_icons.normalize_logo, upload)
    await app_card.put_logo(app.db, png, now=app.clock.now())
    version = app_icons.logo_version(png)
    await app.update_org({"logo_version": version})
    await audit.record(
        app.db,
        "app.logo_updated",
        now=app.clock.now(),
        actor_member_id=actor_id,
        ip=ip,
        detail={"version": version},
    )


async def remove_logo(app: AppContext, *, actor_id: int, ip: str = "") -> bool:
    if not app.org.logo_version:
        return False
    await app_card.delete_logo(app.db)
    await app.update_org({"logo_version": ""})
    await audit.record(app.db, "app.logo_removed", now=app.clock.now(), actor_member_id=actor_id, ip=ip)
    return True


async def save_theme_color(app: AppContext, raw: str, *, actor_id: int, ip: str = "") -> str | None:
    """Store the colour; returns an error message (Japanese) for a bad value."""
    color = app_icons.valid_theme_color(raw)
    if color is None:
        return "色は #1a73e8 のように、# に続く16進数6桁で入力してください。"
    if color != app.org.theme_color:
        before = app.org.theme_color
        await app.update_org({"theme_color": color})
        await audit.record(
            app.db,
            "settings.updated",
            now=app.clock.now(),
            actor_member_id=actor_id,
            ip=ip,
            detail={"changed": {"theme_color": [before, color]}},
        )
    return None
