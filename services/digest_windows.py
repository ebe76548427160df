"""Digest e-mail windows: which articles a weekly or daily digest covers, and when it is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

DigestKind = Literal["weekly", "daily"]

DEFAULT_SEND_HOUR = 7
DEFAULT_CATCH_UP_LIMIT = timedelta(days=3)

# The member guide: the weekly digest goes out on Wednesday, covering Wednesday to Tuesday.
_WEEKLY_RUN_WEEKDAY = 2  # Monday is 0
_PERIOD_DAYS: dict[str, int] = {"weekly": 7, "daily": 1}


@dataclass(frozen=True, slots=True)
class Window:
    """A digest's coverage [start_utc, end_utc) and the moment its run is due."""

    kind: DigestKind
    start_utc: datetime
    end_utc: datetime
    due_at_utc: datetime
    key: str

    def contains(self, published_at: datetime) -> bool:
        """Whether an article published at `published_at` (aware) belongs to this window."""
        _require_aware(published_at, "published_at")
        return self.start_utc <= published_at < self.end_utc


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} にはタイムゾーン付きの日時を指定してください。")


def _check_kind(kind: str) -> DigestKind:
    if kind == "weekly":
        return "weekly"
    if kind == "daily":
        return "daily"
    raise ValueError(f"お知らせメールの種類「{kind}」は使えません。weekly または daily を指定してください。")


def _check_send_hour(send_hour: int) -> None:
    if isinstance(send_hour, bool) or not isinstance(send_hour, int) or not 0 <= send_hour <= 23:
        raise ValueError("配信時刻は0〜23時の整数で指定してください。")


def _local_to_utc(day: date, hour: int, tz: ZoneInfo) -> datetime:
    # fold=0 picks the earlier instant of a repeated wall time, and reads a wall time skipped by a
    # DST jump with the pre-jump offset, which is the jump instant itself when the skipped hour
    # starts there (zones that jump at midnight): so a day starts at its first real instant.
    return datetime.combine(day, time(hour), tzinfo=tz).replace(fold=0).astimezone(UTC)


def _window_for_run(kind: DigestKind, run_date: date, tz: ZoneInfo, send_hour: int) -> Window:
    start_date = run_date - timedelta(days=_PERIOD_DAYS[kind])
    return Window(
        kind=kind,
        start_utc=_local_to_utc(start_date, 0, tz),
        # Midnight to midnight in local time, converted separately: a DST day is 23 or 25 hours.
        end_utc=_local_to_utc(run_date, 0, tz),
        due_at_utc=_local_to_utc(run_date, send_hour, tz),
        key=f"{kind}:{start_date.isoformat()}",
    )


def _latest_run_date(kind: DigestKind, at: datetime, tz: ZoneInfo, send_hour: int) -> date:
    _require_aware(at, "at")
    _check_send_hour(send_hour)
    run_date = at.astimezone(tz).date()
    step = timedelta(days=_PERIOD_DAYS[kind])
    if kind == "weekly":
        run_date -= timedelta(days=(run_date.weekday() - _WEEKLY_RUN_WEEKDAY) % 7)
    if _local_to_utc(run_date, send_hour, tz) > at:
        run_date -= step
    return run_date


def window_at(kind: DigestKind, at: datetime, tz: ZoneInfo, send_hour: int = DEFAULT_SEND_HOUR) -> Window:
    """The window of the most recent `kind` run due at or before `at`."""
    kind = _check_kind(kind)
    return _window_for_run(kind, _latest_run_date(kind, at, tz, send_hour), tz, send_hour)


def weekly_window(at: datetime, tz: ZoneInfo, send_hour: int = DEFAULT_SEND_HOUR) -> Window:
    """The most recent weekly run due by `at`: Wednesday 00:00 to the next Wednesday 00:00, local."""
    return window_at("weekly", at, tz, send_hour)


def daily_window(at: datetime, tz: ZoneInfo, send_hour: int = DEFAULT_SEND_HOUR) -> Window:
    """The most recent daily run due by `at`: the local calendar day before the run."""
    return window_at("daily", at, tz, send_hour)


def parse_window_key(key: str) -> tuple[DigestKind, date]:
    """Split a window key such as 'weekly:2026-11-18' into its kind and local start date."""
    kind_text, _, date_text = key.partition(":")
    kind = _check_kind(kind_text)
    try:
        start = date.fromisoformat(date_text)
    except ValueError:
        raise ValueError(f"お知らせメールの配信記録「{key}」を読み取れません。") from None
    return kind, start


def due_windows(
    kind: DigestKind,
    last_done_key: str | None,
    now: datetime,
    tz: ZoneInfo,
    send_hour: int = DEFAULT_SEND_HOUR,
    catch_up_limit: timedelta = DEFAULT_CATCH_UP_LIMIT,
) -> list[Window]:
    """Windows due by `now` and not done yet, oldest first.

    After downtime every missed window is caught up, except those due longer than
    `catch_up_limit` ago: a digest that late is no longer news. With no run done yet
    (`last_done_key` None) only the latest window is returned, so a new install does not
    send a burst of digests about the past.
    """
    kind = _check_kind(kind)
    _require_aware(now, "now")
    if catch_up_limit < timedelta(0):
        raise ValueError("取りこぼした配信を遡る期間には0以上を指定してください。")
    last_done: date | None = None
    if last_done_key is not None:
        done_kind, last_done = parse_window_key(last_done_key)
        if done_kind != kind:
            raise ValueError(f"配信記録「{last_done_key}」は{kind}の記録ではありません。")
    oldest_due = now - catch_up_limit
    step = timedelta(days=_PERIOD_DAYS[kind])
    run_date = _latest_run_date(kind, now, tz, send_hour)
    windows: list[Window] = []
    while True:
        window = _window_for_run(kind, run_date, tz, send_hour)
        start_date = run_date - step
        if window.due_at_utc < oldest_due or (last_done is not None and start_date <= last_done):
            break
        windows.append(window)
        if last_done is None:
            break
        run_date -= step
    windows.reverse()
    return windows


def next_run(kind: DigestKind, now: datetime, tz: ZoneInfo, send_hour: int = DEFAULT_SEND_HOUR) -> datetime:
    """When the next `kind` run is due (aware UTC), strictly after `now`."""
    kind = _check_kind(kind)
    run_date = _latest_run_date(kind, now, tz, send_hour) + timedelta(days=_PERIOD_DAYS[kind])
    return _local_to_utc(run_date, send_hour, tz)
