"""Receipt (領収書) PDFs for paid annual fees."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

import anyio.to_thread
from fpdf import FPDF
from fpdf.enums import Align, TextMode, WrapMode, XPos, YPos

from services.pdf_fonts import add_japanese_font

TaxMode = Literal["outside", "inclusive10"]

_REGISTRATION_NUMBER = re.compile(r"T[0-9]{13}")
_TAX_RATE_PERCENT = 10

_INK = (34, 34, 34)
_MUTED = (96, 96, 96)
_RULE = (150, 150, 150)
_STAMP_RED = (200, 30, 30)


@dataclass(frozen=True, slots=True)
class ReceiptData:
    """What a receipt shows; amounts are whole yen, tax included."""

    receipt_number: str
    issue_date: date
    payer_name: str
    amount: int
    purpose: str
    payment_method: str
    paid_on: date
    issuer_name: str
    issuer_address: str
    issuer_phone: str | None = None
    registration_number: str | None = None
    tax_mode: TaxMode = "outside"
    reissue: bool = False
    # Paid through the sandbox gateway: no money moved, so the receipt is a sample (見本).
    test_payment: bool = False


TEST_PAYMENT_NOTE = "テスト決済による見本です。実際のお支払いはなく、領収書としては使えません。"


def format_japanese_date(value: date) -> str:
    """2026-11-23 -> 2026年11月23日"""
    return f"{value.year}年{value.month}月{value.day}日"


def format_yen(amount: int) -> str:
    """12000 -> ￥12,000 (full-width yen sign, as printed receipts use)."""
    return f"￥{amount:,}"


def consumption_tax_included(amount: int) -> int:
    """The 10% consumption tax contained in a tax-included amount, rounded down once per receipt."""
    # The invoice system allows one rounding per receipt per rate; rounding down is the usual choice.
    return amount * _TAX_RATE_PERCENT // (100 + _TAX_RATE_PERCENT)


def tax_breakdown_line(data: ReceiptData) -> str:
    """The receipt's tax line, e.g. 「10%対象 ￥12,000（内消費税等 ￥1,090）」."""
    if data.tax_mode == "inclusive10":
        tax = consumption_tax_included(data.amount)
        return f"{_TAX_RATE_PERCENT}%対象 {format_yen(data.amount)}（内消費税等 {format_yen(tax)}）"
    return "消費税：不課税（会費は消費税の課税対象外です）"


def _validate(data: ReceiptData) -> None:
    if isinstance(data.amount, bool) or not isinstance(data.amount, int) or data.amount < 0:
        raise ValueError("領収金額は0円以上の整数（円）で指定してください。")
    for label, value in (
        ("領収書番号", data.receipt_number),
        ("宛名", data.payer_name),
        ("但し書き", data.purpose),
        ("支払方法", data.payment_method),
        ("発行者名", data.issuer_name),
    ):
        if not value or not value.strip():
            raise ValueError(f"{label}が空です。{label}を指定してください。")
    if data.tax_mode not in ("outside", "inclusive10"):
        raise ValueError("税区分は「不課税」または「10%税込」のいずれかを指定してください。")
    if data.registration_number is not None and not _REGISTRATION_NUMBER.fullmatch(data.registration_number):
        raise ValueError(
            "適格請求書発行事業者の登録番号は「T」と13桁の数字で指定してください（例：T1234567890123）。"
        )


def _stamp(pdf: FPDF, x: float, y: float, text: str = "再発行", width: float = 26) -> None:
    pdf.set_draw_color(*_STAMP_RED)
    pdf.set_text_color(*_STAMP_RED)
    pdf.set_line_width(0.6)
    pdf.set_font(size=13)
    pdf.set_xy(x, y)
    pdf.cell(width, 10, text, border=1, align=Align.C)
    pdf.set_line_width(0.2)
    pdf.set_draw_color(*_RULE)
    pdf.set_text_color(*_INK)


