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
