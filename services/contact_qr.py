"""The contact page's QR code: made off the event loop, kept in memory, remade when the base URL changes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from services.context import AppContext
from services.qr import make_qr_svg_async

QR_TITLE = "お問い合わせページのQRコード"


@dataclass(frozen=True)
class ContactQr:
    url: str
    svg: str
    etag: str
    # Goes into the image's URL on the page, so a new code is fetched as soon as the URL changes.
    version: str


def contact_url(app: AppContext) -> str:
    """The public contact URL, on the base URL in use (TSUDOI_BASE_URL when set, else the console's)."""
    base = app.settings.base_url.rstrip("/")
    return f"{base}/contact"


async def refresh_contact_qr(app: AppContext) -> ContactQr:
    """Make the code now (worker thread) and cache it: called at start and whenever the base URL changes."""
    url = contact_url(app)
    svg = await make_qr_svg_async(url, title=QR_TITLE)
    digest = hashlib.sha256(svg.encode()).hexdigest()
    qr = ContactQr(url=url, svg=svg, etag=f'"{digest[:32]}"', version=digest[:12])
    app.contact_qr = qr
    return qr


def cached_contact_qr(app: AppContext) -> ContactQr | None:
    return app.contact_qr


async def contact_qr(app: AppContext) -> ContactQr:
    """The cached code, remade first if the base URL changed since it was made (or it was never made)."""
    cached = cached_contact_qr(app)
    if cached is not None and cached.url == contact_url(app):
        return cached
    return await refresh_contact_qr(app)
