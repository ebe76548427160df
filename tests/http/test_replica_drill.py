"""RESTORE DRILL (issue 22): off-site replication with Litestream survives losing the server.

The real app (uvicorn serving create_app() in its own process) writes members and paid fees from four
concurrent writers while `litestream replicate` streams the WAL to a file:// replica. Both are killed with
SIGKILL mid-write, the database and its -wal/-shm are deleted, and `litestar tsudoi restore --from-replica`
brings it back. The restored file must pass PRAGMA integrity_check, hold a gap-free prefix of the commits, and
hold every payment acknowledged earlier than Litestream's intervals before the kill; the seconds of writes lost
(the recovery point) are printed. Locally the drill skips without the litestream binary; with CI=true it fails.
Bounded: about 6 s of writes, the whole test well under 60 s.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.helpers import free_port
from tests.http.test_cli import run_cli
from tests.replica_support import ROOT, Litestream, litestream_or_skip

WRITE_SECONDS = 6.0
SYNC_INTERVAL = 1  # TSUDOI_REPLICA_SYNC_INTERVAL for the drill
# Litestream notices WAL changes every monitor-interval (1 s, its default) and uploads every sync-interval;
# a write acknowledged longer ago than both (plus slack for a busy 2-core CI machine) must survive.
MONITOR_INTERVAL = 1.0
SLACK = 2.0


def drill_env(tmp_path: Path) -> dict[str, str]:
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("TSUDOI_")},
        "TSUDOI_DATABASE": str(tmp_path / "data" / "tsudoi.sqlite3"),
        "TSUDOI_REPLICA_URL": f"file://{tmp_path / 'replica'}",
        "TSUDOI_REPLICA_SYNC_INTERVAL": str(SYNC_INTERVAL),
        "TSUDOI_SECRET_KEY": "drill-secret-" + "d" * 40,
        "TSUDOI_SCHEDULER": "off",
        "TSUDOI_LOG_REQUESTS": "off",
        "TSUDOI_BASE_URL": "http://127.0.0.1",
    }


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "litestar"), "--app", "app:app", "tsudoi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def cli_in_process(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`cli` through Click's runner in this process, with the drill's settings (and no other TSUDOI_*)."""
    unset: dict[str, str | None] = {key: None for key in os.environ if key.startswith("TSUDOI_")}
    drill = {key: value for key, value in env.items() if key.startswith("TSUDOI_")}
    assert drill["TSUDOI_DATABASE"] == str(tmp_path / "data" / "tsudoi.sqlite3")  # run_cli's database
    return run_cli(tmp_path, *args, env={**unset, **drill})


def member_count(database: Path) -> int:
    conn = sqlite3.connect(database)
    try:
        return int(conn.execute("SELECT count(*) FROM members").fetchone()[0])
    finally:
        conn.close()


def start_app_and_litestream(
    tmp_path: Path, env: dict[str, str], port: int
) -> tuple[subprocess.Popen[str], Litestream]:
    """The real app in its own process group (so SIGKILL takes it whole), and Litestream's handle."""
    app = subprocess.Popen(
        [sys.executable, "-m", "tests.replica_support", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "app.log").open("wb"),
        text=True,
        start_new_session=True,
    )
    data = tmp_path / "data"
    return app, Litestream(data / "litestream.yml", data / "litestream.sock", tmp_path / "ls.log")


