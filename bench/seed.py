"""Seeding large data sets straight through SQL (fast), for benchmarks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from db.timestamps import to_db
from services.context import build_context, open_context
from services.hashing import Hasher
from services.settings import Settings

BENCH_PASSWORD = "Bench2026x"


async def seed_members(database: Path, count: int, *, secret_key: str, parallelism: int = 1) -> None:
    settings = Settings(database=database, secret_key=secret_key, scheduler=False)
    context = await open_context(build_context(settings))
    try:
        # One real argon2id hash (library defaults; `parallelism` lanes) shared by all rows: seeding stays
        # fast, logins stay real.
        password_hash = Hasher(parallelism=parallelism).hash_sync(BENCH_PASSWORD)
        now = to_db(datetime.now(UTC))
        rows = [
            (
                f"{i:06d}",
                "会員",
                f"{i}",
                "カイイン",
                "タロウ",
                f"bench{i}@example.jp",
                password_hash,
                now,
                now,
                now,
            )
            for i in range(1, count + 1)
        ]
        await context.db.executemany(
            "INSERT OR IGNORE INTO members (member_number, family_name, given_name, family_kana, given_kana, email, "
            "password_hash, password_changed_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    finally:
        await context.db.close()


if __name__ == "__main__":
    asyncio.run(seed_members(Path("data/bench.sqlite3"), 10_000, secret_key="bench-secret-key-" + "x" * 30))
