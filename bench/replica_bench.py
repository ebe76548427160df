"""Off-site replication benchmark: recovery point and restore time with Litestream for a ~100 MB database.

1. A Tsudoi database (real migrations) is filled with ~100 MB of members and paid fees.
2. `litestream replicate` (the config the app writes) uploads it to a file:// replica: time to the first sync.
3. The real app serves and writes members and payments from four writers for --seconds; then the app and
   Litestream are killed with SIGKILL and the database, -wal and -shm deleted.
4. `litestar tsudoi restore --from-replica` brings it back: restore time (also `litestream restore` alone),
   PRAGMA integrity_check, and the recovery point (seconds of acknowledged writes lost).

Run: .venv/bin/python -m bench.replica_bench [--megabytes 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.harness import ROOT, free_port
from services.context import build_context, open_context
from services.replication import find_binary, write_config
from services.settings import Settings, get_settings
from tests.replica_support import Litestream

ROW_FILLER = "東京都千代田区丸の内一丁目一番一号 つどいビル" * 8  # ~500 bytes of UTF-8 per member


def fill(database: Path, megabytes: int) -> int:
    conn = sqlite3.connect(database)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        item = conn.execute(
            "INSERT INTO fee_items (fiscal_year, membership_type, name, amount, due_on, created_at, updated_at) "
            "VALUES (2025, '', 'ベンチ年会費', 5000, '2025-12-31', '2025-01-01T00:00:00Z', "
            "'2025-01-01T00:00:00Z') RETURNING id"
        ).fetchone()[0]
        number = 100000
        while database.stat().st_size + _wal_size(database) < megabytes * 1024 * 1024:
            rows = [(f"{number + i}", f"m{number + i}@example.jp", ROW_FILLER) for i in range(5000)]
            number += len(rows)
            with conn:
                conn.executemany(
                    "INSERT INTO members (member_number, family_name, given_name, email, address1, "
                    "created_at, updated_at) VALUES (?, 'ベンチ', '会員', ?, ?, '2025-01-01T00:00:00Z', "
                    "'2025-01-01T00:00:00Z')",
                    rows,
                )
                conn.execute(
                    "INSERT INTO fees (fee_item_id, member_id, member_number, amount, status, paid_at, "
                    "paid_method, issued_at, updated_at) SELECT ?, id, member_number, 5000, 'paid', "
                    "'2025-04-01T00:00:00Z', 'bank_transfer', '2025-01-01T00:00:00Z', '2025-04-01T00:00:00Z' "
                    "FROM members WHERE id > (SELECT coalesce(max(member_id), 0) FROM fees)",
                    (item,),
                )
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(conn.execute("SELECT count(*) FROM members").fetchone()[0])
    finally:
        conn.close()


async def _migrate(settings: Settings) -> None:
    """The real schema: the app's own start-up steps (migrations), and the Litestream config it writes."""
    context = await open_context(build_context(settings))
    await context.db.close()
    write_config(settings)


def _wal_size(database: Path) -> int:
    wal = Path(f"{database}-wal")
    return wal.stat().st_size if wal.exists() else 0


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter's litestar
        [str(Path(sys.executable).parent / "litestar"), "--app", "app:app", "tsudoi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    binary = find_binary()
    if binary is None:
        raise SystemExit("litestream is not installed: bash scripts/setup.sh replica")
    folder = Path(tempfile.mkdtemp(prefix="tsudoi-replica-bench-"))
    database = folder / "data" / "tsudoi.sqlite3"
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("TSUDOI_")},
        "TSUDOI_DATABASE": str(database),
        "TSUDOI_REPLICA_URL": f"file://{folder / 'replica'}",
        "TSUDOI_REPLICA_SYNC_INTERVAL": "1",
        "TSUDOI_SECRET_KEY": "bench-secret-" + "b" * 40,
        "TSUDOI_SCHEDULER": "off",
        "TSUDOI_LOG_REQUESTS": "off",
    }
    asyncio.run(_migrate(get_settings(env)))
    started = time.monotonic()
    members = fill(database, args.megabytes)
    size = database.stat().st_size
    print(
        f"database: {size / 1024 / 1024:.1f} MB, {members:,} members with paid fees ({time.monotonic() - started:.1f} s to fill)"
    )

    litestream = Litestream(
        folder / "data" / "litestream.yml", folder / "data" / "litestream.sock", folder / "ls.log"
    )
    started = time.monotonic()
    litestream.start().wait_synced(database, attempts=6000)
    print(f"first sync of the whole database to the replica: {time.monotonic() - started:.1f} s")

    port = free_port()
    app = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tests.replica_support", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(folder / "app.log").open("wb"),
        text=True,
        start_new_session=True,
    )
    acks: list[tuple[int, float]] = []
    assert app.stdout is not None and app.stdin is not None
    assert app.stdout.readline().strip() == "ready", (folder / "app.log").read_text()

    def read_acks() -> None:
        assert app.stdout is not None
        for line in app.stdout:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "ack":
                acks.append((int(parts[1]), float(parts[2])))

    threading.Thread(target=read_acks, daemon=True).start()
    app.stdin.write("go\n")
    app.stdin.flush()
    started = time.monotonic()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        while time.monotonic() - started < args.seconds:
            client.get("/login")
    killed_at = time.monotonic()
    os.killpg(app.pid, signal.SIGKILL)
    litestream.kill()
    app.wait(timeout=10)
    print(
        f"writes: {len(acks):,} payments acknowledged in {args.seconds:.0f} s, then SIGKILL to app and Litestream"
    )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)

    plain = folder / "plain-restore.sqlite3"
    started = time.monotonic()
    subprocess.run(  # noqa: S603 - the litestream binary
        [binary, "restore", "-o", str(plain), env["TSUDOI_REPLICA_URL"]],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    print(f"litestream restore alone: {time.monotonic() - started:.2f} s")
    started = time.monotonic()
    restored = cli(env, "restore", "--from-replica", "--yes")
    restore_seconds = time.monotonic() - started
    assert restored.returncode == 0, restored.stderr
    conn = sqlite3.connect(database)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        paid = {
            row[0] for row in conn.execute("SELECT member_number FROM fees WHERE paid_note LIKE 'drill %'")
        }
    finally:
        conn.close()
    lost = [(unit, at) for unit, at in acks if f"{700000 + unit}" not in paid]
    recovery_point = killed_at - min(at for _, at in lost) if lost else 0.0
    print(
        f"litestar tsudoi restore --from-replica (litestream restore + integrity check + safety copy + swap): "
        f"{restore_seconds:.2f} s; integrity_check: {check}"
    )
    print(f"recovery point: {len(lost)} acknowledged payments lost, {recovery_point:.2f} s of writes")
    print(f"(files in {folder})")


if __name__ == "__main__":
    main()
