"""Markdown rendering: formatting survives, anything that could run script does not."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from services.markdown import render_markdown

SAFE_TAGS = {"p", "a", "img", "br", "strong", "em", "code", "pre", "blockquote", "details", "summary"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, list[tuple[str, str]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, [(name, value or "") for name, value in attrs]))


def parse(html: str) -> list[tuple[str, list[tuple[str, str]]]]:
    collector = _Collector()
    collector.feed(html)
    return collector.elements


def test_headings_emphasis_lists_and_code_render() -> None:
    html = render_markdown("# お知らせ\n\n**重要**と*注意*\n\n- 一\n- 二\n\n`code`\n\n> 引用")
    assert "<h1>お知らせ</h1>" in html
    assert "<strong>重要</strong>" in html and "<em>注意</em>" in html
    assert "<ul>" in html and "<li>一</li>" in html
    assert "<code>code</code>" in html
    assert "<blockquote>" in html


def test_tables_render_with_column_alignment() -> None:
    html = render_markdown("| 会費 | 金額 |\n|:--|--:|\n| 年会費 | 12,000円 |")
    assert "<table>" in html and '<th style="text-align:left">会費</th>' in html
    assert '<td style="text-align:right">12,000円</td>' in html


def test_links_get_noopener_noreferrer_nofollow() -> None:
    html = render_markdown("[協会サイト](https://example.jp/)")
    assert 'href="https://example.jp/"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_relative_and_mailto_links_are_kept() -> None:
    html = render_markdown("[記事](/articles/1) [メール](mailto:info@example.jp)")
    assert 'href="/articles/1"' in html
    assert 'href="mailto:info@example.jp"' in html


def test_bare_urls_are_not_linkified() -> None:
    assert "<a" not in render_markdown("詳しくは https://example.jp をご覧ください")


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        '<img src="x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">click</a>',
        '<a href="JaVaScRiPt:alert(1)">click</a>',
        '<a href=" javascript:alert(1)">click</a>',
        '<a href="&#106;avascript:alert(1)">click</a>',
        "[click](javascript:alert(1))",
        "[click](<javascript:alert(1)>)",
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
        "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
        '<img src="data:image/png;base64,AAAA">',
        '<iframe src="https://evil.example/"></iframe>',
        "<style>body { display: none }</style>",
        '<div onclick="alert(1)">x</div>',
        '<svg onload="alert(1)"><circle/></svg>',
        '<p style="background:url(javascript:alert(1))">x</p>',
        '<form action="https://evil.example/"><input name="password"></form>',
        '<object data="x.swf"></object><embed src="x.swf">',
        '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
        "<!-- <script>alert(1)</script> -->",
        '<a href="vbscript:msgbox(1)">x</a>',
    ],
)
def test_hostile_input_is_neutralized(hostile: str) -> None:
    html = render_markdown(f"本文\n\n{hostile}\n\n続き")
    elements = parse(html)
    for tag, attributes in elements:
        assert tag in SAFE_TAGS, tag
        for name, value in attributes:
            assert not name.startswith("on"), name
            assert name != "style" or value.startswith("text-align:"), value
            if name in ("href", "src"):
                scheme = urlsplit(value.strip().lower()).scheme
                assert scheme in ("", "http", "https", "mailto"), value
    assert "<!--" not in html
    assert "本文" in html and "続き" in html


def test_script_content_is_dropped_not_shown_as_text() -> None:
    assert "alert" not in render_markdown("<script>alert(1)</script>")


def test_harmless_raw_html_is_kept() -> None:
    html = render_markdown("<details><summary>詳細</summary>中身</details>\n\n改行<br>あり")
    assert "<details><summary>詳細</summary>" in html
    assert "<br>" in html


def test_empty_text_renders_empty() -> None:
    assert render_markdown("") == ""


def test_nul_bytes_are_dropped() -> None:
    assert "\x00" not in render_markdown("a\x00b")


def test_plain_text_keeps_the_structure_and_drops_what_the_sanitizer_drops() -> None:
    from services.markdown import render_plain

    text = render_plain(
        "# 総会\n\n**6月1日**に[本部](https://example.jp/map)で。\n\n- 受付\n- 会場\n\n<script>alert(1)</script>終わり\x00"
    )
    assert text == "総会\n\n6月1日に本部（https://example.jp/map）で。\n\n・受付\n・会場\n\n終わり"
