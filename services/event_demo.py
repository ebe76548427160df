"""Demo events with registration: the first demo event takes sign-ups here with seats left, the second is
full (two demo participants hold its seats), the others keep their outside application pages."""

from __future__ import annotations

import secrets
from datetime import timedelta

from db import events as event_queries
from db import members as member_queries
from db.timestamps import from_db
from services import events as event_service
from services.accounts import create_member
from services.article_demo import DEMO_GUID
from services.context import AppContext

# Members who only hold the full event's seats; they never log in (their passwords are not shown).
DEMO_PARTICIPANTS = [
    ("001301", "田中", "美咲", "タナカ", "ミサキ"),
    ("001302", "高橋", "健", "タカハシ", "ケン"),
]


async def _event_id(app: AppContext, guid: str) -> int | None:
    value = await app.db.fetchval("SELECT id FROM articles WHERE feed_guid = ?", (guid,))
    return None if value is None else int(value)


async def _settings(app: AppContext, event_id: int, capacity: int) -> None:
    event = await event_queries.event(app.db, event_id)
    if event is None or event["takes_registrations"] or not event["event_date"]:
        return
    tz = app.settings.tz
    start = from_db(event["event_date"])
    assert start is not None
    form = event_service.check_settings(
        {
            "capacity": str(capacity),
            "deadline": (start - timedelta(days=1)).astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=2)).astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
            "fee_amount": "0",
        },
        event,
        tz=tz,
    )
    if form.settings is not None:
        await event_service.save_settings(app, event, form)


async def load_event_demo(app: AppContext) -> None:
    """Idempotent: settings only for events without any, participants only when missing."""
    seats = await _event_id(app, f"{DEMO_GUID}event-00")
    full = await _event_id(app, f"{DEMO_GUID}event-01")
    if seats is None or full is None:
        return
    await _settings(app, seats, 30)
    await _settings(app, full, len(DEMO_PARTICIPANTS))
    for number, family, given, family_kana, given_kana in DEMO_PARTICIPANTS:
        member = await member_queries.get_by_number(app.db, number)
        if member is None:
            await create_member(
                app,
                member_number=number,
                password=secrets.token_urlsafe(16),
                role="member",
                must_change_password=True,
                profile={
                    "family_name": family,
                    "given_name": given,
                    "family_kana": family_kana,
                    "given_kana": given_kana,
                    "email": f"demo{number}@example.jp",
                    "membership_type": "賛助会員",
                },
            )
            member = await member_queries.get_by_number(app.db, number)
        assert member is not None
        await event_queries.register(
            app.db, full, int(member["id"]), code=event_service.new_checkin_code(), now=app.clock.now()
        )
