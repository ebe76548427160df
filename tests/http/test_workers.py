"""Several worker processes on one SQLite file (`litestar run --wc N`): every rule holds across them.

Two real uvicorn processes serve one data folder on two ports (so a test decides which worker gets which
request), started at the same moment on an empty folder (so they migrate it at the same time); this test
process opens the same database to set up data and read the outcome. The last test starts the real
`litestar run --wc 2` command and kills the worker that runs the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest

from db import audit
from db import membership as membership_db
from db.database import migration_files
from services import admin_settings
from services.auth import LOCKED_MESSAGE
from services.clock import FrozenClock
from services.context import AppContext, build_context, open_context
from services.leases import holder_pid, wall_clock
from services.schema_check import schema_drift
from services.settings import Settings
from tests.digest_helpers import add_article, add_condition, digest_member, fast_sending
from tests.fakes.stripe import FakeStripeServer
from tests.helpers import (
    DEFAULT_PASSWORD,
    SmtpSink,
    free_port,
    login_admin,
    make_member,
    outbox,
    post_form,
    test_now,
    test_settings,
    visible_text,
)
from tests.payments_support import attempts, check_profile, fee_id_of, issue_fee

ROOT = Path(__file__).resolve().parents[2]
SECRET = "workers-test-secret-" + "x" * 32
STRIPE_WEBHOOK = "whsec_workers"


@dataclass
class Workers:
    settings: Settings  # the test process's view of the same data folder
    urls: tuple[str, str]
    stripe: FakeStripeServer
    processes: list[subprocess.Popen[bytes]]


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"worker {url} did not start: {log.read_text(errors='replace')[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    folder = tmp_path_factory.mktemp("workers")
    settings = test_settings(
        folder,
        secret_key=SECRET,
        payment_gateway="stripe",
        login_ip_failures=10_000,
    )
    stripe = FakeStripeServer().start()
    ports = (free_port(), free_port())
    env = {
        **os.environ,
        "TSUDOI_DATABASE": str(settings.database),
        "TSUDOI_SECRET_KEY": SECRET,
        "TSUDOI_BASE_URL": f"http://127.0.0.1:{ports[0]}",
        "TSUDOI_SCHEDULER": "off",
        "TSUDOI_LOG_REQUESTS": "off",
        "TSUDOI_MAIL_FROM": settings.mail_from,
        "TSUDOI_LOGIN_IP_FAILURES": "10000",
        "TSUDOI_PAYMENT_GATEWAY": "stripe",
        "TSUDOI_STRIPE_SECRET_KEY": stripe.secret_key,
        "TSUDOI_STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK,
        "TSUDOI_STRIPE_API_BASE": stripe.url,
        "TSUDOI_PAYMENT_TIMEOUT": "10",
        "TSUDOI_LEASE_SECONDS": "5",
    }
    env.pop("TSUDOI_SMTP_URL", None)
    processes = []
    logs = []
    try:
        # Both at once on an empty data folder: they migrate the same new file at the same time.
        for index, port in enumerate(ports):
            log = folder / f"worker{index}.log"
            logs.append(log)
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(  # noqa: S603 — our own interpreter and module
                        [sys.executable, *"-m uvicorn tests.worker_app:make_app --factory".split()]
                        + ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                        cwd=ROOT,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        urls = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
        for url, process, log in zip(urls, processes, logs, strict=True):
            _wait_ready(url, process, log)
        yield Workers(settings, urls, stripe, processes)
    finally:
        for process in processes:
            _stop(process)
        stripe.stop()


@pytest.fixture
async def ctx(workers: Workers) -> AsyncIterator[AppContext]:
    """This test process's own context on the workers' database, on the workers' (frozen) clock."""
    context = await open_context(build_context(workers.settings, FrozenClock(test_now())))
    try:
        yield context
    finally:
        await context.close()


async def logged_in(url: str, number: str, password: str = DEFAULT_PASSWORD) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=url, timeout=60)
    await client.get("/login")
    response = await client.post(
        "/login",
        data={"_csrf_token": client.cookies["tsudoi_csrf"], "member_id": number, "password": password},
    )
    assert response.status_code in (200, 303), response.text
    assert "tsudoi_session" in client.cookies
    return client


def form(client: httpx.AsyncClient, **values: str) -> dict[str, str]:
    return {"_csrf_token": client.cookies["tsudoi_csrf"], **values}


async def test_two_workers_migrated_one_new_file_at_the_same_time(workers: Workers, ctx: AppContext) -> None:
    assert await ctx.db.schema_version() == migration_files()[-1][0]
    assert await schema_drift(ctx.db) == []
    logs = [path.read_text(errors="replace") for path in Path(workers.settings.data_dir).parent.glob("*.log")]
    assert not any("MigrationError" in text or "Traceback" in text for text in logs), logs


