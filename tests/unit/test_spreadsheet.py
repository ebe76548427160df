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


def test_xlsx_keeps_text_as_text_cells():
    import io

    import openpyxl

    from services.spreadsheet import xlsx_bytes

    data = xlsx_bytes(["会員番号", "式", "数"], [["001234", "=1+1", 3], ["000001", None, 2.5]])
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["会員番号", "式", "数"],
        ["001234", "=1+1", 3],
        ["000001", None, 2.5],
    ]
    assert sheet["A2"].data_type == "s" and sheet["B2"].data_type == "s"  # never a number or a formula
    assert sheet["C2"].data_type == "n"
    assert sheet["A1"].font.bold
