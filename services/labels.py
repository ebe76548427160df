"""Address labels (宛名ラベル): A4 sheets of 12 or 24 labels for any selection of members, as one PDF.

The layouts follow the common Japanese label sheets sold for printers (エーワン and compatible products;
check the product's dimensions against `LAYOUTS` and print at 100 %, "actual size"):

- 12面: 2 × 6 labels of 86.4 × 42.3 mm, 21.5 mm from the top and 18.6 mm from the left (e.g. エーワン 72212).
- 24面: 3 × 8 labels of 70.0 × 33.9 mm with no side margins, 12.9 mm from the top (e.g. エーワン 72324).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos

from services.pdf_fonts import add_japanese_font

_INK = (34, 34, 34)
_MUTED = (96, 96, 96)


@dataclass(frozen=True, slots=True)
class LabelLayout:
    title: str
    columns: int
    rows: int
    width: float
    height: float
    left: float
    top: float
    gap_x: float = 0.0
    gap_y: float = 0.0
    padding: float = 4.0

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows


LAYOUTS: dict[str, LabelLayout] = {
    "12": LabelLayout(
        "A4 12面（86.4×42.3mm、エーワン 72212 など）", 2, 6, 86.4, 42.3, 18.6, 21.5, padding=5.0
    ),
    "24": LabelLayout("A4 24面（70×33.9mm、エーワン 72324 など）", 3, 8, 70.0, 33.9, 0.0, 12.9, padding=4.5),
}


@dataclass(frozen=True, slots=True)
class AddressLabel:
    postal_code: str
    address_lines: Sequence[str]
    name: str
    member_number: str = ""


def label_for(row: sqlite3.Row | Mapping[str, Any]) -> AddressLabel:
    """A member row (postal_code, prefecture, address1, address2, names, number) as a label."""
    return AddressLabel(
        postal_code=str(row["postal_code"] or ""),
        address_lines=[f"{row['prefecture'] or ''}{row['address1'] or ''}", str(row["address2"] or "")],
        name=f"{row['family_name'] or ''} {row['given_name'] or ''}".strip() or str(row["member_number"]),
        member_number=str(row["member_number"]),
    )


def has_address(label: AddressLabel) -> bool:
    return any(line.strip() for line in label.address_lines)


def _postal_code_text(code: str) -> str:
    digits = "".join(ch for ch in code if ch.isdigit())
    return f"〒{digits[:3]}-{digits[3:]}" if len(digits) == 7 else (f"〒{code}" if code else "")


def _fit(pdf: FPDF, text: str, width: float, largest: float, smallest: float) -> None:
    size = largest
    pdf.set_font(size=size)
    while size > smallest and pdf.get_string_width(text) > width:
        size -= 0.5
        pdf.set_font(size=size)


def _label(pdf: FPDF, layout: LabelLayout, x: float, y: float, label: AddressLabel) -> None:
    small = layout.height < 38
    inner = layout.width - 2 * layout.padding
    left = x + layout.padding
    pdf.set_xy(left, y + layout.padding - 0.5)
    pdf.set_text_color(*_INK)
    if label.postal_code:
        pdf.set_font(size=8.5 if small else 10)
        pdf.cell(
            inner, 4.2 if small else 5, _postal_code_text(label.postal_code), new_x=XPos.LEFT, new_y=YPos.NEXT
        )
    for line in [line for line in label.address_lines if line.strip()][:3]:
        _fit(pdf, line, inner, 8.5 if small else 10, 7)
        # Still too long at 7 pt: wrap onto a second line rather than print it too small to read.
        pdf.multi_cell(
            inner,
            3.5 if small else 4.5,
            line,
            wrapmode=WrapMode.CHAR,
            max_line_height=4.8,
            new_x=XPos.LEFT,
            new_y=YPos.NEXT,
        )
    name = f"{label.name} 様"
    name_height = 6 if small else 7.5
    number_height = 3.5 if label.member_number else 0
    name_top = y + layout.height - layout.padding - name_height - number_height
    pdf.set_xy(left, max(pdf.get_y() + 0.5, name_top))
    _fit(pdf, name, inner, 11.5 if small else 14, 6)
    pdf.cell(inner, name_height, name, new_x=XPos.LEFT, new_y=YPos.NEXT)
    if label.member_number:
        pdf.set_font(size=6.5)
        pdf.set_text_color(*_MUTED)
        pdf.cell(inner, number_height, f"会員番号 {label.member_number}", new_x=XPos.LEFT, new_y=YPos.NEXT)


def render_address_labels(labels: Sequence[AddressLabel], layout_key: str, *, font: str = "") -> bytes:
    """The labels in order, filling each sheet row by row (`font`: Settings.pdf_font)."""
    if not labels:
        raise ValueError("ラベルを作成する会員が選ばれていません。")
    layout = LAYOUTS[layout_key]
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(0, 0, 0)
    pdf.set_auto_page_break(False)
    pdf.set_title("宛名ラベル")
    pdf.set_creator("Tsudoi")
    family = add_japanese_font(pdf, font=font)
    pdf.set_font(family, size=10)
    for index, label in enumerate(labels):
        slot = index % layout.per_sheet
        if slot == 0:
            pdf.add_page()
        row, column = divmod(slot, layout.columns)
        x = layout.left + column * (layout.width + layout.gap_x)
        y = layout.top + row * (layout.height + layout.gap_y)
        _label(pdf, layout, x, y, label)
    return bytes(pdf.output())


async def render_address_labels_async(
    labels: Sequence[AddressLabel], layout_key: str, *, font: str = ""
) -> bytes:
    """`render_address_labels` in a worker thread, off the event loop."""
    return await anyio.to_thread.run_sync(
        functools.partial(render_address_labels, labels, layout_key, font=font)
    )
