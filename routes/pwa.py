"""The installable app: web app manifest, service worker, offline page, favicon and icons.

All public (no login): the browser fetches them before anyone signs in. Nothing here carries personal
data; the membership card (routes/card.py) is the only member page the service worker keeps.
"""

from __future__ import annotations

import functools
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import app_card
from services import app_icons
from services.context import AppContext

SW_SOURCE = Path(__file__).resolve().parent.parent / "static" / "sw.js"
# Icon URLs carry ?v=<icon version>: a changed logo or colour is a new URL, so a day's caching is safe.
ICON_CACHE = "public, max-age=86400"
MANIFEST_DESCRIPTION = "会員向けの新着記事、会費のお支払い、会員証をスマートフォンからご利用いただけます。"


@lru_cache(maxsize=1)
def _sw_template() -> str:
    return SW_SOURCE.read_text(encoding="utf-8")


def _static_version(app_ctx: AppContext) -> str:
    return str(app_ctx.templates.globals.get("static_version", ""))


def shell_files(app_ctx: AppContext) -> list[str]:
    """What the service worker stores at install: the offline page and what it needs to look right."""
    static = _static_version(app_ctx)
    icons = app_ctx.org.icon_version
    return [
        "/offline",
        f"/static/vendor/pico-2.1.1/pico.min.css?v={static}",
        f"/static/app.css?v={static}",
        f"/static/vendor/htmx-2.0.11/htmx.min.js?v={static}",
        f"/static/app.js?v={static}",
        f"/static/js/pwa.js?v={static}",
        f"/icons/icon-192.png?v={icons}",
    ]


async def current_mark(app_ctx: AppContext) -> app_icons.Mark:
    org = app_ctx.org
    logo = await app_card.logo_png(app_ctx.db) if org.logo_version else None
    return app_icons.Mark(logo, app_icons.mark_letter(org.short_name), org.theme_color)


async def _icon(app_ctx: AppContext, mark: app_icons.Mark, size: int, *, maskable: bool) -> bytes:
    # Drawing takes a few milliseconds the first time (then cached): off the event loop.
    return await anyio.to_thread.run_sync(
        functools.partial(
            app_icons.icon_png, mark, size, maskable=maskable, pdf_font=app_ctx.settings.pdf_font
        )
    )


def _png(body: bytes) -> Response[bytes]:
    return Response(body, media_type="image/png", headers={"Cache-Control": ICON_CACHE})


class PwaController(Controller):
    path = "/"

    @get("/manifest.webmanifest")
    async def manifest(self, app_ctx: AppContext) -> Response[bytes]:
        org = app_ctx.org
        version = org.icon_version

        def icon(size: int, name: str, purpose: str) -> dict[str, str]:
            return {
                "src": f"/icons/{name}.png?v={version}",
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": purpose,
            }

        body = {
            "id": "/mypage",
            "name": org.org_name,
            "short_name": org.short_name[:12],
            "description": MANIFEST_DESCRIPTION,
            "lang": "ja",
            "dir": "ltr",
            "start_url": "/mypage",
            "scope": "/",
            "display": "standalone",
            "orientation": "portrait",
            "background_color": "#ffffff",
            "theme_color": org.theme_color,
            "icons": [
                icon(192, "icon-192", "any"),
                icon(512, "icon-512", "any"),
                icon(512, "maskable-512", "maskable"),
            ],
        }
        return Response(
            json.dumps(body, ensure_ascii=False).encode(),
            media_type="application/manifest+json",
            headers={"Cache-Control": "no-cache"},
        )

    @get("/sw.js")
    async def service_worker(self, app_ctx: AppContext) -> Response[str]:
        version = f"{_static_version(app_ctx)}-{app_ctx.org.icon_version}"
        script = (
            _sw_template()
            .replace('"__VERSION__"', json.dumps(version))
            .replace("__SHELL_FILES__", json.dumps(shell_files(app_ctx)))
        )
        # Always revalidated, so a new release reaches every phone on its next visit.
        return Response(
            script, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"}
        )

    @get("/offline")
    async def offline(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        # Rendered without the session: the service worker keeps this page for everyone on the phone.
        context: dict[str, Any] = {
            "org": app_ctx.org,
            "me": None,
            "auth": None,
            "nav": [],
            "admin_nav": [],
            "current_path": "/offline",
            "flash": None,
            "base_url": app_ctx.settings.base_url,
        }
        return Template("pwa/offline.html", context=context, headers={"Cache-Control": "no-cache"})

    @get("/favicon.ico")
    async def favicon(self, app_ctx: AppContext) -> Response[bytes]:
        ico = await anyio.to_thread.run_sync(
            app_icons.favicon_ico, await current_mark(app_ctx), app_ctx.settings.pdf_font
        )
        return Response(ico, media_type="image/x-icon", headers={"Cache-Control": ICON_CACHE})

    @get(["/apple-touch-icon.png", "/apple-touch-icon-precomposed.png"])
    async def apple_touch_icon(self, app_ctx: AppContext) -> Response[bytes]:
        return _png(await _icon(app_ctx, await current_mark(app_ctx), 180, maskable=False))

    @get("/icons/{name:str}")
    async def icon(self, app_ctx: AppContext, name: str) -> Response[Any]:
        mark = await current_mark(app_ctx)
        if name == "theme.css":
            # The organization's colour for the membership card (inline styles are not allowed by the CSP).
            css = f":root {{ --tsudoi-theme: {app_ctx.org.theme_color}; }}\n"
            return Response(css, media_type="text/css; charset=utf-8", headers={"Cache-Control": ICON_CACHE})
        if name == "logo.png":
            if mark.logo_png is None:
                raise NotFoundException()
            return _png(mark.logo_png)
        sizes = {"icon-192.png": (192, False), "icon-512.png": (512, False), "maskable-512.png": (512, True)}
        if name not in sizes:
            raise NotFoundException()
        size, maskable = sizes[name]
        return _png(await _icon(app_ctx, mark, size, maskable=maskable))
