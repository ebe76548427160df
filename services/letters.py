"""Initial-password letters (初期パスワードのお知らせ): one A4 page per member, as one PDF.

The page is made to be posted: folded in three (fold marks at 99 mm and 198 mm) it fits a 長形3号 window
envelope (120 × 235 mm) with the recipient block (〒, address, name 様, member number) in the window. The
window of a standard 長3 窓付き封筒 is 90 × 45 mm, 23 mm from the left and 13-14 mm from the top of the
envelope held sideways; the A4 sheet moves a few millimetres inside the envelope, so the block is printed
inside `WINDOW` with a margin all round. The organization's name, address and phone and a contact QR code
are on the page for members who get stuck.
"""

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


# Where the envelope's window shows the sheet (x, y, width, height in mm from the sheet's top left).
WINDOW = (22.0, 14.0, 88.0, 42.0)
FOLDS = (99.0, 198.0)


@dataclass(frozen=True, slots=True)
class LetterData:
    """One member's letter; `readings` pairs each password character with its reading, in order.
    The postal fields fill the window block; the organization fields the sender and help blocks."""

    organization_name: str
    member_name: str
    member_number: str
    initial_password: str
    readings: Sequence[tuple[str, str]]
    login_url: str
    issued_on: date | None = None
    postal_code: str = ""
    address_lines: Sequence[str] = ()
    organization_address: str = ""
    organization_phone: str = ""
    contact_email: str = ""
    contact_url: str = ""


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
    rows = -(-len(readings) // per_row)
    index_height, char_height, reading_height = (4.0, 12.0, 9.0) if rows == 1 else (3.0, 9.0, 8.0)
    row_height = index_height + char_height + reading_height + (2 if rows == 1 else 1.5)
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
            pdf.set_font(size=22 if rows == 1 else 17)
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


def _postal_code_text(code: str) -> str:
    digits = "".join(ch for ch in code if ch.isdigit())
    return f"〒{digits[:3]}-{digits[3:]}" if len(digits) == 7 else (f"〒{code}" if code else "")


def _fitted_line(pdf: FPDF, text: str, width: float, largest: float, smallest: float, height: float) -> None:
    _fit_font_size(pdf, text, width, largest, smallest)
    pdf.cell(width, height, text, new_x=XPos.LEFT, new_y=YPos.NEXT)


def _window_block(pdf: FPDF, letter: LetterData) -> None:
    """〒, address and name 様 inside the envelope's window, the member number under the name."""
    x, y, width, height = WINDOW
    inner = width - 6
    # Faint corner marks show where the window is, for checking the print against an envelope.
    pdf.set_draw_color(200, 200, 200)
    pdf.set_line_width(0.2)
    for cx, cy, dx, dy in (
        (x, y, 4, 4),
        (x + width, y, -4, 4),
        (x, y + height, 4, -4),
        (x + width, y + height, -4, -4),
    ):
        pdf.line(cx, cy, cx + dx, cy)
        pdf.line(cx, cy, cx, cy + dy)
    pdf.set_draw_color(*_RULE)
    pdf.set_text_color(*_INK)
    pdf.set_xy(x + 3, y + 3)
    if letter.postal_code:
        pdf.set_font(size=11)
        pdf.cell(inner, 6, _postal_code_text(letter.postal_code), new_x=XPos.LEFT, new_y=YPos.NEXT)
    for line in [line for line in letter.address_lines if line.strip()][:3]:
        _fitted_line(pdf, line, inner, 10.5, 7.0, 5.5)
    pdf.set_y(max(pdf.get_y() + 2, y + 22))
    pdf.set_x(x + 3)
    _fitted_line(pdf, f"{letter.member_name} 様", inner, 15, 9, 8)
    pdf.set_x(x + 3)
    pdf.set_font(size=8.5)
    pdf.set_text_color(*_MUTED)
    pdf.cell(inner, 4.5, f"会員番号 {letter.member_number}", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_text_color(*_INK)


def _sender_block(pdf: FPDF, letter: LetterData) -> None:
    """The date and the sender at the top right, outside the window."""
    left = WINDOW[0] + WINDOW[2] + 8
    width = pdf.w - pdf.r_margin - left
    pdf.set_xy(left, WINDOW[1])
    pdf.set_text_color(*_MUTED)
    pdf.set_font(size=9)
    if letter.issued_on is not None:
        pdf.cell(
            width, 5, format_japanese_date(letter.issued_on), align=Align.R, new_x=XPos.LEFT, new_y=YPos.NEXT
        )
        pdf.set_xy(left, pdf.get_y() + 2)
    pdf.set_text_color(*_INK)
    _fit_font_size(pdf, letter.organization_name, width, 10.5, 7)
    pdf.multi_cell(
        width,
        5.5,
        letter.organization_name,
        align=Align.R,
        wrapmode=WrapMode.CHAR,
        new_x=XPos.LEFT,
        new_y=YPos.NEXT,
    )
    pdf.set_font(size=8.5)
    pdf.set_text_color(*_MUTED)
    for line in (
        letter.organization_address,
        f"電話 {letter.organization_phone}" if letter.organization_phone else "",
    ):
        if line:
            pdf.multi_cell(
                width, 4.5, line, align=Align.R, wrapmode=WrapMode.CHAR, new_x=XPos.LEFT, new_y=YPos.NEXT
            )
    pdf.set_text_color(*_INK)


def _fold_marks(pdf: FPDF) -> None:
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.2)
    for fold in FOLDS:
        pdf.line(0, fold, 6, fold)
        pdf.line(pdf.w - 6, fold, pdf.w, fold)


def _help_block(pdf: FPDF, letter: LetterData, content_width: float) -> None:
    """お困りのときは: the office's phone, mail and contact page (with its QR code)."""
    qr_size = 24.0
    top = pdf.get_y()
    text_width = content_width - qr_size - 6
    pdf.set_font(size=11)
    pdf.cell(text_width, 6.5, "ログインできないときのお問い合わせ先", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(size=9)
    lines = [f"{letter.organization_name} 事務局"]
    if letter.organization_phone:
        lines.append(f"電話 {letter.organization_phone}")
    if letter.contact_email:
        lines.append(f"メール {letter.contact_email}")
    if letter.contact_url:
        lines.append(f"お問い合わせフォーム {letter.contact_url}")
    lines.append(f"お問い合わせの際は会員番号（{letter.member_number}）をお伝えください。")
    for line in lines:
        pdf.multi_cell(
            text_width, 4.8, line, wrapmode=WrapMode.CHAR, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
    if letter.contact_url:
        pdf.image(
            io.BytesIO(make_qr_png(letter.contact_url, box_size=6)),
            x=pdf.l_margin + content_width - qr_size,
            y=top,
            w=qr_size,
            h=qr_size,
        )
    pdf.set_y(max(pdf.get_y(), top + (qr_size if letter.contact_url else 0)) + 2)


def _page(pdf: FPDF, letter: LetterData) -> None:
    pdf.add_page()
    content_width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_text_color(*_INK)
    _fold_marks(pdf)
    _window_block(pdf, letter)
    _sender_block(pdf, letter)

    # The rest of the top third (below the window) carries the title, so the letter reads when unfolded.
    pdf.set_xy(pdf.l_margin, WINDOW[1] + WINDOW[3] + 6)
    pdf.set_font(size=19)
    pdf.cell(
        content_width, 10, "初期パスワードのお知らせ", align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.ln(2)
    pdf.set_font(size=9.5)
    pdf.multi_cell(
        content_width,
        5,
        f"{letter.organization_name}のマイページをご利用いただくためのログイン情報をお知らせします。"
        "初回ログイン時にパスワードの変更をお願いいたします。",
        wrapmode=WrapMode.CHAR,
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )

    pdf.set_y(max(pdf.get_y(), FOLDS[0]) + 3)
    pdf.set_font(size=10)
    pdf.cell(48, 9, "ログインID（会員番号）")
    pdf.set_font(size=18)
    pdf.cell(content_width - 48, 9, letter.member_number, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(size=10)
    pdf.cell(content_width, 6, "初期パスワード", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    y = _password_grid(pdf, letter, pdf.get_y() + 0.5, content_width)
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
    pdf.ln(3)

    # The URL and its QR code side by side, so members on phones can skip typing the URL.
    qr_size = 26.0 if len(letter.readings) <= _CHARS_PER_ROW else 22.0
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
    pdf.set_y(max(pdf.get_y(), block_top + qr_size) + 4)

    pdf.set_font(size=10.5)
    pdf.cell(content_width, 6.5, "はじめてのログインの手順", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + content_width, pdf.get_y())
    pdf.ln(1.5)
    for number, (step, detail) in enumerate(FIRST_LOGIN_STEPS, start=1):
        pdf.set_font(size=9.5)
        pdf.cell(content_width, 5.0, f"{number}. {step}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(size=8.5)
        pdf.set_x(pdf.l_margin + 6)
        pdf.multi_cell(
            content_width - 6,
            4.1,
            detail,
            wrapmode=WrapMode.CHAR,
            align=Align.L,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.ln(0.5)
    pdf.ln(2)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + content_width, pdf.get_y())
    pdf.ln(1.5)
    _help_block(pdf, letter, content_width)

    pdf.set_xy(pdf.l_margin, max(pdf.get_y() + 1, pdf.h - 13))
    pdf.set_font(size=8)
    pdf.set_text_color(*_MUTED)
    pdf.multi_cell(
        content_width,
        4.2,
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
    pdf.set_margins(18, 14, 18)
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
