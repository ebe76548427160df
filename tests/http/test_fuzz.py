"""Hostile input to every route: the app never answers 500, whatever a person or a script sends.

Routes are read from the app itself, so every new form and htmx endpoint is fuzzed as soon as it is mounted.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.digest_helpers import add_article
from tests.helpers import csrf_token, login, make_member

HOSTILE_TEXT = st.one_of(
    st.text(max_size=50),
    st.sampled_from(
        [
            "",
            " ",
            "0" * 5000,
            "'; DROP TABLE members; --",
            "<script>alert(1)</script>",
            '"><img src=x onerror=alert(1)>',
            "１２３４５",
            "ｱｲｳｴｵ",
            "﨑髙①㈱",
            "😀" * 100,
            "\x00\x01\x1f",
            "\r\nBcc: evil@example.com",
            "../../etc/passwd",
            "%00",
            "9" * 40,
            "99999999999999999999",
            "-1",
            "1e309",
            "NaN",
            "a" * 100_000,
        ]
    ),
)
FIELD_NAMES = [
    "member_id", "password", "remember", "next", "current_password", "new_password", "new_password_confirm",
    "family_name", "given_name", "family_kana", "given_kana", "email", "phone", "postal_code", "prefecture",
    "address1", "address2", "affiliation", "membership_type", "frequency", "category", "name", "member_number",
    "subject", "message", "code", "q", "region", "topic", "title", "body", "amount", "method", "status", "id",
    "version", "note", "confirm", "token", "website",
]  # fmt: skip
SKIP = re.compile(r"^/(static|schema)")


def routes(app: Litestar) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        path = getattr(route, "path", "")
        if SKIP.search(path):
            continue
        for method in sorted(getattr(route, "methods", set())):
            if method in {"HEAD", "OPTIONS"}:
                continue
            found.append((method, path))
    return found


# The longest fuzz tests go through every route in slices, one test each (every route is in exactly one
# slice and gets the same inputs), so test processes share them instead of one process running them alone.
SLICES = 4


def routes_in_slice(app: Litestar, part: int) -> list[tuple[str, str]]:
    return routes(app)[part::SLICES]


def fill_path(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


@pytest.fixture
async def member_client(
    app: Litestar, app_ctx: Any, client: AsyncTestClient[Litestar]
) -> AsyncTestClient[Litestar]:
    await make_member(app_ctx, "005005")
    # Something to search: SQLite only evaluates an FTS5 MATCH (and fails on a NUL) when rows exist.
    await add_article(app_ctx, "検索のための記事", app_ctx.clock.now())
    await login(client, "005005")
    return client


# Odd shapes a scanner sends (issue 14): huge integers (OverflowError in SQLite), non-ASCII, control
# characters, NUL, an empty segment and a 10,000-character one.
ODD_TEXT = ["é", "\x00", "ab\x00", "abc\x00d", "\x07\x1b[31m", "\u202eevil", "日本語😀", "\r\nX-Injected: 1"]
HUGE_INTEGERS = ["99999999999999999999", "-99999999999999999999", "9223372036854775808"]
PATH_VALUES = ["1", "999999", "abc", "%2e%2e", "0", "", "x" * 10_000, "%00", "%C3%A9", "%0A", *HUGE_INTEGERS]
CSRF_EXEMPT_PATHS = re.compile(r"^/(payments/notify|payments/return$|unsubscribe|oauth/token|oauth/userinfo)")


@pytest.mark.parametrize("path_value", PATH_VALUES, ids=lambda value: repr(value[:20]))
async def test_every_route_survives_odd_path_values(
    app: Litestar, member_client: Any, path_value: str
) -> None:
    token = await csrf_token(member_client)
    failures = []
    for method, path in routes(app):
        url = fill_path(path, path_value)
        response = await member_client.request(
            method, url, data={"_csrf_token": token} if method != "GET" else None
        )
        if response.status_code >= 500:
            failures.append(f"{method} {url} → {response.status_code}")
    assert not failures, failures


async def test_every_post_route_survives_broken_bodies(app: Litestar, member_client: Any) -> None:
    token = await csrf_token(member_client)
    headers = {"x-csrftoken": token}
    bodies: list[dict[str, Any]] = [
        {
            "content": b"\xff\xfe\x00garbage",
            "headers": {**headers, "content-type": "application/x-www-form-urlencoded"},
        },
        {
            "content": b"--x\r\nbroken",
            "headers": {**headers, "content-type": "multipart/form-data; boundary=x"},
        },
        {"content": b"--x", "headers": {**headers, "content-type": "multipart/form-data"}},
        {"content": b'{"member_id": 1}', "headers": {**headers, "content-type": "application/json"}},
        {"content": b"", "headers": {**headers, "content-type": "text/plain"}},
        {
            "data": {
                "_csrf_token": token,
                "email": ["a@example.jp", "b@example.jp"],
                "frequency": ["daily", "none"],
            }
        },
        {
            "files": {"attachment": ("x.png", b"GIF89a not a png", "image/png")},
            "data": {"_csrf_token": token},
        },
    ]
    failures = []
    for method, path in routes(app):
        if method == "GET":
            continue
        for body in bodies:
            response = await member_client.request(method, fill_path(path, "1"), **body)
            if response.status_code >= 500:
                failures.append(f"{method} {path} {list(body)} → {response.status_code}")
    assert not failures, failures


@pytest.mark.parametrize("part", range(SLICES))
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(fields=st.dictionaries(st.sampled_from(FIELD_NAMES), HOSTILE_TEXT, max_size=8))
async def test_random_form_values_never_cause_a_server_error(
    app: Litestar, member_client: Any, part: int, fields: dict[str, str]
) -> None:
    token = await csrf_token(member_client)
    for method, path in routes_in_slice(app, part):
        if method == "GET":
            response = await member_client.get(
                fill_path(path, "1"), params={k: v[:2000] for k, v in fields.items()}
            )
        else:
            response = await member_client.request(
                method, fill_path(path, "1"), data={**fields, "_csrf_token": token}
            )
        assert response.status_code < 500, f"{method} {path} with {fields!r} → {response.status_code}"
        # A login attempt in the loop may end the session; log in again so every route is reached logged in.
        if path == "/logout" or response.headers.get("location", "").startswith("/login"):
            await login(member_client, "005005")


async def test_huge_integer_ids_are_not_found(member_client: Any) -> None:
    for url in (
        "/articles/99999999999999999999",
        "/payments/99999999999999999999/receipt.pdf",
        "/conditions/99999999999999999999/edit",
    ):
        response = await member_client.get(url)
        assert response.status_code == 404, url


@pytest.mark.parametrize("part", range(SLICES))
async def test_odd_characters_in_every_field_of_every_route_never_cause_a_server_error(
    app: Litestar, member_client: Any, part: int
) -> None:
    token = await csrf_token(member_client)
    failures = []
    for value in ODD_TEXT + HUGE_INTEGERS:
        fields = dict.fromkeys(FIELD_NAMES, value)
        for method, path in routes_in_slice(app, part):
            url = fill_path(path, "1")
            if method == "GET":
                response = await member_client.get(url, params=fields)
            else:
                response = await member_client.request(method, url, data={**fields, "_csrf_token": token})
            if response.status_code >= 500:
                failures.append(f"{method} {path} with {value!r} → {response.status_code}")
            if path == "/logout" or response.headers.get("location", "").startswith("/login"):
                await login(member_client, "005005")
    assert not failures, failures


async def test_search_words_with_control_characters_are_cleaned(member_client: Any) -> None:
    for query in ("ab\x00", "abc\x00d", "\x00\x00\x00", "a\x1fb\x7fc", '"\x00"*'):
        response = await member_client.get("/articles", params={"q": query})
        assert response.status_code == 200, query


ODD_TOKENS = ["é" * 128, "\x00" * 128, "é", "\x00", "\x01\x1f", "日本語", "😀", "a" * 10_000, ""]


@pytest.mark.parametrize("part", range(SLICES))
async def test_odd_csrf_tokens_get_the_stale_form_page_on_every_post(
    app: Litestar, member_client: Any, part: int
) -> None:
    """In the form field, the header and the cookie: never a 500 (compare_digest raises on non-ASCII)."""
    good = await csrf_token(member_client)
    failures = []
    for method, path in routes_in_slice(app, part):
        if method == "GET":
            continue
        url = fill_path(path, "1")
        for odd in ODD_TOKENS:
            raw = odd.encode("utf-8")
            attempts = [
                {"data": {"_csrf_token": odd, "member_id": "1"}},
                {"data": {"member_id": "1"}, "headers": {"x-csrftoken": raw}},
                {"data": {"_csrf_token": good}, "headers": {"cookie": b"tsudoi_csrf=" + raw}},
            ]
            for attempt in attempts:
                response = await member_client.request(method, url, **attempt)
                exempt = CSRF_EXEMPT_PATHS.search(path)
                if response.status_code >= 500 or (not exempt and response.status_code != 403):
                    failures.append(f"{method} {path} {list(attempt)} {odd[:10]!r} → {response.status_code}")
    assert not failures, failures[:20]


async def test_the_stale_form_page_explains_an_odd_token(member_client: Any) -> None:
    response = await member_client.post("/login", data={"_csrf_token": "é" * 128, "member_id": "001001"})
    assert response.status_code == 403
    assert 'value="001001"' in response.text  # the fields are kept to send again


async def test_odd_cookies_on_every_page_never_cause_a_server_error(
    app: Litestar, member_client: Any
) -> None:
    failures = []
    for cookie in (
        b"tsudoi_session=\xe9\x01; tsudoi_csrf=\xe9",
        b"tsudoi_session=" + b"\xff" * 300,
        b"\x00=\x00",
    ):
        for method, path in routes(app):
            if method != "GET":
                continue
            response = await member_client.get(fill_path(path, "1"), headers={"cookie": cookie})
            if response.status_code >= 500:
                failures.append(f"GET {path} with cookie {cookie[:20]!r} → {response.status_code}")
    assert not failures, failures


async def test_head_is_answered_wherever_get_is(app: Litestar, member_client: Any) -> None:
    """Uptime monitors send HEAD: the same status and headers as GET, and no body."""
    mismatches = []
    for method, path in routes(app):
        if method != "GET":
            continue
        url = fill_path(path, "1")
        got = await member_client.get(url)
        head = await member_client.head(url)
        if head.status_code != got.status_code or head.content:
            mismatches.append(
                f"HEAD {url} → {head.status_code} ({len(head.content)} bytes), GET → {got.status_code}"
            )
    assert not mismatches, mismatches
    for url in ("/login", "/health", "/"):
        response = await member_client.head(url)
        assert response.status_code != 405 and response.content == b"", url


async def test_an_odd_csrf_cookie_is_replaced_by_the_next_page(client: Any) -> None:
    """Not stuck with a broken cookie: the login page sets a fresh token and the login goes through."""
    for odd in (b"\xe9\xe9", b"0" * 128, b"x"):
        page = await client.get("/login", headers={"cookie": b"tsudoi_csrf=" + odd})
        assert page.status_code == 200
        fresh = page.cookies.get("tsudoi_csrf")
        assert fresh and fresh.encode() != odd
        hidden = re.search(r'name="_csrf_token" value="([0-9a-f]+)"', page.text)
        assert hidden is not None and hidden.group(1) == fresh
