"""Every admin route (found by walking the app's routes, so new screens are covered too) refuses a
member with 403, sends an anonymous visitor to the login page, and sends an admin who has not passed
the second factor to the code step. 事務局スタッフ (the third role) open exactly the screens marked
STAFF_ALLOWED and get a Japanese 403 everywhere else; the lists below pin which screens those are."""

from __future__ import annotations

import re

import pytest
from litestar.routes import HTTPRoute

from routes.guards import STAFF_REFUSED_MESSAGE, staff_allowed
from tests.helpers import csrf_token, login, login_admin, make_member

SKIP_METHODS = {"HEAD", "OPTIONS"}


def admin_endpoints(app, *, with_handlers=False):
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
                handler = route.route_handler_map[method][0]
                found.append((method, url, handler) if with_handlers else (method, url))
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


# What the issue asks staff to have (members, letters, the inbox, articles, events; their own second
# factor; the dashboard they land on) and not to have (settings, backups, payments, roles, the audit log).
STAFF_OPEN = (
    "/admin",
    "/admin/members",
    "/admin/letters",
    "/admin/inbox",
    "/admin/articles",
    "/admin/events",
    "/admin/security",
)
STAFF_CLOSED = (
    "/admin/settings",
    "/admin/backup",
    "/admin/audit",
    "/admin/staff",
    "/admin/fees",
    "/admin/payments",
    "/admin/tiers",
    "/admin/codes",
    "/admin/closures",
    "/admin/import",
    "/admin/digests",
    "/admin/help",
    "/admin/taxonomies",
    "/admin/feeds",
    "/admin/stats",
    "/admin/app",
    "/admin/connect",
)


def _screen(url):
    for prefix in sorted(STAFF_OPEN + STAFF_CLOSED, key=len, reverse=True):
        if url == prefix or url.startswith(prefix + "/"):
            return prefix
    return None


async def make_staff(app_ctx, number="900101"):
    member_id = await make_member(app_ctx, number, role="admin", family_name="事務局", given_name="スタッフ")
    await app_ctx.db.execute("UPDATE members SET staff = 1 WHERE id = ?", (member_id,))
    return member_id


def test_every_console_screen_is_classified_for_staff(app):
    for method, url, handler in admin_endpoints(app, with_handlers=True):
        screen = _screen(url)
        if screen in STAFF_OPEN:
            assert staff_allowed(handler), (method, url)
        elif screen in STAFF_CLOSED:
            assert not staff_allowed(handler), (method, url)


async def test_staff_open_their_screens_and_get_403_elsewhere(client, app, app_ctx):
    await make_staff(app_ctx)
    await login_admin(client, app_ctx, "900101")
    opened = set()
    for method, url, handler in admin_endpoints(app, with_handlers=True):
        response = await call(client, method, url)
        assert response.status_code < 500, (method, url, response.status_code)
        if staff_allowed(handler):
            assert response.status_code != 403, (method, url)
            opened.add(_screen(url))
        else:
            assert response.status_code == 403, (method, url, response.status_code)
            assert STAFF_REFUSED_MESSAGE in response.text, (method, url)
    assert opened >= set(STAFF_OPEN) - {None}


async def test_staff_before_the_second_factor_are_sent_to_the_code_step(client, app, app_ctx):
    await make_staff(app_ctx)
    await login(client, "900101")
    for method, url in admin_endpoints(app):
        response = await call(client, method, url)
        assert response.status_code == 303, (method, url, response.status_code)
        assert response.headers["location"].startswith("/mfa?next="), (method, url)
