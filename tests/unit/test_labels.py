"""Address label sheets: every label's text inside its own label on the sheet, 12 or 24 a page."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from services.labels import LAYOUTS, AddressLabel, render_address_labels


def runs(pdf: bytes, page_number: int = 0) -> list[tuple[str, float, float]]:
    page = PdfReader(io.BytesIO(pdf)).pages[page_number]
    height = float(page.mediabox.height)
    found: list[tuple[str, float, float]] = []

    def visit(text, cm, tm, font_dict, font_size):  # noqa: ANN001
        if text.strip():
            x, y = tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5]
            found.append((re.sub(r"[\s\x00]+", "", text), x * 25.4 / 72, (height - y) * 25.4 / 72))

    page.extract_text(visitor_text=visit)
    return found


@pytest.mark.parametrize("key", ["12", "24"])
def test_each_label_prints_inside_its_own_rectangle(key: str) -> None:
    layout = LAYOUTS[key]
    labels = [
        AddressLabel(
            "1000001", ["東京都千代田区千代田1-1-1", "つどいマンション101号室"], f"会員{n:02d}", f"{n:06d}"
        )
        for n in range(layout.per_sheet + 1)
    ]
    pdf = render_address_labels(labels, key)
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 2
    for n in range(layout.per_sheet):
        row, column = divmod(n, layout.columns)
        left = layout.left + column * (layout.width + layout.gap_x)
        top = layout.top + row * (layout.height + layout.gap_y)
        name_x, name_y = next((x, y) for text, x, y in runs(pdf) if text.startswith(f"会員{n:02d}"))
        assert left < name_x < left + layout.width, (key, n)
        assert top < name_y < top + layout.height, (key, n)
        postal_y = next(
            y
            for text, x, y in runs(pdf)
            if text.startswith("〒100-0001")
            and left < x < left + layout.width
            and top < y < top + layout.height
        )
        assert postal_y < name_y
    assert "会員" + f"{layout.per_sheet:02d}" in "".join(text for text, _, _ in runs(pdf, 1))


def test_the_sheet_fits_a4() -> None:
    for layout in LAYOUTS.values():
        assert layout.left * 2 + layout.columns * layout.width + (layout.columns - 1) * layout.gap_x <= 210.01
        assert layout.top + layout.rows * layout.height + (layout.rows - 1) * layout.gap_y <= 297


def test_no_labels_is_refused_in_japanese() -> None:
    with pytest.raises(ValueError, match="選ばれていません"):
        render_address_labels([], "12")
