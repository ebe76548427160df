"""Images for the contact-form tests: real PNG/JPEG screenshots with metadata, and files that only pretend."""

from __future__ import annotations

import io

from PIL import Image, PngImagePlugin


def png_bytes(size: tuple[int, int] = (390, 300), *, text: str | None = "secret-note") -> bytes:
    image = Image.new("RGB", size, (240, 244, 248))
    for x in range(0, size[0], 7):
        image.putpixel((x, size[1] // 2), (180, 0, 32))
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Comment", text)
        info.add_text("Author", "Hanako Yamada")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (320, 200), (20, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "ExamplePhone"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° CW to display
    gps = {1: "N", 2: (35.0, 40.0, 0.0), 3: "E", 4: (139.0, 45.0, 0.0)}
    exif[0x8825] = gps
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), comment=b"private comment")
    return buffer.getvalue()


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("P", (40, 40)).save(buffer, format="GIF")
    return buffer.getvalue()


def oversized_png() -> bytes:
    """A genuine PNG header followed by noise, a little over 5 MB."""
    return png_bytes((64, 64), text=None) + b"\0" * (5 * 1024 * 1024)
