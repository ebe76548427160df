"""Lighthouse against the running app with the demo data: the installable app's checks (PWA category) and
accessibility, SEO and best practices, for the login screen, My Page and the membership card at phone size.

Lighthouse 11 is the last release with the PWA category (12 dropped it); it is installed from npm into
.cache/lighthouse on first use and runs Debian's Chromium. Scores are Lighthouse's own 0–100.

Run: .venv/bin/python -m bench.lighthouse_bench
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404 - runs npm and Lighthouse, fixed arguments
import sys
import tempfile
from pathlib import Path

import httpx

from bench.harness import Server

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "lighthouse"
LIGHTHOUSE = CACHE / "node_modules" / ".bin" / "lighthouse"
VERSION = "11.7.1"
CATEGORIES = ("pwa", "accessibility", "seo", "best-practices")
DEMO_MEMBER, DEMO_PASSWORD = "001234", "Tsudoi2026"


def install() -> None:
    if LIGHTHOUSE.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed for Lighthouse (apt-get install npm)")
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # nosec B603
        [
            npm,
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(CACHE),
            f"lighthouse@{VERSION}",
        ],
        check=True,
    )


def session_cookie(base_url: str) -> str:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        client.get("/login")
        response = client.post(
            "/login",
            data={
                "_csrf_token": client.cookies["tsudoi_csrf"],
                "member_id": DEMO_MEMBER,
                "password": DEMO_PASSWORD,
            },
        )
        assert response.status_code in (200, 303), response.status_code
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def run_lighthouse(url: str, cookie: str | None, out: Path) -> dict[str, float]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    command = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--form-factor=mobile",
        "--screenEmulation.mobile",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
    ]
    if cookie:
        command.append(f"--extra-headers={json.dumps({'Cookie': cookie})}")
    subprocess.run(command, check=True, env={**os.environ, "CHROME_PATH": chromium})  # nosec B603
    report = json.loads(out.read_text(encoding="utf-8"))
    scores = {name: round(report["categories"][name]["score"] * 100) for name in CATEGORIES}
    failed = [
        audit_id
        for audit_id, audit in report["audits"].items()
        if audit.get("score") == 0 and audit.get("scoreDisplayMode") == "binary"
    ]
    final = report.get("finalDisplayedUrl") or report.get("finalUrl")
    shown = url if final == url else f"{url} (ended at {final})"
    print(f"{shown}: " + ", ".join(f"{name} {score}" for name, score in scores.items()))
    if failed:
        print(f"  failed audits: {', '.join(sorted(failed))}")
    return scores


def main() -> None:
    install()
    folder = Path(tempfile.mkdtemp(prefix="tsudoi-lighthouse-"))
    env = {"TSUDOI_DATABASE": str(folder / "tsudoi.sqlite3"), "TSUDOI_SECRET_KEY": "lighthouse-" + "x" * 40}
    subprocess.run(  # nosec B603
        [str(ROOT / ".venv" / "bin" / "litestar"), "tsudoi", "demo"],
        check=True,
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
    )
    server = Server("app:app", env)
    try:
        server.wait_ready("/healthz")
        cookie = session_cookie(server.url)
        for path, with_cookie in (("/login", False), ("/mypage", True), ("/card", True)):
            run_lighthouse(f"{server.url}{path}", cookie if with_cookie else None, folder / "report.json")
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
