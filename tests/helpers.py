"""Test helpers: settings, members, forms with CSRF, reading mail from the outbox or SMTP."""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from litestar.testing import AsyncTestClient

from db import announcements as announcement_db
from db.database import Database
from services.accounts import create_member
from services.context import AppContext
from services.settings import Settings

DEFAULT_PASSWORD = "Sakura2026"
# Every test server's clock starts here: 2026-11-23 12:00 JST, a Monday, unless a run freezes another
# instant with TSUDOI_TEST_NOW=2026-03-31T23:59 (or pytest --now=...; JST when no offset is given).
NOW_ENV = "TSUDOI_TEST_NOW"
STANDARD_NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
TOKYO = ZoneInfo("Asia/Tokyo")


def test_now() -> datetime:
    """The instant test clocks start at: TSUDOI_TEST_NOW when set, else STANDARD_NOW. Never the wall clock."""
    text = os.environ.get(NOW_ENV, "").strip()
    if not text:
        return STANDARD_NOW
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=TOKYO)
    return moment.astimezone(UTC)


test_now.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def ja_date(moment: datetime) -> str:
    """A date as the pages and mails write it (organization time zone): 2026年11月23日."""
    local = moment.astimezone(TOKYO)
    return f"{local.year}年{local.month}月{local.day}日"


# Instants the time-sensitive flows are also run at, so the suite itself shows it passes at any hour:
# Wednesday before the weekly send hour, the last minute of a fiscal year (and of a fee's due date),
# and the first minute of a calendar year.
CLOCK_EDGES = {
    "wednesday-0300-jst": datetime(2026, 11, 25, 3, 0, tzinfo=TOKYO),
    "march-31-2359-jst": datetime(2027, 3, 31, 23, 59, tzinfo=TOKYO),
    "january-1-0000-jst": datetime(2027, 1, 1, 0, 0, tzinfo=TOKYO),
}


def test_settings(tmp_path: Path, **changes: Any) -> Settings:
    base = Settings(
        database=tmp_path / "data" / "tsudoi.sqlite3",
        base_url="http://testserver.local",
        secret_key="test-secret-key-" + "x" * 32,
        scheduler=False,
        argon2_time_cost=1,
        argon2_memory_cost=1024,
        argon2_parallelism=1,
        log_requests=False,
        mail_from="つどい学会 <office@tsudoi.example.jp>",
        # Real installs have no gateway until one is configured; the tests pay through the sandbox.
        payment_gateway="sandbox",
    )
    return base.with_(**changes) if changes else base


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def make_member(
    app_ctx: AppContext,
    member_number: str = "001001",
    password: str = DEFAULT_PASSWORD,
    *,
    must_change_password: bool = False,
    role: str = "member",
    **profile: str,
) -> int:
    values = {
        "family_name": "鈴木",
        "given_name": "太郎",
        "family_kana": "スズキ",
        "given_kana": "タロウ",
        "email": f"member{member_number}@example.jp",
        "membership_type": "正会員",
    }
    values.update(profile)
    return await create_member(
        app_ctx,
        member_number=member_number,
        password=password,
        role=role,
        must_change_password=must_change_password,
        profile=values,
    )


async def csrf_token(client: AsyncTestClient[Any]) -> str:
    token = client.cookies.get("tsudoi_csrf")
    if not token:
        await client.get("/login")
        token = client.cookies.get("tsudoi_csrf")
    assert token
    return str(token)


async def post_form(client: AsyncTestClient[Any], url: str, data: dict[str, Any], **kwargs: Any) -> Any:
    form = {"_csrf_token": await csrf_token(client), **data}
    return await client.post(url, data=form, **kwargs)


async def login(
    client: AsyncTestClient[Any],
    member_number: str = "001001",
    password: str = DEFAULT_PASSWORD,
    remember: bool = False,
) -> Any:
    data = {"member_id": member_number, "password": password}
    if remember:
        data["remember"] = "1"
    return await post_form(client, "/login", data, follow_redirects=False)


def outbox(settings: Settings) -> list[EmailMessage]:
    folder = settings.outbox_dir
    if not folder.exists():
        return []
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for path in sorted(folder.glob("*.eml"))
    ]


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def visible_text(html: str) -> str:
    """The page as a person reads it: tags dropped, whitespace folded."""
    text = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", text)


class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self.fail_next: list[str] = []
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=off"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        with self._lock:
            if self.fail_next:
                return self.fail_next.pop(0)
            self.envelopes.append(envelope)
            raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
            self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


async def fresh_admin_code(app_ctx: AppContext, member_id: int) -> str:
    """A second-factor code the app will accept now: the authenticator's code for the current (or
    next) 30-second step, or, when both were used already (frozen clocks), a new recovery code."""
    from db import admin_mfa as mfa_queries
    from services import admin_mfa

    row = await mfa_queries.get(app_ctx.db, member_id)
    secret = await admin_mfa.secret_of(app_ctx, member_id)
    assert row is not None and secret is not None
    now = app_ctx.clock.now()
    for offset in (0, admin_mfa.STEP_SECONDS):
        moment = now + timedelta(seconds=offset)
        step = int(moment.timestamp()) // admin_mfa.STEP_SECONDS
        if step > row["last_used_step"]:
            return admin_mfa.code_for(secret, moment)
    return (await admin_mfa.regenerate_recovery_codes(app_ctx, member_id))[0]


async def enrol_admin(app_ctx: AppContext, member_id: int, member_number: str) -> None:
    """Complete the admin's TOTP enrolment as the enrolment page would."""
    from services import admin_mfa

    if await admin_mfa.is_enrolled(app_ctx, member_id):
        return
    await admin_mfa.begin_enrolment(app_ctx, member_id, member_number)
    secret = await admin_mfa.secret_of(app_ctx, member_id)
    assert secret is not None
    assert await admin_mfa.confirm_enrolment(
        app_ctx, member_id, admin_mfa.code_for(secret, app_ctx.clock.now())
    )


async def login_admin(
    client: AsyncTestClient[Any],
    app_ctx: AppContext,
    number: str = "900001",
    password: str = DEFAULT_PASSWORD,
) -> int:
    """Log in as an admin through the password and the second-factor step; returns the admin's id.
    Creates the admin (role admin, `password`) when the number is new and enrols it in TOTP."""
    from db import members as member_queries

    member = await member_queries.get_by_number(app_ctx.db, number)
    if member is None:
        member_id = await make_member(
            app_ctx, number, password, role="admin", family_name="事務局", given_name="管理者"
        )
    else:
        member_id = int(member["id"])
    await enrol_admin(app_ctx, member_id, number)
    response = await login(client, number, password)
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/mfa"), response.headers["location"]
    code = await fresh_admin_code(app_ctx, member_id)
    response = await post_form(client, "/mfa", {"code": code, "next": "/admin"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return member_id


async def draft_announcement(db: Database, *, now: datetime, title: str = "総会のご案内") -> int:
    """A plain announcement to everyone, optional category, still a draft: its id."""
    return await announcement_db.create(
        db,
        {
            "title": title,
            "body_md": "6月1日に開きます。",
            "body_html": "<p>6月1日に開きます。</p>",
            "body_text": "6月1日に開きます。",
            "category": "optional",
            "members_only": False,
            "audience": "all",
            "audience_value": "",
        },
        created_by=None,
        now=now,
    )
