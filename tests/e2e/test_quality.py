"""Quality gates over every page a person can reach: axe-core (no serious/critical violations) at phone and
desktop size, the Nu HTML Checker (no errors), no sideways scrolling on phones, and the first-load weight of
the login page and My Page.

The crawl follows same-site links from My Page (member), the admin dashboard (admin) and the public pages, so
new screens are covered as soon as a menu links to them. URLs that differ only by numbers (ids, page numbers,
years in the query) count once.
Error pages (404, 403, the stale-form page) and forms showing an error are checked as well.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.e2e.conftest import ARTIFACTS, CHROMIUM_ARGS, LiveServer, assert_no_horizontal_scroll

ROOT = Path(__file__).resolve().parents[2]
SKIP_PATHS = re.compile(
    r"^/(logout|static/|sandbox-gateway|payments/notify)|\.(pdf|csv|svg|png|jpg|sqlite3)(\?|$)|/download"
)
PUBLIC_PAGES = [
    "/login",
    "/password/forgot",
    "/login/forgot-id",
    "/contact",
    "/help",
    "/signup",
    "/no-such-page",  # the 404 page
]
# A member also meets the 403 page (an admin URL) and the 404 page inside the member layout.
MEMBER_PAGES = ["/mypage", "/admin", "/no-such-page"]
MAX_PAGES_PER_ROLE = 120  # a guard against runaway links; reaching it fails the crawl test
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
PAGE_WEIGHT_BUDGET = 60 * 1024
DEMO_LOGINS = {"member": ("001234", "Tsudoi2026"), "admin": ("900001", "Kanri2026")}
LOGIN_SUBMIT = "form[action='/login'] button[type=submit]"


def send_empty_login(page: Any) -> None:
    page.goto("/login")
    page.locator(LOGIN_SUBMIT).click()


def send_login_after_cookies_cleared(page: Any) -> None:
    """The stale-form page: the CSRF cookie is gone (long-open tab, cleared cookies) when the form is sent."""
    page.goto("/login")
    page.locator("#field-member_id").fill("001234")
    page.context.clear_cookies()
    page.locator(LOGIN_SUBMIT).click()


def send_profile_with_a_bad_phone(page: Any) -> None:
    page.goto("/profile")
    page.locator("#field-phone").fill("12345")
    page.locator("form.profile-form button[type=submit]").click()


# Pages only a form submission shows: (role, name, fill and send, what the result shows).
FORM_CASES: list[tuple[str, str, Callable[[Any], None], str]] = [
    ("public", "login-with-errors", send_empty_login, "#error-summary"),
    ("public", "stale-form", send_login_after_cookies_cleared, "h1:has-text('もう一度送信してください')"),
    ("member", "profile-with-errors", send_profile_with_a_bad_phone, "#error-summary"),
]


def show_form_case(page: Any, send: Callable[[Any], None], shown: str) -> Any:
    """Send the case's form; returns the server's answer to the POST (a page when JavaScript is off)."""
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        send(page)
    page.locator(shown).first.wait_for()
    page.wait_for_load_state()
    return answer.value


def pattern_of(path: str) -> str:
    return re.sub(r"\d+", "{n}", path.split("#")[0])


def unsubscribe_pages(live_server: LiveServer) -> list[str]:
    """The digest mail's unsubscribe link (GET only asks), its done notice and a broken link."""
    from db import members as member_queries
    from services import digests

    member = live_server.run(lambda ctx: member_queries.get_by_number(ctx.db, DEMO_LOGINS["member"][0]))
    assert member is not None
    token = digests.unsubscribe_token(live_server.ctx.settings.secret_key, int(member["id"]))
    return [f"/unsubscribe/{token}", f"/unsubscribe/{token}?done=1", "/unsubscribe/not-a-valid-link"]


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


