"""Markdown (articles, notices) to sanitized HTML that templates may mark safe."""

from __future__ import annotations

import functools
from html.parser import HTMLParser

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
        "strong", "em", "b", "i", "u", "s", "del", "code", "pre", "kbd", "sub", "sup",
        "blockquote", "ul", "ol", "li", "a", "img",
        "table", "thead", "tbody", "tr", "th", "td",
        "details", "summary",
    }
)  # fmt: skip

ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    # Table column alignment arrives as style="text-align: …"; only that property survives.
    "th": {"style"},
    "td": {"style"},
}

# Relative links (/articles/1) stay allowed; every other scheme, javascript: and data: included, is dropped.
ALLOWED_URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})

LINK_REL = "noopener noreferrer nofollow"


@functools.cache
def _parser() -> MarkdownIt:
    # Raw HTML is parsed rather than escaped so admins' harmless tags (<br>, <details>) work;
    # nh3 below is what makes it safe. linkify stays off: it would turn stray text into links.
    return MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]
    )


def sanitize_html(html: str) -> str:
    """Strip everything but the formatting tags above from `html`."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel=LINK_REL,
        filter_style_properties={"text-align"},
        strip_comments=True,
    )


def render_markdown(text: str) -> str:
    """Render CommonMark (plus tables and ~~strikethrough~~) to HTML safe to insert into a page."""
    if not text:
        return ""
    # A NUL byte has no place in an article and markdown-it only replaces it, so drop it early.
    return sanitize_html(_parser().render(text.replace("\x00", "")))


class _PlainText(HTMLParser):
    """Sanitized HTML to the text part of a mail: paragraphs apart, list items as 「・」, links with their URL."""

    BLOCKS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._href: list[str] = []
        self._list: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n\n")
        elif tag == "br" or tag == "tr":
            self.parts.append("\n")
        elif tag in ("ul", "ol"):
            self._list.append((tag, 0))
            self.parts.append("\n")
        elif tag == "li":
            kind, number = self._list[-1] if self._list else ("ul", 0)
            if self._list:
                self._list[-1] = (kind, number + 1)
            self.parts.append("\n" + ("  " * max(len(self._list) - 1, 0)))
            self.parts.append(f"{number + 1}. " if kind == "ol" else "・")
        elif tag == "a":
            self._href.append(dict(attrs).get("href") or "")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n\n")
        elif tag in ("ul", "ol"):
            if self._list:
                self._list.pop()
            self.parts.append("\n")
        elif tag == "a" and self._href:
            href = self._href.pop()
            if href and not href.startswith("mailto:"):
                self.parts.append(f"（{href}）")

    def handle_data(self, data: str) -> None:
        if "\n" in data and not data.strip():
            return  # the line breaks between tags; blocks and items make their own
        self.parts.append(data)

    def text(self) -> str:
        joined = "".join(self.parts)
        lines = [line.rstrip() for line in joined.splitlines()]
        text = "\n".join(lines)
        while "\n\n\n" in text:
            text = text.replace("\n\n\n", "\n\n")
        return text.strip("\n")


def render_plain(text: str) -> str:
    """The same Markdown as `render_markdown`, as plain text (a mail's text part): it goes through the
    same sanitizer first, so nothing the HTML drops appears here."""
    parser = _PlainText()
    parser.feed(render_markdown(text))
    parser.close()
    return parser.text()
