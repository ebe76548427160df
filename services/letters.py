"""Initial-password letters (初期パスワードのお知らせ): one A4 page per member, as one PDF."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import anyio.to_thread
from fpdf import FPDF
from fpdf.enums import Align, WrapMode, XPos, YPos

from services.pdf_fonts import add_japanese_font
from services.qr import make_qr_png
from services.receipts import format_japanese_date

FIRST_LOGIN_STEPS: tuple[tuple[str, str], ...] = (
    ("ログイン画面を開く", "上のURLを入力するか、QRコードをスマートフォンで読み取ってください。"),
    (
        "会員番号と初期パスワードを入力",
        "会員番号（ログインID）は先頭の0も含めて入力します。パスワードは大文字・小文字を区別します。",
    ),
    ("新しいパスワードに変更", "初回ログイン時は、ご自身で決めた新しいパスワードへの変更が必要です。"),
    ("会員情報を確認", "ご登録の氏名・連絡先などに誤りがないかご確認ください。"),
)

_INK = (34, 34, 34)
_MUTED = (96, 96, 96)
_RULE = (150, 150, 150)
_BOX_FILL = (246, 246, 246)
# Ten characters a row keeps each box wide enough for a reading such as 「(小文字)」.
_CHARS_PER_ROW = 10


@dataclass(frozen=True, slots=True)
class LetterData:
    """One member's letter; `readings` pairs each password character with its reading, in order."""

    organization_name: str
    member_name: str
    member_number: str
    initial_password: str
    readings: Sequence[tuple[str, str]]
    login_url: str
    issued_on: date | None = None


def _validate(letter: LetterData) -> None:
    for label, value in (
        ("団体名", letter.organization_name),
        ("氏名", letter.member_name),
        ("会員番号", letter.member_number),
        ("初期パスワード", letter.initial_password),
        ("ログインURL", letter.login_url),
    ):
        if not value or not value.strip():
            raise ValueError(f"{label}が空です。{label}を指定してください。")
    characters = "".join(character for character, _ in letter.readings)
    if characters != letter.initial_password or any(len(c) != 1 for c, _ in letter.readings):
        raise ValueError(
            f"会員番号 {letter.member_number} のパスワードの読みが初期パスワードと一致しません。"
            "1文字ずつ読みを指定してください。"
        )


def _split_reading(reading: str) -> tuple[str, str]:
    # 「エル(小文字)」 reads best as two lines: the name, then the qualifier.
    for opening in ("(", "（"):
        head, found, tail = reading.partition(opening)
        if found and head:
            return head.strip(), found + tail
    return reading, ""


def _reading_lines(pdf: FPDF, reading: str, width: float) -> tuple[str, str]:
    first, second = _split_reading(reading)
    pdf.set_font(size=6)
    if not second and pdf.get_string_width(first) > width:
        # A long reading such as エクスクラメーション stays legible on two lines, not in tiny type.
        middle = (len(first) + 1) // 2
        return first[:middle], first[middle:]
    return first, second


def _fit_font_size(pdf: FPDF, text: str, width: float, largest: float, smallest: float) -> float:
    size = largest
    while size > smallest:
        pdf.set_font(size=size)
        if pdf.get_string_width(text) <= width:
            break
        size -= 0.5
    return size


def _password_grid(pdf: FPDF, letter: LetterData, top: float, content_width: float) -> float:
    """Draw the password one character per box with its reading beneath; return the y below it."""
    readings = list(letter.readings)
    per_row = min(_CHARS_PER_ROW, len(readings))
    box_width = min(17.0, content_width / per_row)
    grid_left = pdf.l_margin + (content_width - box_width * per_row) / 2
    index_height, char_height, reading_height = 4.0, 13.0, 9.0
    row_height = index_height + char_height + reading_height + 3
    y = top
    for row_start in range(0, len(readings), per_row):
        for column, (character, reading) in enumerate(readings[row_start : row_start + per_row]):
            x = grid_left + column * box_width
            pdf.set_text_color(*_MUTED)
            pdf.set_font(size=7)
            pdf.set_xy(x, y)
            pdf.cell(box_width, index_height, str(row_start + column + 1), align=Align.C)
            pdf.set_text_color(*_INK)
            pdf.set_fill_color(*_BOX_FILL)
            pdf.rect(x, y + index_height, box_width, char_height + reading_height, style="DF")
            pdf.set_font(size=22)
            pdf.set_xy(x, y + index_height)
            # A space would leave the box looking empty; the reading below still says スペース.
            pdf.cell(box_width, char_height, "␣" if character == " " else character, align=Align.C)
            for line_number, line in enumerate(_reading_lines(pdf, reading, box_width - 1)):
                if not line:
                    continue
                _fit_font_size(pdf, line, box_width - 1, 7.5, 4.5)
                pdf.set_xy(x, y + index_height + char_height + line_number * 4)
                pdf.cell(box_width, 4, line, align=Align.C)
        y += row_height
    return y