def test_restore_drill_after_sigkill_loses_only_the_last_seconds(tmp_path: Path) -> None:
    litestream_or_skip()
    env = drill_env(tmp_path)
    database = tmp_path / "data" / "tsudoi.sqlite3"
    port = free_port()
    app, litestream = start_app_and_litestream(tmp_path, env, port)
    acks: list[tuple[int, float]] = []
    try:
        assert app.stdout is not None and app.stdin is not None
        assert app.stdout.readline().strip() == "ready", (tmp_path / "app.log").read_text()
        # The app wrote Litestream's config from its settings on start.
        assert (tmp_path / "data" / "litestream.yml").stat().st_mode & 0o777 == 0o600
        litestream.start().wait_synced(database)

        def read_acks() -> None:
            assert app.stdout is not None
            for line in app.stdout:
                parts = line.split()
                if len(parts) == 3 and parts[0] == "ack":
                    acks.append((int(parts[1]), float(parts[2])))

        reader = threading.Thread(target=read_acks, daemon=True)
        reader.start()
        app.stdin.write("go\n")
        app.stdin.flush()
        started = time.monotonic()
        pages = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as client:
            while time.monotonic() - started < WRITE_SECONDS:  # readers on the live app during the writes
                assert client.get("/login").status_code == 200
                pages += 1
        killed_at = time.monotonic()
        os.killpg(app.pid, signal.SIGKILL)
        litestream.kill()
        app.wait(timeout=10)
        reader.join(timeout=5)
    finally:
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGKILL)
        litestream.kill()
    assert len(acks) > 50, f"too few writes under load: {len(acks)}"

    # The server is lost: the database and its WAL and shared memory go.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    restore_started = time.monotonic()
    restored = cli(env, "restore", "--from-replica", "--yes")
    restore_seconds = time.monotonic() - restore_started
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "複製先" in restored.stdout and "から復元しました" in restored.stdout

    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        members = dict(
            conn.execute("SELECT member_number, id FROM members WHERE member_number LIKE '7%'").fetchall()
        )
        paid = {
            row[0]
            for row in conn.execute(
                "SELECT member_number FROM fees WHERE status = 'paid' AND paid_method = 'bank_transfer'"
            )
        }
    finally:
        conn.close()
    ids = sorted(members.values())
    # Writes are serialized, so what survives is a prefix of the commits: no id is missing in between.
    assert ids and ids == list(range(ids[0], ids[-1] + 1)), "the restored members have gaps"
    lost = [(unit, at) for unit, at in acks if f"{700000 + unit}" not in paid]
    bound = SYNC_INTERVAL + MONITOR_INTERVAL + SLACK
    too_old = [(unit, round(killed_at - at, 2)) for unit, at in lost if killed_at - at > bound]
    assert not too_old, f"acknowledged payments older than {bound} s are missing: {too_old[:5]}"
    recovery_point = killed_at - min(at for _, at in lost) if lost else 0.0
    print(
        f"\nRESTORE DRILL: {len(acks)} payments acknowledged in {WRITE_SECONDS:.0f} s "
        f"({pages} pages served alongside), {len(lost)} lost; recovery point {recovery_point:.2f} s of writes "
        f"lost; restore took {restore_seconds:.2f} s"
    )


def test_restore_to_a_point_in_time_gives_an_earlier_prefix(tmp_path: Path) -> None:
    """`--timestamp` restores the database as it was at an earlier LTX file's time: fewer rows, no gaps."""
    binary = litestream_or_skip()
    env = drill_env(tmp_path)
    database = tmp_path / "data" / "tsudoi.sqlite3"
    port = free_port()
    app, litestream = start_app_and_litestream(tmp_path, env, port)
    try:
        assert app.stdout is not None and app.stdin is not None
        assert app.stdout.readline().strip() == "ready", (tmp_path / "app.log").read_text()
        litestream.start().wait_synced(database)
        app.stdin.write("go\n")
        app.stdin.flush()
        # Writes spread over several seconds, so the replica holds several points in time (its listing has
        # whole seconds) with writes before and after the middle ones, even when the first write is late.
        time.sleep(6)
    finally:
        os.killpg(app.pid, signal.SIGKILL)
        app.wait(timeout=10)
        litestream.kill()
    files = json.loads(
        subprocess.run(
            [binary, "ltx", "-json", env["TSUDOI_REPLICA_URL"]],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    )
    stamps = sorted({item["timestamp"] for item in files})
    assert len(stamps) >= 3, stamps

    # The same command in this process (Click's runner): the drill above restores in a process of its own.
    latest = cli_in_process(tmp_path, env, "restore", "--from-replica", "--yes")
    assert latest.returncode == 0, latest.stderr
    count_latest = member_count(database)
    # On a loaded machine the app's first write can land after the middle point in time, so the points are
    # tried from the middle on (then the earlier ones) until one holds some but not all of the rows.
    middle_first = stamps[len(stamps) // 2 : -1] + stamps[: len(stamps) // 2]
    ids: list[int] = []
    refused: list[str] = []
    for stamp in middle_first:
        before = member_count(database)
        earlier = cli_in_process(tmp_path, env, "restore", "--from-replica", "--timestamp", stamp, "--yes")
        if earlier.returncode != 0:
            # A listed time Litestream holds no restorable state for: it answers "timestamp does not exist"
            # (seen once in CI, under load). The command says so in Japanese and leaves the database as it was.
            assert (
                "から取り出せませんでした" in earlier.stderr and "timestamp does not exist" in earlier.stderr
            )
            assert member_count(database) == before
            refused.append(stamp)
            continue
        assert "時点" in earlier.stdout and "before-restore-" in earlier.stdout
        conn = sqlite3.connect(database)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            ids = [row[0] for row in conn.execute("SELECT id FROM members ORDER BY id")]
        finally:
            conn.close()
        if 0 < len(ids) < count_latest:
            break
    assert 0 < len(ids) < count_latest, (stamps, refused)
    assert ids == list(range(ids[0], ids[-1] + 1))
