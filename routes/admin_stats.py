"""Admin: statistics — members by plan, type and prefecture; joins and leaves, mails per month of a fiscal
year; fees per fiscal year; event registrations once they exist. Each as an SVG chart, a table and a CSV."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from routes.common import render
from routes.guards import ADMIN_GUARDS
from services import stats
from services.context import AppContext
from services.fees import current_fiscal_year
from services.perks import org_today
from services.spreadsheet import csv_bytes


def _year(request: Request[Any, Any, Any], current: int) -> int:
    raw = request.query_params.get("year", "")
    if isinstance(raw, str) and raw.isdigit() and len(raw) == 4 and 2000 <= int(raw) <= 2100:
        return int(raw)
    return current


async def _tables(app_ctx: AppContext, year: int) -> list[stats.Table]:
    db, tz = app_ctx.db, app_ctx.settings.tz
    start_month = app_ctx.org.fiscal_year_start_month
    tables = await stats.members_tables(db, org_today(app_ctx.clock.now(), tz))
    tables.append(await stats.joins_and_leaves(db, year, start_month, tz))
    tables.append(await stats.fees_table(db))
    tables.append(await stats.mails_table(db, year, start_month, tz))
    events = await stats.event_registrations_table(db)
    if events is not None:
        tables.append(events)
    return tables


class AdminStatsController(Controller):
    path = "/admin/stats"
    guards = ADMIN_GUARDS

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        start_month = app_ctx.org.fiscal_year_start_month
        current = current_fiscal_year(app_ctx.clock.now(), app_ctx.settings.tz, start_month)
        year = _year(request, current)
        return render(
            request,
            "admin_stats/page.html",
            {
                "tables": await _tables(app_ctx, year),
                "year": year,
                "current_year": current,
                "start_month": start_month,
            },
        )

    @get("/{filename:str}")
    async def download(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, filename: str
    ) -> Response[bytes]:
        """One table as CSV: /admin/stats/<key>.csv (UTF-8 with BOM, as every CSV here)."""
        key, dot, extension = filename.partition(".")
        if not dot or extension != "csv":
            raise NotFoundException()
        start_month = app_ctx.org.fiscal_year_start_month
        year = _year(request, current_fiscal_year(app_ctx.clock.now(), app_ctx.settings.tz, start_month))
        table = next((table for table in await _tables(app_ctx, year) if table.key == key), None)
        if table is None:
            raise NotFoundException()
        name = f"stats-{key}-{year}.csv" if key in ("joins", "mails") else f"stats-{key}.csv"
        return Response(
            csv_bytes(table.headers, table.rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )
