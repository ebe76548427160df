"""「登録情報をダウンロード」: everything the portal keeps about a member, as CSV and JSON in one zip (what
Japan's personal-information law lets a member ask for).

EXPORTERS is the list to extend: a feature that keeps records about a member adds one entry (a file name,
a Japanese label for the page, and a query in db/data_export.py). OPTIONAL_TABLES names tables another
feature may add (event registrations); each is included, whole rows, when it exists.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio

from db import audit
from db import data_export as queries
from db.database import Database
from services.context import AppContext
from services.rate_limit import Limit, allow

# Three downloads an hour per member: enough to retry, too few to use the zip as a polling API.
EXPORT_LIMIT = Limit("data-export", 3, timedelta(hours=1))


@dataclass(frozen=True)
class Exporter:
    name: str  # file name without extension
    label: str  # what the page lists
    rows: Callable[[Database, int], Awaitable[queries.Rows]]


EXPORTERS: list[Exporter] = [
    Exporter("profile", "会員情報", queries.profile),
    Exporter("plans", "プラン", queries.plans),
    Exporter("conditions", "新着条件", queries.conditions),
    Exporter("bookmarks", "ブックマーク", queries.bookmarks),
    Exporter("history", "閲覧履歴", queries.history),
    Exporter("fees", "会費", queries.fees),
    Exporter("payments", "お支払いの記録", queries.payments),
    Exporter("receipts", "領収書", queries.receipts),
    Exporter("inquiries", "お問い合わせ", queries.inquiries),
    Exporter("passkeys", "パスキー", queries.passkeys),
    Exporter("sign_ins", "ログインの記録", queries.sign_ins),
]
OPTIONAL_TABLES: dict[str, str] = {
    "event_registrations": "イベントの申し込み",
    "registrations": "イベントの申し込み",
}


@dataclass(frozen=True)
class Download:
    filename: str
    content: bytes


async def available_labels(app: AppContext) -> list[str]:
    labels = [exporter.label for exporter in EXPORTERS]
    for table, label in OPTIONAL_TABLES.items():
        if label not in labels and await queries.has_table(app.db, table):
            labels.append(label)
    return labels


async def attempt_allowed(app: AppContext, member_id: int) -> bool:
    return await allow(app.db, EXPORT_LIMIT, str(member_id), now=app.clock.now())


async def collect(app: AppContext, member_id: int) -> dict[str, queries.Rows]:
    collected = {exporter.name: await exporter.rows(app.db, member_id) for exporter in EXPORTERS}
    for table in OPTIONAL_TABLES:
        if await queries.has_table(app.db, table):
            collected[table] = await queries.rows_of_table(app.db, table, member_id)
    return collected


def _csv(rows: queries.Rows) -> bytes:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0].keys()), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows({key: _plain(value) for key, value in row.items()} for row in rows)
    # BOM: Excel on Japanese Windows opens UTF-8 CSV correctly only with it.
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def _plain(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value


def build_zip(collected: dict[str, queries.Rows], *, member_number: str, now: datetime) -> bytes:
    buffer = io.BytesIO()
    stamp = now.replace(microsecond=0).timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in collected.items():
            for extension, content in (
                ("csv", _csv(rows)),
                ("json", json.dumps(rows, ensure_ascii=False, indent=2, default=_plain).encode("utf-8")),
            ):
                info = zipfile.ZipInfo(f"{extension}/{name}.{extension}", date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, content)
        readme = (
            f"会員番号 {member_number} の登録情報です（{now.strftime('%Y-%m-%d %H:%M')} UTC 時点）。\r\n"
            "csv/ は表計算ソフトで開けるCSV、json/ は同じ内容のJSONです。日時はUTC（協定世界時）です。\r\n"
        )
        archive.writestr(zipfile.ZipInfo("README.txt", date_time=stamp), readme.encode("utf-8"))
    return buffer.getvalue()


async def export(app: AppContext, member_id: int, member_number: str, *, ip: str) -> Download:
    now = app.clock.now()
    collected = await collect(app, member_id)
    content = await anyio.to_thread.run_sync(
        lambda: build_zip(collected, member_number=member_number, now=now)
    )
    await audit.record(
        app.db,
        "data.exported",
        now=now,
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
        detail={"files": sorted(collected)},
    )
    local = now.astimezone(app.settings.tz)
    return Download(f"tsudoi-data-{member_number}-{local:%Y%m%d}.zip", content)
