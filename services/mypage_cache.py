"""My Page kept per member (issue 19): a reload costs the session and one cache read, nothing more.

What is kept, per member, in the database (0027_mypage_cache.sql, so every worker process shares it):
- 'arrivals:<condition id, 0 for all>': the rendered 新着記事 section (counts, cards with the member's
  bookmark stars, the tier line), with `CSRF_SLOT` where each star form's CSRF input goes;
- 'notices': the office's items of ご確認ください (fees, konbini payments, inquiry answers) and the latest
  unread 事務局からのお知らせ.
The password-expiry and profile-check notices follow from the member's row alone, which the session
query loads anyway: they are worked out on every view and never kept.

A kept part is served only while all of these still match what it was made from:
- the build: a hash of the templates and the code that make it (a new release never serves old HTML);
- the shared page version (articles, their terms, the term trees, tiers, fee items, announcements) and
  the member's page version (conditions, tier periods, fees, payment attempts, inquiries and answers,
  announcement deliveries and reads, and bookmarks on the articles a kept part shows): database triggers
  bump them on every write. A star pressed on any other article changes nothing kept, so My Page stays
  kept (0029_mypage_cache_stars.sql); a part is not stored if the member's bookmarks changed while it was
  made;
- the day in the organization's time zone (the 14-day window, the tier periods, overdue fees);
- valid_until: the next scheduled publish time (the window ends at now, so a scheduled article appears
  with no write at all), or for the notices the next konbini payment deadline.
The versions are read before anything is computed, so a part made while a write lands is stored under
the older versions and never served after it. Size: one row per member and view (at most the member's
conditions + 2), a zlib-compressed body of at most MAX_BODY_BYTES, and rows of earlier days deleted.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from db import announcements as announcement_queries
from db import mypage_cache as cache_queries
from db.mypage_cache import KeptPart, NewPart, Versions
from db.timestamps import to_db
from services import articles as article_service
from services import mypage_notices, sessions
from services.context import AppContext
from services.mypage_notices import Notice
from services.sessions import LoggedIn

NOTICES_PART = "notices"
# Where each bookmark star's CSRF input goes: the token is the browser's, the kept section is the member's.
CSRF_SLOT = "<!--tsudoi:csrf-input-->"
# A kept body larger than this (compressed) is not stored; the page is then made on every view.
MAX_BODY_BYTES = 256 * 1024
_ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def build_key() -> str:
    """Changes whenever a template or the code of the app does (read once per process)."""
    digest = hashlib.sha256()
    for folder, pattern in (("views", "*.html"), ("services", "*.py"), ("db", "*.py"), ("routes", "*.py")):
        for path in sorted((_ROOT / folder).rglob(pattern)):
            digest.update(str(path.relative_to(_ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def arrivals_part(condition_id: int | None) -> str:
    return f"arrivals:{condition_id or 0}"


def org_day(app: AppContext, now: datetime) -> str:
    return now.astimezone(app.settings.tz).date().isoformat()


@dataclass
class MyPageParts:
    """What the handler renders: the arrivals section and, for the whole page, the office notices and the
    latest unread announcement. Kept parts are unpacked only when asked for (a finished page kept in the
    process's PageMemo needs neither). `bodies` are the parts as stored: the same bytes mean the same parts."""

    arrivals_body: bytes
    notices_body: bytes | None
    kept: tuple[str, ...]
    _arrivals_html: str | None = None
    _notices: tuple[list[Notice], dict[str, Any] | None] | None = None

    all_kept: bool = False

    @property
    def bodies(self) -> tuple[bytes, bytes | None]:
        return self.arrivals_body, self.notices_body

    @property
    def arrivals_html(self) -> str:
        """The section's HTML, with CSRF_SLOT where each star form's CSRF input goes."""
        if self._arrivals_html is None:
            self._arrivals_html = _unpack(self.arrivals_body)
        return self._arrivals_html

    def _notices_and_latest(self) -> tuple[list[Notice], dict[str, Any] | None]:
        if self._notices is None:
            if self.notices_body is None:
                self._notices = ([], None)
            else:
                stored = json.loads(_unpack(self.notices_body))
                notices = [mypage_notices.notice_from_json(value) for value in stored["notices"]]
                self._notices = (notices, stored["latest"])
        return self._notices

    @property
    def notices(self) -> list[Notice]:
        """The office's notices (fees, konbini payments, inquiry answers), not yet sorted with the member's."""
        return self._notices_and_latest()[0]

    @property
    def latest_announcement(self) -> dict[str, Any] | None:
        return self._notices_and_latest()[1]


# Renders the arrivals section for a member's NewArrivals (the handler's templates and links).
RenderArrivals = Callable[[article_service.NewArrivals], str]


def _fresh(kept: KeptPart, versions: Versions, day: str, stamp: str) -> bool:
    """`stamp` is now as stored (db.timestamps.to_db)."""
    return (
        kept.build == build_key()
        and kept.shared_version == versions.shared
        and kept.member_version == versions.member
        and kept.day == day
        # Made no later than now (a clock set back must not see what was made for a later moment) and
        # before the next scheduled publish time or konbini deadline.
        and kept.stored_at <= stamp
        and (kept.valid_until is None or stamp < kept.valid_until)
    )


def _pack(value: str) -> bytes:
    return zlib.compress(value.encode("utf-8"), 6)


def _unpack(body: bytes) -> str:
    return zlib.decompress(body).decode("utf-8")


def wanted_parts(condition_id: int | None, *, whole_page: bool) -> tuple[str, ...]:
    """The parts a view is made of: the arrivals section, and the notices for the whole page."""
    arrivals = arrivals_part(condition_id)
    return (arrivals, NOTICES_PART) if whole_page else (arrivals,)


@dataclass(frozen=True)
class CacheRead:
    """One read of a member's kept parts for one view, and the moment it was read for: `my_page` decides
    from it, and `kept_page` tells whether the view can be served without making anything."""

    member_id: int
    condition_id: int | None
    wanted: tuple[str, ...]
    now: datetime
    versions: Versions
    kept: dict[str, KeptPart]


async def read_parts(
    app: AppContext, member_id: int, condition_id: int | None, *, whole_page: bool
) -> CacheRead:
    """The versions and the member's kept parts for the view (one query)."""
    now = app.clock.now()
    wanted = wanted_parts(condition_id, whole_page=whole_page)
    versions, kept = await cache_queries.read(app.db, member_id, wanted, now=now)
    return CacheRead(member_id, condition_id, wanted, now, versions, kept)


async def read_session_and_parts(
    app: AppContext, token: str, condition_id: int | None
) -> tuple[LoggedIn | None, CacheRead | None]:
    """For a reload of the whole page: the session behind the cookie (as `load_session` finds it) and the
    member's kept parts, read in one trip to the database. The parts only with a live session."""
    if not sessions.plausible_token(token):
        return None, None
    now = app.clock.now()
    wanted = wanted_parts(condition_id, whole_page=True)
    row, found = await cache_queries.read_with_session(app.db, sessions.hash_token(token), wanted, now=now)
    auth = await sessions.session_from_row(app.db, row, token, now=now, org=app.org)
    if auth is None or found is None:
        return auth, None
    versions, kept = found
    return auth, CacheRead(auth.member_id, condition_id, wanted, now, versions, kept)


def kept_page(app: AppContext, read: CacheRead) -> MyPageParts | None:
    """The view's parts when every one of them is kept and fresh; None when anything must be made."""
    day = org_day(app, read.now)
    stamp = to_db(read.now)
    parts = [read.kept.get(name) for name in read.wanted]
    fresh = [part for part in parts if part is not None and _fresh(part, read.versions, day, stamp)]
    if len(fresh) != len(read.wanted):
        return None
    return MyPageParts(fresh[0].body, fresh[1].body if len(fresh) > 1 else None, read.wanted, all_kept=True)


async def my_page(
    app: AppContext,
    member_id: int,
    condition_id: int | None,
    *,
    whole_page: bool,
    keep: bool,
    render_arrivals: RenderArrivals,
    read: CacheRead | None = None,
) -> MyPageParts | None:
    """My Page's parts for the member: kept ones when fresh, the others made and kept. The arrivals section
    is served from and stored in the cache only when `keep` (a request whose section depends on nothing but
    the condition: its star forms return to the page's URL). None when `condition_id` is not one of the
    member's conditions (a section is kept only for the member's own conditions). `read` is the cache as
    already read for this view (by the kept-page path in routes/mypage.py), used when it is this view's."""
    wanted = wanted_parts(condition_id, whole_page=whole_page)
    if read is None or (read.member_id, read.wanted) != (member_id, wanted):
        read = await read_parts(app, member_id, condition_id, whole_page=whole_page)
    now = read.now
    stamp = to_db(now)
    day = org_day(app, now)
    arrivals_key = wanted[0]
    versions, kept = read.versions, read.kept
    new_parts: list[NewPart] = []
    served: list[str] = []

    arrivals_html: str | None = None
    arrivals = kept.get(arrivals_key) if keep else None
    if arrivals is not None and _fresh(arrivals, versions, day, stamp):
        arrivals_body = arrivals.body
        served.append(arrivals_key)
    else:
        computed = await article_service.new_arrivals(app, member_id, condition_id)
        if computed is None:
            return None
        arrivals_html = render_arrivals(computed)
        arrivals_body = _pack(arrivals_html)
        if keep:
            shown = tuple(int(item["id"]) for item in computed.items)
            new_parts.append(NewPart(arrivals_key, versions.next_publish, arrivals_body, shown))

    notices_body: bytes | None = None
    notices: tuple[list[Notice], dict[str, Any] | None] | None = None
    if whole_page:
        kept_notices = kept.get(NOTICES_PART)
        if kept_notices is not None and _fresh(kept_notices, versions, day, stamp):
            notices_body = kept_notices.body
            served.append(NOTICES_PART)
        else:
            office = await mypage_notices.office_notices(app, member_id, now)
            row = await announcement_queries.latest_unread(app.db, member_id)
            latest = (
                {"id": int(row["id"]), "title": str(row["title"]), "started_at": row["started_at"]}
                if row is not None
                else None
            )
            notices = (office.notices, latest)
            notices_body = _pack(
                json.dumps(
                    {"notices": [mypage_notices.notice_to_json(n) for n in office.notices], "latest": latest},
                    ensure_ascii=False,
                )
            )
            until = to_db(office.valid_until) if office.valid_until is not None else None
            new_parts.append(NewPart(NOTICES_PART, until, notices_body))

    storable = [part for part in new_parts if len(part.body) <= MAX_BODY_BYTES]
    if storable:
        await cache_queries.store(
            app.db, member_id, storable, build=build_key(), versions=versions, day=day, now=now
        )
    return MyPageParts(
        arrivals_body,
        notices_body,
        tuple(served),
        arrivals_html,
        notices,
        all_kept=len(served) == len(wanted),
    )


class PageMemo:
    """Finished pages in this process's memory, least recently used dropped first: at most `max_entries`
    of at most `max_bytes` each. An entry's key is (browser, page): `browser` says whose copy it is (the
    URL and the browser's CSRF token), `page` must hold everything the page is made from (the kept parts'
    bodies as read from the cache, so a page is served only while its parts are fresh). `knows(browser)`
    answers without a query whether a reload by that browser can be served at all."""

    def __init__(self, max_entries: int = 512, max_bytes: int = 256 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[Hashable, Hashable], bytes] = OrderedDict()
        self._browsers: Counter[Hashable] = Counter()

    def knows(self, browser: Hashable) -> bool:
        return browser in self._browsers

    def get(self, browser: Hashable, page: Hashable) -> bytes | None:
        key = (browser, page)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, browser: Hashable, page: Hashable, value: bytes) -> None:
        if len(value) > self.max_bytes:
            return
        key = (browser, page)
        if key not in self._entries:
            self._browsers[browser] += 1
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            (dropped, _), _ = self._entries.popitem(last=False)
            self._browsers[dropped] -= 1
            if not self._browsers[dropped]:
                del self._browsers[dropped]

    def __len__(self) -> int:
        return len(self._entries)
