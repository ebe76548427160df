"""Every admin route (found by walking the app's routes, so new screens are covered too) refuses a
member with 403, sends an anonymous visitor to the login page, and sends an admin who has not passed
the second factor to the code step."""

from __future__ import annotations

import re

import pytest
from litestar.routes import HTTPRoute

from tests.helpers import csrf_token, login, make_member

SKIP_METHODS = {"HEAD", "OPTIONS"}


def admin_endpoints(app):
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not (
            route.path == "/admin" or route.path.startswith("/admin/")
        ):
            continue
        url = re.sub(r"\{[^}:]+:int\}", "1", route.path)
        url = re.sub(r"\{[^}:]+(:[^}]+)?\}", "x", url)
        for method in sorted(route.methods):
            if method not in SKIP_METHODS:
                found.append((method, url))
    return found


async def call(client, method, url):
    headers = {}
    data = None
    if method != "GET":
        token = await csrf_token(client)
        headers["x-csrftoken"] = token
        data = {"_csrf_token": token}
    return await client.request(method, url, data=data, headers=headers, follow_redirects=False)


def test_the_walk_finds_the_console_routes(app):
    endpoints = admin_endpoints(app)
    for expected in (
        ("GET", "/admin"),
        ("GET", "/admin/members"),
        ("POST", "/admin/members/1/unlock"),
        ("POST", "/admin/import"),
        ("POST", "/admin/letters"),
        ("POST", "/admin/settings"),
        ("GET", "/admin/audit"),
        ("POST", "/admin/backup/download"),
        ("POST", "/admin/security/reset"),
    ):
        assert expected in endpoints, expected


async def test_anonymous_visitor_is_sent_to_the_login_page(client, app):
    for method, url in admin_endpoints(app):
        response = await call(client, method, url)
        assert response.status_code == 303, (method, url, response.status_code)
        assert response.headers["location"].startswith("/login?next="), (method, url)


async def test_member_is_refused_with_403(client, app, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    for method, url in admin_endpoints(app):
        response = await call(client, method, url)
        assert response.status_code == 403, (method, url, response.status_code)
        assert "管理者のみが利用できるページです" in response.text


async def test_admin_before_the_second_factor_is_sent_to_the_code_step(client, app, app_ctx):
    await make_member(app_ctx, "900001", role="admin")
    await login(client, "900001")
    for method, url in admin_endpoints(app):
        response = await call(client, method, url)
        assert response.status_code == 303, (method, url, response.status_code)
        assert response.headers["location"].startswith("/mfa?next="), (method, url)


@pytest.mark.parametrize("url", ["/mfa", "/mfa/enrol"])
async def test_code_step_pages_need_a_login(client, url):
    response = await client.get(url, follow_redirects=False)
    assert response.headers["location"].startswith("/login?next=")
