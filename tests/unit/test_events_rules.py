"""Small event rules without the app: check-in codes, tomorrow in the org's time zone, the export rows."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services import events as event_service

TOKYO = ZoneInfo("Asia/Tokyo")


def test_check_in_codes_are_forgiving_and_unambiguous():
    code = event_service.new_checkin_code()
    assert len(code) == 8 and set(code) <= set(event_service.CODE_ALPHABET)
    assert not set("01ILO") & set(event_service.CODE_ALPHABET)
    assert event_service.normalize_code(" ａｂｃｄ-２３４５ ") == "ABCD2345"
    assert event_service.normalize_code("\x00あ" * 10) == ""
    assert event_service.display_code("ABCD2345") == "ABCD-2345"


def test_tomorrow_is_the_next_local_day_in_utc():
    # 23:30 JST on 31 December: tomorrow is 1 January JST, i.e. 31 Dec 15:00 UTC to 1 Jan 15:00 UTC.
    now = datetime(2026, 12, 31, 23, 30, tzinfo=TOKYO)
    start, end = event_service.tomorrow_bounds(now, TOKYO)
    assert start == datetime(2026, 12, 31, 15, 0, tzinfo=UTC)
    assert end == datetime(2027, 1, 1, 15, 0, tzinfo=UTC)
