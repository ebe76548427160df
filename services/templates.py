"""The one Jinja environment for pages and mails, with the app's filters."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

VIEWS_DIR = Path(__file__).resolve().parent.parent / "views"
WEEKDAYS_JA = "月火水木金土日"


def plan_label(name: str | None) -> str:
    """A tier as members read it: the admin's name in 「」 followed by プラン (「有料会員」プラン); a name
    that already says プラン (the free plan, 無料プラン) is shown as it is."""
    text = str(name or "").strip()
    if not text or text.endswith("プラン"):
        return text
    return f"「{text}」プラン"


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

    def ja_date(moment: date | datetime | str | None) -> str:
        """The one date format on screens and in mails: 2026年6月30日(火). A date (or a YYYY-MM-DD text)
        is a calendar day already; a moment is shown in the organization's time zone."""
        if isinstance(moment, str) and len(moment) == 10:
            moment = date.fromisoformat(moment)
        day = moment if isinstance(moment, date) and not isinstance(moment, datetime) else local(moment)
        if day is None:
            return ""
        return f"{day.year}年{day.month}月{day.day}日({WEEKDAYS_JA[day.weekday()]})"

    def html_datetime(moment: datetime | str | None) -> str:
        """A `<time datetime>` value: local time to the second with its offset (no microseconds)."""
        value = local(moment)
        return "" if value is None else value.isoformat(timespec="seconds")

    def yen(amount: int | None) -> str:
        return "" if amount is None else f"{int(amount):,}円"

    env.filters.update(
        ja_datetime=ja_datetime,
        ja_date=ja_date,
        yen=yen,
        local=local,
        html_datetime=html_datetime,
        plan=plan_label,
    )
    # The audit log's event names, for every page that lists audit entries (views/admin_audit/_event_label.html).
    # Imported here: services.audit_words reaches services.fees, which imports the app context.
    from services.audit_words import EVENT_LABELS

    env.globals["audit_event_labels"] = EVENT_LABELS
    return env
