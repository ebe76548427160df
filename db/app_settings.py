"""Admin-editable organization settings stored as key/value rows."""

from __future__ import annotations

from db.database import Database


async def get_all(db: Database) -> dict[str, str]:
    rows = await db.fetchall("SELECT key, value FROM app_settings")
    return {row["key"]: row["value"] for row in rows}


async def put(db: Database, values: dict[str, str]) -> None:
    await db.executemany(
        "INSERT INTO app_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        list(values.items()),
    )


# Written by `litestar tsudoi demo`: the database holds the demo data (the sandbox gateway is then on).
DEMO_DATA_KEY = "demo_data_loaded_at"


async def get(db: Database, key: str) -> str | None:
    row = await db.fetchone("SELECT value FROM app_settings WHERE key = ?", (key,))
    return None if row is None else str(row["value"])
