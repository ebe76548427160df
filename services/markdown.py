"""Markdown (articles, notices) to sanitized HTML that templates may mark safe."""

from __future__ import annotations

import functools

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