def _heavy(pdf: FPDF, width: float, height: float, text: str, align: Align) -> None:
    # Only a regular weight is bundled, so headline text is thickened by stroking its outline.
    pdf.text_mode = TextMode.FILL_STROKE
    pdf.set_line_width(0.25)
    pdf.set_draw_color(*_INK)
    pdf.cell(width, height, text, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.text_mode = TextMode.FILL
    pdf.set_line_width(0.2)
    pdf.set_draw_color(*_RULE)


def _build(data: ReceiptData, font: str) -> FPDF:
    _validate(data)
    # A5 landscape is the customary receipt size; printers scale it to A4 when needed.
    pdf = FPDF(orientation="landscape", unit="mm", format=(148, 210))
    pdf.set_margins(14, 12, 14)
    pdf.set_auto_page_break(False)
    pdf.set_title(f"領収書{'（見本）' if data.test_payment else ''} {data.receipt_number}")
    pdf.set_creator("Tsudoi")
    family = add_japanese_font(pdf, font=font)
    pdf.add_page()
    pdf.set_font(family, size=10)
    pdf.set_text_color(*_INK)
    pdf.set_draw_color(*_RULE)
    content_width = pdf.w - pdf.l_margin - pdf.r_margin

    if data.reissue:
        _stamp(pdf, pdf.l_margin, 12)
    if data.test_payment:
        _stamp(pdf, pdf.l_margin + (30 if data.reissue else 0), 12, "見本・テスト決済", 44)
    pdf.set_font(size=9)
    pdf.set_text_color(*_MUTED)
    pdf.set_xy(pdf.l_margin, 12)
    pdf.cell(
        content_width, 5, f"No. {data.receipt_number}", align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.cell(
        content_width,
        5,
        f"発行日 {format_japanese_date(data.issue_date)}",
        align=Align.R,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_text_color(*_INK)

    pdf.set_xy(pdf.l_margin, 20)
    pdf.set_font(size=24)
    _heavy(pdf, content_width, 13, "領 収 書", Align.C)

    # The payer's name sits on a rule, as on a handwritten receipt.
    pdf.set_y(40)
    pdf.set_font(size=15)
    payer_width = content_width * 0.62
    pdf.cell(payer_width - 12, 9, data.payer_name)
    pdf.cell(12, 9, "様", align=Align.R)
    pdf.line(pdf.l_margin, 49.5, pdf.l_margin + payer_width, 49.5)

    # The amount band: shaded box, large figures, the trailing "-" guards against added digits.
    band_y = 55.0
    pdf.set_fill_color(244, 244, 244)
    pdf.rect(pdf.l_margin, band_y, content_width, 17, style="DF")
    pdf.set_xy(pdf.l_margin + 4, band_y)
    pdf.set_font(size=11)
    pdf.cell(22, 17, "金額")
    pdf.set_font(size=24)
    pdf.set_xy(pdf.l_margin, band_y + 2)
    _heavy(pdf, content_width, 13, f"{format_yen(data.amount)}-", Align.C)

    pdf.set_xy(pdf.l_margin, band_y + 20)
    pdf.set_font(size=11)
    pdf.multi_cell(
        content_width,
        6,
        f"但し　{data.purpose}",
        wrapmode=WrapMode.CHAR,
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.cell(content_width, 6, "上記正に領収いたしました。", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    # Lower half: payment details and tax on the left, the issuer on the right.
    lower_y = 98.0
    left_width = content_width * 0.45
    right_x = pdf.l_margin + left_width + 6
    right_width = content_width - left_width - 6
    pdf.line(pdf.l_margin, lower_y - 3, pdf.l_margin + content_width, lower_y - 3)

    pdf.set_xy(pdf.l_margin, lower_y)
    pdf.set_font(size=9)
    for line in (
        f"お支払い方法：{data.payment_method}",
        f"お支払い日：{format_japanese_date(data.paid_on)}",
        tax_breakdown_line(data),
    ):
        pdf.multi_cell(
            left_width, 5.5, line, wrapmode=WrapMode.CHAR, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    pdf.set_xy(right_x, lower_y)
    pdf.set_font(size=12)
    pdf.multi_cell(right_width, 6.5, data.issuer_name, align=Align.L, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(size=9)
    issuer_lines = [data.issuer_address]
    if data.issuer_phone:
        issuer_lines.append(f"TEL {data.issuer_phone}")
    if data.registration_number:
        issuer_lines.append(f"登録番号 {data.registration_number}")
    for line in issuer_lines:
        if line.strip():
            pdf.multi_cell(right_width, 5, line, align=Align.L, new_x=XPos.LEFT, new_y=YPos.NEXT)

    pdf.set_xy(pdf.l_margin, pdf.h - 16)
    pdf.set_font(size=7.5)
    pdf.set_text_color(*_MUTED)
    pdf.cell(content_width, 4, "本領収書は電子的に発行しています。")
    if data.test_payment:
        _sample_marks(pdf, content_width)
    return pdf


def _sample_marks(pdf: FPDF, content_width: float) -> None:
    """A test receipt: a large translucent 見本 across the page and a red line saying why."""
    pdf.set_xy(pdf.l_margin, pdf.h - 22)
    pdf.set_font(size=9)
    pdf.set_text_color(*_STAMP_RED)
    pdf.cell(content_width, 5, TEST_PAYMENT_NOTE)
    center_x, center_y = pdf.w / 2, pdf.h / 2
    with pdf.local_context(fill_opacity=0.18), pdf.rotation(angle=18, x=center_x, y=center_y):
        pdf.set_font(size=110)
        pdf.set_text_color(*_STAMP_RED)
        width = pdf.get_string_width("見本")
        pdf.text(center_x - width / 2, center_y + 18, "見本")
    pdf.set_text_color(*_INK)


def render_receipt_pdf(data: ReceiptData, *, font: str = "") -> bytes:
    """Render one receipt as a one-page PDF (A5 landscape) with the Japanese font embedded
    (`font`: Settings.pdf_font, empty for the bundled one)."""
    return bytes(_build(data, font).output())


async def render_receipt_pdf_async(data: ReceiptData, *, font: str = "") -> bytes:
    """`render_receipt_pdf` in a worker thread, off the event loop."""
    return await anyio.to_thread.run_sync(functools.partial(render_receipt_pdf, data, font=font))
