from __future__ import annotations

import csv
import io

from services.spreadsheet import csv_bytes


def test_csv_bytes_is_utf8_with_a_bom_crlf_lines_and_formula_safe_cells() -> None:
    data = csv_bytes(["会員番号", "メモ"], [("001001", '=HYPERLINK("x")'), (None, "-5"), (42, "改行\nあり")])
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.startswith("会員番号,メモ\r\n")
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["会員番号", "メモ"],
        ["001001", '\'=HYPERLINK("x")'],
        ["", "'-5"],
        ["42", "改行\nあり"],
    ]


def test_csv_bytes_with_no_rows_is_the_header_line_only() -> None:
    assert csv_bytes(["a", "b"], []) == "\ufeffa,b\r\n".encode()


def test_xlsx_bytes_writes_every_str_as_a_text_cell_and_never_a_formula() -> None:
    import datetime
    import io

    import openpyxl

    from services.spreadsheet import xlsx_bytes

    data = xlsx_bytes(
        ["会員番号", "電話番号", "メモ", "金額", "日付"],
        [
            ("001001", "09011112222", "=1+1", 5000, datetime.date(2026, 4, 1)),
            ("002", "x\x01y", None, 1.5, None),
        ],
    )
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows())
    assert [(c.value, c.data_type, c.number_format) for c in rows[1][:3]] == [
        ("001001", "s", "@"),
        ("09011112222", "s", "@"),
        ("=1+1", "s", "@"),
    ]
    assert rows[1][3].value == 5000 and rows[1][3].data_type == "n"
    assert rows[2][1].value == "xy"  # control characters Excel cannot store are dropped
    assert [c.value for c in rows[0]] == ["会員番号", "電話番号", "メモ", "金額", "日付"]
