"""Composing one digest mail (text and HTML parts) from the planned sections."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from services.context import AppContext
from services.digests.options import KIND_LABELS
from services.digests.preferences import unsubscribe_token
from services.digests.recipients import ArticleIndex, Section
from services.mail_skeleton import SkeletonTemplate, Slots, render_parts
from services.mailer import OutgoingMail


@functools.lru_cache(maxsize=64)
def period_label(kind: str, start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """'11月18日(水)〜11月24日(火)' for a week, '11月24日(火)' for a day (the end is exclusive)."""
    first = start.astimezone(tz)
    last = (end - timedelta(microseconds=1)).astimezone(tz)
    days = "月火水木金土日"

    def label(moment: datetime) -> str:
        return f"{moment.month}月{moment.day}日({days[moment.weekday()]})"

    if first.date() >= last.date():
        return label(first)
    return f"{label(first)}〜{label(last)}"


def _list_id(base_url: str) -> str:
    host = urlsplit(base_url).hostname or "localhost"
    return f"<digest.{host}>"


# Each cached section holds its joined HTML (a few kB per article): bound the memory, not only the count.
MAX_CACHED_SECTIONS = 2_000


class DigestTemplates:
    """The digest's templates, loaded once per run; each article's entry is rendered once per run too
    (views/mail/_digest_item.*) and shared by every recipient, and each part is a skeleton
    (services/mail_skeleton.py), so a mail costs a few joins, not a template render."""

    def __init__(self, app: AppContext) -> None:
        env = app.templates
        self.text = SkeletonTemplate(env.get_template("mail/digest.txt"))
        self.html = SkeletonTemplate(env.get_template("mail/digest.html"))
        self._item_text = env.get_template("mail/_digest_item.txt").module.item  # type: ignore[attr-defined]
        self._item_html = env.get_template("mail/_digest_item.html").module.item  # type: ignore[attr-defined]
        self._items: dict[int, dict[str, Any]] = {}
        self._entries: dict[tuple[int, ...], tuple[list[dict[str, Any]], str, str]] = {}

    def item(self, index: ArticleIndex, article_id: int, base_url: str, tz: ZoneInfo) -> dict[str, Any]:
        cached = self._items.get(article_id)
        if cached is None:
            cached = dict(index.item(article_id, base_url, tz))
            cached["text"] = str(self._item_text(cached)).strip("\n")
            # Made by an autoescaping template: digest.html outputs it with |safe.
            cached["html"] = str(self._item_html(cached))
            self._items[article_id] = cached
        return cached

    def entries(
        self, index: ArticleIndex, article_ids: tuple[int, ...], base_url: str, tz: ZoneInfo
    ) -> tuple[list[dict[str, Any]], str, str]:
        """A section's entries and their joined text and HTML: members share conditions, so the same
        list of articles comes back again and again in a run (cached, within a bound)."""
        cached = self._entries.get(article_ids)
        if cached is None:
            items = [self.item(index, aid, base_url, tz) for aid in article_ids if aid in index.articles]
            text = "\n".join(item["text"] for item in items)
            html = "\n".join(item["html"] for item in items)
            if len(self._entries) >= MAX_CACHED_SECTIONS:
                del self._entries[next(iter(self._entries))]  # the oldest
            cached = self._entries[article_ids] = (items, text, html)
        return cached


_SECTION_FIELDS = ("name", "items_text", "items_html", "more", "more_url")


def compose_digest(
    app: AppContext,
    *,
    member: sqlite3.Row,
    kind: str,
    start: datetime,
    end: datetime,
    sections: Sequence[Section],
    index: ArticleIndex,
    templates: DigestTemplates | None = None,
    article_count: int | None = None,
    subject_prefix: str = "",
) -> OutgoingMail:
    """The digest mail for one member: text and HTML parts, with the RFC 8058 one-click headers."""
    templates = templates or DigestTemplates(app)
    base_url = app.settings.base_url
    tz = app.settings.tz
    token = unsubscribe_token(app.settings.secret_key, int(member["id"]))
    unsubscribe_url = f"{base_url}/unsubscribe/{token}"
    rendered: list[dict[str, Any]] = []
    for section in sections:
        # The entries are rendered once per run and joined once per list of articles.
        items, items_text, items_html = templates.entries(index, section.article_ids, base_url, tz)
        rendered.append(
            {
                "name": section.name,
                "items": items,
                "items_text": items_text,
                "items_html": items_html,
                "more": section.more,
                "more_url": f"{base_url}/mypage?condition={section.condition_id}",
            }
        )
    if article_count is None:
        article_count = sum(len(s["items"]) + int(s["more"]) for s in rendered)
    period = period_label(kind, start, end, tz)
    subject = f"{subject_prefix}【{app.org.short_name}】新着お知らせメール {period}"

    def context(slot: Slots) -> dict[str, Any]:
        """What the templates see; every per-member value passes through `slot`."""
        return {
            "subject": subject,
            "member": slot.pick(member, ("family_name", "given_name")),
            "org": app.org,
            "kind": kind,
            "kind_label": KIND_LABELS.get(kind, ""),
            "period": period,
            "sections": [slot.pick(section, _SECTION_FIELDS) for section in rendered],
            "article_count": slot(article_count),
            "base_url": base_url,
            "mypage_url": f"{base_url}/mypage",
            "settings_url": f"{base_url}/settings/mail",
            "unsubscribe_url": slot(unsubscribe_url),
        }

    # Everything not passed through `slot` is the same for the whole run, or named here.
    constants = (subject, kind, period, base_url, app.org)
    text, html = render_parts(constants, context, templates.text, templates.html)
    return OutgoingMail(
        to=str(member["email"]),
        subject=subject,
        text=text,
        html=html,
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": _list_id(base_url),
            "X-Tsudoi-Kind": "digest",
        },
    )
