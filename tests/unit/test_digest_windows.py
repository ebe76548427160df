"""Digest windows: which articles each weekly/daily digest covers and when it is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.digest_windows import (
    daily_window,
    due_windows,
    next_run,
    parse_window_key,
    weekly_window,
)

JST = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=JST)


@pytest.mark.parametrize(
    ("at", "expected_key", "expected_start", "expected_end"),
    [
        # 2026-11-25 is a Wednesday; the run is due at 07:00 JST.
        (jst(2026, 11, 25, 7, 0), "weekly:2026-11-18", jst(2026, 11, 18), jst(2026, 11, 25)),
        (jst(2026, 11, 25, 12, 0), "weekly:2026-11-18", jst(2026, 11, 18), jst(2026, 11, 25)),
        (jst(2026, 11, 25, 6, 59, 59), "weekly:2026-11-11", jst(2026, 11, 11), jst(2026, 11, 18)),
        (jst(2026, 11, 24, 23, 59, 59), "weekly:2026-11-11", jst(2026, 11, 11), jst(2026, 11, 18)),
        (jst(2026, 11, 30, 9, 0), "weekly:2026-11-18", jst(2026, 11, 18), jst(2026, 11, 25)),
    ],
)
def test_weekly_window_is_the_latest_wednesday_run_due(
    at: datetime, expected_key: str, expected_start: datetime, expected_end: datetime
) -> None:
    window = weekly_window(at, JST)
    assert window.key == expected_key
    assert window.start_utc == expected_start
    assert window.end_utc == expected_end
    assert window.start_utc.tzinfo is UTC and window.end_utc.tzinfo is UTC
    assert window.due_at_utc == window.end_utc + timedelta(hours=7)
    assert window.due_at_utc <= at


def test_weekly_window_covers_wednesday_through_tuesday_235959_jst() -> None:
    window = weekly_window(jst(2026, 11, 25, 8), JST)
    assert window.contains(jst(2026, 11, 18, 0, 0, 0))
    assert window.contains(jst(2026, 11, 24, 23, 59, 59))
    assert not window.contains(jst(2026, 11, 17, 23, 59, 59))


def test_article_at_exactly_wednesday_midnight_belongs_to_one_window_only() -> None:
    boundary = jst(2026, 11, 25, 0, 0)
    earlier = weekly_window(jst(2026, 11, 25, 8), JST)
    later = weekly_window(jst(2026, 12, 2, 8), JST)
    assert not earlier.contains(boundary)
    assert later.contains(boundary)
    assert earlier.end_utc == later.start_utc


def test_weekly_run_is_due_at_send_hour_local() -> None:
    window = weekly_window(jst(2026, 11, 25, 9), JST, send_hour=9)
    assert window.due_at_utc == jst(2026, 11, 25, 9)
    assert weekly_window(jst(2026, 11, 25, 8, 59), JST, send_hour=9).key == "weekly:2026-11-11"


@pytest.mark.parametrize(
    ("at", "expected_key"),
    [
        (jst(2026, 11, 23, 7, 0), "daily:2026-11-22"),
        (jst(2026, 11, 23, 23, 59), "daily:2026-11-22"),
        (jst(2026, 11, 23, 6, 59, 59), "daily:2026-11-21"),
        (jst(2026, 11, 23, 0, 0), "daily:2026-11-21"),
    ],
)
def test_daily_window_is_the_previous_local_day(at: datetime, expected_key: str) -> None:
    window = daily_window(at, JST)
    assert window.key == expected_key
    assert window.end_utc - window.start_utc == timedelta(hours=24)
    assert window.start_utc.astimezone(JST).hour == 0


def test_daily_window_of_new_york_spring_forward_day_is_23_hours() -> None:
    window = daily_window(datetime(2026, 3, 9, 8, tzinfo=NEW_YORK), NEW_YORK)
    assert window.key == "daily:2026-03-08"
    assert window.start_utc == datetime(2026, 3, 8, 5, tzinfo=UTC)  # 00:00 EST
    assert window.end_utc == datetime(2026, 3, 9, 4, tzinfo=UTC)  # 00:00 EDT
    assert window.end_utc - window.start_utc == timedelta(hours=23)
    assert window.due_at_utc == datetime(2026, 3, 9, 11, tzinfo=UTC)  # 07:00 EDT


def test_daily_window_of_new_york_fall_back_day_is_25_hours() -> None:
    window = daily_window(datetime(2026, 11, 2, 8, tzinfo=NEW_YORK), NEW_YORK)
    assert window.key == "daily:2026-11-01"
    assert window.start_utc == datetime(2026, 11, 1, 4, tzinfo=UTC)  # 00:00 EDT
    assert window.end_utc == datetime(2026, 11, 2, 5, tzinfo=UTC)  # 00:00 EST
    assert window.end_utc - window.start_utc == timedelta(hours=25)
    # 01:30 happens twice that night; both instants fall in this one window.
    assert window.contains(datetime(2026, 11, 1, 1, 30, fold=0, tzinfo=NEW_YORK))
    assert window.contains(datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK))


def test_weekly_window_across_new_york_dst_change_spans_a_short_week() -> None:
    # 2026-03-11 is the Wednesday after the spring-forward Sunday.
    window = weekly_window(datetime(2026, 3, 11, 7, tzinfo=NEW_YORK), NEW_YORK)
    assert window.key == "weekly:2026-03-04"
    assert window.end_utc - window.start_utc == timedelta(days=7, hours=-1)
    assert window.due_at_utc == datetime(2026, 3, 11, 11, tzinfo=UTC)


def test_consecutive_daily_windows_tile_without_gap_or_overlap_across_dst() -> None:
    at = datetime(2026, 3, 1, 8, tzinfo=NEW_YORK)
    previous = daily_window(at, NEW_YORK)
    for _ in range(300):
        at += timedelta(days=1)
        window = daily_window(at, NEW_YORK)
        assert window.start_utc == previous.end_utc
        previous = window


def test_windows_accept_any_aware_datetime_not_only_local() -> None:
    at_utc = jst(2026, 11, 25, 7).astimezone(UTC)
    assert weekly_window(at_utc, JST).key == "weekly:2026-11-18"


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="タイムゾーン"):
        weekly_window(datetime(2026, 11, 25, 8), JST)


@pytest.mark.parametrize("send_hour", [-1, 24, True])
def test_send_hour_outside_a_day_is_rejected(send_hour: int) -> None:
    with pytest.raises(ValueError, match="配信時刻"):
        daily_window(jst(2026, 11, 25, 8), JST, send_hour=send_hour)


def test_due_windows_catches_up_missed_days_oldest_first() -> None:
    windows = due_windows("daily", "daily:2026-11-19", jst(2026, 11, 23, 8), JST)
    assert [w.key for w in windows] == ["daily:2026-11-20", "daily:2026-11-21", "daily:2026-11-22"]


def test_due_windows_skips_windows_due_longer_ago_than_the_limit() -> None:
    windows = due_windows("daily", "daily:2026-11-01", jst(2026, 11, 23, 8), JST)
    # Due 11-20 07:00 is more than 3 days before 11-23 08:00, so 11-19's window is dropped.
    assert [w.key for w in windows] == ["daily:2026-11-20", "daily:2026-11-21", "daily:2026-11-22"]
    short = due_windows(
        "daily", "daily:2026-11-01", jst(2026, 11, 23, 8), JST, catch_up_limit=timedelta(hours=2)
    )
    assert [w.key for w in short] == ["daily:2026-11-22"]


def test_due_windows_is_empty_when_the_latest_window_is_done() -> None:
    assert due_windows("weekly", "weekly:2026-11-18", jst(2026, 11, 25, 8), JST) == []
    assert due_windows("weekly", "weekly:2026-11-11", jst(2026, 11, 25, 6), JST) == []


def test_due_windows_includes_a_run_due_exactly_now() -> None:
    windows = due_windows("weekly", "weekly:2026-11-11", jst(2026, 11, 25, 7), JST)
    assert [w.key for w in windows] == ["weekly:2026-11-18"]


def test_due_windows_without_history_sends_only_the_latest_window() -> None:
    windows = due_windows("daily", None, jst(2026, 11, 23, 8), JST)
    assert [w.key for w in windows] == ["daily:2026-11-22"]
    assert due_windows("weekly", None, jst(2026, 11, 30, 8), JST) == []


def test_due_windows_rejects_a_key_of_the_other_kind() -> None:
    with pytest.raises(ValueError):
        due_windows("daily", "weekly:2026-11-18", jst(2026, 11, 23, 8), JST)


@pytest.mark.parametrize("key", ["monthly:2026-11-18", "weekly:2026-13-01", "weekly", ""])
def test_malformed_window_key_is_rejected(key: str) -> None:
    with pytest.raises(ValueError):
        parse_window_key(key)


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="weekly または daily"):
        next_run("hourly", jst(2026, 11, 25, 8), JST)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "now", "expected"),
    [
        ("weekly", jst(2026, 11, 25, 6, 59), jst(2026, 11, 25, 7)),
        ("weekly", jst(2026, 11, 25, 7), jst(2026, 12, 2, 7)),
        ("weekly", jst(2026, 11, 26, 0), jst(2026, 12, 2, 7)),
        ("daily", jst(2026, 11, 23, 6), jst(2026, 11, 23, 7)),
        ("daily", jst(2026, 11, 23, 7), jst(2026, 11, 24, 7)),
    ],
)
def test_next_run_is_strictly_after_now(kind: str, now: datetime, expected: datetime) -> None:
    result = next_run(kind, now, JST)  # type: ignore[arg-type]
    assert result == expected
    assert result.tzinfo is UTC


def test_next_run_after_new_york_spring_forward_keeps_local_send_hour() -> None:
    result = next_run("daily", datetime(2026, 3, 8, 8, tzinfo=NEW_YORK), NEW_YORK)
    assert result == datetime(2026, 3, 9, 11, tzinfo=UTC)
    assert result.astimezone(NEW_YORK).hour == 7
