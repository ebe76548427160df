"""QR codes for URLs (the contact page, the login URL on letters) as SVG or PNG."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET  # noqa: S405  # nosec B405 - only parses markup that qrcode itself built

import anyio.to_thread
import qrcode
import qrcode.constants
import qrcode.image.pil
import qrcode.image.svg

_SVG_NS = "http://www.w3.org/2000/svg"
# Medium error correction survives a smudged printout while keeping the code small.
_ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
# The QR spec asks for a quiet zone of 4 modules; scanners fail more often without it.
_QUIET_ZONE = 4
_MAX_URL_LENGTH = 2000


def _check_url(url: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValueError("QRコードにするURLが空です。URLを指定してください。")
    url = url.strip()
    if len(url) > _MAX_URL_LENGTH:
        raise ValueError(
            f"URLが長すぎるためQRコードにできません（{_MAX_URL_LENGTH}文字以内にしてください）。"
        )
    return url


def _qr(url: str, box_size: int) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=_ERROR_CORRECTION, box_size=box_size, border=_QUIET_ZONE)
    code.add_data(_check_url(url))
    code.make(fit=True)
    return code


def qr_matrix(url: str) -> list[list[bool]]:
    """Return the QR modules for `url` (True = dark), quiet zone included."""
    return [list(row) for row in _qr(url, box_size=1).get_matrix()]


def make_qr_svg(url: str, title: str | None = None) -> str:
    """Return a standalone, scalable SVG QR code for `url` (no XML declaration, white background)."""
    code = _qr(url, box_size=10)
    image = code.make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    root = ET.fromstring(image.to_string(encoding="unicode"))  # noqa: S314  # nosec B314 - our own markup
    # Dropping the fixed mm size lets CSS size the image; the viewBox keeps the proportions.
    for attribute in ("width", "height", "version"):
        root.attrib.pop(attribute, None)
    # Without crisp edges, anti-aliasing draws hairlines between modules that confuse some scanners.
    root.set("shape-rendering", "crispEdges")
    # A fixed id would clash when the SVG is inlined into a page more than once.
    for element in root.iter():
        element.attrib.pop("id", None)
    if title:
        root.set("role", "img")
        title_element = ET.Element(f"{{{_SVG_NS}}}title")
        title_element.text = title
        root.insert(0, title_element)
    ET.register_namespace("", _SVG_NS)
    return ET.tostring(root, encoding="unicode")


def make_qr_png(url: str, box_size: int = 10) -> bytes:
    """Return a PNG QR code for `url`, `box_size` pixels per module."""
    if box_size < 1:
        raise ValueError("QRコードの1マスの大きさは1ピクセル以上にしてください。")
    image = _qr(url, box_size=box_size).make_image(image_factory=qrcode.image.pil.PilImage)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def make_qr_svg_async(url: str, title: str | None = None) -> str:
    """`make_qr_svg` in a worker thread, off the event loop."""
    return await anyio.to_thread.run_sync(make_qr_svg, url, title)


async def make_qr_png_async(url: str, box_size: int = 10) -> bytes:
    """`make_qr_png` in a worker thread, off the event loop."""
    return await anyio.to_thread.run_sync(make_qr_png, url, box_size)
