"""The `litestar tsudoi …` commands, run as an admin would run them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "TSUDOI_DATABASE": str(tmp_path / "data" / "tsudoi.sqlite3"),
        "TSUDOI_SCHEDULER": "off",
        "TSUDOI_LOG_REQUESTS": "off",
        **extra,
    }


def run_cli(
    tmp_path: Path, *args: str, input_text: str | None = None, env: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """`litestar --app app:app tsudoi ARGS` in this process, through Litestar's own CLI group and Click's
    runner (a process start costs seconds; test_demo_is_idempotent_and_prints_the_logins keeps one real
    run). The environment is the command's for the call only; the answer has a process's shape."""
    from click.testing import CliRunner
    from litestar.cli.main import litestar_group

    command = ["--app", "app:app", "tsudoi", *args]
    result = CliRunner().invoke(
        litestar_group, command, input=input_text, env={**cli_env(tmp_path), **(env or {})}
    )
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(command, result.exit_code, result.stdout, stderr)


def run_cli_process(
    tmp_path: Path, *args: str, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The same command as its own process, exactly as an admin runs it."""
    litestar = Path(sys.executable).parent / "litestar"
    return subprocess.run(  # noqa: S603 — the venv's own litestar
        [str(litestar), "--app", "app:app", "tsudoi", *args],
        cwd=ROOT,
        env={**os.environ, **cli_env(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        input=input_text,
    )


def test_demo_is_idempotent_and_prints_the_logins(tmp_path):
    first = run_cli_process(tmp_path, "demo")  # the one real process start of the CLI tests
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