class _Links(HTMLParser):
    """The href of every <a> in a page, as the browser's getAttribute('href') reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def links_in(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.hrefs


def crawl(context: Any, live_server: LiveServer, starts: Iterable[str]) -> list[str]:
    """Breadth-first over same-site links; one path per numeric pattern. The pages are fetched over the
    context's HTTP client (its cookies, redirects followed), not rendered: the links are in the HTML."""
    seen_patterns: set[str] = set()
    queue = list(starts)
    found: list[str] = []
    while queue and len(found) < MAX_PAGES_PER_ROLE:
        path = queue.pop(0)
        if SKIP_PATHS.search(path) or pattern_of(path) in seen_patterns:
            continue
        seen_patterns.add(pattern_of(path))
        response = context.request.get(path, fail_on_status_code=False)
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        landed = response.url.removeprefix(live_server.url)
        if landed not in found:
            found.append(landed)
        for href in links_in(response.text()):
            if href.startswith("/") and not href.startswith("//"):
                queue.append(href.split("#")[0])
    return found


@pytest.fixture(scope="module")
def site_pages(browser: Any, live_server: LiveServer) -> dict[str, list[str]]:
    pages: dict[str, list[str]] = {}
    public_pages = PUBLIC_PAGES + unsubscribe_pages(live_server)
    for role, starts in (("member", MEMBER_PAGES), ("admin", ["/admin"]), (None, public_pages)):
        context = login_context(browser, live_server, role, VIEWPORTS["desktop"])
        pages[role or "public"] = crawl(context, live_server, starts)
        context.close()
    (ARTIFACTS).mkdir(exist_ok=True)
    (ARTIFACTS / "crawled-pages.json").write_text(
        json.dumps(pages, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return pages


def test_crawl_reaches_the_main_screens(site_pages: dict[str, list[str]]) -> None:
    for role, paths in site_pages.items():
        assert len(paths) < MAX_PAGES_PER_ROLE, f"the {role} crawl stopped at the cap: pages were left out"
    print("\ncrawled: " + ", ".join(f"{role} {len(paths)} pages" for role, paths in site_pages.items()))
    assert "/mypage" in site_pages["member"]
    assert {"/admin", "/no-such-page"} <= set(site_pages["member"])  # 403 and 404 pages
    assert "/no-such-page" in site_pages["public"]
    assert any(path.startswith("/unsubscribe/") for path in site_pages["public"])
    assert "/admin" in site_pages["admin"]
    assert any(path.startswith("/login") for path in site_pages["public"])


def serious(role: str, name: str, violations: list[dict[str, Any]]) -> list[str]:
    problems = []
    for violation in violations:
        if violation["impact"] in ("serious", "critical"):
            targets = [node["target"] for node in violation["nodes"]][:3]
            problems.append(f"{role} {name}: {violation['id']} ({violation['impact']}) {targets}")
    return problems


AXE_RUN = "axe.run({resultTypes: ['violations']}).then(results => results.violations)"
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
PARALLEL_PAGES = 4  # tabs open at once per role: the browser's renderers check while the server answers


def axe_over_pages(
    executable: str,
    live_server: LiveServer,
    viewport: dict[str, int],
    roles: list[tuple[str, Any, list[str]]],
) -> tuple[int, list[str]]:
    """axe-core (and, at phone width, the sideways-scroll check) over every path of every role, several
    pages at once: Playwright's async API in a thread of its own (the sync API's browser serves one page at
    a time) with its own Chromium. axe is installed once per context as an init script. `roles` holds
    (role, the logged-in storage state, paths). Returns the pages checked and the problems found."""
    from playwright.async_api import async_playwright

    axe_script = Axe().axe_script
    phone = viewport == VIEWPORTS["phone"]

    async def check(context: Any, role: str, queue: list[str], problems: list[str]) -> int:
        page = await context.new_page()
        checked = 0
        while queue:
            path = queue.pop(0)
            await page.goto(path)
            if phone:
                overflow = await page.evaluate(OVERFLOW)
                if overflow > 0:
                    problems.append(f"{role} {path}: page scrolls sideways by {overflow}px at phone width")
            problems.extend(serious(role, path, await page.evaluate(AXE_RUN)))
            checked += 1
        await page.close()
        return checked

    async def run() -> tuple[int, list[str]]:
        problems: list[str] = []
        checked = 0
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=executable, headless=True, args=CHROMIUM_ARGS
            )
            try:
                for role, state, paths in roles:
                    context = await browser.new_context(
                        viewport=viewport, locale="ja-JP", base_url=live_server.url, storage_state=state
                    )
                    context.set_default_timeout(30_000)
                    await context.add_init_script(script=axe_script)
                    queue = list(paths)
                    counts = await asyncio.gather(
                        *(check(context, role, queue, problems) for _ in range(PARALLEL_PAGES))
                    )
                    checked += sum(counts)
                    await context.close()
            finally:
                await browser.close()
        return checked, problems

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, run()).result()


