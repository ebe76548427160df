"""The last seat under truly parallel requests (uvicorn, not the one-at-a-time test client): exactly one
member gets it, the others go on the waitlist; a member's burst of clicks makes one registration."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.event_helpers import make_event, paid_member, registrations
from tests.helpers import DEFAULT_PASSWORD, free_port, outbox, test_settings
from tests.live_server import LiveServer

RACERS = 8


@pytest.fixture
def live(tmp_path, clock) -> Iterator[LiveServer]:
    port = free_port()
    settings = test_settings(tmp_path, base_url=f"http://127.0.0.1:{port}", login_ip_failures=10_000)
    server = LiveServer(settings, port, clock)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def logged_in_client(live: LiveServer, number: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=live.url, timeout=60)
    await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "_csrf_token": client.cookies["tsudoi_csrf"],
            "member_id": number,
            "password": DEFAULT_PASSWORD,
        },
    )
    assert response.status_code in (200, 303), response.text
    assert "tsudoi_session" in client.cookies
    return client


def register_form(client: httpx.AsyncClient) -> dict[str, str]:
    return {"_csrf_token": client.cookies["tsudoi_csrf"]}


async def test_parallel_members_taking_the_last_seat_exactly_one_gets_it(live):
    numbers = [f"0020{i:02d}" for i in range(RACERS + 2)]
    for number in numbers:
        live.run(lambda ctx, n=number: paid_member(ctx, n, email=f"m{n}@example.jp"))
    event_id = live.run(lambda ctx: make_event(ctx, "最後の一席", capacity=3))
    clients = [await logged_in_client(live, number) for number in numbers]
    try:
        # Two seats go first, one at a time: one seat is left.
        for client in clients[:2]:
            response = await client.post(f"/events/{event_id}/register", data=register_form(client))
            assert response.status_code == 303
        racers = clients[2:]
        responses = await asyncio.gather(
            *(c.post(f"/events/{event_id}/register", data=register_form(c)) for c in racers)
        )
        assert [r.status_code for r in responses] == [303] * RACERS
    finally:
        for client in clients:
            await client.aclose()
    rows = live.run(lambda ctx: registrations(ctx, event_id))
    statuses = [status for _, status in rows]
    assert statuses.count("registered") == 3, rows
    assert statuses.count("waitlisted") == RACERS - 1, rows
    subjects = [str(m["Subject"]) for m in outbox(live.settings)]
    assert sum("お申し込みを受け付けました" in s for s in subjects) == 3
    assert sum("キャンセル待ちに登録しました" in s for s in subjects) == RACERS - 1


async def test_parallel_double_clicks_make_one_registration(live):
    live.run(lambda ctx: paid_member(ctx, "003001", email="click@example.jp"))
    event_id = live.run(lambda ctx: make_event(ctx, "連打の会", capacity=5))
    client = await logged_in_client(live, "003001")
    try:
        responses = await asyncio.gather(
            *(client.post(f"/events/{event_id}/register", data=register_form(client)) for _ in range(6))
        )
    finally:
        await client.aclose()
    assert {r.status_code for r in responses} == {303}
    assert len({r.headers["location"] for r in responses}) == 1
    assert live.run(lambda ctx: registrations(ctx, event_id)) == [("003001", "registered")]
    assert [str(m["To"]) for m in outbox(live.settings)] == ["click@example.jp"]
