"""The organization's logo and the app icons drawn from it (manifest, favicon, home screen, card).

Without an uploaded logo the icons show a default mark: the first character of the organization's
short name, white on the theme colour, in the Japanese font the PDFs use.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from services.pdf_fonts import JapaneseFontNotFoundError, find_japanese_font

MAX_LOGO_BYTES = 2 * 1024 * 1024
MIN_LOGO_PIXELS = 128
# Far above any logo, far below what would exhaust memory (Pillow's bomb check is a warning by default).
MAX_LOGO_PIXELS = 25_000_000
LOGO_SIZE = 512
ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP", "GIF"}
# The sizes the app serves: manifest (192, 512, 512 maskable), iOS home screen (180), favicon (ICO).
ICON_SIZES = (180, 192, 512)
FAVICON_SIZES = ((16, 16), (32, 32), (48, 48))
THEME_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class LogoError(ValueError):
    """An upload that cannot be a logo; the message is for the admin (Japanese)."""


@dataclass(frozen=True)
class Mark:
    """What an icon is drawn from: the logo (a square PNG), or the default mark's letter and colour."""

    logo_png: bytes | None
    letter: str
    color: str


def valid_theme_color(value: str) -> str | None:
    value = value.strip()
    return value.lower() if THEME_COLOR.match(value) else None


def normalize_logo(data: bytes) -> bytes:
    """The upload as a square 512 px PNG with a transparent margin; raises LogoError for a bad file."""
    if not data:
        raise LogoError("画像ファイルを選んでください。")
    if len(data) > MAX_LOGO_BYTES:
        raise LogoError("画像が大きすぎます（2MBまで）。小さくしてからもう一度お試しください。")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in ACCEPTED_FORMATS:
                    raise LogoError("PNG・JPEG・WebP・GIF の画像を選んでください。")
                width, height = probe.size
                if width * height > MAX_LOGO_PIXELS:
                    raise LogoError("画像の画素数が多すぎます。小さくしてからもう一度お試しください。")
                if min(width, height) < MIN_LOGO_PIXELS:
                    raise LogoError(
                        f"画像が小さすぎます。縦横とも{MIN_LOGO_PIXELS}ピクセル以上の画像を選んでください。"
                    )
                probe.seek(0)
                image = probe.convert("RGBA")
    except LogoError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, Warning):
        raise LogoError("画像として読み込めませんでした。PNG か JPEG の画像を選んでください。") from None
    image.thumbnail((LOGO_SIZE, LOGO_SIZE), Image.Resampling.LANCZOS)
    square = Image.new("RGBA", (LOGO_SIZE, LOGO_SIZE), (255, 255, 255, 0))
    square.paste(image, ((LOGO_SIZE - image.width) // 2, (LOGO_SIZE - image.height) // 2), image)
    out = io.BytesIO()
    square.save(out, "PNG", optimize=True)
    return out.getvalue()


def logo_version(png: bytes) -> str:
    return hashlib.sha256(png).hexdigest()[:10]


def mark_letter(short_name: str) -> str:
    """The default mark's letter: the first visible character of the organization's short name."""
    for ch in short_name.strip():
        if not ch.isspace():
            return ch
    return "集"


def _rgb(color: str) -> tuple[int, int, int]:
    color = valid_theme_color(color) or "#0172ad"
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@lru_cache(maxsize=4)
def _font(size: int, pdf_font: str) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        source = find_japanese_font(pdf_font)
        return ImageFont.truetype(str(source.path), size, index=source.collection_index)
    except (JapaneseFontNotFoundError, OSError):
        return ImageFont.load_default(size)


def _default_mark(letter: str, color: str, size: int, *, maskable: bool, pdf_font: str) -> Image.Image:
    background = _rgb(color)
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:
        # Maskable icons are cropped to a circle or squircle by the launcher: fill the whole square.
        draw.rectangle((0, 0, size, size), fill=background)
    else:
        draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 5, fill=background)
    # The letter stays inside the maskable safe zone (the centre circle of 80 %).
    font = _font(int(size * (0.46 if maskable else 0.58)), pdf_font)
    draw.text((size / 2, size / 2), letter, font=font, fill=(255, 255, 255), anchor="mm")
    return image


def _logo_icon(logo_png: bytes, size: int, *, maskable: bool) -> Image.Image:
    with Image.open(io.BytesIO(logo_png)) as opened:
        logo = opened.convert("RGBA")
    canvas = Image.new("RGBA", (size, size), (255, 255, 255, 255 if maskable else 0))
    inner = int(size * (0.7 if maskable else 1.0))
    logo = logo.resize((inner, inner), Image.Resampling.LANCZOS)
    canvas.paste(logo, ((size - inner) // 2, (size - inner) // 2), logo)
    return canvas


@lru_cache(maxsize=32)
def icon_png(mark: Mark, size: int, *, maskable: bool = False, pdf_font: str = "") -> bytes:
    """An icon of `size` px as PNG (cached: a handful of sizes per mark)."""
    if mark.logo_png is not None:
        image = _logo_icon(mark.logo_png, size, maskable=maskable)
    else:
        image = _default_mark(mark.letter, mark.color, size, maskable=maskable, pdf_font=pdf_font)
    if size == 180:
        # iOS shows touch icons on a black square when they are transparent.
        flat = Image.new("RGBA", image.size, (255, 255, 255, 255))
        flat.alpha_composite(image)
        image = flat
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


@lru_cache(maxsize=8)
def favicon_ico(mark: Mark, pdf_font: str = "") -> bytes:
    with Image.open(io.BytesIO(icon_png(mark, 192, pdf_font=pdf_font))) as image:
        out = io.BytesIO()
        image.save(out, "ICO", sizes=list(FAVICON_SIZES))
        return out.getvalue()
