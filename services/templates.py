"""The one Jinja environment for pages and mails, with the app's filters."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

VIEWS_DIR = Path(__file__).resolve().parent.parent / "views"
WEEKDAYS_JA = "月火水木金土日"


def make_environment(tz: ZoneInfo, views_dir: Path = VIEWS_DIR) -> Environment:
    env = Environment(
        loader=FileSystemLoader(views_dir),
        autoescape=select_autoescape(["html", "htm", "xml"], default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def local(moment: datetime | str | None) -> datetime | None:
        if moment is None or moment == "":
            return None
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        return moment.astimezone(tz)

    def ja_datetime(moment: datetime | str | None) -> str:
        value = local(moment)
        if value is None:
            return ""
        return f"{value.year}年{value.month}月{value.day}日({WEEKDAYS_JA[value.weekday()]}) {value:%H:%M}"

    def ja_date(moment: datetime | str | None) -> str:
        value = local(moment)
        if value is None:
            return ""
        return f"{value.year}年{value.month}月{value.day}日"

    def html_datetime(moment: datetime | str | None) -> str:
        """A `<time datetime>` value: local time to the second with its offset (no microseconds)."""
        value = local(moment)
        return "" if value is None else value.isoformat(timespec="seconds")

    def yen(amount: int | None) -> str:
        return "" if amount is None else f"{int(amount):,}円"

    env.filters.update(
        ja_datetime=ja_datetime, ja_date=ja_date, yen=yen, local=local, html_datetime=html_datetime
    )
    return env