async def test_checkout_clicks_on_both_workers_make_one_attempt_and_one_gateway_session(
    workers: Workers, ctx: AppContext
) -> None:
    member_id = await make_member(ctx, "101001")
    await check_profile(ctx, member_id)
    fee_id = await fee_id_of(ctx, member_id, await issue_fee(ctx, name="2026年度 会費（並行）"))
    first, second = [await logged_in(url, "101001") for url in workers.urls]
    try:
        chosen = await first.post(f"/payments/{fee_id}/method", data=form(first, method="card"))
        assert chosen.status_code == 303, chosen.text
        workers.stripe.delay = 0.5  # a slow gateway: every click arrives while the first call is out
        calls_before = len(workers.stripe.calls("/v1/checkout/sessions"))
        clicks = [
            client.post(f"/payments/{fee_id}/checkout", data=form(client))
            for _ in range(3)
            for client in (first, second)
        ]
        responses = await asyncio.gather(*clicks)
    finally:
        workers.stripe.delay = 0.0
        await first.aclose()
        await second.aclose()
    assert [r.status_code for r in responses] == [303] * 6, [r.text[:300] for r in responses]
    links = {r.headers["location"] for r in responses}
    assert len(links) == 1 and next(iter(links)).startswith("https://checkout.stripe.com/"), links
    assert len(workers.stripe.calls("/v1/checkout/sessions")) - calls_before == 1
    [attempt] = await attempts(ctx, fee_id)
    assert attempt["redirect_url"] in links
    assert await ctx.db.fetchval("SELECT count(*) FROM leases WHERE name LIKE 'payment-checkout:%'") == 0


async def test_a_code_limit_holds_when_members_use_it_through_both_workers(
    workers: Workers, ctx: AppContext
) -> None:
    tier = await membership_db.get_tier_by_code(ctx.db, "members")
    code_id = await membership_db.create_code(
        ctx.db,
        code="WORKERS3",
        tier_id=int(tier["id"]),
        use_limit=3,
        expires_on=None,
        tier_ends_on=date(2027, 3, 31),
        note="並行",
        now=ctx.clock.now(),
    )
    numbers = [f"1020{index:02d}" for index in range(8)]
    for number in numbers:
        await make_member(ctx, number)
    clients = [await logged_in(workers.urls[i % 2], number) for i, number in enumerate(numbers)]
    try:
        responses = await asyncio.gather(
            *(c.post("/settings/membership/code", data=form(c, code="WORKERS3")) for c in clients)
        )
    finally:
        for client in clients:
            await client.aclose()
    assert sorted(r.status_code for r in responses) == [303] * 3 + [422] * 5
    code = await membership_db.get_code(ctx.db, code_id)
    assert code is not None and code["uses"] == 3
    assert await ctx.db.fetchval("SELECT count(*) FROM code_redemptions WHERE code_id = ?", (code_id,)) == 3


async def test_parallel_wrong_passwords_on_both_workers_check_exactly_the_threshold(
    workers: Workers, ctx: AppContext
) -> None:
    member_id = await make_member(ctx, "103001", email="locked@example.jp")
    clients = [httpx.AsyncClient(base_url=url, timeout=60) for url in workers.urls]
    try:
        for client in clients:
            await client.get("/login")
        tries = [
            clients[i % 2].post(
                "/login",
                data=form(clients[i % 2], member_id="103001", password=f"Wrong2026{i:02d}"),
            )
            for i in range(30)
        ]
        responses = await asyncio.gather(*tries)
    finally:
        for client in clients:
            await client.aclose()
    assert [r.status_code for r in responses] == [422] * 30
    assert sum(LOCKED_MESSAGE in r.text for r in responses) >= 30 - ctx.org.lockout_threshold
    checked = [e for e in await audit.events(ctx.db, "login.failed") if e["subject_member_id"] == member_id]
    assert len(checked) == ctx.org.lockout_threshold  # passwords really checked, across both workers
    locks = [e for e in await audit.events(ctx.db, "account.locked") if e["subject_member_id"] == member_id]
    assert len(locks) == 1
    assert [str(m["To"]) for m in outbox(workers.settings)].count("locked@example.jp") == 1


async def test_a_setting_saved_through_one_worker_is_served_by_the_other(
    workers: Workers, ctx: AppContext
) -> None:
    await make_member(ctx, "104001")
    reader = await logged_in(workers.urls[1], "104001")
    admin = httpx.AsyncClient(base_url=workers.urls[0], timeout=60)
    try:
        assert "つどい学会 二号館" not in visible_text((await reader.get("/mypage")).text)
        await login_admin(admin, ctx)  # type: ignore[arg-type]
        values = admin_settings.current_values(ctx)
        values.update(org_name="つどい学会 二号館")
        bools = {spec.name for spec in admin_settings.all_fields() if spec.kind == "bool"}
        saved = await post_form(
            admin,  # type: ignore[arg-type]
            "/admin/settings",
            {k: v for k, v in values.items() if v != "0" or k not in bools},
            follow_redirects=False,
        )
        assert saved.status_code == 303, saved.text
        # The other worker: the member's next page and an anonymous page, without a restart.
        assert "つどい学会 二号館" in visible_text((await reader.get("/mypage")).text)
        async with httpx.AsyncClient(base_url=workers.urls[1], timeout=60) as anonymous:
            assert "つどい学会 二号館" in visible_text((await anonymous.get("/login")).text)
    finally:
        await reader.aclose()
        await admin.aclose()