# The axe check is split into one test per viewport, role and share of the role's pages, so several test
# processes share the work (the whole check took over a minute per viewport in one test). A page's share
# follows from its URL pattern alone, so every crawled page is in exactly one share whatever the crawl's order.
AXE_SHARES = {"member": 1, "admin": 2, "public": 1}


def share_of(path: str, shares: int) -> int:
    return zlib.crc32(pattern_of(path).encode("utf-8")) % shares


def test_every_crawled_page_is_in_exactly_one_axe_share(site_pages: dict[str, list[str]]) -> None:
    assert set(AXE_SHARES) == set(site_pages)
    for role, paths in site_pages.items():
        shares = [
            [path for path in paths if share_of(path, AXE_SHARES[role]) == share]
            for share in range(AXE_SHARES[role])
        ]
        assert sorted(path for share in shares for path in share) == sorted(paths)
        assert all(shares), f"an empty axe share for {role}: {shares}"


@pytest.mark.parametrize(
    ("viewport_name", "role", "share"),
    [
        (viewport, role, share)
        for viewport in VIEWPORTS
        for role, shares in AXE_SHARES.items()
        for share in range(shares)
    ],
)
def test_every_page_has_no_serious_accessibility_violations(
    browser: Any,
    live_server: LiveServer,
    site_pages: dict[str, list[str]],
    viewport_name: str,
    role: str,
    share: int,
) -> None:
    viewport = VIEWPORTS[viewport_name]
    context = login_context(browser, live_server, None if role == "public" else role, viewport)
    paths = [path for path in site_pages[role] if share_of(path, AXE_SHARES[role]) == share]
    checked, problems = axe_over_pages(
        browser.executable, live_server, viewport, [(role, context.storage_state(), paths)]
    )
    # Forms with an error shown, and the stale-form page (one browser tab each, as a person sends them).
    cases = [case for case in FORM_CASES if case[0] == role] if share == 0 else []
    axe = Axe()
    page = context.new_page()
    for _, name, send, shown in cases:
        show_form_case(page, send, shown)
        if viewport_name == "phone":
            try:
                assert_no_horizontal_scroll(page)
            except AssertionError as error:
                problems.append(f"{role} {name}: {error}")
        problems.extend(serious(role, name, axe.run(page).response["violations"]))
        checked += 1
    context.close()
    print(
        f"\naxe-core at {viewport_name}, {role} pages (share {share + 1} of {AXE_SHARES[role]}): "
        f"{checked} pages checked, {len(problems)} serious/critical problems"
    )
    assert checked == len(paths) + len(cases)
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
        # The pages a form submission shows, as the server sends them to a browser without JavaScript.
        plain = browser.new_context(
            viewport=VIEWPORTS["desktop"],
            locale="ja-JP",
            base_url=live_server.url,
            java_script_enabled=False,
            storage_state=context.storage_state(),
        )
        page = plain.new_page()
        for case_role, case_name, send, shown in FORM_CASES:
            if case_role == role:
                answer = show_form_case(page, send, shown)
                (folder / f"{role}_{case_name}.html").write_text(answer.text(), encoding="utf-8")
                count += 1
        plain.close()
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
