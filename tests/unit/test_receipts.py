"""Receipt PDFs: Japanese text embedded and extractable, tax lines, the 再発行 mark."""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from services.pdf_fonts import JapaneseFontNotFoundError, find_japanese_font
from services.receipts import (
    ReceiptData,
    consumption_tax_included,
    format_japanese_date,
    render_receipt_pdf,
    render_receipt_pdf_async,
)
from services.settings import get_settings

RECEIPT = ReceiptData(
    receipt_number="R-2026-000123",
    issue_date=date(2026, 11, 23),
    payer_name="山田 太郎",
    amount=12000,
    purpose="2026年度 年会費として",
    payment_method="クレジットカード",
    paid_on=date(2026, 11, 20),
    issuer_name="一般社団法人 日本サンプル協会",
    issuer_address="〒100-0001 東京都千代田区千代田1-1-1 サンプルビル3階",
    issuer_phone="03-1234-5678",
)


def pdf_text(pdf: bytes) -> str:
    """The PDF's text without whitespace and NULs.

    fpdf2 embeds CFF fonts with an embedded two-byte CMap that pypdf reads one byte at a time,
    so it puts a NUL (and sometimes a space) between glyphs; poppler's pdftotext reads it cleanly.
    """
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"[\s\x00]+", "", "".join(page.extract_text() for page in reader.pages))


def test_receipt_shows_the_japanese_receipt_fields() -> None:
    pdf = render_receipt_pdf(RECEIPT)
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    for expected in (
        "領収書",
        "R-2026-000123",
        "発行日2026年11月23日",
        "山田太郎",
        "様",
        "￥12,000-",
        "2026年度年会費として",
        "上記正に領収いたしました。",
        "お支払い方法：クレジットカード",
        "お支払い日：2026年11月20日",
        "一般社団法人日本サンプル協会",
        "東京都千代田区千代田1-1-1",
        "03-1234-5678",
    ):
        assert expected in text, expected
    assert "再発行" not in text
    assert "登録番号" not in text


def test_receipt_is_one_page_with_the_font_embedded() -> None:
    reader = PdfReader(io.BytesIO(render_receipt_pdf(RECEIPT)))
    assert len(reader.pages) == 1
    resources: Any = reader.pages[0]["/Resources"]
    for font in resources["/Font"].values():
        descendant = font.get_object()["/DescendantFonts"][0].get_object()
        descriptor = descendant["/FontDescriptor"].get_object()
        assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))


def test_second_download_is_marked_reissued() -> None:
    text = pdf_text(render_receipt_pdf(dataclasses.replace(RECEIPT, reissue=True)))
    assert "再発行" in text


def test_invoice_registration_number_and_inclusive_tax_line() -> None:
    receipt = dataclasses.replace(RECEIPT, registration_number="T1234567890123", tax_mode="inclusive10")
    text = pdf_text(render_receipt_pdf(receipt))
    assert "登録番号T1234567890123" in text
    assert "10%対象￥12,000（内消費税等￥1,090）" in text


def test_membership_fee_outside_tax_says_not_taxable() -> None:
    text = pdf_text(render_receipt_pdf(dataclasses.replace(RECEIPT, registration_number="T1234567890123")))
    assert "不課税" in text
    assert "内消費税等" not in text


@pytest.mark.parametrize(
    ("amount", "tax"), [(12000, 1090), (11000, 1000), (110, 10), (109, 9), (1, 0), (0, 0)]
)
def test_included_consumption_tax_is_rounded_down(amount: int, tax: int) -> None:
    assert consumption_tax_included(amount) == tax


def test_japanese_date_format() -> None:
    assert format_japanese_date(date(2026, 1, 5)) == "2026年1月5日"


@pytest.mark.parametrize(
    "registration_number",
    ["1234567890123", "T123456789012", "T12345678901234", "t1234567890123", "T１２３", "T" + "１" * 13],
)
def test_malformed_registration_number_is_rejected(registration_number: str) -> None:
    with pytest.raises(ValueError, match="登録番号"):
        render_receipt_pdf(dataclasses.replace(RECEIPT, registration_number=registration_number))


@pytest.mark.parametrize("amount", [-1, 1.5, True])
def test_amount_must_be_whole_non_negative_yen(amount: object) -> None:
    with pytest.raises(ValueError, match="金額"):
        render_receipt_pdf(dataclasses.replace(RECEIPT, amount=amount))  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["payer_name", "purpose", "issuer_name", "receipt_number"])
def test_blank_required_field_is_rejected(field: str) -> None:
    with pytest.raises(ValueError, match="指定してください"):
        render_receipt_pdf(dataclasses.replace(RECEIPT, **{field: "  "}))  # type: ignore[arg-type]


def test_unknown_tax_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="税区分"):
        render_receipt_pdf(dataclasses.replace(RECEIPT, tax_mode="exclusive8"))  # type: ignore[arg-type]


async def test_async_render_produces_the_same_receipt() -> None:
    assert "領収書" in pdf_text(await render_receipt_pdf_async(RECEIPT))


def test_font_from_the_setting_wins(tmp_path: Path) -> None:
    copy = tmp_path / "mine.otf"
    copy.write_bytes(find_japanese_font().path.read_bytes())
    assert find_japanese_font(str(copy)).path == copy
    settings = get_settings({"TSUDOI_DATABASE": str(tmp_path / "t.sqlite3"), "TSUDOI_PDF_FONT": f" {copy} "})
    assert find_japanese_font(settings.pdf_font).path == copy
    assert "領収書" in pdf_text(render_receipt_pdf(RECEIPT, font=settings.pdf_font))


def test_missing_font_in_environment_variable_falls_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert find_japanese_font(str(tmp_path / "missing.ttf")).path.is_file()


def test_no_font_anywhere_raises_a_japanese_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.pdf_fonts._packaged_font", lambda: None)
    monkeypatch.setattr("services.pdf_fonts._SYSTEM_FONTS", ())
    with pytest.raises(JapaneseFontNotFoundError, match="日本語フォント"):
        find_japanese_font()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is not installed")
def test_receipt_renders_to_an_image(tmp_path: Path) -> None:
    receipt = dataclasses.replace(
        RECEIPT, registration_number="T1234567890123", tax_mode="inclusive10", reissue=True
    )
    source = tmp_path / "receipt.pdf"
    source.write_bytes(render_receipt_pdf(receipt))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-singlefile", str(source), str(tmp_path / "receipt")],
        check=True,
        timeout=60,
    )
    assert (tmp_path / "receipt.png").stat().st_size > 1000
