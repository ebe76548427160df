"""Browser tests: the real app served by uvicorn on loopback, driven by Playwright in Debian's Chromium.

One browser for the whole e2e package; every test gets a fresh phone-sized context (390×844, ja-JP).
Locally the tests skip, saying why, when no Chromium is installed; with CI set they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.demo import load_demo
from tests.helpers import free_port, test_settings
from tests.live_server import LiveServer

# Debian's headless shell first (package chromium-headless-shell: the same Chromium without the browser's
# UI layers, what Playwright itself runs for headless tests); the browser tests take about a third less CPU
# with it than with the full chromium, which stays a fallback.
CHROMIUM_CANDIDATES = (
    "/usr/bin/chromium-headless-shell",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def find_chromium() -> str | None:
    configured = os.environ.get("TSUDOI_CHROMIUM")
    if configured and Path(configured).exists():
        return configured
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium-headless-shell") or shutil.which("chromium")


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    port = free_port()
    # localhost, not 127.0.0.1: passkeys (WebAuthn) need a host name as the relying party id.
    settings = test_settings(tmp_path_factory.mktemp("e2e"), base_url=f"http://localhost:{port}")
    server = LiveServer(settings, port)
    server.start()
    server.run(load_demo)
    try:
        yield server
    finally:
        server.stop()


class BrowserHandle:
    """The session's one Chromium. If it ever crashes, the next test gets a fresh one instead of every
    later test failing with 'Target closed'."""

    def __init__(self, playwright: Any, executable: str) -> None:
        self.playwright = playwright
        self.executable = executable
        self.browser = self._launch()

    def _launch(self) -> Any:
        return self.playwright.chromium.launch(
            executable_path=self.executable, headless=True, args=CHROMIUM_ARGS
        )

    def new_context(self, **options: Any) -> Any:
        if not self.browser.is_connected():
            self.browser = self._launch()
        # The service worker (static/sw.js) is tested with it on in test_pwa_card.py; elsewhere it stays
        # off, so no test's requests depend on whether a worker installed earlier in the same context.
        options.setdefault("service_workers", "block")
        return self.browser.new_context(**options)

    def close(self) -> None:
        if self.browser.is_connected():
            self.browser.close()


@pytest.fixture(scope="package")
def browser() -> Iterator[BrowserHandle]:
    executable = find_chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail(
                "Chromium is required in CI (apt-get install -y chromium-headless-shell) but was not found."
            )
        pytest.skip(
            "Chromium not found (/usr/bin/chromium-headless-shell or /usr/bin/chromium): browser tests skipped. "
            "Install it with apt-get install chromium-headless-shell."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        handle = BrowserHandle(playwright, executable)
        try:
            yield handle
        finally:
            handle.close()


def phone_context(
    browser: Any,
    base_url: str,
    width: int = 390,
    height: int = 844,
    *,
    service_workers: str = "block",
    **options: Any,
) -> Any:
    """A fresh phone-sized browser context (Japanese, Tokyo time, touch) on `base_url`."""
    context = browser.new_context(
        service_workers=service_workers,
        **options,
        viewport={"width": width, "height": height},
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
        base_url=base_url,
    )
    context.set_default_timeout(10_000)
    return context


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = phone_context(browser, live_server.url)
    opened = context.new_page()
    try:
        yield opened
    finally:
        from playwright.sync_api import Error as PlaywrightError

        try:
            context.close()
        except PlaywrightError:
            pass  # the browser went away; BrowserHandle relaunches it for the next test


def screenshot(page: Any, name: str) -> Path:
    """Keep a picture of the page for a person to look at (test-artifacts/ is git-ignored). One image pixel
    per CSS pixel: a phone context's two device pixels per CSS pixel made four times the pixels to encode
    (about 0.3 s instead of 0.1 s a picture) for the same layout."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, scale="css")
    return path


def assert_no_horizontal_scroll(page: Any) -> None:
    # Measured on the page as shown, once its stylesheet has loaded (the load event): on a busy machine the
    # text can be on screen for Playwright before app.css arrives, and unstyled content is wider.
    page.wait_for_load_state("load")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"page scrolls sideways by {overflow}px at phone width"
