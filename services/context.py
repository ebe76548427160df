"""The running app's shared parts, handed to routes, jobs and CLI commands alike."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jinja2 import Environment

from db import app_settings
from db.database import Database
from services.clock import Clock
from services.hashing import Hasher
from services.mailer import Mailer, make_transport
from services.org import OrgSettings, Sender, effective_sender, org_from_strings
from services.private_files import private_dir, secure_data_folder
from services.schema_check import schema_drift
from services.settings import Settings
from services.shared_counter import SharedCounter
from services.templates import make_environment

if TYPE_CHECKING:  # these modules import this one
    from services.contact_qr import ContactQr
    from services.doctor import Check
    from services.payments import PaymentGateway
    from services.scheduler import Scheduler
else:
    # Litestar injects AppContext into handlers and msgspec evaluates a dataclass's annotations at run time;
    # these modules import this one, so at run time the names stand for "any value".
    ContactQr = Check = PaymentGateway = Scheduler = Any

log = logging.getLogger("tsudoi.schema")

# In the data folder: the organization settings' change counter, shared by the worker processes.
ORG_VERSION_FILE = "org.version"


@dataclass
class AppContext:
    settings: Settings
    db: Database
    hasher: Hasher
    mailer: Mailer
    clock: Clock
    templates: Environment
    org: OrgSettings = field(default_factory=OrgSettings)
    # The database holds the demo data (`litestar tsudoi demo`); services/payment_config.py re-reads it.
    demo_data: bool = False
    # What the running app keeps in memory, each owned by one module.
    scheduler: Scheduler | None = None  # services/scheduler.py, while the app serves with TSUDOI_SCHEDULER on
    stopping: asyncio.Event = field(
        default_factory=asyncio.Event
    )  # set when the app stops (services/digests.py)
    gateway: PaymentGateway | None = None  # services/payment_config.py: the one gateway instance
    # services/payment_flow.py: False once the base URL proved unreachable from here (sandbox reports in-process)
    sandbox_http: bool = True
    contact_qr: ContactQr | None = None  # services/contact_qr.py: the contact page's code, made once
    setup_token: str | None = None  # services/setup.py: the first-start token, until the first admin exists
    smtp_probe: tuple[str, datetime, Check] | None = None  # services/doctor.py: SMTP URL, when, result
    # Several workers (`litestar run --wc N`) each keep `org` in memory: update_org bumps a counter
    # they all map (services/shared_counter.py) and refresh_org reloads when it moved (opened by open_context).
    org_counter: SharedCounter | None = None
    org_seen: int = 0

    async def reload_org(self) -> OrgSettings:
        if self.org_counter is not None:
            # Read before loading: a change committed while we load moves it again, so the next check reloads.
            self.org_seen = self.org_counter.value()
        values = await app_settings.get_all(self.db)
        self.org = org_from_strings(values)
        self.demo_data = app_settings.DEMO_DATA_KEY in values
        if self.org.base_url and not self.settings.base_url_from_env:
            # TSUDOI_BASE_URL, when set, wins; otherwise the URL the admin set (setup, console) is used.
            self.settings = self.settings.with_(base_url=self.org.base_url)
        self.mailer.sender = self.sender.value
        self.mailer.reply_to = self.org.contact_email or None
        return self.org

    def base_url_source(self) -> str:
        """Where the base URL in use comes from: "env" (TSUDOI_BASE_URL), "console" or "default"."""
        if self.settings.base_url_from_env:
            return "env"
        return "console" if self.org.base_url else "default"

    @property
    def sender(self) -> Sender:
        return effective_sender(self.settings.mail_from, self.org)

    async def update_org(self, values: dict[str, str]) -> OrgSettings:
        await app_settings.put(self.db, values)
        if self.org_counter is not None:
            self.org_counter.bump()  # the other workers reload on their next request (refresh_org)
        return await self.reload_org()

    async def refresh_org(self) -> None:
        """Reload the organization settings if another process changed them since; when nothing changed
        this is one read of shared memory (no query), so every request and scheduler tick calls it."""
        counter = self.org_counter
        if counter is not None and counter.value() != self.org_seen:
            await self.reload_org()

    async def close(self) -> None:
        await self.db.close()
        if self.org_counter is not None:
            self.org_counter.close()
            self.org_counter = None


def build_context(
    settings: Settings, clock: Clock | None = None, templates: Environment | None = None
) -> AppContext:
    """A context for `settings`; `templates` shares an environment (and its compiled templates) made for
    the same time zone, as the tests do when they reuse one app (tests/conftest.py)."""
    templates = templates or make_environment(settings.tz)
    return AppContext(
        settings=settings,
        db=Database(
            settings.database,
            busy_timeout_ms=settings.db_busy_timeout_ms,
            autocheckpoint=not settings.replication,
        ),
        hasher=Hasher(settings.argon2_time_cost, settings.argon2_memory_cost, settings.argon2_parallelism),
        mailer=Mailer(
            make_transport(settings.smtp_url, settings.outbox_dir),
            effective_sender(settings.mail_from, OrgSettings()).value,
            templates,
            tz=settings.tz,
        ),
        clock=clock or Clock(),
        templates=templates,
    )


async def open_context(ctx: AppContext) -> AppContext:
    # Installs from before the data-at-rest rule, or files copied in by hand: narrowed on every start.
    data_dir = private_dir(ctx.settings.data_dir)
    secure_data_folder(data_dir, ctx.settings.database.name)
    await ctx.db.connect()
    await ctx.db.migrate(backup_dir=ctx.settings.data_dir / "backups")  # workers take turns (a file lock)
    drift = await schema_drift(ctx.db)
    if drift:
        log.warning(
            "the database schema differs from a fresh database's; pages that need what is missing may fail "
            "(back up, then report this line to the Tsudoi developers): %s",
            "; ".join(str(item) for item in drift),
        )
    if ctx.org_counter is None:
        ctx.org_counter = SharedCounter(data_dir / ORG_VERSION_FILE)
    await ctx.reload_org()
    return ctx
