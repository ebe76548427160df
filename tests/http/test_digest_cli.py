"""`litestar tsudoi send-digests`: dry run, a real run for a chosen moment, and no second copy."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from tests.http import test_cli as cli

STAMP = "2026-01-01T00:00:00.000000Z"


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli.run_cli(
        tmp_path, "send-digests", *args, env={"TSUDOI_SECRET_KEY": "cli-test-secret-" + "x" * 32}
    )


def seed(database: Path) -> None:
    db = sqlite3.connect(database)
    db.execute(
        "INSERT INTO members (member_number, family_name, given_name, email, digest_frequency, created_at, updated_at) "
        "VALUES ('004321', '田中', '一郎', 'tanaka@example.jp', 'weekly', ?, ?)",
        (STAMP, STAMP),
    )
    member_id = db.execute("SELECT id FROM members WHERE member_number = '004321'").fetchone()[0]
    db.execute(
        "INSERT INTO conditions (member_id, name, created_at, updated_at) VALUES (?, '全般', ?, ?)",
        (member_id, STAMP, STAMP),
    )
    db.execute(
        "INSERT INTO articles (title, published_at, created_at, updated_at) VALUES ('展示会のご報告', ?, ?, ?)",
        ("2026-11-20T01:00:00.000000Z", STAMP, STAMP),
    )
    db.commit()
    db.close()


def test_send_digests_dry_run_then_once_only(tmp_path: Path) -> None:
    first = run_cli(tmp_path, "--kind", "weekly", "--at", "2026-11-25T07:30", "--dry-run")
    assert first.returncode == 0, first.stderr
    assert "送信予定 0 名" in first.stdout
    seed(tmp_path / "data" / "tsudoi.sqlite3")

    dry = run_cli(tmp_path, "--kind", "weekly", "--at", "2026-11-25T07:30", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "weekly:2026-11-18" in dry.stdout
    assert "004321 田中 一郎 <tanaka@example.jp>: 1件" in dry.stdout and "・展示会のご報告" in dry.stdout
    outbox = tmp_path / "data" / "outbox"
    assert not outbox.exists() or not list(outbox.glob("*.eml"))

    sent = run_cli(tmp_path, "--kind", "weekly", "--at", "2026-11-25T07:30")
    assert sent.returncode == 0, sent.stderr
    assert "送信 1" in sent.stdout
    assert len(list(outbox.glob("*.eml"))) == 1
    again = run_cli(tmp_path, "--kind", "weekly", "--at", "2026-11-26T09:00+09:00")
    assert again.returncode == 0 and "すでに送信済み" in again.stdout
    assert len(list(outbox.glob("*.eml"))) == 1

    bad = run_cli(tmp_path, "--kind", "weekly", "--at", "来週の水曜日")
    assert bad.returncode == 2 and "読み取れません" in bad.stdout
