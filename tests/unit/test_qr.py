"""QR codes: the SVG and PNG really decode back to the URL."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from services.qr import make_qr_png, make_qr_png_async, make_qr_svg, make_qr_svg_async, qr_matrix

SVG = "{http://www.w3.org/2000/svg}"
URL = "https://tsudoi.example.jp/contact?from=qr&lang=ja"


def decode(image: Image.Image) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(image)]


def rasterize_svg(svg: str, scale: int = 8) -> Image.Image:
    """Draw what the SVG shows: its background rect, then every square of its path."""
    root = ET.fromstring(svg)
    _, _, width, height = (int(float(v)) for v in root.attrib["viewBox"].split())
    image = Image.new("L", (width * scale, height * scale), 128)
    draw = ImageDraw.Draw(image)
    background = root.find(f"{SVG}rect")
    assert background is not None and background.attrib["fill"] == "white"
    draw.rectangle((0, 0, width * scale, height * scale), fill=255)
    path = root.find(f"{SVG}path")
    assert path is not None
    squares = re.findall(r"M(\d+),(\d+)H(\d+)V(\d+)H\d+z", path.attrib["d"])
    assert "".join(f"M{x},{y}H{x2}V{y2}H{x}z" for x, y, x2, y2 in squares) == path.attrib["d"]
    for x, y, x2, y2 in squares:
        draw.rectangle((int(x) * scale, int(y) * scale, int(x2) * scale - 1, int(y2) * scale - 1), fill=0)
    return image


def test_svg_decodes_back_to_the_url() -> None:
    assert decode(rasterize_svg(make_qr_svg(URL))) == [URL]


def test_svg_is_standalone_and_scales_with_a_viewbox() -> None:
    svg = make_qr_svg(URL)
    assert svg.startswith("<svg ")
    assert not svg.startswith("<?xml")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert "viewBox" in root.attrib
    assert "width" not in root.attrib and "height" not in root.attrib
    assert 'id="' not in svg


def test_svg_modules_match_the_qr_matrix() -> None:
    matrix = qr_matrix(URL)
    image = rasterize_svg(make_qr_svg(URL), scale=1)
    assert image.size == (len(matrix), len(matrix))
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            assert (image.getpixel((x, y)) == 0) == dark


def test_svg_title_is_escaped_and_labels_the_image() -> None:
    svg = make_qr_svg(URL, title="お問い合わせ <ページ>")
    root = ET.fromstring(svg)
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "お問い合わせ <ページ>"
    assert root.attrib["role"] == "img"
    assert "<ページ>" not in svg


def test_png_decodes_back_to_the_url() -> None:
    png = make_qr_png(URL)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert decode(Image.open(io.BytesIO(png))) == [URL]


def test_japanese_url_round_trips() -> None:
    url = "https://例え.jp/お問い合わせ"
    assert decode(Image.open(io.BytesIO(make_qr_png(url)))) == [url]


@pytest.mark.parametrize("url", ["", "   ", "https://x.jp/" + "a" * 2100])
def test_empty_or_overlong_url_is_rejected_in_japanese(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        make_qr_svg(url)
    with pytest.raises(ValueError, match="URL"):
        make_qr_png(url)


def test_png_box_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        make_qr_png(URL, box_size=0)


async def test_async_wrappers_return_the_same_codes() -> None:
    assert await make_qr_svg_async(URL) == make_qr_svg(URL)
    assert decode(Image.open(io.BytesIO(await make_qr_png_async(URL)))) == [URL]
