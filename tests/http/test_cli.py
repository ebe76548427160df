"""The `litestar tsudoi …` commands, run as an admin would run them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(tmp_path: Path, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TSUDOI_DATABASE": str(tmp_path / "data" / "tsudoi.sqlite3"),
        "TSUDOI_SCHEDULER": "off",
        "TSUDOI_LOG_REQUESTS": "off",
    }
    litestar = Path(sys.executable).parent / "litestar"
    return subprocess.run(
        [str(litestar), "--app", "app:app", "tsudoi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input=input_text,
    )


def test_demo_is_idempotent_and_prints_the_logins(tmp_path):
    first = run_cli(tmp_path, "demo")
    assert first.returncode == 0, first.stderr
    assert "001234" in first.stdout and "Tsudoi2026" in first.stdout
    second = run_cli(tmp_path, "demo")
    assert second.returncode == 0, second.stderr
    db = sqlite3.connect(tmp_path / "data" / "tsudoi.sqlite3")
    assert db.execute("SELECT count(*) FROM members WHERE member_number = '001234'").fetchone()[0] == 1
    db.close()


def test_create_admin_and_backup(tmp_path):
    created = run_cli(
        tmp_path,
        "create-admin",
        "--member-number",
        "０００９",
        "--email",
        "admin@example.jp",
        "--password",
        "Kanri2026x",
    )
    assert created.returncode == 0, created.stderr
    again = run_cli(
        tmp_path, "create-admin", "--member-number", "0009", "--email", "a@example.jp", "--password", "x"
    )
    assert again.returncode == 1
    assert "すでに使われています" in again.stderr
    target = tmp_path / "backup.sqlite3"
    backup = run_cli(tmp_path, "backup", str(target))
    assert backup.returncode == 0, backup.stderr
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT role FROM members WHERE member_number = '0009'").fetchone()[0] == "admin"
    copy.close()
