"""Test helpers for events with registration: an event with seats, members of the paid tier, logging in."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from db import articles as article_queries
from db import events as event_queries
from db.articles import ArticleData
from services import events as event_service
from services.context import AppContext
from services.markdown import render_markdown
from tests.article_helpers import grant_members_tier
from tests.helpers import DEFAULT_PASSWORD, login, make_member


async def make_event(
    app: AppContext,
    title: str = "秋の勉強会",
    *,
    capacity: int | None = 2,
    starts_in: timedelta = timedelta(days=10),
    deadline_in: timedelta | None = None,
    fee: int = 0,
    members_only: bool = False,
    application_url: str = "",
    place: str = "東京会場",
) -> int:
    """A published event `starts_in` from now; with `capacity`, it takes registrations here."""
    now = app.clock.now()
    start = (now + starts_in).replace(second=0, microsecond=0)
    data = ArticleData(
        kind="event",
        status="published",
        title=title,
        summary=f"{title}のご案内です。",
        body_md=f"{title}の本文です。",
        body_html=render_markdown(f"{title}の本文です。"),
        external_url="",
        published_at=now - timedelta(days=1),
        members_only=members_only,
        event_date=start,
        event_place=place,
        application_url=application_url,
    )
    event_id = await article_queries.create_article(app.db, data, [], now=now)
    if capacity is not None:
        deadline = now + deadline_in if deadline_in is not None else start - timedelta(days=1)
        event = await event_queries.event(app.db, event_id)
        form = event_service.check_settings(
            {
                "capacity": str(capacity),
                "deadline": deadline.astimezone(app.settings.tz).strftime("%Y-%m-%dT%H:%M"),
                "ends_at": "",
                "fee_amount": str(fee),
            },
            event,
            tz=app.settings.tz,
        )
        assert form.settings is not None, form.errors
        await event_service.save_settings(app, event, form)
    return event_id


async def paid_member(app: AppContext, number: str, **profile: str) -> int:
    """A member of the paid tier (its perks include events)."""
    member_id = await make_member(app, number, **profile)
    await grant_members_tier(app, member_id)
    return member_id


async def login_as(client: Any, number: str, password: str = DEFAULT_PASSWORD) -> None:
    client.cookies.clear()
    response = await login(client, number, password)
    assert response.status_code == 303, response.text


def registration_id_from(response: Any) -> int:
    location = response.headers["location"]
    assert location.startswith("/events/registrations/"), location
    return int(location.rsplit("/", 1)[1])


async def registrations(app: AppContext, event_id: int) -> list[tuple[str, str]]:
    """(member number, status) of an event's registrations, seats first, then the waitlist in order."""
    rows = await event_queries.event_registrations(app.db, event_id)
    return [(str(r["member_number"]), str(r["status"])) for r in rows]


def at(app: AppContext, moment: datetime) -> None:
    app.clock.set(moment)  # type: ignore[attr-defined]
