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


def fill_path(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


@pytest.fixture
async def member_client(
    app: Litestar, app_ctx: Any, client: AsyncTestClient[Litestar]
) -> AsyncTestClient[Litestar]:
    await make_member(app_ctx, "005005")
    await login(client, "005005")
    return client


@pytest.mark.parametrize("path_value", ["1", "999999", "abc", "%2e%2e", "0"])
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


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(fields=st.dictionaries(st.sampled_from(FIELD_NAMES), HOSTILE_TEXT, max_size=8))
async def test_random_form_values_never_cause_a_server_error(
    app: Litestar, member_client: Any, fields: dict[str, str]
) -> None:
    token = await csrf_token(member_client)
    for method, path in routes(app):
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