def _page(pdf: FPDF, letter: LetterData) -> None:
    pdf.add_page()
    content_width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_text_color(*_INK)
    pdf.set_draw_color(*_RULE)

    pdf.set_font(size=9)
    pdf.set_text_color(*_MUTED)
    if letter.issued_on is not None:
        pdf.cell(content_width, 5, format_japanese_date(letter.issued_on), align=Align.R)
    pdf.set_xy(pdf.l_margin, pdf.t_margin)
    pdf.cell(content_width, 5, letter.organization_name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*_INK)

    pdf.ln(6)
    pdf.set_font(size=13)
    pdf.cell(content_width, 8, f"{letter.member_name} 様", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font(size=20)
    pdf.cell(
        content_width, 11, "初期パスワードのお知らせ", align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.ln(3)
    pdf.set_font(size=10)
    pdf.multi_cell(
        content_width,
        5.5,
        f"{letter.organization_name}のマイページをご利用いただくためのログイン情報をお知らせします。"
        "初回ログイン時にパスワードの変更をお願いいたします。",
        wrapmode=WrapMode.CHAR,
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(4)

    pdf.set_font(size=10)
    pdf.cell(48, 9, "ログインID（会員番号）")
    pdf.set_font(size=18)
    pdf.cell(content_width - 48, 9, letter.member_number, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font(size=10)
    pdf.cell(content_width, 7, "初期パスワード", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    y = _password_grid(pdf, letter, pdf.get_y() + 1, content_width)
    pdf.set_xy(pdf.l_margin, y)
    pdf.set_font(size=8.5)
    pdf.set_text_color(*_MUTED)
    pdf.multi_cell(
        content_width,
        4.5,
        "文字の下に読み方を記載しています。大文字と小文字、数字と英字を区別して入力してください。",
        wrapmode=WrapMode.CHAR,
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_text_color(*_INK)
    pdf.ln(6)

    # The URL and its QR code side by side, so members on phones can skip typing the URL.
    qr_size = 34.0
    block_top = pdf.get_y()
    text_width = content_width - qr_size - 6
    pdf.set_font(size=10)
    pdf.cell(text_width, 6, "ログイン画面", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(size=12)
    pdf.multi_cell(
        text_width,
        6.5,
        letter.login_url,
        wrapmode=WrapMode.CHAR,
        align=Align.L,
        link=letter.login_url,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.image(
        io.BytesIO(make_qr_png(letter.login_url, box_size=8)),
        x=pdf.l_margin + content_width - qr_size,
        y=block_top,
        w=qr_size,
        h=qr_size,
    )
    pdf.set_y(max(pdf.get_y(), block_top + qr_size) + 6)

    pdf.set_font(size=11)
    pdf.cell(content_width, 7, "はじめてのログインの手順", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + content_width, pdf.get_y())
    pdf.ln(2)
    for number, (step, detail) in enumerate(FIRST_LOGIN_STEPS, start=1):
        pdf.set_font(size=11)
        pdf.cell(content_width, 6.5, f"{number}. {step}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(size=9)
        pdf.set_x(pdf.l_margin + 6)
        pdf.multi_cell(
            content_width - 6,
            5,
            detail,
            wrapmode=WrapMode.CHAR,
            align=Align.L,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.ln(1)

    pdf.set_xy(pdf.l_margin, pdf.h - pdf.b_margin - 11)
    pdf.set_font(size=8.5)
    pdf.set_text_color(*_MUTED)
    pdf.multi_cell(
        content_width,
        4.5,
        "この書面にはパスワードが記載されています。他の人に見せず、パスワードの変更後は細かく破いて処分してください。",
        wrapmode=WrapMode.CHAR,
        align=Align.L,
    )


def render_initial_password_letters(letters: Sequence[LetterData], *, font: str = "") -> bytes:
    """Render the letters as one A4 PDF, one page per member, in the given order (`font`: Settings.pdf_font)."""
    if not letters:
        raise ValueError("印刷する会員が選ばれていません。会員を1人以上選んでください。")
    for letter in letters:
        _validate(letter)
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(False)
    pdf.set_title("初期パスワードのお知らせ")
    pdf.set_creator("Tsudoi")
    family = add_japanese_font(pdf, font=font)
    pdf.set_font(family, size=10)
    for letter in letters:
        _page(pdf, letter)
    return bytes(pdf.output())


async def render_initial_password_letters_async(letters: Sequence[LetterData], *, font: str = "") -> bytes:
    """`render_initial_password_letters` in a worker thread, off the event loop."""
    return await anyio.to_thread.run_sync(
        functools.partial(render_initial_password_letters, letters, font=font)
    )
