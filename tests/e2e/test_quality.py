"""Quality gates over every page a person can reach: axe-core (no serious/critical violations) at phone and
desktop size, the Nu HTML Checker (no errors), no sideways scrolling on phones, and the first-load weight of
the login page and My Page.

The crawl follows same-site links from My Page (member), the admin dashboard (admin) and the public pages, so
new screens are covered as soon as a menu links to them. Paths that differ only by numbers count once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.e2e.conftest import ARTIFACTS, LiveServer, assert_no_horizontal_scroll

ROOT = Path(__file__).resolve().parents[2]
SKIP_PATHS = re.compile(
    r"^/(logout|static/|unsubscribe|sandbox-gateway|payments/notify)|\.(pdf|csv|svg|png|jpg|sqlite3)(\?|$)|/download"
)
PUBLIC_PAGES = [
    "/login",
    "/password/forgot",
    "/login/forgot-id",
    "/contact",
    "/help",
    "/signup",
    "/no-such-page",
]
MAX_PAGES_PER_ROLE = 80
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
PAGE_WEIGHT_BUDGET = 60 * 1024
DEMO_LOGINS = {"member": ("001234", "Tsudoi2026"), "admin": ("900001", "Kanri2026")}


def pattern_of(path: str) -> str:
    return re.sub(r"/\d+", "/{n}", path.split("#")[0])


def login_context(browser: Any, live_server: LiveServer, role: str | None, viewport: dict[str, int]) -> Any:
    context = browser.new_context(viewport=viewport, locale="ja-JP", base_url=live_server.url)
    context.set_default_timeout(10_000)
    if role is not None:
        page = context.new_page()
        number, password = DEMO_LOGINS[role]
        page.goto("/login")
        page.locator("#field-member_id").fill(number)
        page.locator("#field-password").fill(password)
        page.locator("form[action='/login'] button[type=submit]").click()
        page.wait_for_load_state()
        second_factor = getattr(live_server, "complete_admin_second_factor", None)
        if role == "admin" and second_factor is not None:
            second_factor(page)
        page.close()
    return context


def crawl(context: Any, live_server: LiveServer, starts: Iterable[str]) -> list[str]:
    """Breadth-first over same-site links; one path per numeric pattern."""
    page = context.new_page()
    seen_patterns: set[str] = set()
    queue = list(starts)
    found: list[str] = []
    while queue and len(found) < MAX_PAGES_PER_ROLE:
        path = queue.pop(0)
        if SKIP_PATHS.search(path) or pattern_of(path) in seen_patterns:
            continue
        seen_patterns.add(pattern_of(path))
        response = page.goto(path)
        if response is None or "text/html" not in response.headers.get("content-type", ""):
            continue
        landed = page.url.removeprefix(live_server.url)
        if landed not in found:
            found.append(landed)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            if href and href.startswith("/") and not href.startswith("//"):
                queue.append(href.split("#")[0])
    page.close()
    return found


@pytest.fixture(scope="module")
def site_pages(browser: Any, live_server: LiveServer) -> dict[str, list[str]]:
    pages: dict[str, list[str]] = {}
    for role, starts in (("member", ["/mypage"]), ("admin", ["/admin"]), (None, PUBLIC_PAGES)):
        context = login_context(browser, live_server, role, VIEWPORTS["desktop"])
        pages[role or "public"] = crawl(context, live_server, starts)
        context.close()
    (ARTIFACTS).mkdir(exist_ok=True)
    (ARTIFACTS / "crawled-pages.json").write_text(
        json.dumps(pages, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return pages


def test_crawl_reaches_the_main_screens(site_pages: dict[str, list[str]]) -> None:
    assert "/mypage" in site_pages["member"]
    assert "/admin" in site_pages["admin"]
    assert any(path.startswith("/login") for path in site_pages["public"])


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_every_page_has_no_serious_accessibility_violations(
    browser: Any, live_server: LiveServer, site_pages: dict[str, list[str]], viewport_name: str
) -> None:
    axe = Axe()
    problems: list[str] = []
    checked = 0
    for role, paths in site_pages.items():
        context = login_context(
            browser, live_server, None if role == "public" else role, VIEWPORTS[viewport_name]
        )
        page = context.new_page()
        for path in paths:
            page.goto(path)
            if viewport_name == "phone":
                try:
                    assert_no_horizontal_scroll(page)
                except AssertionError as error:
                    problems.append(f"{role} {path}: {error}")
            results = axe.run(page)
            checked += 1
            for violation in results.response["violations"]:
                if violation["impact"] in ("serious", "critical"):
                    targets = [node["target"] for node in violation["nodes"]][:3]
                    problems.append(f"{role} {path}: {violation['id']} ({violation['impact']}) {targets}")
        # A form with an error shown, too.
        if role == "public":
            page.goto("/login")
            page.locator("form[action='/login'] button[type=submit]").click()
            page.wait_for_load_state()
            for violation in axe.run(page).response["violations"]:
                if violation["impact"] in ("serious", "critical"):
                    problems.append(f"login with errors: {violation['id']}")
            checked += 1
        context.close()
    print(
        f"\naxe-core at {viewport_name}: {checked} pages checked, {len(problems)} serious/critical problems"
    )
    assert not problems, "\n".join(problems)


def find_vnu() -> list[str] | None:
    jar = os.environ.get("TSUDOI_VNU_JAR") or str(ROOT / ".cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar")
    java = shutil.which("java")
    if java and Path(jar).exists():
        return [java, "-jar", jar]
    return None


def test_every_page_is_valid_html(
    browser: Any, live_server: LiveServer, site_pages: dict[str, list[str]]
) -> None:
    command = find_vnu()
    if command is None:
        if os.environ.get("CI"):
            pytest.fail("The Nu HTML Checker is required in CI (java + vnu-jar from scripts/test.sh).")
        pytest.skip("Nu HTML Checker not found (java and .cache/vnu): HTML validation skipped.")
    folder = ARTIFACTS / "html"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    count = 0
    for role, paths in site_pages.items():
        context = login_context(
            browser, live_server, None if role == "public" else role, VIEWPORTS["desktop"]
        )
        for path in paths:
            response = context.request.get(path)
            name = f"{role}{re.sub(r'[^A-Za-z0-9]+', '_', path)}.html"
            (folder / name).write_text(response.text(), encoding="utf-8")
            count += 1
        context.close()
    run = subprocess.run(  # noqa: S603 — the checker we installed
        [*command, "--format", "json", "--errors-only", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    messages = json.loads(run.stderr or run.stdout or '{"messages": []}')["messages"]
    errors = [
        f"{Path(m.get('url', '')).name}:{m.get('lastLine')}: {m.get('message')}"
        for m in messages
        if m["type"] == "error"
    ]
    print(f"\nNu HTML Checker: {count} pages, {len(errors)} errors")
    assert not errors, "\n".join(errors[:50])


@pytest.mark.parametrize(("role", "path"), [(None, "/login"), ("member", "/mypage")])
def test_first_load_stays_under_the_page_weight_budget(
    browser: Any, live_server: LiveServer, role: str | None, path: str
) -> None:
    logged_in = login_context(browser, live_server, role, VIEWPORTS["phone"])
    # A fresh context with only the login cookie: nothing cached, as on a member's first visit.
    context = browser.new_context(
        viewport=VIEWPORTS["phone"],
        locale="ja-JP",
        base_url=live_server.url,
        storage_state=logged_in.storage_state(),
    )
    logged_in.close()
    page = context.new_page()
    responses: list[Any] = []
    page.on("requestfinished", lambda request: responses.append(request))
    page.goto(path)
    page.wait_for_load_state("networkidle")
    total = 0
    for request in responses:
        sizes = request.sizes()
        total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
    print(f"\nfirst load of {path}: {total / 1024:.1f} KB compressed over {len(responses)} requests")
    context.close()
    assert total < PAGE_WEIGHT_BUDGET