def _cli(settings: Settings, smtp_url: str, *args: str) -> subprocess.Popen[str]:
    litestar = Path(sys.executable).parent / "litestar"
    env = {
        **os.environ,
        "TSUDOI_DATABASE": str(settings.database),
        "TSUDOI_SECRET_KEY": SECRET,
        "TSUDOI_SMTP_URL": smtp_url,
        "TSUDOI_MAIL_FROM": settings.mail_from,
        "TSUDOI_SCHEDULER": "off",
        "TSUDOI_LEASE_SECONDS": "5",
    }
    return subprocess.Popen(  # noqa: S603 — the venv's own litestar
        [str(litestar), "--app", "app:app", "tsudoi", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_two_processes_sending_one_digest_run_send_each_member_one_mail(
    workers: Workers, ctx: AppContext
) -> None:
    sink = SmtpSink(port=free_port())
    sink.start()
    try:
        await fast_sending(ctx)
        emails = []
        for index in range(20):
            number = f"1050{index:02d}"
            member = await digest_member(ctx, number, email=f"digest{index}@example.jp")
            await add_condition(ctx, member, "すべて")
            emails.append(f"digest{index}@example.jp")
        await add_article(ctx, "二つの送信プロセスの記事", test_now())
        at = "2026-11-25T07:30"
        commands = [
            _cli(workers.settings, sink.url, "send-digests", "--kind", "weekly", "--at", at) for _ in range(2)
        ]
        outputs = [command.communicate(timeout=120) for command in commands]
    finally:
        sink.stop()
    assert [command.returncode for command in commands] == [0, 0], outputs
    received = Counter(str(message["To"]) for message in sink.messages)
    assert {address: received[address] for address in emails} == dict.fromkeys(emails, 1), received
    run = await ctx.db.fetchone("SELECT status FROM digest_runs WHERE window_key = 'weekly:2026-11-18'")
    assert run is not None and run["status"] == "done"


# ------------------------------------------------------------------ the real command, the scheduler


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def _scheduler_holder(database: Path) -> int | None:
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute(
            "SELECT holder FROM leases WHERE name = 'scheduler' AND expires_at > ?", (wall_clock(),)
        ).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return holder_pid(row[0]) if row else None


def _wait_for(check, timeout: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    return None


def test_litestar_run_workers_2_runs_the_scheduler_in_one_worker_and_takes_it_over_after_a_kill(
    tmp_path: Path,
) -> None:
    database = tmp_path / "data" / "tsudoi.sqlite3"
    port = free_port()
    log = tmp_path / "server.log"
    litestar = Path(sys.executable).parent / "litestar"
    env = {
        **os.environ,
        "TSUDOI_DATABASE": str(database),
        "TSUDOI_SECRET_KEY": SECRET,
        "TSUDOI_SCHEDULER": "on",
        "TSUDOI_LEASE_SECONDS": "2",
        "TSUDOI_LOG_REQUESTS": "off",
    }
    env.pop("TSUDOI_SMTP_URL", None)
    with log.open("wb") as out:
        server = subprocess.Popen(  # noqa: S603 — the venv's own litestar
            [str(litestar), *"--app app:app run --host 127.0.0.1 --wc 2 --port".split(), str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", server, log)  # type: ignore[arg-type]
        holder = _wait_for(lambda: _scheduler_holder(database), 30)
        assert holder is not None, log.read_text(errors="replace")
        workers = _descendants(server.pid)
        assert holder in workers
        # Only the holder ticks, and it keeps the lease (renewed) while it lives.
        for _ in range(10):
            time.sleep(0.2)
            assert _scheduler_holder(database) == holder
        text = log.read_text(errors="replace")
        assert text.count("runs the scheduler") == 1, text
        assert "scheduler started with" in text

        os.kill(holder, signal.SIGKILL)

        def taken_over() -> int | None:
            current = _scheduler_holder(database)
            return current if current not in (None, holder) else None

        successor = _wait_for(taken_over, 20)
        assert successor is not None and successor != holder, log.read_text(errors="replace")
        assert successor in _descendants(server.pid)
        text = log.read_text(errors="replace")
        assert text.count("runs the scheduler") == 2, text
        assert f"(pid {successor}) runs the scheduler" in text
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        started = _descendants(server.pid)
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        # The workers stop on the same SIGINT; any one still there after a while is ended by its id.
        left = _wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in started), 15)
        if not left:
            for pid in started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
